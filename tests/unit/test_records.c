/* The seven key=value records on common/kvtext (the identity file, the
 * freshness, promoted and reservation records, the reservation budget,
 * the last source commit index, the promote request): each one's writer
 * output is read back, and the same edits are refused by every reader
 * with MA_ERR_CORRUPT, a cleared result and a message naming the line and
 * key: a duplicate key, a missing key, an extra key, CRLF line ends, no
 * newline at the end, a NUL, an over-long line. Sealed records are
 * resealed after each edit, so it is the parser that refuses them, not
 * the CRC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/promote/promote.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/kvtext.h"
#include "spool/spool.h"

#define TEXT_MAX 2048

struct record {
	const char *name;
	/* Parses text[0..len) into a record of its type (the test's scratch
	 * directory for those read only from a file). */
	int (*parse)(const char *text, size_t len, char *errmsg);
	/* The writer's text, and the first and a later key of it. */
	int (*good)(char *out);
	const char *key1, *key2;
	size_t key1_line; /* 1-based line of key1 */
	int sealed;
	/* A value that makes key2's line too long for the record. */
	size_t long_value;
	size_t size; /* of what parse fills */
};

static char scratch[64];
static union {
	struct proto_identity id;
	struct spool_freshness f;
	struct spool_promoted p;
	struct spool_reservation r;
	struct spool_reserve_budget b;
	uint64_t index;
	struct promote_request rq;
} got;

static void assert_cleared(size_t size)
{
	static const unsigned char zero[sizeof got];

	assert_memory_equal(&got, zero, size);
}

/* Writes text as scratch/name (for the readers that take a directory). */
static void put(const char *name, const char *text, size_t len)
{
	char em[MA_ERRMSG_SIZE];

	assert_int_equal(io_write_file_replace(scratch, name, text, len, em),
	                 0);
}

static int parse_identity(const char *t, size_t n, char *em)
{
	return spool_identity_parse(t, n, &got.id, em);
}

static int parse_freshness(const char *t, size_t n, char *em)
{
	return spool_freshness_parse(t, n, &got.f, em);
}

static int parse_promoted(const char *t, size_t n, char *em)
{
	return spool_promoted_parse(t, n, &got.p, em);
}

static int parse_reservation(const char *t, size_t n, char *em)
{
	return spool_reserve_parse(t, n, &got.r, em);
}

static int parse_budget(const char *t, size_t n, char *em)
{
	put(SPOOL_RESERVE_BUDGET_FILE, t, n);
	return spool_reserve_budget_read(scratch, &got.b, em);
}

static int parse_source_commit(const char *t, size_t n, char *em)
{
	put(SPOOL_SOURCE_COMMIT_FILE, t, n);
	return spool_source_commit_read(scratch, &got.index, em);
}

static int parse_request(const char *t, size_t n, char *em)
{
	return promote_request_parse(t, n, &got.rq, em);
}

static int good_identity(char *out)
{
	struct proto_identity id = {
	    .cluster_id = "6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10",
	    .database_id = "kv",
	    .epoch = 3,
	    .incarnation = "11111111-2222-4333-8444-555555555555",
	};

	return spool_identity_format(&id, out, NULL);
}

static int good_freshness(char *out)
{
	struct spool_freshness f = {
	    .leader_known = true,
	    .leader_contact_ms = 1700000000000,
	    .commit_index = 42,
	    .written_ms = 1700000000100,
	};

	return spool_freshness_format(&f, out, NULL);
}

static int good_promoted(char *out)
{
	struct spool_promoted p = {
	    .from = {.cluster_id = "6f1c3a52-0d7e-4c1b-9a55-3b2f8e4d7c10",
	             .database_id = "kv",
	             .epoch = 1},
	    .epoch = 2,
	    .incarnation = "11111111-2222-4333-8444-555555555555",
	    .index = 100,
	    .term = 4,
	    .fingerprint = "kv:0123abcd",
	    .source_commit_index = 101,
	    .unix_ms = 1700000000000,
	};

	return spool_promoted_format(&p, out, NULL);
}

