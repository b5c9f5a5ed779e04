/* The status model (agent/status/status.h): the JSON writer pins its
 * format, escapes every string per RFC 8259 (checked through jansson, an
 * independent parser), round-trips through the reader field by field,
 * the reader refuses what it cannot trust, the Prometheus text carries the
 * same figures, and `mirror-agent status` answers its exit codes from a
 * status file (healthy, unhealthy state, stale, dead writer, missing file,
 * usage) and finds the file through --data-dir, --set and --config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>

#include "build-config.h" /* PACKAGE_VERSION */

#include "agent/cli/commands.h"
#include "agent/status/status.h"
#include "agent/status/status_token.h"
#include "common/errors.h"

static int64_t now_unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A report whose every figure is distinct, so a field written under the
 * wrong key shows. */
static struct status_report *sample(size_t count)
{
	struct status_report *r = calloc(1, sizeof *r);
	struct mirror_status st;

	assert_non_null(r);
	r->pid = 4242;
	r->updated_unix_ms = 1700000000123;
	snprintf(r->endpoint, sizeof r->endpoint, "127.0.0.1:4433");
	for (size_t i = 0; i < count; i++) {
		char name[16];
		memset(&st, 0, sizeof st);
		st.state = (enum mirror_state)(i % (MIRROR_STATE_LAST + 1));
		if (st.state == MIRROR_PROMOTED) {
			st.promoted_index = 400 + i;
			st.promoted_term = 3 + i;
		}
		st.bytes_done = 1000 + i;
		st.bytes_total = 2000 + i;
		st.rate_bytes_per_s = 3000 + i;
		st.applied_index = 500 + i; /* the log index */
		st.source_commit_index = 600 + i;
		st.lag_entries = 99999; /* recomputed from applied_index */
		st.lag_ms = 7000 + i;
		st.lag_known = true;
		st.has_contact = true;
		st.last_contact_age_ms = 250 + i;
		st.reconnects = 8 + i;
		st.received_bytes = 10000 + i;
		st.received_entries = 11000 + i;
		st.appended_entries = 12000 + i;
		st.refetched_bytes = 13000 + i;
		st.wal_syncs = 14000 + i;
		st.wal_sync_ms = 2500 + i;
		st.snapshot_wire_bytes = 14000 + i;
		st.snapshot_raw_bytes = 15000 + i;
		snprintf(st.error, sizeof st.error, "err %zu", i);
		snprintf(name, sizeof name, "db%zu", i);
		status_database_set(&r->databases[i], name, &st,
		                    "127.0.0.1:4433", 500 + i, 490 + i);
		snprintf(r->databases[i].applier,
		         sizeof r->databases[i].applier, "kv");
		r->databases[i].skipped_commands = 9 + i;
	}
	r->count = count;
	return r;
}

static void test_set_computes_lag_from_applied(void **state)
{
	struct status_database d;
	struct mirror_status st;

	(void)state;
	memset(&st, 0, sizeof st);
	st.state = MIRROR_FOLLOWING;
	st.source_commit_index = 100;
	st.applied_index = 100;
	st.lag_entries = 0; /* the state machine's: against the log */
	status_database_set(&d, "kv", &st, "h:1", 100, 93);
	assert_int_equal(d.log_index, 100);
	assert_int_equal(d.applied_index, 93);
	assert_int_equal(d.lag_entries, 7);
	assert_string_equal(d.applier, "none");
	assert_string_equal(d.applier_error, "");
	/* An applier ahead of a stale commit index: no negative lag. */
	status_database_set(&d, "kv", &st, "h:1", 120, 120);
	assert_int_equal(d.lag_entries, 0);
}

/* The exact text: tests and scripts (lib.sh state_of) match on
 * "database":"X","state":"Y" and compact "key":value pairs. */
static void test_json_exact_text(void **state)
{
	struct status_report *r = sample(1);
	size_t len;
	char *text;

	(void)state;
	text = status_json_format(r, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	assert_string_equal(
	    text,
	    "{\"pid\":4242,\"updated_unix_ms\":1700000000123,\"stopped\":false,"
	    "\"endpoint\":\"127.0.0.1:4433\",\"databases\":[{\"database\":"
	    "\"db0\",\"state\":\"Connecting\",\"bytes_done\":1000,"
	    "\"bytes_total\":2000,\"rate_bytes_per_s\":3000,\"log_index\":500,"
	    "\"applied_index\":490,\"source_commit_index\":600,"
	    "\"lag_entries\":110,\"lag_ms\":7000,\"last_contact_ms\":250,"
	    "\"reconnects\":8,"
	    "\"endpoint\":\"127.0.0.1:4433\",\"error\":\"err 0\","
	    "\"applier\":\"kv\",\"applier_error\":null,"
	    "\"skipped_commands\":9,\"retention_headroom_s\":null,"
	    "\"promoted_index\":null,\"promoted_term\":null,"
	    "\"source_last_leader_contact\":null,\"source_switches\":0,"
	    "\"source_switch_reason\":null,\"sources\":[],"
	    "\"refresh_state\":null,\"refresh_installed\":null,"
	    "\"refresh_received_bytes\":null,\"refresh_failures\":null,"
	    "\"refresh_last_index\":null,\"refresh_error\":null}]}\n");
	free(text);
	free(r);
}

/* Issue 8: how stale a database may be (what max_staleness bounds) and
 * whether it is ready (/readyz). */
static void test_staleness_and_ready(void **state)
{
	struct status_database d;
	struct mirror_status st;
	uint64_t ms = 1;

	(void)state;
	memset(&st, 0, sizeof st);
	st.state = MIRROR_FOLLOWING;
	st.lag_known = true;
	st.has_contact = true;
	st.lag_ms = 300;
	st.last_contact_age_ms = 120;
	status_database_set(&d, "kv", &st, "h:1", 10, 10);
	assert_true(status_database_staleness(&d, &ms));
	assert_int_equal(ms, 420);
	assert_true(status_database_ready(&d));
	/* Degraded, CatchingUp...: not ready, though the figures are. */
	st.state = MIRROR_DEGRADED;
	status_database_set(&d, "kv", &st, "h:1", 10, 10);
	assert_false(status_database_ready(&d));
	assert_true(status_database_staleness(&d, &ms));
	/* Disconnected: lag unknown, so neither (never "0 ms stale"). */
	st.state = MIRROR_FOLLOWING;
	st.lag_known = false;
	status_database_set(&d, "kv", &st, "h:1", 10, 10);
	ms = 7;
	assert_false(status_database_staleness(&d, &ms));
	assert_int_equal(ms, 7);
	assert_false(status_database_ready(&d));
	/* A sum that would wrap saturates. */
	st.lag_known = true;
	st.lag_ms = UINT64_MAX - 5;
	st.last_contact_age_ms = 10;
	status_database_set(&d, "kv", &st, "h:1", 10, 10);
	assert_true(status_database_staleness(&d, &ms));
	assert_true(ms == UINT64_MAX);
}

/* Issue 8: without current figures the lag is null, never 0, and the
 * contact age says how old the last word is (null before the first);
 * the reader gets the same back. */
static void test_json_unknown_lag(void **state)
{
	struct status_report *r = sample(1), *back = malloc(sizeof *back);
	char errmsg[MA_ERRMSG_SIZE];
	size_t len;
	char *text;

	(void)state;
	assert_non_null(back);
	r->databases[0].lag_known = false;
	r->databases[0].last_contact_ms = 45000;
	text = status_json_format(r, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"source_commit_index\":600,"
	                             "\"lag_entries\":null,\"lag_ms\":null,"
	                             "\"last_contact_ms\":45000,"));
	assert_int_equal(status_json_parse(text, len, back, errmsg), 0);
	assert_false(back->databases[0].lag_known);
	assert_true(back->databases[0].has_contact);
	assert_int_equal(back->databases[0].last_contact_ms, 45000);
	free(text);
	r->databases[0].has_contact = false;
	text = status_json_format(r, &len);
	assert_non_null(strstr(text, "\"last_contact_ms\":null,"));
	assert_int_equal(status_json_parse(text, len, back, errmsg), 0);
	assert_false(back->databases[0].has_contact);
	free(text);
	text = status_prometheus_format(r, &len);
	assert_non_null(strstr(text, "\nmirror_lag_seconds{db=\"db0\"} NaN\n"));
	assert_non_null(strstr(text, "\nmirror_lag_entries{db=\"db0\"} NaN\n"));
	assert_non_null(
	    strstr(text, "\nmirror_last_contact_seconds{db=\"db0\"} NaN\n"));
	free(text);
	free(back);
	free(r);
}

