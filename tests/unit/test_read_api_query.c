/* The read API's query parser (agent/readapi/read_api_query.h), by value:
 * every parameter of every operation, defaults, %-decoding, limits at
 * and past their edges, repeats, unknown names and the 400 messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/readapi/read_api_query.h"
#include "common/errors.h"

static struct read_api_query q;
static char why[160];

static int parse(enum read_api_op op, const char *qs)
{
	return read_api_query_parse(op, qs, &q, why, sizeof why);
}

static void ok(enum read_api_op op, const char *qs)
{
	if (parse(op, qs) != 0)
		fail_msg("'%s' refused: %s", qs, why);
	assert_int_equal(q.op, op);
}

static void bad(enum read_api_op op, const char *qs, const char *want)
{
	if (parse(op, qs) != MA_ERR_INVAL)
		fail_msg("'%s' accepted", qs);
	assert_string_equal(why, want);
}

static void test_get(void **state)
{
	(void)state;
	ok(READ_API_OP_GET, "ns=users&key=alice");
	assert_string_equal(q.ns, "users");
	assert_int_equal(q.ns_len, 5);
	assert_int_equal(q.key_len, 5);
	assert_memory_equal(q.key, "alice", 5);
	assert_int_equal(q.min_index, 0);
	assert_int_equal(q.timeout_ms, READ_API_TIMEOUT_DEFAULT_MS);
	assert_int_equal(q.limit, READ_API_SCAN_LIMIT_DEFAULT);
	assert_false(q.has_after);
	assert_int_equal(q.db, 0);

	/* Any order; min_index and timeout_ms. */
	ok(READ_API_OP_GET, "timeout_ms=250&key=k&min_index=57&ns=a.b_c-D9");
	assert_string_equal(q.ns, "a.b_c-D9");
	assert_int_equal(q.min_index, 57);
	assert_int_equal(q.timeout_ms, 250);
	assert_int_equal(q.key_len, 1);

	bad(READ_API_OP_GET, "key=alice", "ns is required");
	bad(READ_API_OP_GET, "ns=users", "key is required");
	bad(READ_API_OP_GET, NULL, "ns is required");
	bad(READ_API_OP_GET, "ns=users&key=", "key must be 1..1024 bytes");
	bad(READ_API_OP_GET, "ns=users&key", "key must be 1..1024 bytes");
	/* scan's parameters are not get's. */
	bad(READ_API_OP_GET, "ns=users&key=a&limit=5",
	    "unknown parameter 'limit'");
	bad(READ_API_OP_GET, "ns=users&key=a&prefix=a",
	    "unknown parameter 'prefix'");
	bad(READ_API_OP_GET, "ns=users&key=a&after=a",
	    "unknown parameter 'after'");
}

static void test_scan(void **state)
{
	(void)state;
	ok(READ_API_OP_SCAN, "ns=kv");
	assert_string_equal(q.ns, "kv");
	assert_int_equal(q.key_len, 0);
	assert_false(q.has_after);
	assert_int_equal(q.limit, READ_API_SCAN_LIMIT_DEFAULT);

	ok(READ_API_OP_SCAN, "ns=kv&prefix=user%2F&after=user%2F7&limit=25");
	assert_int_equal(q.key_len, 5);
	assert_memory_equal(q.key, "user/", 5);
	assert_true(q.has_after);
	assert_int_equal(q.after_len, 6);
	assert_memory_equal(q.after, "user/7", 6);
	assert_int_equal(q.limit, 25);

	/* An empty prefix and an empty after are values, not absences. */
	ok(READ_API_OP_SCAN, "ns=kv&prefix=&after=");
	assert_int_equal(q.key_len, 0);
	assert_true(q.has_after);
	assert_int_equal(q.after_len, 0);

	ok(READ_API_OP_SCAN, "ns=kv&limit=1");
	assert_int_equal(q.limit, 1);
	ok(READ_API_OP_SCAN, "ns=kv&limit=10000");
	assert_int_equal(q.limit, 10000);
	bad(READ_API_OP_SCAN, "ns=kv&limit=0",
	    "limit must be an integer 1..10000");
	bad(READ_API_OP_SCAN, "ns=kv&limit=10001",
	    "limit must be an integer 1..10000");
	bad(READ_API_OP_SCAN,
	    "ns=kv&limit=", "limit must be an integer 1..10000");
	bad(READ_API_OP_SCAN, "ns=kv&limit=-1",
	    "limit must be an integer 1..10000");
	bad(READ_API_OP_SCAN, "prefix=a", "ns is required");
	bad(READ_API_OP_SCAN, "ns=kv&key=a", "unknown parameter 'key'");
}