static int good_reservation(char *out)
{
	struct spool_reservation r = {
	    .identity = "CN=mirror-a",
	    .database = "kv",
	    .index = 7,
	    .updated_ms = 1700000000000,
	};

	return spool_reserve_format(&r, out, NULL);
}

/* The bytes of scratch/name, as a file writer left them. */
static int file_bytes(const char *name, char *out)
{
	char path[128];
	void *buf;
	size_t len;

	snprintf(path, sizeof path, "%s/%s", scratch, name);
	assert_int_equal(io_read_file(path, TEXT_MAX, &buf, &len, NULL), 0);
	memcpy(out, buf, len);
	free(buf);
	return (int)len;
}

static int good_budget(char *out)
{
	struct spool_reserve_budget b = {.max_bytes = 1 << 30,
	                                 .max_age_ms = 3600000};
	char em[MA_ERRMSG_SIZE];

	/* The writer is the file writer: write, then take its bytes. */
	assert_int_equal(spool_reserve_budget_write(scratch, &b, em), 0);
	return file_bytes(SPOOL_RESERVE_BUDGET_FILE, out);
}

static int good_source_commit(char *out)
{
	char em[MA_ERRMSG_SIZE];

	assert_int_equal(spool_source_commit_write(scratch, 12345, em), 0);
	return file_bytes(SPOOL_SOURCE_COMMIT_FILE, out);
}

static int good_request(char *out)
{
	struct promote_request rq = {.at_index = 9, .n = 2};

	strcpy(rq.names[0], "kv");
	strcpy(rq.names[1], "users");
	return promote_request_format(&rq, out, TEXT_MAX);
}

static const struct record records[] = {
    {"identity file", parse_identity, good_identity, "cluster_id", "epoch", 1,
     1, PROTO_DATABASE_ID_MAX, sizeof got.id},
    {"freshness record", parse_freshness, good_freshness, "leader",
     "commit_index", 1, 1, 21, sizeof got.f},
    {"promoted record", parse_promoted, good_promoted, "from_cluster_id",
     "fingerprint", 1, 1, SPOOL_FINGERPRINT_MAX, sizeof got.p},
    {"reservation", parse_reservation, good_reservation, "identity", "database",
     2, 1, PROTO_DATABASE_ID_MAX + 1, sizeof got.r},
    {"reservation budget", parse_budget, good_budget, "max_bytes", "max_age_ms",
     2, 1, 21, sizeof got.b},
    {"the last source commit index", parse_source_commit, good_source_commit,
     "source_commit_index", NULL, 1, 0, 40, sizeof got.index},
    {"promote request", parse_request, good_request, "at_index", "database", 1,
     0, PROTO_DATABASE_ID_MAX + 1, sizeof got.rq},
};

/* The byte offset where line `line` (1-based) of t starts. */
static size_t line_at(const char *t, size_t line)
{
	const char *p = t;

	while (--line > 0)
		p = strchr(p, '\n') + 1;
	return (size_t)(p - t);
}

/* Drops the CRC line and seals again. */
static size_t reseal(const struct record *rec, char *t, size_t n)
{
	int rc;

	if (!rec->sealed)
		return n;
	n--;
	while (n > 0 && t[n - 1] != '\n')
		n--;
	rc = kvtext_seal(t, n, TEXT_MAX);
	assert_true(rc > 0);
	return (size_t)rc;
}

static void expect_refused(const struct record *rec, const char *t, size_t n,
                           const char *edit, const char *msg)
{
	char em[MA_ERRMSG_SIZE] = "";

	memset(&got, 0x5a, sizeof got);
	if (rec->parse(t, n, em) != MA_ERR_CORRUPT)
		fail_msg("%s, %s: accepted", rec->name, edit);
	assert_cleared(rec->size);
	if (strstr(em, msg) == NULL)
		fail_msg("%s, %s: \"%s\" lacks \"%s\"", rec->name, edit, em,
		         msg);
}

