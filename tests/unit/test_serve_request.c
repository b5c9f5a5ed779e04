/* serve_request: every accepted form with its values, and every refusal
 * with its exact message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/serve/serve_request.h"
#include "common/errors.h"

struct ok_case {
	const char *path;
	enum serve_request_kind kind;
	const char *database;
	uint64_t index, term, offset, from, prev_term;
};

static void test_accepted(void **state)
{
	static const struct ok_case cases[] = {
	    {"/v1/db/kv/info", SERVE_REQUEST_INFO, "kv", 0, 0, 0, 0, 0},
	    {"/v1/db/a.b_c-9/info", SERVE_REQUEST_INFO, "a.b_c-9", 0, 0, 0, 0,
	     0},
	    {"/v1/db/kv/snapshot?index=7&term=3", SERVE_REQUEST_SNAPSHOT, "kv",
	     7, 3, 0, 0, 0},
	    {"/v1/db/kv/snapshot?term=3&offset=4096&index=7",
	     SERVE_REQUEST_SNAPSHOT, "kv", 7, 3, 4096, 0, 0},
	    {"/v1/db/kv/snapshot?index=18446744073709551615&term=0&offset=0",
	     SERVE_REQUEST_SNAPSHOT, "kv", UINT64_MAX, 0, 0, 0, 0},
	    {"/v1/db/kv/log?from=1&prev_term=0", SERVE_REQUEST_LOG, "kv", 0, 0,
	     0, 1, 0},
	    {"/v1/db/kv/log?prev_term=5&from=00000000000000000042",
	     SERVE_REQUEST_LOG, "kv", 0, 0, 0, 42, 5},
	    /* One decimal rule (common/parse.h): leading zeros are a
	     * value's, not a length limit's, business. */
	    {"/v1/db/kv/snapshot?index=000000000000000000001&term=1",
	     SERVE_REQUEST_SNAPSHOT, "kv", 1, 1, 0, 0, 0},
	};
	struct serve_request rq;
	char em[MA_ERRMSG_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct ok_case *c = &cases[i];

		em[0] = '\0';
		assert_int_equal(serve_request_parse("GET", c->path, &rq, em),
		                 0);
		assert_int_equal(rq.kind, c->kind);
		assert_string_equal(rq.database, c->database);
		assert_true(rq.index == c->index);
		assert_true(rq.term == c->term);
		assert_true(rq.offset == c->offset);
		assert_true(rq.from == c->from);
		assert_true(rq.prev_term == c->prev_term);
	}
}

struct bad_case {
	const char *method, *path, *message;
};