static void test_fingerprint(void **state)
{
	(void)state;
	ok(READ_API_OP_FINGERPRINT, NULL);
	assert_int_equal(q.ns_len, 0);
	assert_string_equal(q.ns, "");
	assert_int_equal(q.min_index, 0);
	ok(READ_API_OP_FINGERPRINT, "");
	ok(READ_API_OP_FINGERPRINT, "min_index=18446744073709551615");
	assert_true(q.min_index == UINT64_MAX);
	bad(READ_API_OP_FINGERPRINT, "ns=kv", "unknown parameter 'ns'");
	bad(READ_API_OP_FINGERPRINT, "limit=5", "unknown parameter 'limit'");
}

/* Issue 8: max_staleness (ms) for every operation; absent means no
 * bound (has_max_staleness false), 0 is a bound. */
static void test_max_staleness(void **state)
{
	const char *msg = "max_staleness must be a decimal integer of "
	                  "milliseconds 0..18446744073709551615";

	(void)state;
	ok(READ_API_OP_FINGERPRINT, "min_index=3");
	assert_false(q.has_max_staleness);
	ok(READ_API_OP_FINGERPRINT, "max_staleness=0");
	assert_true(q.has_max_staleness);
	assert_int_equal(q.max_staleness_ms, 0);
	ok(READ_API_OP_GET, "ns=a&key=k&max_staleness=1500&min_index=9");
	assert_true(q.has_max_staleness);
	assert_int_equal(q.max_staleness_ms, 1500);
	assert_int_equal(q.min_index, 9);
	ok(READ_API_OP_SCAN, "ns=a&max_staleness=18446744073709551615");
	assert_true(q.max_staleness_ms == UINT64_MAX);
	bad(READ_API_OP_GET, "ns=a&key=k&max_staleness=1s", msg);
	bad(READ_API_OP_GET, "ns=a&key=k&max_staleness=", msg);
	bad(READ_API_OP_FINGERPRINT, "max_staleness=-1", msg);
	bad(READ_API_OP_FINGERPRINT, "max_staleness=1&max_staleness=2",
	    "parameter 'max_staleness' given twice");
}