static void test_edits(void **state)
{
	char good[TEXT_MAX], t[TEXT_MAX], msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof records / sizeof records[0]; i++) {
		const struct record *rec = &records[i];
		size_t gn = (size_t)rec->good(good), n, at, len1;
		char em[MA_ERRMSG_SIZE];

		good[gn] = '\0';
		assert_int_equal(rec->parse(good, gn, em), 0);
		at = line_at(good, rec->key1_line);
		assert_memory_equal(good + at, rec->key1, strlen(rec->key1));
		len1 = (size_t)(strchr(good + at, '\n') - (good + at)) + 1;

		/* A duplicate of key1's line, right after it. */
		memcpy(t, good, at + len1);
		memcpy(t + at + len1, good + at, gn - at);
		n = reseal(rec, t, gn + len1);
		snprintf(msg, sizeof msg, "line %zu: duplicate key \"%s\"",
		         rec->key1_line + 1, rec->key1);
		expect_refused(rec, t, n, "duplicate", msg);

		/* key1's line missing. */
		memcpy(t, good, at);
		memcpy(t + at, good + at + len1, gn - at - len1);
		n = reseal(rec, t, gn - len1);
		snprintf(msg, sizeof msg, "missing key \"%s\"", rec->key1);
		if (n == 0) /* the record's only line */
			snprintf(msg, sizeof msg, "%s is empty", rec->name);
		expect_refused(rec, t, n, "missing", msg);

		/* An extra key after key1's line. */
		memcpy(t, good, at + len1);
		memcpy(t + at + len1, "extra=1\n", 8);
		memcpy(t + at + len1 + 8, good + at + len1, gn - at - len1);
		n = reseal(rec, t, gn + 8);
		snprintf(msg, sizeof msg, "line %zu: unknown key \"extra\"",
		         rec->key1_line + 1);
		expect_refused(rec, t, n, "extra", msg);

		/* CRLF line ends throughout. */
		n = 0;
		for (size_t k = 0; k < gn; k++) {
			if (good[k] == '\n')
				t[n++] = '\r';
			t[n++] = good[k];
		}
		expect_refused(rec, t, n, "CRLF", "line 1: a carriage return");

		/* No newline at the end. */
		expect_refused(rec, good, gn - 1, "no newline",
		               "no newline at its end");

		/* A NUL in key1's value. */
		memcpy(t, good, gn);
		t[at + strlen(rec->key1) + 1] = '\0';
		snprintf(msg, sizeof msg, "a NUL byte at offset %zu",
		         at + strlen(rec->key1) + 1);
		expect_refused(rec, t, gn, "NUL", msg);

		/* An over-long line: the last key line's value too long. */
		{
			const char *key = rec->key2 ? rec->key2 : rec->key1;
			char *p = strstr(good, key);
			size_t pre = (size_t)(p - good) + strlen(key) + 1;
			size_t tail = (size_t)(strchr(p, '\n') - good);

			memcpy(t, good, pre);
			memset(t + pre, '1', rec->long_value);
			memcpy(t + pre + rec->long_value, good + tail,
			       gn - tail);
			n = reseal(rec, t, pre + rec->long_value + gn - tail);
			snprintf(msg, sizeof msg, "(%s): ", key);
			expect_refused(rec, t, n, "over-long line", msg);
		}
	}
}

static int setup(void **state)
{
	(void)state;
	strcpy(scratch, "/tmp/ma-test-XXXXXX");
	return mkdtemp(scratch) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof path, "%s/%s", scratch,
	         SPOOL_RESERVE_BUDGET_FILE);
	unlink(path);
	snprintf(path, sizeof path, "%s/%s", scratch, SPOOL_SOURCE_COMMIT_FILE);
	unlink(path);
	return rmdir(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
