/* Appliers (agent/apply/applier.h): the kv applier restores a snapshot written
 * by kv_store, applies padded commands, ignores barrier/config entries
 * while advancing its index, skips malformed commands like the source
 * nodes do, answers get/scan, and its fingerprint equals kv_store's for
 * the same entries; replays are idempotent by index and gaps refused; the
 * "none" applier tracks the index and answers "no applier". */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/apply/applier.h"
#include "common/errors.h"
#include "kv/kv_command.h"
#include "kv/kv_store.h"
#include "wal/wal.h"

static size_t encode(enum kv_op op, const char *ns, const void *key,
                     size_t key_len, const void *value, size_t value_len,
                     uint64_t expected, uint8_t *buf, size_t cap)
{
	struct kv_command c;
	char errmsg[MA_ERRMSG_SIZE];
	size_t len;

	memset(&c, 0, sizeof c);
	c.op = op;
	c.ns = ns;
	c.ns_len = strlen(ns);
	c.key = key;
	c.key_len = key_len;
	c.value = value;
	c.value_len = value_len;
	c.expected = expected;
	assert_int_equal(kv_command_encode(&c, buf, cap, 8, &len, errmsg), 0);
	return len;
}

/* Applies the same command to a reference kv_store and to the applier at
 * *index (which advances). */
static void both(struct kv_store *ref, struct applier *a, uint64_t *index,
                 enum kv_op op, const char *ns, const char *key,
                 const char *value, uint64_t expected)
{
	uint8_t buf[512];
	char errmsg[MA_ERRMSG_SIZE];
	struct kv_result res;
	size_t len =
	    encode(op, ns, key, strlen(key), value, value ? strlen(value) : 0,
	           expected, buf, sizeof buf);

	assert_int_equal(kv_store_apply_buf(ref, buf, len, &res, errmsg), 0);
	++*index;
	assert_int_equal(
	    applier_apply(a, *index, 1, WAL_ENTRY_COMMAND, buf, len, errmsg),
	    0);
	assert_int_equal(applier_applied_index(a), *index);
}

static uint32_t fingerprint(struct applier *a)
{
	struct applier_query q = {.op = APPLIER_QUERY_FINGERPRINT};
	struct applier_result res;
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(applier_query(a, &q, NULL, NULL, &res, errmsg), 0);
	return res.fingerprint;
}

struct seen {
	char keys[8][32];
	char values[8][32];
	uint64_t versions[8];
	size_t n;
};

static int collect(void *arg, const struct applier_item *it)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->keys[s->n], 32, "%.*s", (int)it->key_len,
		         (const char *)it->key);
		snprintf(s->values[s->n], 32, "%.*s", (int)it->value_len,
		         (const char *)it->value);
		s->versions[s->n] = it->version;
	}
	s->n++;
	return 0;
}

static int query(struct applier *a, enum applier_query_op op, const char *ns,
                 const char *key, size_t limit, struct seen *s)
{
	struct applier_query q = {.op = op,
	                          .ns = ns,
	                          .ns_len = strlen(ns),
	                          .key = (const uint8_t *)key,
	                          .key_len = strlen(key),
	                          .limit = limit};
	struct applier_result res;
	char errmsg[MA_ERRMSG_SIZE];

	memset(s, 0, sizeof *s);
	return applier_query(a, &q, collect, s, &res, errmsg);
}

/* A scan resuming after a key: the callback sees only later keys (the
 * store seeks there rather than handing over the range from its start). */
static int query_after(struct applier *a, const char *prefix, const char *after,
                       size_t limit, struct seen *s)
{
	struct applier_query q = {.op = APPLIER_QUERY_SCAN,
	                          .ns = "app",
	                          .ns_len = 3,
	                          .key = (const uint8_t *)prefix,
	                          .key_len = strlen(prefix),
	                          .limit = limit,
	                          .after = (const uint8_t *)after,
	                          .after_len = strlen(after)};
	struct applier_result res;
	char errmsg[MA_ERRMSG_SIZE];

	memset(s, 0, sizeof *s);
	return applier_query(a, &q, collect, s, &res, errmsg);
}