static void test_integers(void **state)
{
	const char *min_msg =
	    "min_index must be a decimal integer 0..18446744073709551615";
	const char *to_msg = "timeout_ms must be an integer 0..60000";

	(void)state;
	ok(READ_API_OP_FINGERPRINT, "min_index=0&timeout_ms=0");
	assert_int_equal(q.min_index, 0);
	assert_int_equal(q.timeout_ms, 0);
	ok(READ_API_OP_FINGERPRINT, "timeout_ms=60000");
	assert_int_equal(q.timeout_ms, 60000);
	/* Leading zeros are digits like any other. */
	ok(READ_API_OP_FINGERPRINT, "min_index=000000000000000000000042");
	assert_int_equal(q.min_index, 42);
	/* %-escaped digits decode first. */
	ok(READ_API_OP_FINGERPRINT, "min_index=%34%32");
	assert_int_equal(q.min_index, 42);

	bad(READ_API_OP_FINGERPRINT, "min_index=18446744073709551616", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=99999999999999999999", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=-1", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=+1", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=1%20", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=0x10", min_msg);
	bad(READ_API_OP_FINGERPRINT, "min_index=1e3", min_msg);
	bad(READ_API_OP_FINGERPRINT, "timeout_ms=60001", to_msg);
	bad(READ_API_OP_FINGERPRINT, "timeout_ms=18446744073709551616", to_msg);
	bad(READ_API_OP_FINGERPRINT, "timeout_ms=1s", to_msg);
}

static void test_namespace(void **state)
{
	char qs[256], ns[80];

	(void)state;
	/* "." and ".." are namespaces: they never become file names. */
	ok(READ_API_OP_SCAN, "ns=.");
	assert_string_equal(q.ns, ".");
	ok(READ_API_OP_SCAN, "ns=..");
	/* %-escapes decode before the check. */
	ok(READ_API_OP_SCAN, "ns=%6B%76");
	assert_string_equal(q.ns, "kv");

	memset(ns, 'n', 64);
	ns[64] = '\0';
	snprintf(qs, sizeof qs, "ns=%s", ns);
	ok(READ_API_OP_SCAN, qs);
	assert_int_equal(q.ns_len, 64);
	snprintf(qs, sizeof qs, "ns=%sn", ns);
	bad(READ_API_OP_SCAN, qs,
	    "ns must be [A-Za-z0-9._-]{1,64} (after %-decoding)");
	bad(READ_API_OP_SCAN,
	    "ns=", "ns must be [A-Za-z0-9._-]{1,64} (after %-decoding)");
	bad(READ_API_OP_SCAN, "ns=a+b",
	    "ns must be [A-Za-z0-9._-]{1,64} (after %-decoding)");
	bad(READ_API_OP_SCAN, "ns=a%2Fb",
	    "ns must be [A-Za-z0-9._-]{1,64} (after %-decoding)");
	bad(READ_API_OP_SCAN, "ns=a%00",
	    "ns must be [A-Za-z0-9._-]{1,64} (after %-decoding)");
	bad(READ_API_OP_SCAN, "ns=%C3%A9",
	    "ns must be [A-Za-z0-9._-]{1,64} (after %-decoding)");
}

/* head, then n bytes 0, 1, 2, ... each as %XX, then tail. */
static void escaped(char *qs, size_t size, const char *head, size_t n,
                    const char *tail)
{
	size_t len = (size_t)snprintf(qs, size, "%s", head);

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(qs + len, size - len, "%%%02X",
		                        (unsigned)(i & 0xff));
	snprintf(qs + len, size - len, "%s", tail);
}

static void test_percent_decoding(void **state)
{
	static char qs[4 * KV_KEY_MAX];

	(void)state;
	/* Both cases of hex, '+' as a space, raw bytes, a NUL. */
	ok(READ_API_OP_GET, "ns=kv&key=a%2fb%2F+c%00%FF");
	assert_int_equal(q.key_len, 8);
	assert_memory_equal(q.key, "a/b/ c\0\xff", 8);
	/* '=' inside a value is data. */
	ok(READ_API_OP_GET, "ns=kv&key=a=b");
	assert_int_equal(q.key_len, 3);
	assert_memory_equal(q.key, "a=b", 3);
	/* A literal '+' needs %2B. */
	ok(READ_API_OP_GET, "ns=kv&key=%2B");
	assert_int_equal(q.key_len, 1);
	assert_int_equal(q.key[0], '+');

	bad(READ_API_OP_GET, "ns=kv&key=%",
	    "parameter 'key': bad %-escape or longer than 1024 bytes");
	bad(READ_API_OP_GET, "ns=kv&key=a%4",
	    "parameter 'key': bad %-escape or longer than 1024 bytes");
	bad(READ_API_OP_GET, "ns=kv&key=%G0",
	    "parameter 'key': bad %-escape or longer than 1024 bytes");
	bad(READ_API_OP_GET, "ns=kv&key=%0G",
	    "parameter 'key': bad %-escape or longer than 1024 bytes");

	/* The limit is on decoded bytes: 1024 escaped bytes fit, for key,
	 * prefix and after alike; one more does not. */
	escaped(qs, sizeof qs, "ns=kv&key=", KV_KEY_MAX, "");
	ok(READ_API_OP_GET, qs);
	assert_int_equal(q.key_len, KV_KEY_MAX);
	assert_int_equal(q.key[KV_KEY_MAX - 1], (KV_KEY_MAX - 1) & 0xff);
	escaped(qs, sizeof qs, "ns=kv&key=", KV_KEY_MAX, "x");
	bad(READ_API_OP_GET, qs,
	    "parameter 'key': bad %-escape or longer than 1024 bytes");
	escaped(qs, sizeof qs, "ns=kv&prefix=", KV_KEY_MAX, "");
	ok(READ_API_OP_SCAN, qs);
	assert_int_equal(q.key_len, KV_KEY_MAX);
	escaped(qs, sizeof qs, "ns=kv&after=", KV_KEY_MAX, "");
	ok(READ_API_OP_SCAN, qs);
	assert_int_equal(q.after_len, KV_KEY_MAX);
	assert_int_equal(q.after[1], 1);
	escaped(qs, sizeof qs, "ns=kv&after=", KV_KEY_MAX, "%00");
	bad(READ_API_OP_SCAN, qs,
	    "parameter 'after': bad %-escape or longer than 1024 bytes");
}

static void test_repeats_and_unknown(void **state)
{
	char qs[200], name[100];

	(void)state;
	bad(READ_API_OP_GET, "ns=kv&key=a&ns=kv", "parameter 'ns' given twice");
	bad(READ_API_OP_GET, "ns=kv&key=a&key=a",
	    "parameter 'key' given twice");
	bad(READ_API_OP_SCAN, "ns=kv&limit=1&limit=1",
	    "parameter 'limit' given twice");
	bad(READ_API_OP_FINGERPRINT, "min_index=1&min_index=1",
	    "parameter 'min_index' given twice");
	/* Even an empty first value counts. */
	bad(READ_API_OP_SCAN, "ns=kv&prefix&prefix=a",
	    "parameter 'prefix' given twice");
	bad(READ_API_OP_GET, "ns=kv&key=a&x=1", "unknown parameter 'x'");
	bad(READ_API_OP_GET, "ns=kv&key=a&=1", "unknown parameter ''");
	/* Names are exact: no case folding, no %-decoding. */
	bad(READ_API_OP_GET, "NS=kv&key=a", "unknown parameter 'NS'");
	bad(READ_API_OP_GET, "n%73=kv&key=a", "unknown parameter 'n%73'");
	/* A long unknown name is cut at 64 characters in the message. */
	memset(name, 'z', 99);
	name[99] = '\0';
	snprintf(qs, sizeof qs, "%s=1", name);
	assert_int_equal(parse(READ_API_OP_FINGERPRINT, qs), MA_ERR_INVAL);
	assert_int_equal(strlen(why), strlen("unknown parameter ''") + 64);

	/* Empty pieces are skipped. */
	ok(READ_API_OP_GET, "&&ns=kv&&key=a&");
	assert_string_equal(q.ns, "kv");
	assert_int_equal(q.key_len, 1);
}

static void test_why_is_bounded(void **state)
{
	char small[16];

	(void)state;
	memset(small, 'x', sizeof small);
	assert_int_equal(read_api_query_parse(READ_API_OP_GET, "key=a", &q,
	                                      small, sizeof small),
	                 MA_ERR_INVAL);
	assert_string_equal(small, "ns is required");
	memset(small, 'x', sizeof small);
	assert_int_equal(read_api_query_parse(READ_API_OP_GET, "zzz=1", &q,
	                                      small, sizeof small),
	                 MA_ERR_INVAL);
	assert_int_equal(strlen(small), sizeof small - 1);
}

static void test_op_names(void **state)
{
	enum read_api_op op = READ_API_OP_FINGERPRINT;

	(void)state;
	assert_true(read_api_op_parse("get", &op));
	assert_int_equal(op, READ_API_OP_GET);
	assert_true(read_api_op_parse("scan", &op));
	assert_int_equal(op, READ_API_OP_SCAN);
	assert_true(read_api_op_parse("fingerprint", &op));
	assert_int_equal(op, READ_API_OP_FINGERPRINT);
	assert_false(read_api_op_parse("GET", &op));
	assert_false(read_api_op_parse("", &op));
	assert_false(read_api_op_parse("put", &op));
	assert_false(read_api_op_parse("scan ", &op));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_max_staleness),
	    cmocka_unit_test(test_namespace),
	    cmocka_unit_test(test_percent_decoding),
	    cmocka_unit_test(test_repeats_and_unknown),
	    cmocka_unit_test(test_why_is_bounded),
	    cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