/* Every field under its key, read by jansson rather than our reader. */
static void test_json_every_field_by_jansson(void **state)
{
	struct status_report *r = sample(8);
	json_error_t jerr;
	json_t *root, *dbs;
	size_t len;
	char *text;

	(void)state;
	snprintf(r->databases[3].applier_error,
	         sizeof r->databases[3].applier_error, "out of memory");
	text = status_json_format(r, &len);
	assert_non_null(text);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "pid")),
	                 4242);
	assert_int_equal(
	    json_integer_value(json_object_get(root, "updated_unix_ms")),
	    1700000000123);
	assert_string_equal(
	    json_string_value(json_object_get(root, "endpoint")),
	    "127.0.0.1:4433");
	dbs = json_object_get(root, "databases");
	assert_int_equal(json_array_size(dbs), 8);
	for (size_t i = 0; i < 8; i++) {
		json_t *d = json_array_get(dbs, i);
		char name[16], err[16];
#define NUM(k) json_integer_value(json_object_get(d, k))
#define STR(k) json_string_value(json_object_get(d, k))
		snprintf(name, sizeof name, "db%zu", i);
		snprintf(err, sizeof err, "err %zu", i);
		assert_int_equal(json_object_size(d), 30);
		assert_string_equal(STR("database"), name);
		assert_string_equal(
		    STR("state"),
		    mirror_state_name((enum mirror_state)(i % 8)));
		/* Only a Promoted database says where (sample(): i 7). */
		if (i % 8 == MIRROR_PROMOTED) {
			assert_int_equal(NUM("promoted_index"), 400 + i);
			assert_int_equal(NUM("promoted_term"), 3 + i);
		} else {
			assert_true(
			    json_is_null(json_object_get(d, "promoted_index")));
			assert_true(
			    json_is_null(json_object_get(d, "promoted_term")));
		}
		assert_int_equal(NUM("bytes_done"), 1000 + i);
		assert_int_equal(NUM("bytes_total"), 2000 + i);
		assert_int_equal(NUM("rate_bytes_per_s"), 3000 + i);
		assert_int_equal(NUM("log_index"), 500 + i);
		assert_int_equal(NUM("applied_index"), 490 + i);
		assert_int_equal(NUM("source_commit_index"), 600 + i);
		assert_int_equal(NUM("lag_entries"), 110);
		assert_int_equal(NUM("lag_ms"), 7000 + i);
		assert_int_equal(NUM("last_contact_ms"), 250 + i);
		assert_int_equal(NUM("reconnects"), 8 + i);
		assert_string_equal(STR("endpoint"), "127.0.0.1:4433");
		assert_string_equal(STR("error"), err);
		assert_string_equal(STR("applier"), "kv");
		if (i == 3)
			assert_string_equal(STR("applier_error"),
			                    "out of memory");
		else
			assert_true(
			    json_is_null(json_object_get(d, "applier_error")));
		assert_int_equal(NUM("skipped_commands"), 9 + i);
		/* No source told it: unknown, not 0. */
		assert_true(
		    json_is_null(json_object_get(d, "retention_headroom_s")));
		/* Freshness: unknown is null, no move, no endpoint heard. */
		assert_true(json_is_null(
		    json_object_get(d, "source_last_leader_contact")));
		assert_int_equal(NUM("source_switches"), 0);
		assert_true(
		    json_is_null(json_object_get(d, "source_switch_reason")));
		assert_int_equal(json_array_size(json_object_get(d, "sources")),
		                 0);
		/* No background refresh (applier kv): every field null. */
		assert_true(json_is_null(json_object_get(d, "refresh_state")));
		assert_true(
		    json_is_null(json_object_get(d, "refresh_installed")));
		assert_true(
		    json_is_null(json_object_get(d, "refresh_received_bytes")));
		assert_true(
		    json_is_null(json_object_get(d, "refresh_failures")));
		assert_true(
		    json_is_null(json_object_get(d, "refresh_last_index")));
		assert_true(json_is_null(json_object_get(d, "refresh_error")));
#undef NUM
#undef STR
	}
	json_decref(root);
	free(text);
	free(r);
}

static void test_json_escaping(void **state)
{
	/* quote, backslash, every C escape, other control characters, DEL,
	 * two-, three- and four-byte UTF-8, then an invalid byte, a lone
	 * continuation byte, an overlong '/', a surrogate and a truncated
	 * sequence at the end. */
	static const char in[] = "q\"b\\/n\nr\rt\tb\bf\f1\x01"
	                         "1f\x1f"
	                         "del\x7f"
	                         "e\xc3\xa9 euro\xe2\x82\xac "
	                         "smile\xf0\x9f\x98\x80 "
	                         "ff\xff"
	                         "cont\x80"
	                         "over\xc0\xaf"
	                         "sur\xed\xa0\x80"
	                         "cut\xe2\x82";
	static const char want[] = "q\"b\\/n\nr\rt\tb\bf\f1\x01"
	                           "1f\x1f"
	                           "del\x7f"
	                           "e\xc3\xa9 euro\xe2\x82\xac "
	                           "smile\xf0\x9f\x98\x80 "
	                           "ff\xef\xbf\xbd"
	                           "cont\xef\xbf\xbd"
	                           "over\xef\xbf\xbd\xef\xbf\xbd"
	                           "sur\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                           "cut\xef\xbf\xbd\xef\xbf\xbd";
	struct status_report *r = sample(1);
	json_error_t jerr;
	json_t *root;
	size_t len;
	char *text;

	(void)state;
	snprintf(r->databases[0].error, sizeof r->databases[0].error, "%s", in);
	snprintf(r->endpoint, sizeof r->endpoint, "[::1]:\"7\"");
	text = status_json_format(r, &len);
	assert_non_null(text);
	/* The escapes themselves, as RFC 8259 spells them. */
	assert_non_null(strstr(text, "\"error\":\"q\\\"b\\\\/n\\nr\\rt\\tb\\bf"
	                             "\\f1\\u00011f\\u001fdel\x7f"
	                             "e\xc3\xa9"));
	assert_non_null(strstr(text, "\"endpoint\":\"[::1]:\\\"7\\\"\""));
	/* One line: no raw newline before the final one. */
	assert_ptr_equal(strchr(text, '\n'), text + len - 1);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(root);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(root, "databases"), 0),
	        "error")),
	    want);
	assert_string_equal(
	    json_string_value(json_object_get(root, "endpoint")),
	    "[::1]:\"7\"");
	json_decref(root);
	free(text);
	free(r);
}

/* The largest report: every database, every text full of characters that
 * need escaping, and every state, back through the reader unchanged. */