static void test_kv_restore_apply_fingerprint(void **state)
{
	struct kv_store *ref;
	struct applier *a;
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t index = 0;
	void *snap;
	size_t snap_len;
	struct seen s;

	(void)state;
	assert_int_equal(kv_store_new(&ref), 0);
	assert_int_equal(applier_new(APPLIER_KV, "kv", &a, errmsg), 0);
	assert_string_equal(applier_kind_name(applier_get_kind(a)), "kv");
	assert_true(applier_needs_data(a));

	/* A source state up to index 10, snapshotted by kv_store itself. */
	uint8_t buf[64];
	for (int i = 0; i < 10; i++) {
		char key[16], value[16];
		struct kv_result res;
		snprintf(key, sizeof key, "user/%d", i);
		snprintf(value, sizeof value, "v%d", i);
		size_t len = encode(KV_OP_PUT, "app", key, strlen(key), value,
		                    strlen(value), 0, buf, sizeof buf);
		assert_int_equal(
		    kv_store_apply_buf(ref, buf, len, &res, errmsg), 0);
	}
	index = 10;
	assert_int_equal(kv_store_serialize(ref, &snap, &snap_len, errmsg), 0);

	/* Restore from the snapshot file. */
	char dir[] = "/tmp/ma-test-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/10-1.snapshot", dir);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(snap, 1, snap_len, fp), snap_len);
	fclose(fp);
	assert_int_equal(applier_restore_file(a, path, 10, errmsg), 0);
	assert_int_equal(applier_applied_index(a), 10);
	assert_int_equal(fingerprint(a), kv_store_fingerprint(ref));

	/* Commands, a barrier and a config entry, more commands. */
	both(ref, a, &index, KV_OP_PUT, "app", "user/3", "changed", 0);
	assert_int_equal(
	    applier_apply(a, 12, 2, WAL_ENTRY_BARRIER, NULL, 0, errmsg), 0);
	assert_int_equal(
	    applier_apply(a, 13, 2, WAL_ENTRY_CONFIG, "cfg", 3, errmsg), 0);
	assert_int_equal(applier_applied_index(a), 13);
	index = 13;
	assert_int_equal(fingerprint(a), kv_store_fingerprint(ref));
	both(ref, a, &index, KV_OP_CAS, "app", "user/4", "cas-ok", 5);
	both(ref, a, &index, KV_OP_CAS, "app", "user/4", "cas-stale", 5);
	both(ref, a, &index, KV_OP_DEL, "app", "user/5", NULL, 0);
	both(ref, a, &index, KV_OP_CAD, "app", "user/6", NULL, 999);
	both(ref, a, &index, KV_OP_PUT, "other", "user/9", "x", 0);
	assert_int_equal(fingerprint(a), kv_store_fingerprint(ref));

	/* A malformed command is skipped (as on the source), index moves. */
	uint8_t junk[16] = {'K', 9};
	assert_int_equal(applier_apply(a, ++index, 2, WAL_ENTRY_COMMAND, junk,
	                               sizeof junk, errmsg),
	                 0);
	assert_int_equal(applier_skipped_commands(a), 1);
	assert_int_equal(fingerprint(a), kv_store_fingerprint(ref));

	/* Replays are skipped, gaps refused without failing the applier. */
	assert_int_equal(applier_apply(a, 5, 1, WAL_ENTRY_COMMAND, junk,
	                               sizeof junk, errmsg),
	                 0);
	assert_int_equal(
	    applier_apply(a, index + 2, 2, WAL_ENTRY_BARRIER, NULL, 0, errmsg),
	    MA_ERR_OFFSET);
	assert_null(applier_error(a));
	assert_int_equal(applier_applied_index(a), index);

	/* get and scan. */
	assert_int_equal(query(a, APPLIER_QUERY_GET, "app", "user/3", 0, &s),
	                 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.values[0], "changed");
	const uint8_t *v;
	size_t vlen;
	uint64_t version;
	assert_int_equal(
	    kv_store_get(ref, "app", 3, "user/3", 6, &v, &vlen, &version), 0);
	assert_int_equal(s.versions[0], version);
	assert_int_equal(query(a, APPLIER_QUERY_GET, "app", "user/5", 0, &s),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(query(a, APPLIER_QUERY_GET, "bad ns", "k", 0, &s),
	                 MA_ERR_INVAL);
	assert_int_equal(query(a, APPLIER_QUERY_GET, "app", "", 0, &s),
	                 MA_ERR_INVAL);
	assert_int_equal(query(a, APPLIER_QUERY_SCAN, "app", "user/", 0, &s),
	                 0);
	assert_int_equal(s.n, 9); /* 0..9 without 5 */
	assert_string_equal(s.keys[0], "user/0");
	assert_string_equal(s.values[4], "cas-ok");
	assert_int_equal(query(a, APPLIER_QUERY_SCAN, "app", "user/", 3, &s),
	                 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(query(a, APPLIER_QUERY_SCAN, "app", "", 0, &s), 0);
	assert_int_equal(s.n, 9);
	/* Resuming after a key (the read API's after=): user/4 .. user/9
	 * without user/5; a limit counts from there; after below the prefix
	 * changes nothing; after the last key gives nothing. */
	assert_int_equal(query_after(a, "user/", "user/3", 0, &s), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.keys[0], "user/4");
	assert_string_equal(s.keys[1], "user/6");
	assert_int_equal(query_after(a, "user/", "user/3", 2, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.keys[1], "user/6");
	assert_int_equal(query_after(a, "user/", "a", 0, &s), 0);
	assert_int_equal(s.n, 9);
	assert_int_equal(query_after(a, "user/", "user/9", 0, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(query_after(a, "", "user/45", 0, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.keys[0], "user/6");

	/* A snapshot that does not check fails the applier until a good
	 * restore. */
	((uint8_t *)snap)[snap_len - 1] ^= 1;
	assert_int_equal(applier_restore_buf(a, snap, snap_len, 10, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(applier_error(a));
	assert_int_equal(query(a, APPLIER_QUERY_SCAN, "app", "", 0, &s),
	                 MA_ERR_FAILED);
	assert_int_equal(
	    applier_apply(a, 11, 1, WAL_ENTRY_BARRIER, NULL, 0, errmsg),
	    MA_ERR_FAILED);
	((uint8_t *)snap)[snap_len - 1] ^= 1;
	assert_int_equal(applier_restore_buf(a, snap, snap_len, 10, errmsg), 0);
	assert_null(applier_error(a));
	assert_int_equal(query(a, APPLIER_QUERY_GET, "app", "user/3", 0, &s),
	                 0);
	assert_string_equal(s.values[0], "v3");
	assert_int_equal(
	    applier_restore_file(a, "/nonexistent/x.snapshot", 10, errmsg),
	    MA_ERR_NOTFOUND);
	assert_non_null(applier_error(a));

	/* Reset: empty, index 0, healthy. */
	assert_int_equal(applier_reset(a, errmsg), 0);
	assert_int_equal(applier_applied_index(a), 0);
	assert_int_equal(query(a, APPLIER_QUERY_SCAN, "app", "", 0, &s), 0);
	assert_int_equal(s.n, 0);

	unlink(path);
	rmdir(dir);
	free(snap);
	applier_free(a);
	kv_store_free(ref);
}

/* From an empty state the applier equals a store that applied the same
 * commands, whatever the binary content of keys and values. */
static void test_kv_from_empty_binary(void **state)
{
	struct kv_store *ref;
	struct applier *a;
	char errmsg[MA_ERRMSG_SIZE];
	struct kv_result res;
	uint8_t buf[256], key[8] = {0, 1, 0xff, 'k', 0, 0x80, 7, 0};
	uint8_t value[5] = {0xff, 0, 0, 'v', 0};

	(void)state;
	assert_int_equal(kv_store_new(&ref), 0);
	assert_int_equal(applier_new(APPLIER_KV, "kv", &a, errmsg), 0);
	for (uint64_t i = 1; i <= 50; i++) {
		key[7] = (uint8_t)i;
		size_t len =
		    encode(i % 7 ? KV_OP_PUT : KV_OP_DEL, "bin", key,
		           sizeof key, i % 7 ? value : NULL,
		           i % 7 ? sizeof value : 0, 0, buf, sizeof buf);
		assert_int_equal(
		    kv_store_apply_buf(ref, buf, len, &res, errmsg), 0);
		assert_int_equal(
		    applier_apply(a, i, 1, WAL_ENTRY_COMMAND, buf, len, errmsg),
		    0);
	}
	assert_int_equal(fingerprint(a), kv_store_fingerprint(ref));
	assert_int_not_equal(fingerprint(a), 0);
	applier_free(a);
	kv_store_free(ref);
}

/* A restore told to stop (a newer snapshot superseded it) stops with
 * MA_ERR_AGAIN and leaves the store as it was; not told, it restores. */
static void test_kv_restore_cancel(void **state)
{
	char errmsg[MA_ERRMSG_SIZE], path[] = "/tmp/ma-test-cancel-XXXXXX";
	struct kv_store *ref, *other;
	struct applier *a;
	atomic_bool stop;
	uint64_t index = 0;
	uint32_t before;
	void *buf;
	size_t len;
	int fd;

	(void)state;
	assert_int_equal(kv_store_new(&ref), 0);
	assert_int_equal(kv_store_new(&other), 0);
	assert_int_equal(applier_new(APPLIER_KV, "db", &a, errmsg), 0);
	for (int i = 0; i < 3000; i++) {
		char key[16];

		snprintf(key, sizeof key, "key%05d", i);
		both(ref, a, &index, KV_OP_PUT, "app", key, "v", 0);
	}
	assert_int_equal(kv_store_serialize(ref, &buf, &len, errmsg), 0);
	{
		uint8_t cmd[256];
		struct kv_result res;
		size_t n = encode(KV_OP_PUT, "app", (const uint8_t *)"only", 4,
		                  "x", 1, 0, cmd, sizeof cmd);

		assert_int_equal(
		    kv_store_apply_buf(other, cmd, n, &res, errmsg), 0);
	}
	before = kv_store_fingerprint(other);

	atomic_init(&stop, true);
	assert_int_equal(
	    kv_store_restore_cancel(other, buf, len, &stop, errmsg),
	    MA_ERR_AGAIN);
	assert_non_null(strstr(errmsg, "cancelled at record 0 of 3000"));
	assert_int_equal(kv_store_count(other), 1);
	assert_int_equal(kv_store_fingerprint(other), before);
	atomic_store(&stop, false);
	assert_int_equal(
	    kv_store_restore_cancel(other, buf, len, &stop, errmsg), 0);
	assert_int_equal(kv_store_count(other), 3000);
	assert_int_equal(kv_store_fingerprint(other),
	                 kv_store_fingerprint(ref));

	/* The applier's file restore: stopped before parsing, failed with
	 * the reason; then restored when not stopped. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	applier_free(a);
	assert_int_equal(applier_new(APPLIER_KV, "db", &a, errmsg), 0);
	atomic_store(&stop, true);
	assert_int_equal(
	    applier_restore_file_cancel(a, path, 3000, &stop, errmsg),
	    MA_ERR_AGAIN);
	assert_non_null(strstr(errmsg, "cancelled"));
	assert_non_null(applier_error(a));
	assert_int_equal(applier_applied_index(a), 0);
	atomic_store(&stop, false);
	assert_int_equal(
	    applier_restore_file_cancel(a, path, 3000, &stop, errmsg), 0);
	assert_null(applier_error(a));
	assert_int_equal(applier_applied_index(a), 3000);
	assert_int_equal(fingerprint(a), kv_store_fingerprint(ref));
	unlink(path);
	free(buf);
	applier_free(a);
	kv_store_free(other);
	kv_store_free(ref);
}

static void test_none(void **state)
{
	struct applier *a;
	char errmsg[MA_ERRMSG_SIZE];
	struct seen s;

	(void)state;
	assert_int_equal(applier_new(APPLIER_NONE, "raw", &a, errmsg), 0);
	assert_false(applier_needs_data(a));
	/* Does not read the file. */
	assert_int_equal(
	    applier_restore_file(a, "/nonexistent/5-1.snapshot", 5, errmsg), 0);
	assert_int_equal(applier_applied_index(a), 5);
	assert_int_equal(
	    applier_apply(a, 6, 1, WAL_ENTRY_COMMAND, "xx", 2, errmsg), 0);
	assert_int_equal(
	    applier_apply(a, 7, 1, WAL_ENTRY_BARRIER, NULL, 0, errmsg), 0);
	assert_int_equal(applier_applied_index(a), 7);
	assert_int_equal(query(a, APPLIER_QUERY_GET, "app", "k", 0, &s),
	                 MA_ERR_CONFIG);
	assert_int_equal(
	    applier_new((enum applier_kind)7, "bad", &a, errmsg) == 0, 0);
	applier_free(a);
	applier_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kv_restore_apply_fingerprint),
	    cmocka_unit_test(test_kv_from_empty_binary),
	    cmocka_unit_test(test_kv_restore_cancel),
	    cmocka_unit_test(test_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