static void test_refused(void **state)
{
	static char longpath[SERVE_PATH_MAX + 2];
	static char longname[80];
	static const struct bad_case cases[] = {
	    {"POST", "/v1/db/kv/info", "only GET is served"},
	    {NULL, "/v1/db/kv/info", "only GET is served"},
	    {"GET", NULL, "path missing or longer than 512 bytes"},
	    {"GET", longpath, "path missing or longer than 512 bytes"},
	    {"GET", "/v2/db/kv/info", "path must start with /v1/db/"},
	    {"GET", "/v1/db/kv",
	     "bad database name in path (want " PARSE_NAME_RULE ")"},
	    {"GET", "/v1/db//info",
	     "bad database name in path (want " PARSE_NAME_RULE ")"},
	    {"GET", longname,
	     "bad database name in path (want " PARSE_NAME_RULE ")"},
	    {"GET", "/v1/db/../info",
	     "bad database name (want " PARSE_NAME_RULE ")"},
	    {"GET", "/v1/db/./info",
	     "bad database name (want " PARSE_NAME_RULE ")"},
	    {"GET", "/v1/db/k%20v/info",
	     "bad database name (want " PARSE_NAME_RULE ")"},
	    {"GET", "/v1/db/kv/info?x=1", "info takes no query"},
	    {"GET", "/v1/db/kv/info?", "info takes no query"},
	    {"GET", "/v1/db/kv/status",
	     "unknown endpoint 'status' (want info, snapshot or log)"},
	    {"GET", "/v1/db/kv/info/x",
	     "unknown endpoint 'info/x' (want info, snapshot or log)"},
	    {"GET", "/v1/db/kv/log", "missing query"},
	    {"GET", "/v1/db/kv/snapshot?", "missing query"},
	    {"GET", "/v1/db/kv/log?from=1",
	     "missing query parameter 'prev_term'"},
	    {"GET", "/v1/db/kv/snapshot?index=1",
	     "missing query parameter 'term'"},
	    {"GET", "/v1/db/kv/log?from=0&prev_term=0",
	     "from must be at least 1 (indexes start at 1)"},
	    {"GET", "/v1/db/kv/log?from=1&from=2&prev_term=0",
	     "query parameter 'from' repeated"},
	    {"GET", "/v1/db/kv/log?from=1&prev_term=0&",
	     "empty query parameter"},
	    {"GET", "/v1/db/kv/log?from=1&&prev_term=0",
	     "query parameter '' has no value"},
	    {"GET", "/v1/db/kv/log?from",
	     "query parameter 'from' has no value"},
	    {"GET", "/v1/db/kv/log?from=&prev_term=0",
	     "query parameter 'from' must be a decimal number below 2^64"},
	    {"GET", "/v1/db/kv/log?from=-1&prev_term=0",
	     "query parameter 'from' must be a decimal number below 2^64"},
	    {"GET", "/v1/db/kv/log?from=1x&prev_term=0",
	     "query parameter 'from' must be a decimal number below 2^64"},
	    {"GET", "/v1/db/kv/snapshot?index=18446744073709551616&term=1",
	     "query parameter 'index' must be a decimal number below 2^64"},
	    {"GET", "/v1/db/kv/log?from=1&prev_term=0&index=3",
	     "unknown query parameter 'index'"},
	    {"GET", "/v1/db/kv/snapshot?index=1&term=1&from=3",
	     "unknown query parameter 'from'"},
	};
	struct serve_request rq;
	char em[MA_ERRMSG_SIZE];

	(void)state;
	memcpy(longpath, "/v1/db/kv/info?", 15);
	memset(longpath + 15, 'a', sizeof longpath - 16);
	longpath[sizeof longpath - 1] = '\0';
	snprintf(longname, sizeof longname, "/v1/db/%065d/info", 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bad_case *c = &cases[i];

		em[0] = '\0';
		memset(&rq, 0xa5, sizeof rq);
		assert_int_equal(
		    serve_request_parse(c->method, c->path, &rq, em),
		    MA_ERR_INVAL);
		assert_string_equal(em, c->message);
		/* Nothing half-parsed leaks out of a refusal's database. */
		assert_true(rq.database[0] == '\0' ||
		            strcmp(rq.database, "kv") == 0);
	}
}

/* A path of exactly SERVE_PATH_MAX bytes is accepted; one more is not. */
static void test_path_limit(void **state)
{
	char path[SERVE_PATH_MAX + 2];
	struct serve_request rq;
	char em[MA_ERRMSG_SIZE];
	static const char head[] = "/v1/db/kv/log?from=1&prev_term=";
	size_t h = sizeof head - 1;

	(void)state;
	memset(path, 0, sizeof path);
	memcpy(path, head, h);
	memset(path + h, '0', 20);
	assert_int_equal(serve_request_parse("GET", path, &rq, em), 0);
	assert_true(rq.prev_term == 0);
	memset(path, 'a', SERVE_PATH_MAX);
	memcpy(path, "/v1/db/kv/info", 14);
	path[SERVE_PATH_MAX] = '\0';
	assert_int_equal(serve_request_parse("GET", path, &rq, em),
	                 MA_ERR_INVAL);
	assert_string_equal(em, "unknown endpoint "
	                        "'infoaaaaaaaaaaaaaaaaaaaaaaaaaaaa' (want "
	                        "info, snapshot or log)");
	path[SERVE_PATH_MAX] = 'a';
	path[SERVE_PATH_MAX + 1] = '\0';
	assert_int_equal(serve_request_parse("GET", path, &rq, em),
	                 MA_ERR_INVAL);
	assert_string_equal(em, "path missing or longer than 512 bytes");
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(serve_request_kind_name(SERVE_REQUEST_INFO),
	                    "info");
	assert_string_equal(serve_request_kind_name(SERVE_REQUEST_SNAPSHOT),
	                    "snapshot");
	assert_string_equal(serve_request_kind_name(SERVE_REQUEST_LOG), "log");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_path_limit),
	    cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
