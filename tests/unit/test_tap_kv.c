/* raftkv state machine and codecs (examples/raftkv): command encode/decode
 * with padding and limits, put/get/cas/del/cad/scan semantics and
 * versions, snapshot round trip and fingerprint, the text token codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/errors.h"
#include "examples/raftkv/kv_text.h"
#include "kv/kv_command.h"
#include "kv/kv_store.h"

static struct kv_command cmd(enum kv_op op, const char *ns, const char *key,
                             const char *value, uint64_t expected)
{
	struct kv_command c;

	memset(&c, 0, sizeof c);
	c.op = op;
	c.ns = ns;
	c.ns_len = strlen(ns);
	c.key = (const uint8_t *)key;
	c.key_len = strlen(key);
	c.value = (const uint8_t *)value;
	c.value_len = value != NULL ? strlen(value) : 0;
	c.expected = expected;
	return c;
}

/* Encodes with libraft padding, decodes and applies. */
static struct kv_result run(struct kv_store *s, struct kv_command c)
{
	uint8_t buf[256];
	char errmsg[MA_ERRMSG_SIZE];
	struct kv_result res;
	size_t len;

	assert_int_equal(
	    kv_command_encode(&c, buf, sizeof buf, 8, &len, errmsg), 0);
	assert_int_equal(len % 8, 0);
	assert_int_equal(kv_store_apply_buf(s, buf, len, &res, errmsg), 0);
	return res;
}