static void test_json_round_trip(void **state)
{
	struct status_report *r = sample(STATUS_MAX_DATABASES), *back;
	char errmsg[MA_ERRMSG_SIZE];
	size_t len;
	char *text;

	(void)state;
	for (size_t i = 0; i < r->count; i++) {
		struct status_database *d = &r->databases[i];
		memset(d->error, '"', sizeof d->error - 1);
		d->error[sizeof d->error - 1] = '\0';
		memset(d->applier_error, '\n', sizeof d->applier_error - 1);
		d->applier_error[sizeof d->applier_error - 1] = '\0';
		d->error[i] = '\\';
		d->log_index = UINT64_C(1) << 62; /* jansson: < 2^63 */
	}
	r->stopped = true;
	text = status_json_format(r, &len);
	assert_non_null(text);
	assert_true(len < STATUS_JSON_MAX);
	back = malloc(sizeof *back);
	assert_non_null(back);
	assert_int_equal(status_json_parse(text, len, back, errmsg), 0);
	assert_int_equal(back->pid, r->pid);
	assert_int_equal(back->updated_unix_ms, r->updated_unix_ms);
	assert_string_equal(back->endpoint, r->endpoint);
	assert_int_equal(back->count, r->count);
	for (size_t i = 0; i < r->count; i++) {
		const struct status_database *a = &r->databases[i],
		                             *b = &back->databases[i];
		assert_string_equal(b->database, a->database);
		assert_int_equal(b->state, a->state);
		assert_int_equal(b->bytes_done, a->bytes_done);
		assert_int_equal(b->bytes_total, a->bytes_total);
		assert_int_equal(b->rate_bytes_per_s, a->rate_bytes_per_s);
		assert_int_equal(b->log_index, a->log_index);
		assert_int_equal(b->applied_index, a->applied_index);
		assert_int_equal(b->source_commit_index,
		                 a->source_commit_index);
		assert_int_equal(b->lag_entries, a->lag_entries);
		assert_int_equal(b->lag_ms, a->lag_ms);
		assert_int_equal(b->lag_known, a->lag_known);
		assert_int_equal(back->stopped, r->stopped);
		assert_int_equal(b->last_contact_ms, a->last_contact_ms);
		assert_int_equal(b->has_contact, a->has_contact);
		assert_int_equal(b->reconnects, a->reconnects);
		assert_string_equal(b->endpoint, a->endpoint);
		assert_string_equal(b->error, a->error);
		assert_string_equal(b->applier, a->applier);
		assert_string_equal(b->applier_error, a->applier_error);
		assert_int_equal(b->skipped_commands, a->skipped_commands);
		assert_int_equal(b->promoted_index, a->promoted_index);
		assert_int_equal(b->promoted_term, a->promoted_term);
	}
	free(back);
	free(text);
	free(r);
}

/* What the reader refuses, and that its message names the field. */
static void test_json_parse_refuses(void **state)
{
	static const struct {
		const char *text, *says;
	} cases[] = {
	    {"", "not valid JSON"},
	    {"[1]", "not a JSON object"},
	    {"{\"pid\":1,\"updated_unix_ms\":2,\"endpoint\":\"e\"}",
	     "databases: missing"},
	    {"{\"pid\":-1,\"updated_unix_ms\":2,\"endpoint\":\"e\","
	     "\"databases\":[]}",
	     "pid: missing or not a non-negative integer"},
	    {"{\"pid\":1,\"updated_unix_ms\":2,\"endpoint\":\"e\","
	     "\"databases\":[{\"database\":\"kv\",\"state\":\"Sleeping\"}]}",
	     "databases[0].endpoint"},
	    {"{\"pid\":1,\"pid\":1,\"updated_unix_ms\":2,\"endpoint\":\"e\","
	     "\"databases\":[]}",
	     "duplicate"},
	    {"{\"pid\":1,\"updated_unix_ms\":2,\"endpoint\":\"e\","
	     "\"databases\":[7]}",
	     "databases[0] is not an object"},
	};
	struct status_report *r = malloc(sizeof *r), *s = sample(2);
	char errmsg[MA_ERRMSG_SIZE], *text, *p;
	size_t len;

	(void)state;
	assert_non_null(r);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		errmsg[0] = '\0';
		assert_int_equal(status_json_parse(cases[i].text,
		                                   strlen(cases[i].text), r,
		                                   errmsg),
		                 MA_ERR_CORRUPT);
		if (strstr(errmsg, cases[i].says) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, errmsg,
			         cases[i].says);
	}
	/* A valid document with one field's type or value spoiled. */
	text = status_json_format(s, &len);
	assert_non_null(text);
	p = strstr(text, "\"state\":\"Bootstrapping\"");
	assert_non_null(p);
	memcpy(p, "\"state\":\"Bootstrappinx\"", 23);
	assert_int_equal(status_json_parse(text, len, r, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(
	    errmsg, "databases[1].state: unknown state 'Bootstrappinx'"));
	memcpy(p, "\"state\":\"Bootstrapping\"", 23);
	p = strstr(text, "\"lag_ms\":7001");
	assert_non_null(p);
	p[9] = '"'; /* "lag_ms":"001: not an integer (nor valid JSON) */
	assert_int_equal(status_json_parse(text, len, r, errmsg),
	                 MA_ERR_CORRUPT);
	p[9] = '7';
	assert_int_equal(status_json_parse(text, len, r, errmsg), 0);
	assert_int_equal(r->databases[1].lag_ms, 7001);
	free(text);
	/* Unknown keys are a newer writer's: read past them. */
	static const char newer[] = "{\"pid\":1,\"updated_unix_ms\":2,"
	                            "\"endpoint\":\"e\",\"new\":[1],"
	                            "\"databases\":[]}";
	assert_int_equal(status_json_parse(newer, sizeof newer - 1, r, errmsg),
	                 0);
	assert_int_equal(r->count, 0);
	free(s);
	free(r);
}

/* The freshness of the sources (status.h): the followed node's leader
 * contact in seconds, the moves and their reason, each endpoint's
 * position; the same figures as metrics. */
static void test_freshness_fields(void **state)
{
	struct status_report *r = sample(1);
	struct status_database *d = &r->databases[0];
	json_error_t err;
	json_t *root, *db, *src;
	size_t len;
	char *text;

	(void)state;
	d->source_leader_contact_known = true;
	d->source_leader_contact_ms = 4250;
	d->source_switches = 2;
	snprintf(d->source_switch_reason, sizeof d->source_switch_reason,
	         "kv: moving from endpoint 0 to endpoint 1");
	d->nsources = 2;
	snprintf(d->sources[0].endpoint, sizeof d->sources[0].endpoint,
	         "127.0.0.1:4433");
	d->sources[0].observed = true;
	d->sources[0].commit_index = 700;
	d->sources[0].observed_age_ms = 120;
	snprintf(d->sources[0].leader, sizeof d->sources[0].leader, "none");
	d->sources[0].contact_known = true;
	d->sources[0].leader_contact_ms = 4250;
	snprintf(d->sources[0].probe, sizeof d->sources[0].probe, "ok");
	snprintf(d->sources[1].endpoint, sizeof d->sources[1].endpoint,
	         "127.0.0.2:4433");
	snprintf(d->sources[1].probe, sizeof d->sources[1].probe, "failed");
	text = status_json_format(r, &len);
	assert_non_null(text);
	root = json_loadb(text, len, 0, &err);
	assert_non_null(root);
	db = json_array_get(json_object_get(root, "databases"), 0);
	assert_true(json_real_value(json_object_get(
	                db, "source_last_leader_contact")) == 4.25);
	assert_int_equal(
	    json_integer_value(json_object_get(db, "source_switches")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(db, "source_switch_reason")),
	    "kv: moving from endpoint 0 to endpoint 1");
	assert_int_equal(json_array_size(json_object_get(db, "sources")), 2);
	src = json_array_get(json_object_get(db, "sources"), 0);
	assert_int_equal(json_object_size(src), 6);
	assert_string_equal(json_string_value(json_object_get(src, "endpoint")),
	                    "127.0.0.1:4433");
	assert_int_equal(
	    json_integer_value(json_object_get(src, "commit_index")), 700);
	assert_int_equal(
	    json_integer_value(json_object_get(src, "observed_age_ms")), 120);
	assert_string_equal(json_string_value(json_object_get(src, "leader")),
	                    "none");
	assert_true(json_real_value(json_object_get(src, "leader_contact")) ==
	            4.25);
	assert_string_equal(json_string_value(json_object_get(src, "probe")),
	                    "ok");
	src = json_array_get(json_object_get(db, "sources"), 1);
	assert_true(json_is_null(json_object_get(src, "commit_index")));
	assert_true(json_is_null(json_object_get(src, "leader")));
	assert_true(json_is_null(json_object_get(src, "leader_contact")));
	assert_string_equal(json_string_value(json_object_get(src, "probe")),
	                    "failed");
	json_decref(root);
	free(text);
	text = status_prometheus_format(r, &len);
	assert_non_null(text);
	assert_non_null(strstr(
	    text, "\nmirror_source_last_leader_contact_seconds{db=\"db0\"} "
	          "4.250\n"));
	assert_non_null(
	    strstr(text, "\nmirror_source_switches_total{db=\"db0\"} 2\n"));
	assert_non_null(strstr(text,
	                       "\nmirror_endpoint_commit_index{db=\"db0\","
	                       "endpoint=\"127.0.0.1:4433\"} 700\n"));
	assert_null(strstr(text, "endpoint=\"127.0.0.2:4433\""));
	free(text);
	free(r);
}

