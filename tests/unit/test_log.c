/* common/log.c's line formats ([agent] log_format): the exact bytes of
 * the journal format, JSON lines that parse (jansson) back to the
 * message, with quotes and control characters escaped, and the config key
 * that selects them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/config/config.h"
#include "common/errors.h"
#include "common/log.h"

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	strcpy(f->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/log", f->dir);
	if (log_open(f->path, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	log_open(NULL, NULL);
	log_set_format(LOG_FORMAT_TEXT);
	log_set_level(LOG_LEVEL_INFO);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The whole file (small), NUL-terminated, in buf. */
static void read_all(const char *path, char *buf, size_t size)
{
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	size_t n = fread(buf, 1, size - 1, in);
	buf[n] = '\0';
	fclose(in);
}

static void test_journal_priorities(void **state)
{
	struct fixture *f = *state;
	char buf[1024];

	log_set_level(LOG_LEVEL_DEBUG);
	log_set_format(LOG_FORMAT_JOURNAL);
	log_error("db kv: wal failed");
	log_warn("slow %d", 7);
	log_info("Following");
	log_debug("tick");
	read_all(f->path, buf, sizeof buf);
	assert_string_equal(buf, "<3>db kv: wal failed\n"
	                         "<4>slow 7\n"
	                         "<6>Following\n"
	                         "<7>tick\n");
}

static void test_json_lines(void **state)
{
	struct fixture *f = *state;
	char buf[2048];
	json_error_t jerr;

	log_set_format(LOG_FORMAT_JSON);
	log_warn("peer said \"hi\\there\"\n\x01 end");
	log_info("plain é");
	read_all(f->path, buf, sizeof buf);

	char *nl = strchr(buf, '\n');
	assert_non_null(nl);
	*nl = '\0';
	/* Escaped on the line itself: no raw control byte left in it. */
	assert_null(strchr(buf, '\x01'));
	assert_non_null(strstr(buf, "\\u0001"));
	json_t *o = json_loads(buf, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "level")),
	                    "warn");
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
	                    "peer said \"hi\\there\"\n\x01 end");
	const char *ts = json_string_value(json_object_get(o, "ts"));
	assert_non_null(ts);
	/* 2026-11-29T03:05:08.123Z */
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[23], 'Z');
	json_decref(o);

	o = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
	                    "plain é");
	json_decref(o);
}

static void test_text_is_the_default(void **state)
{
	struct fixture *f = *state;
	char buf[256];

	log_info("hello");
	read_all(f->path, buf, sizeof buf);
	/* "<24-char time> info hello\n" */
	assert_int_equal(strlen(buf), 24 + strlen(" info hello\n"));
	assert_string_equal(buf + 24, " info hello\n");
}

static void test_config_key(void **state)
{
	struct agent_config cfg;
	char errmsg[MA_ERRMSG_SIZE];

	(void)state;
	assert_int_equal(config_init(&cfg), 0);
	assert_int_equal(cfg.agent.log_format, LOG_FORMAT_TEXT);
	assert_int_equal(
	    config_set(&cfg, "agent.log_format", "journal", errmsg), 0);
	assert_int_equal(cfg.agent.log_format, LOG_FORMAT_JOURNAL);
	assert_int_equal(config_set(&cfg, "agent.log_format", "json", errmsg),
	                 0);
	assert_int_equal(cfg.agent.log_format, LOG_FORMAT_JSON);
	assert_int_equal(config_set(&cfg, "agent.log_format", "syslog", errmsg),
	                 MA_ERR_CONFIG);
	assert_non_null(strstr(errmsg, "text"));
	assert_non_null(strstr(errmsg, "journal"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_journal_priorities, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_json_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_is_the_default, setup,
	                                    teardown),
	    cmocka_unit_test(test_config_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