static void test_command_codec(void **state)
{
	struct kv_command c = cmd(KV_OP_CAS, "ns-1", "k", "value", 42), d;
	uint8_t buf[128];
	char errmsg[MA_ERRMSG_SIZE];
	size_t len;

	assert_int_equal(
	    kv_command_encode(&c, buf, sizeof buf, 8, &len, errmsg), 0);
	assert_int_equal(len, 40); /* 24 + 4 + 1 + 5 = 34, padded */
	assert_int_equal(kv_command_decode(buf, len, &d, errmsg), 0);
	assert_int_equal(d.op, KV_OP_CAS);
	assert_int_equal(d.expected, 42);
	assert_int_equal(d.value_len, 5);
	assert_memory_equal(d.value, "value", 5);
	/* Unpadded is fine, truncated or over-padded is not. */
	assert_int_equal(kv_command_decode(buf, 34, &d, errmsg), 0);
	assert_int_equal(kv_command_decode(buf, 33, &d, errmsg), MA_ERR_PROTO);
	memset(buf + 40, 0, 8);
	assert_int_equal(kv_command_decode(buf, 48, &d, errmsg), MA_ERR_PROTO);
	buf[36] = 1; /* padding must be zero */
	assert_int_equal(kv_command_decode(buf, 40, &d, errmsg), MA_ERR_PROTO);
	buf[36] = 0;
	buf[0] = 'X';
	assert_int_equal(kv_command_decode(buf, 40, &d, errmsg), MA_ERR_PROTO);
	buf[0] = KV_COMMAND_MAGIC;
	buf[12] = 0xff; /* value length beyond the buffer */
	assert_int_equal(kv_command_decode(buf, 40, &d, errmsg), MA_ERR_PROTO);
	/* Limits on encode. */
	c = cmd(KV_OP_PUT, "bad ns", "k", "v", 0);
	assert_int_equal(
	    kv_command_encode(&c, buf, sizeof buf, 8, &len, errmsg),
	    MA_ERR_INVAL);
	c = cmd(KV_OP_PUT, "ns", "", "v", 0);
	assert_int_equal(
	    kv_command_encode(&c, buf, sizeof buf, 8, &len, errmsg),
	    MA_ERR_INVAL);
	c = cmd(KV_OP_DEL, "ns", "k", "v", 0);
	assert_int_equal(
	    kv_command_encode(&c, buf, sizeof buf, 8, &len, errmsg),
	    MA_ERR_INVAL);
	c = cmd(KV_OP_PUT, "ns", "k", "v", 0);
	assert_int_equal(kv_command_encode(&c, buf, 16, 8, &len, errmsg),
	                 MA_ERR_LIMIT);
	/* Every truncation of a valid command is rejected cleanly. */
	c = cmd(KV_OP_PUT, "ns", "key", "value", 0);
	assert_int_equal(
	    kv_command_encode(&c, buf, sizeof buf, 1, &len, errmsg), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(kv_command_decode(buf, i, &d, errmsg),
		                 MA_ERR_PROTO);
}

static void test_store_semantics(void **state)
{
	struct kv_store *s;
	struct kv_result r;
	const uint8_t *v;
	size_t vlen;
	uint64_t ver;

	assert_int_equal(kv_store_new(&s), 0);
	r = run(s, cmd(KV_OP_PUT, "a", "k1", "v1", 0));
	assert_int_equal(r.status, KV_OK);
	assert_int_equal(r.version, 1);
	r = run(s, cmd(KV_OP_PUT, "a", "k1", "v2", 0));
	assert_int_equal(r.version, 2);
	assert_int_equal(kv_store_get(s, "a", 1, "k1", 2, &v, &vlen, &ver), 0);
	assert_int_equal(ver, 2);
	assert_memory_equal(v, "v2", 2);
	/* Namespaces are separate. */
	assert_int_equal(kv_store_get(s, "b", 1, "k1", 2, &v, &vlen, &ver),
	                 MA_ERR_NOTFOUND);
	/* cas: success and failure (reports the current version). */
	r = run(s, cmd(KV_OP_CAS, "a", "k1", "v3", 2));
	assert_int_equal(r.status, KV_OK);
	assert_int_equal(r.version, 3);
	r = run(s, cmd(KV_OP_CAS, "a", "k1", "v4", 2));
	assert_int_equal(r.status, KV_VERSION_MISMATCH);
	assert_int_equal(r.version, 3);
	/* cas with 0: create only. */
	r = run(s, cmd(KV_OP_CAS, "a", "k2", "new", 0));
	assert_int_equal(r.status, KV_OK);
	assert_int_equal(r.version, 4);
	r = run(s, cmd(KV_OP_CAS, "a", "k2", "again", 0));
	assert_int_equal(r.status, KV_VERSION_MISMATCH);
	/* cad. */
	r = run(s, cmd(KV_OP_CAD, "a", "k2", NULL, 1));
	assert_int_equal(r.status, KV_VERSION_MISMATCH);
	assert_int_equal(r.version, 4);
	r = run(s, cmd(KV_OP_CAD, "a", "k2", NULL, 4));
	assert_int_equal(r.status, KV_OK);
	r = run(s, cmd(KV_OP_CAD, "a", "k2", NULL, 4));
	assert_int_equal(r.status, KV_NOT_FOUND);
	/* del; recreating never reuses a version. */
	r = run(s, cmd(KV_OP_DEL, "a", "k1", NULL, 0));
	assert_int_equal(r.status, KV_OK);
	r = run(s, cmd(KV_OP_DEL, "a", "k1", NULL, 0));
	assert_int_equal(r.status, KV_NOT_FOUND);
	r = run(s, cmd(KV_OP_PUT, "a", "k1", "v", 0));
	assert_int_equal(r.version, 7);
	assert_int_equal(kv_store_count(s), 1);
	assert_int_equal(kv_store_revision(s), 7);
	kv_store_free(s);
}

static int collect(void *arg, const uint8_t *key, size_t key_len,
                   const uint8_t *value, size_t value_len, uint64_t version)
{
	char *out = arg;

	strncat(out, (const char *)key, key_len);
	strcat(out, ",");
	return 0;
}

static void test_scan_and_snapshot(void **state)
{
	static const char *keys[] = {"app",        "apple", "apq", "ap\xff",
	                             "ap\xff\xff", "b",     "ap",  "a"};
	struct kv_store *s, *t;
	char out[256] = "", errmsg[MA_ERRMSG_SIZE];
	uint8_t end[8];
	void *snap;
	size_t len;

	assert_int_equal(kv_store_new(&s), 0);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		run(s, cmd(KV_OP_PUT, "n", keys[i], "x", 0));
	run(s, cmd(KV_OP_PUT, "m", "apple", "other ns", 0));
	assert_int_equal(kv_store_scan(s, "n", 1, "app", 3, 0, collect, out),
	                 2);
	assert_string_equal(out, "app,apple,");
	out[0] = '\0';
	assert_int_equal(kv_store_scan(s, "n", 1, "ap", 2, 0, collect, out), 6);
	out[0] = '\0';
	assert_int_equal(kv_store_scan(s, "n", 1, "", 0, 3, collect, out), 3);
	assert_string_equal(out, "a,ap,app,");
	/* Prefix end: drop trailing 0xff, increment. */
	assert_int_equal(kv_prefix_end((const uint8_t *)"ap\xff", 3, end), 2);
	assert_memory_equal(end, "aq", 2);
	assert_int_equal(kv_prefix_end((const uint8_t *)"\xff", 1, end), 0);
	out[0] = '\0';
	assert_int_equal(kv_store_scan(s, "n", 1, "ap\xff", 3, 0, collect, out),
	                 2);

	/* Snapshot round trip keeps content, versions and fingerprint. */
	assert_int_equal(kv_store_serialize(s, &snap, &len, errmsg), 0);
	assert_int_equal(kv_store_new(&t), 0);
	run(t, cmd(KV_OP_PUT, "z", "gone", "after restore", 0));
	assert_int_equal(kv_store_restore(t, snap, len, errmsg), 0);
	assert_int_equal(kv_store_fingerprint(s), kv_store_fingerprint(t));
	assert_int_equal(kv_store_count(t), 9);
	assert_int_equal(kv_store_revision(t), kv_store_revision(s));
	run(t, cmd(KV_OP_PUT, "n", "b", "changed", 0));
	assert_int_not_equal(kv_store_fingerprint(s), kv_store_fingerprint(t));
	/* A damaged snapshot changes nothing. */
	((uint8_t *)snap)[30] ^= 1;
	assert_int_equal(kv_store_restore(t, snap, len, errmsg),
	                 MA_ERR_CORRUPT);
	assert_int_equal(kv_store_restore(t, snap, 10, errmsg), MA_ERR_CORRUPT);
	assert_int_equal(kv_store_count(t), 9);
	free(snap);
	kv_store_free(s);
	kv_store_free(t);
}

static void test_text_tokens(void **state)
{
	const uint8_t raw[] = {'a', ' ', '%', 0, 0xff, '-'};
	char enc[64], line[] = " put  ns\tkey value ";
	char *tok[4];
	size_t len;

	assert_int_equal(kv_text_encode(raw, sizeof raw, enc),
	                 kv_text_encoded_len(raw, sizeof raw));
	assert_string_equal(enc, "a%20%25%00%FF-");
	assert_int_equal(kv_text_decode(enc, &len), 0);
	assert_int_equal(len, sizeof raw);
	assert_memory_equal(enc, raw, sizeof raw);
	kv_text_encode((const uint8_t *)"", 0, enc);
	assert_string_equal(enc, "-");
	assert_int_equal(kv_text_decode(enc, &len), 0);
	assert_int_equal(len, 0);
	kv_text_encode((const uint8_t *)"-", 1, enc);
	assert_string_equal(enc, "%2D");
	strcpy(enc, "bad%4");
	assert_int_equal(kv_text_decode(enc, &len), -1);
	strcpy(enc, "bad%zz");
	assert_int_equal(kv_text_decode(enc, &len), -1);
	assert_int_equal(kv_text_split(line, tok, 4), 4);
	assert_string_equal(tok[0], "put");
	assert_string_equal(tok[3], "value");
	strcpy(line, "a b c d e");
	assert_int_equal(kv_text_split(line, tok, 4), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_command_codec),
	    cmocka_unit_test(test_store_semantics),
	    cmocka_unit_test(test_scan_and_snapshot),
	    cmocka_unit_test(test_text_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