/* Issue 10's background refresh of a none database in the status: the
 * JSON fields, the metrics (only for the database whose refresh is on),
 * the page's line. */
static void test_refresh_fields(void **state)
{
	struct status_report *r = sample(2);
	struct status_database *d = &r->databases[1];
	json_error_t err;
	json_t *root, *db;
	size_t len;
	char *text;

	(void)state;
	assert_string_equal(status_refresh_phase_name(FOLLOW_REFRESH_IDLE),
	                    "idle");
	assert_string_equal(status_refresh_phase_name(FOLLOW_REFRESH_INFO),
	                    "checking");
	assert_string_equal(status_refresh_phase_name(FOLLOW_REFRESH_FETCH),
	                    "fetching");
	assert_string_equal(status_refresh_phase_name(FOLLOW_REFRESH_PAUSED),
	                    "paused");
	assert_string_equal(status_refresh_phase_name(FOLLOW_REFRESH_VERIFY),
	                    "verifying");
	d->refresh_on = true;
	snprintf(d->refresh_state, sizeof d->refresh_state, "paused");
	d->refresh_installed = 3;
	d->refresh_bytes = 5242880;
	d->refresh_failures = 2;
	d->refresh_last_index = 90000;
	snprintf(d->refresh_error, sizeof d->refresh_error,
	         "source answered 503 <busy>");
	text = status_json_format(r, &len);
	assert_non_null(text);
	assert_non_null(strstr(
	    text, ",\"refresh_state\":\"paused\",\"refresh_installed\":3,"
	          "\"refresh_received_bytes\":5242880,\"refresh_failures\":2,"
	          "\"refresh_last_index\":90000,\"refresh_error\":\"source "
	          "answered 503 <busy>\"}]}\n"));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	assert_non_null(root);
	db = json_array_get(json_object_get(root, "databases"), 0);
	assert_true(json_is_null(json_object_get(db, "refresh_state")));
	db = json_array_get(json_object_get(root, "databases"), 1);
	assert_int_equal(json_object_size(db), 30);
	assert_string_equal(
	    json_string_value(json_object_get(db, "refresh_state")), "paused");
	assert_int_equal(
	    json_integer_value(json_object_get(db, "refresh_received_bytes")),
	    5242880);
	json_decref(root);
	free(text);
	/* On, nothing installed yet: the last index is null, not 0. */
	d->refresh_installed = 0;
	text = status_json_format(r, &len);
	assert_non_null(strstr(text, "\"refresh_installed\":0,"
	                             "\"refresh_received_bytes\":5242880,"
	                             "\"refresh_failures\":2,"
	                             "\"refresh_last_index\":null,"));
	free(text);
	d->refresh_installed = 3;

	text = status_prometheus_format(r, &len);
	assert_non_null(text);
	static const char *const lines[] = {
	    "\n# TYPE mirror_refresh_state gauge\n"
	    "mirror_refresh_state{db=\"db1\",state=\"idle\"} 0\n"
	    "mirror_refresh_state{db=\"db1\",state=\"checking\"} 0\n"
	    "mirror_refresh_state{db=\"db1\",state=\"fetching\"} 0\n"
	    "mirror_refresh_state{db=\"db1\",state=\"paused\"} 1\n"
	    "mirror_refresh_state{db=\"db1\",state=\"verifying\"} 0\n",
	    "\n# TYPE mirror_refresh_snapshots_installed_total counter\n"
	    "mirror_refresh_snapshots_installed_total{db=\"db1\"} 3\n",
	    "\n# TYPE mirror_refresh_received_bytes_total counter\n"
	    "mirror_refresh_received_bytes_total{db=\"db1\"} 5242880\n",
	    "\n# TYPE mirror_refresh_failures_total counter\n"
	    "mirror_refresh_failures_total{db=\"db1\"} 2\n",
	    "\n# TYPE mirror_refresh_last_snapshot_index gauge\n"
	    "mirror_refresh_last_snapshot_index{db=\"db1\"} 90000\n",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (strstr(text, lines[i]) == NULL)
			fail_msg("missing in the metrics: %s", lines[i]);
	assert_null(strstr(text, "mirror_refresh_state{db=\"db0\""));
	assert_null(strstr(text, "_total{db=\"db0\"} 3\n"));
	free(text);
	/* No database with a refresh: no family at all (no empty HELP). */
	d->refresh_on = false;
	text = status_prometheus_format(r, &len);
	assert_null(strstr(text, "mirror_refresh_"));
	free(text);
	d->refresh_on = true;

	text = status_html_format(r, NULL, &len);
	assert_non_null(text);
	assert_non_null(strstr(
	    text,
	    "<div class=\"small refresh\" data-state=\"paused\" "
	    "data-installed=\"3\">snapshot refresh paused, 3 installed, "
	    "5.0 MiB; last error: source answered 503 &lt;busy&gt;</div>"));
	assert_int_equal(strstr(text, "class=\"small refresh\"") -
	                         strstr(text, "id=\"db-db1\"") >
	                     0,
	                 1);
	free(text);
	free(r);
}

static void test_prometheus(void **state)
{
	struct status_report *r = sample(2);
	size_t len;
	char *text;

	(void)state;
	r->databases[1].state = MIRROR_FOLLOWING;
	snprintf(r->databases[1].applier_error,
	         sizeof r->databases[1].applier_error, "broken");
	text = status_prometheus_format(r, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	static const char *const lines[] = {
	    "# HELP mirror_state Current state of each mirrored database (1: "
	    "the current one).\n# TYPE mirror_state gauge\n",
	    "\nmirror_state{db=\"db0\",state=\"Connecting\"} 1\n",
	    "\nmirror_state{db=\"db0\",state=\"Following\"} 0\n",
	    "\nmirror_state{db=\"db1\",state=\"Following\"} 1\n",
	    "\nmirror_state{db=\"db1\",state=\"Bootstrapping\"} 0\n",
	    "\nmirror_state{db=\"db1\",state=\"Promoted\"} 0\n",
	    "\nmirror_bootstrap_received_bytes{db=\"db1\"} 1001\n",
	    "\n# TYPE mirror_bootstrap_size_bytes gauge\n"
	    "mirror_bootstrap_size_bytes{db=\"db0\"} 2000\n",
	    "\nmirror_applied_index{db=\"db1\"} 491\n",
	    "\nmirror_log_index{db=\"db1\"} 501\n",
	    "\nmirror_source_commit_index{db=\"db0\"} 600\n",
	    "\nmirror_lag_entries{db=\"db0\"} 110\n",
	    /* Base units: 7001 ms are 7.001 s. */
	    "\n# TYPE mirror_lag_seconds gauge\n"
	    "mirror_lag_seconds{db=\"db0\"} 7.000\n"
	    "mirror_lag_seconds{db=\"db1\"} 7.001\n",
	    "\n# TYPE mirror_reconnects_total counter\n"
	    "mirror_reconnects_total{db=\"db0\"} 8\n"
	    "mirror_reconnects_total{db=\"db1\"} 9\n",
	    "\n# TYPE mirror_received_bytes_total counter\n"
	    "mirror_received_bytes_total{db=\"db0\"} 10000\n",
	    "\n# TYPE mirror_received_entries_total counter\n"
	    "mirror_received_entries_total{db=\"db0\"} 11000\n",
	    "\n# TYPE mirror_appended_entries_total counter\n"
	    "mirror_appended_entries_total{db=\"db0\"} 12000\n",
	    "\n# TYPE mirror_refetched_bytes_total counter\n"
	    "mirror_refetched_bytes_total{db=\"db0\"} 13000\n"
	    "mirror_refetched_bytes_total{db=\"db1\"} 13001\n",
	    "\n# TYPE mirror_wal_syncs_total counter\n"
	    "mirror_wal_syncs_total{db=\"db0\"} 14000\n"
	    "mirror_wal_syncs_total{db=\"db1\"} 14001\n",
	    "\n# TYPE mirror_wal_sync_seconds_total counter\n"
	    "mirror_wal_sync_seconds_total{db=\"db0\"} 2.500\n"
	    "mirror_wal_sync_seconds_total{db=\"db1\"} 2.501\n",
	    "\n# TYPE mirror_snapshot_wire_bytes_total counter\n"
	    "mirror_snapshot_wire_bytes_total{db=\"db0\"} 14000\n"
	    "mirror_snapshot_wire_bytes_total{db=\"db1\"} 14001\n",
	    "\n# TYPE mirror_snapshot_raw_bytes_total counter\n"
	    "mirror_snapshot_raw_bytes_total{db=\"db0\"} 15000\n"
	    "mirror_snapshot_raw_bytes_total{db=\"db1\"} 15001\n",
	    "\nmirror_applier_failed{db=\"db0\"} 0\n",
	    "\nmirror_applier_failed{db=\"db1\"} 1\n",
	    "\n# TYPE mirror_last_contact_seconds gauge\n"
	    "mirror_last_contact_seconds{db=\"db0\"} 0.250\n"
	    "mirror_last_contact_seconds{db=\"db1\"} 0.251\n",
	    "# TYPE mirror_build_info "
	    "gauge\nmirror_build_info{version=\"" PACKAGE_VERSION
	    "\",commit=\"",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (strstr(text, lines[i]) == NULL)
			fail_msg("missing '%s' in:\n%s", lines[i], text);
	/* The old names promtool refused (a gauge named *_total, a unit
	 * other than the base one) are gone. */
	assert_null(strstr(text, "mirror_bytes_total"));
	assert_null(strstr(text, "mirror_lag_ms"));
	/* Process metrics only when they were read. */
	assert_null(strstr(text, "process_"));
	/* build_info (HELP, TYPE, one line), 8 states x 2 databases, then
	 * 17 metrics and the last contact x 2 databases, each with its HELP
	 * and TYPE, then the headroom's HELP and TYPE without samples
	 * (unknown), the leader contact (NaN) and the switches x 2
	 * databases, the endpoints' commit indexes without samples (none
	 * heard). */
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	assert_int_equal(n, 3 + 2 + 16 + 18 * (2 + 2) + 2 + 2 * (2 + 2) + 2);
	assert_non_null(strstr(
	    text,
	    "mirror_source_last_leader_contact_seconds{db=\"db1\"} NaN\n"));
	assert_null(strstr(text, "mirror_retention_headroom_seconds{"));
	free(text);
	/* A known headroom is a sample, in seconds, and a JSON number. */
	r->databases[1].retention_headroom_known = true;
	r->databases[1].retention_headroom_s = 3600;
	text = status_prometheus_format(r, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE mirror_retention_headroom_seconds "
	                             "gauge\nmirror_retention_headroom_seconds"
	                             "{db=\"db1\"} 3600\n"));
	assert_null(strstr(text, "mirror_retention_headroom_seconds{db=\"db0"));
	free(text);
	text = status_json_format(r, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"skipped_commands\":10,"
	                             "\"retention_headroom_s\":3600,"));
	free(text);
	r->databases[1].retention_headroom_known = false;

	r->process = (struct status_process){true, 1.5,  4096,         8192,
	                                     7,    1024, 1700000000.25};
	text = status_prometheus_format(r, &len);
	assert_non_null(text);
	static const char *const proc[] = {
	    "\n# TYPE process_cpu_seconds_total counter\n"
	    "process_cpu_seconds_total 1.50\n",
	    "\nprocess_resident_memory_bytes 4096\n",
	    "\nprocess_virtual_memory_bytes 8192\n",
	    "\nprocess_open_fds 7\n",
	    "\nprocess_max_fds 1024\n",
	    "\nprocess_start_time_seconds 1700000000.25\n",
	};
	for (size_t i = 0; i < sizeof proc / sizeof proc[0]; i++)
		if (strstr(text, proc[i]) == NULL)
			fail_msg("missing '%s' in:\n%s", proc[i], text);
	free(text);
	free(r);
}

/* process_* from /proc/self: this very process's figures. */
static void test_process_read(void **state)
{
	struct status_process a, b;
	int fds[3];

	(void)state;
	status_process_read(&a);
	assert_true(a.valid);
	assert_true(a.open_fds >= 3); /* stdin, stdout, stderr at least */
	assert_true(a.resident_bytes > 0);
	assert_true(a.virtual_bytes >= a.resident_bytes);
	assert_true(a.max_fds >= a.open_fds);
	double now = (double)time(NULL);
	assert_true(a.start_time_seconds <= now + 1);
	assert_true(a.start_time_seconds > now - 3600);
	for (int i = 0; i < 3; i++) {
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	status_process_read(&b);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	assert_int_equal(b.open_fds, a.open_fds + 3);
	assert_true(b.cpu_seconds >= a.cpu_seconds);
	assert_true(b.start_time_seconds == a.start_time_seconds);
}

static void test_states(void **state)
{
	enum mirror_state s;

	(void)state;
	for (int i = MIRROR_CONNECTING; i <= MIRROR_STATE_LAST; i++) {
		assert_int_equal(
		    status_state_parse(mirror_state_name((enum mirror_state)i),
		                       &s),
		    0);
		assert_int_equal(s, i);
	}
	assert_int_equal(status_state_parse("following", &s), MA_ERR_NOTFOUND);
	assert_true(status_state_healthy(MIRROR_BOOTSTRAPPING));
	assert_true(status_state_healthy(MIRROR_CATCHING_UP));
	assert_true(status_state_healthy(MIRROR_FOLLOWING));
	assert_false(status_state_healthy(MIRROR_CONNECTING));
	assert_false(status_state_healthy(MIRROR_DEGRADED));
	assert_false(status_state_healthy(MIRROR_DISCONNECTED));
	assert_false(status_state_healthy(MIRROR_ERROR));
	assert_false(status_state_healthy(MIRROR_PROMOTED));
	assert_string_equal(mirror_state_name(MIRROR_PROMOTED), "Promoted");
	assert_int_equal(status_state_parse("Promoted", &s), 0);
	assert_int_equal(s, MIRROR_PROMOTED);
}

/* ---- mirror-agent status ---- */

struct scratch {
	char dir[64];
	char file[128];
	char out[128];
};

static int scratch_setup(void **state)
{
	struct scratch *s = calloc(1, sizeof *s);

	if (s == NULL)
		return -1;
	snprintf(s->dir, sizeof s->dir, "/tmp/ma-test-XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return -1;
	snprintf(s->file, sizeof s->file, "%s/status", s->dir);
	snprintf(s->out, sizeof s->out, "%s/out", s->dir);
	*state = s;
	return 0;
}

static int scratch_teardown(void **state)
{
	struct scratch *s = *state;
	char path[256];

	unlink(s->file);
	unlink(s->out);
	snprintf(path, sizeof path, "%s/agent.conf", s->dir);
	unlink(path);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* Writes a report of this process, one database in state st, updated
 * age_ms ago. */
static bool report_stopped; /* write_report's next report is a final one */

static void write_report(const struct scratch *s, enum mirror_state st,
                         int64_t age_ms, long pid)
{
	struct status_report *r = sample(1);
	char errmsg[MA_ERRMSG_SIZE];

	r->stopped = report_stopped;
	r->pid = pid;
	r->updated_unix_ms = now_unix_ms() - age_ms;
	r->databases[0].state = st;
	r->databases[0].promoted_index = st == MIRROR_PROMOTED ? 400 : 0;
	r->databases[0].promoted_term = st == MIRROR_PROMOTED ? 3 : 0;
	snprintf(r->databases[0].database, sizeof r->databases[0].database,
	         "kv");
	assert_int_equal(status_file_write(s->file, r, errmsg), 0);
	free(r);
}

/* Runs `status ARGS...` with stdout in s->out (kept off the TAP stream)
 * and stderr silenced; returns its exit code. */
static int run_status(const struct scratch *s, const char *a1, const char *a2,
                      const char *a3, const char *a4)
{
	char *argv[6] = {(char *)"status", (char *)a1, (char *)a2,
	                 (char *)a3,       (char *)a4, NULL};
	int argc = 1, rc, out, err, fd, nul;

	while (argc < 5 && argv[argc] != NULL)
		argc++;
	fflush(stdout);
	fflush(stderr);
	out = dup(1);
	err = dup(2);
	fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	nul = open("/dev/null", O_WRONLY);
	assert_true(out >= 0 && err >= 0 && fd >= 0 && nul >= 0);
	dup2(fd, 1);
	dup2(nul, 2);
	rc = cmd_status(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out);
	close(err);
	close(fd);
	close(nul);
	return rc;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_cmd_exit_codes(void **state)
{
	struct scratch *s = *state;
	char set[128];

	snprintf(set, sizeof set, "agent.data_dir=%s", s->dir);
	/* Missing file: 1. */
	assert_int_equal(run_status(s, "--status-file", s->file, NULL, NULL),
	                 1);
	/* Healthy states: 0, and the human text names the figures. */
	static const enum mirror_state good[] = {
	    MIRROR_BOOTSTRAPPING, MIRROR_CATCHING_UP, MIRROR_FOLLOWING};
	for (size_t i = 0; i < 3; i++) {
		write_report(s, good[i], 0, (long)getpid());
		assert_int_equal(
		    run_status(s, "--data-dir", s->dir, NULL, NULL), 0);
	}
	assert_non_null(strstr(slurp(s->out), "kv: Following\n"));
	assert_non_null(strstr(slurp(s->out),
	                       "  log index 500, applied index 490, source "
	                       "commit index 600, lag 110 entries / 7000 "
	                       "ms\n"));
	/* Not healthy: 1. */
	static const enum mirror_state bad[] = {
	    MIRROR_CONNECTING, MIRROR_DEGRADED, MIRROR_DISCONNECTED,
	    MIRROR_ERROR};
	for (size_t i = 0; i < 4; i++) {
		write_report(s, bad[i], 0, (long)getpid());
		assert_int_equal(run_status(s, "--set", set, NULL, NULL), 1);
	}
	/* Promoted (issue 11): 3, with where it stopped; final, so neither
	 * its age, nor a stopped or gone follower, makes it 1. */
	write_report(s, MIRROR_PROMOTED, 0, (long)getpid());
	assert_int_equal(run_status(s, "--data-dir", s->dir, NULL, NULL), 3);
	assert_non_null(strstr(slurp(s->out),
	                       "kv: Promoted\n  promoted at index 400, term "
	                       "3: a source of its own"));
	report_stopped = true;
	write_report(s, MIRROR_PROMOTED, 3600 * 1000, 0x7ffffff0L);
	report_stopped = false;
	assert_int_equal(run_status(s, "--data-dir", s->dir, NULL, NULL), 3);
	/* Stale: 1 with the default 10 s, 0 when --max-age allows it. */
	write_report(s, MIRROR_FOLLOWING, 30000, (long)getpid());
	assert_int_equal(run_status(s, "--data-dir", s->dir, NULL, NULL), 1);
	assert_int_equal(
	    run_status(s, "--data-dir", s->dir, "--max-age=60", NULL), 0);
	/* The final report of a stopped follower (its pid may live on,
	 * reused or in a supervisor's restart): 1, whatever its states. */
	report_stopped = true;
	write_report(s, MIRROR_FOLLOWING, 0, (long)getpid());
	report_stopped = false;
	assert_int_equal(run_status(s, "--data-dir", s->dir, NULL, NULL), 1);
	/* The writer is gone (a pid above pid_max never exists): 1. */
	write_report(s, MIRROR_FOLLOWING, 0, 0x7ffffff0L);
	assert_int_equal(run_status(s, "--data-dir", s->dir, NULL, NULL), 1);
	/* A file that is not a status: 1. */
	FILE *f = fopen(s->file, "w");
	assert_non_null(f);
	fputs("{\"pid\":1}", f);
	fclose(f);
	assert_int_equal(run_status(s, "--data-dir", s->dir, NULL, NULL), 1);
	/* Usage: 2; --help: 0 with the exit codes on stdout. */
	assert_int_equal(run_status(s, "--bogus", NULL, NULL, NULL), 2);
	assert_int_equal(run_status(s, "--max-age", "0", NULL, NULL), 2);
	assert_int_equal(run_status(s, "--data-dir", NULL, NULL, NULL), 2);
	assert_int_equal(run_status(s, "extra", NULL, NULL, NULL), 2);
	assert_int_equal(run_status(s, "--set", "agent.nokey=1", NULL, NULL),
	                 2);
	assert_int_equal(run_status(s, "--help", NULL, NULL, NULL), 0);
	assert_non_null(strstr(slurp(s->out), "usage: mirror-agent status"));
	assert_non_null(strstr(slurp(s->out), "  2  usage or configuration"));
}

/* --json prints the file's bytes; --config finds the data dir; a later
 * --data-dir wins over the file's. */
static void test_cmd_json_and_config(void **state)
{
	struct scratch *s = *state;
	char conf[128], want[65536];
	FILE *f;

	write_report(s, MIRROR_FOLLOWING, 0, (long)getpid());
	snprintf(want, sizeof want, "%s", slurp(s->file));
	assert_int_equal(run_status(s, "--json", "--data-dir", s->dir, NULL),
	                 0);
	assert_string_equal(slurp(s->out), want);

	snprintf(conf, sizeof conf, "%s/agent.conf", s->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[agent]\ndata_dir = %s\n", s->dir);
	fclose(f);
	assert_int_equal(run_status(s, "--config", conf, "--json", NULL), 0);
	assert_string_equal(slurp(s->out), want);
	assert_int_equal(
	    run_status(s, "--config", conf, "--data-dir=/nonexistent", NULL),
	    1);
	/* A configuration error is a usage error. */
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[agent]\ndata_dir = relative\n");
	fclose(f);
	assert_int_equal(run_status(s, "--config", conf, NULL, NULL), 2);
}

/* The status page: the figures of the model in the right cells and
 * data-* attributes, texts from peers escaped, the followed source
 * marked, the sparkline scaled to its samples, nothing external. */
static void test_html(void **state)
{
	static const char *const sources[] = {"127.0.0.1:4433",
	                                      "10.0.0.2:4433"};
	static const uint64_t lag[] = {0, 500, 2000};
	struct status_report *r = sample(2);
	struct status_html_extra x = {0};
	char want[512];
	size_t len = 0;
	char *html;

	(void)state;
	snprintf(r->databases[0].error, sizeof r->databases[0].error,
	         "<script>alert(\"x\")</script>&'");
	x.sources = sources;
	x.nsources = 2;
	x.lag_ms[0] = lag;
	x.nlag[0] = 3;
	x.lag_cap = 3;
	html = status_html_format(r, &x, &len);
	assert_non_null(html);
	assert_int_equal(strlen(html), len);
	snprintf(want, sizeof want,
	         "<tr class=\"db\" id=\"db-db0\" data-state=\"%s\" "
	         "data-applied=\"490\" data-source-commit=\"600\" "
	         "data-lag-entries=\"110\" data-lag-ms=\"7000\">",
	         mirror_state_name(r->databases[0].state));
	assert_non_null(strstr(html, want));
	assert_non_null(strstr(html, "<td class=\"applied\">490</td>"));
	assert_non_null(strstr(html, "<td class=\"lag-entries\">110</td>"));
	assert_non_null(strstr(html, "<td class=\"lag-time\">7.0 s</td>"));
	assert_non_null(
	    strstr(html, "<td class=\"last-contact\">0.2 s ago</td>"));
	assert_non_null(strstr(html, "50.0 %")); /* 1000 of 2000 bytes */
	assert_non_null(strstr(
	    html,
	    "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "src="));
	assert_non_null(strstr(
	    html, "<li class=\"followed\">127.0.0.1:4433 &larr; followed</li>"
	          "<li>10.0.0.2:4433</li>"));
	/* x over the ring's capacity, y from 0 (bottom, 37) to the largest
	 * sample (top, 1). */
	assert_non_null(
	    strstr(html, "points=\"0.0,37.0 120.0,28.0 240.0,1.0\""));
	assert_non_null(strstr(html, "3 s, max 2.0 s"));
	free(html);
	free(r);
}

/* A lag that is not known (null in the JSON) is not known on the page
 * either: empty data-lag-* attributes and "unknown" cells, never a 0. */
static void test_html_lag_unknown(void **state)
{
	struct status_report *r = sample(1);
	char want[512];
	const char *row;
	size_t len = 0;
	char *html;

	(void)state;
	r->databases[0].lag_known = false;
	html = status_html_format(r, NULL, &len);
	assert_non_null(html);
	assert_int_equal(strlen(html), len);
	snprintf(want, sizeof want,
	         "<tr class=\"db\" id=\"db-db0\" data-state=\"%s\" "
	         "data-applied=\"490\" data-source-commit=\"600\" "
	         "data-lag-entries=\"\" data-lag-ms=\"\">",
	         mirror_state_name(r->databases[0].state));
	row = strstr(html, "<tr class=\"db\"");
	assert_non_null(row);
	if (strncmp(row, want, strlen(want)) != 0)
		fail_msg("row starts %.*s, want %s", (int)strlen(want), row,
		         want);
	assert_non_null(strstr(html, "<td class=\"lag-entries\">unknown</td>"
	                             "<td class=\"lag-time\">unknown</td>"));
	free(html);
	free(r);
}

/* Issue 8: which source is fresher than the followed one (what /readyz
 * and a stale read's refusal name). */
static void test_fresher_source(void **state)
{
	struct status_report *r = sample(1);
	struct status_database *d = &r->databases[0];
	size_t k = 99;

	(void)state;
	/* Nothing heard of any endpoint: none. */
	assert_false(status_database_fresher_source(d, &k));
	d->nsources = 3;
	snprintf(d->sources[0].endpoint, sizeof d->sources[0].endpoint,
	         "127.0.0.1:4433"); /* followed (sample()) */
	d->sources[0].observed = true;
	d->sources[0].commit_index = 700;
	snprintf(d->sources[1].endpoint, sizeof d->sources[1].endpoint,
	         "10.0.0.2:4433");
	d->sources[1].observed = true;
	d->sources[1].commit_index = 700;
	snprintf(d->sources[2].endpoint, sizeof d->sources[2].endpoint,
	         "10.0.0.3:4433");
	/* Equal is not fresher; unobserved never is. */
	d->sources[2].commit_index = 9000;
	assert_false(status_database_fresher_source(d, &k));
	d->sources[2].observed = true;
	assert_true(status_database_fresher_source(d, &k));
	assert_int_equal(k, 2);
	d->sources[1].commit_index = 9500;
	assert_true(status_database_fresher_source(d, &k));
	assert_int_equal(k, 1);
	/* The followed one ahead of every other: none. */
	d->sources[0].commit_index = 10000;
	assert_false(status_database_fresher_source(d, &k));
	/* Followed endpoint not observed: its announced commit counts. */
	d->sources[0].observed = false;
	d->source_commit_index = 9200;
	assert_true(status_database_fresher_source(d, &k));
	assert_int_equal(k, 1);
	free(r);
}

/* Issue 8: the page shows every endpoint's position (commit, leader,
 * leader contact, probe; the followed one marked), the followed node's
 * last contact with its leader and the reason of the last switch. */
static void test_html_sources(void **state)
{
	struct status_report *r = sample(1);
	struct status_database *d = &r->databases[0];
	size_t len = 0;
	char *html;

	(void)state;
	d->source_leader_contact_known = true;
	d->source_leader_contact_ms = 4250;
	d->source_switches = 2;
	snprintf(d->source_switch_reason, sizeof d->source_switch_reason,
	         "db0: endpoint 0 is 500 entries behind <10.0.0.2:4433>");
	d->nsources = 2;
	snprintf(d->sources[0].endpoint, sizeof d->sources[0].endpoint,
	         "10.0.0.2:4433");
	d->sources[0].observed = true;
	d->sources[0].commit_index = 1100;
	snprintf(d->sources[0].leader, sizeof d->sources[0].leader, "known");
	d->sources[0].contact_known = true;
	d->sources[0].leader_contact_ms = 300;
	snprintf(d->sources[0].probe, sizeof d->sources[0].probe, "ok");
	snprintf(d->sources[1].endpoint, sizeof d->sources[1].endpoint,
	         "127.0.0.1:4433"); /* sample()'s followed endpoint */
	d->sources[1].observed = true;
	d->sources[1].commit_index = 600;
	snprintf(d->sources[1].leader, sizeof d->sources[1].leader, "none");
	html = status_html_format(r, NULL, &len);
	assert_non_null(html);
	assert_non_null(
	    strstr(html, "<li class=\"src\" data-endpoint=\"10.0.0.2:4433\" "
	                 "data-commit=\"1100\" data-leader=\"known\" "
	                 "data-leader-contact-ms=\"300\" data-probe=\"ok\">"
	                 "<span class=\"ep\">10.0.0.2:4433</span><div "
	                 "class=\"small\">commit 1100 &middot; leader known "
	                 "&middot; leader contact 0.3 s ago &middot; probe "
	                 "ok</div></li>"));
	assert_non_null(strstr(
	    html, "<li class=\"src followed\" data-endpoint=\"127.0.0.1:4433\" "
	          "data-commit=\"600\" data-leader=\"none\" "
	          "data-leader-contact-ms=\"\" data-probe=\"none\">"
	          "<span class=\"ep\">127.0.0.1:4433</span> &larr; followed"
	          "<div class=\"small\">commit 600 &middot; leader none "
	          "&middot; leader contact &mdash; &middot; probe "
	          "none</div></li>"));
	assert_non_null(strstr(
	    html, "<div class=\"small leader-contact\" data-ms=\"4250\">"
	          "source leader contact: 4.2 s ago</div><div class=\"small "
	          "switch\" data-switches=\"2\">switches: 2; last: <span "
	          "class=\"switch-reason\">db0: endpoint 0 is 500 entries "
	          "behind &lt;10.0.0.2:4433&gt;</span></div>"));
	free(html);
	/* Nothing known: empty attributes and words, never a 0. */
	d->source_leader_contact_known = false;
	d->source_switches = 0;
	d->source_switch_reason[0] = '\0';
	d->sources[0].observed = false;
	d->sources[0].leader[0] = '\0';
	html = status_html_format(r, NULL, &len);
	assert_non_null(strstr(html, "data-commit=\"\" data-leader=\"\" "));
	assert_non_null(strstr(html, "commit &mdash; &middot; leader &mdash;"));
	assert_non_null(strstr(
	    html, "<div class=\"small leader-contact\" data-ms=\"\">"
	          "source leader contact: unknown</div><div class=\"small "
	          "switch\" data-switches=\"0\">switches: 0</div>"));
	free(html);
	free(r);
}

/* An unknown lag is a gap in the sparkline, never a 0 (a run of known
 * samples is one polyline, a lone one a dot); a Promoted row says
 * where it stopped. */
static void test_html_gaps_and_promoted(void **state)
{
	static const uint64_t lag[] = {1000,
	                               2000,
	                               STATUS_LAG_UNKNOWN,
	                               STATUS_LAG_UNKNOWN,
	                               500,
	                               STATUS_LAG_UNKNOWN,
	                               0,
	                               1000};
	struct status_report *r = sample(1);
	struct status_html_extra x = {0};
	size_t len = 0, lines = 0;
	char *html;
	const char *p;

	(void)state;
	r->databases[0].state = MIRROR_PROMOTED;
	r->databases[0].promoted_index = 550;
	r->databases[0].promoted_term = 7;
	x.lag_ms[0] = lag;
	x.nlag[0] = 8;
	x.lag_cap = 8;
	html = status_html_format(r, &x, &len);
	assert_non_null(html);
	assert_non_null(strstr(html, "data-samples=\"8\" data-unknown=\"3\" "
	                             "data-runs=\"3\""));
	/* x = 240 * i / 7; y = 37 - 36 * ms / 2000. */
	assert_non_null(strstr(html, "points=\"0.0,19.0 34.3,1.0\"/>"));
	assert_non_null(strstr(html, "<circle class=\"lag\" cx=\"137.1\" "
	                             "cy=\"28.0\""));
	assert_non_null(strstr(html, "points=\"205.7,37.0 240.0,19.0\"/>"));
	for (p = html; (p = strstr(p, "<polyline")) != NULL; p++)
		lines++;
	assert_int_equal(lines, 2);
	/* The unknown samples are not drawn at the bottom (0). */
	assert_null(strstr(html, "68.6,37.0"));
	assert_null(strstr(html, "102.9,37.0"));
	assert_non_null(strstr(html, "8 s, max 2.0 s, 3 s unknown (gaps)"));
	assert_non_null(strstr(html, "data-state=\"Promoted\""));
	assert_non_null(strstr(html, "<td class=\"l state promoted\">Promoted"
	                             "<div class=\"promoted-at\" "
	                             "data-index=\"550\" data-term=\"7\">at "
	                             "index 550, term 7</div>"));
	free(html);
	free(r);
}

/* Bearer tokens: the FIPS 180-2 "abc" vector, and a comparison that
 * matches only equal, non-empty hashes. */
static void test_token_hash_and_equal(void **state)
{
	char h[STATUS_TOKEN_HEX_SIZE], other[STATUS_TOKEN_HEX_SIZE];

	(void)state;
	assert_true(status_token_hash("abc", 3, h));
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223"
	                       "b00361a396177a9cb410ff61f20015ad");
	assert_true(status_token_equal(h, h));
	assert_true(status_token_hash("abd", 3, other));
	assert_false(status_token_equal(h, other));
	memcpy(other, h, sizeof other);
	other[63] = other[63] == '0' ? '1' : '0'; /* last digit only */
	assert_false(status_token_equal(h, other));
	assert_false(status_token_equal(h, ""));
	assert_false(status_token_equal("", h));
}

/* The Authorization header parser both listeners share: the scheme in any
 * case with one space, a non-empty token hashed byte for byte (nothing
 * trimmed), anything else MISSING (the 401). */
static void test_token_from_header(void **state)
{
	char got[STATUS_TOKEN_HEX_SIZE], want[STATUS_TOKEN_HEX_SIZE];

	(void)state;
	assert_true(status_token_hash("abc", 3, want));
	assert_int_equal(status_token_from_header("Bearer abc", got),
	                 STATUS_TOKEN_HEADER_OK);
	assert_string_equal(got, want);
	assert_int_equal(status_token_from_header("bEARER abc", got),
	                 STATUS_TOKEN_HEADER_OK);
	assert_string_equal(got, want);
	/* The token is every byte after the one space: a second space or a
	 * trailing one is part of it, so the hash differs. */
	assert_int_equal(status_token_from_header("Bearer  abc", got),
	                 STATUS_TOKEN_HEADER_OK);
	assert_false(status_token_equal(got, want));
	assert_true(status_token_hash(" abc", 4, want));
	assert_string_equal(got, want);
	assert_int_equal(status_token_from_header("Bearer abc ", got),
	                 STATUS_TOKEN_HEADER_OK);
	assert_true(status_token_hash("abc ", 4, want));
	assert_string_equal(got, want);

	assert_int_equal(status_token_from_header(NULL, got),
	                 STATUS_TOKEN_HEADER_MISSING);
	assert_int_equal(status_token_from_header("", got),
	                 STATUS_TOKEN_HEADER_MISSING);
	assert_int_equal(status_token_from_header("Bearer ", got),
	                 STATUS_TOKEN_HEADER_MISSING);
	assert_int_equal(status_token_from_header("Bearer", got),
	                 STATUS_TOKEN_HEADER_MISSING);
	assert_int_equal(status_token_from_header("Bearerabc", got),
	                 STATUS_TOKEN_HEADER_MISSING);
	assert_int_equal(status_token_from_header("Basic YWJjOmRlZg==", got),
	                 STATUS_TOKEN_HEADER_MISSING);
	assert_int_equal(status_token_from_header(" Bearer abc", got),
	                 STATUS_TOKEN_HEADER_MISSING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_computes_lag_from_applied),
	    cmocka_unit_test(test_json_exact_text),
	    cmocka_unit_test(test_json_unknown_lag),
	    cmocka_unit_test(test_staleness_and_ready),
	    cmocka_unit_test(test_json_every_field_by_jansson),
	    cmocka_unit_test(test_json_escaping),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_json_parse_refuses),
	    cmocka_unit_test(test_prometheus),
	    cmocka_unit_test(test_freshness_fields),
	    cmocka_unit_test(test_refresh_fields),
	    cmocka_unit_test(test_html_sources),
	    cmocka_unit_test(test_fresher_source),
	    cmocka_unit_test(test_process_read),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_html),
	    cmocka_unit_test(test_html_lag_unknown),
	    cmocka_unit_test(test_html_gaps_and_promoted),
	    cmocka_unit_test(test_token_hash_and_equal),
	    cmocka_unit_test(test_token_from_header),
	    cmocka_unit_test_setup_teardown(test_cmd_exit_codes, scratch_setup,
	                                    scratch_teardown),
	    cmocka_unit_test_setup_teardown(test_cmd_json_and_config,
	                                    scratch_setup, scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
