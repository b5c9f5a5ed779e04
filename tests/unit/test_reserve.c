/* Retention reservations: the file format and its strict parser, the
 * directory (write, list, remove), the wal segment listing, the retention
 * rule (spool/spool.h spool_reserve_*), and serve's recording and report
 * (agent/serve/serve_reserve.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/serve/serve_reserve.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "spool/spool.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ma-test-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct spool_reservation mk(const char *who, uint64_t index,
                                   uint64_t updated_ms)
{
	struct spool_reservation r;

	memset(&r, 0, sizeof r);
	snprintf(r.identity, sizeof r.identity, "%s", who);
	strcpy(r.database, "kv");
	r.index = index;
	r.updated_ms = updated_ms;
	return r;
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void test_format_parse(void **state)
{
	struct spool_reservation r = mk("spiffe://dr/mirror-1", 12345, 1700),
	                         back;
	char text[SPOOL_RESERVE_TEXT_MAX], em[MA_ERRMSG_SIZE];
	int n;

	(void)state;
	n = spool_reserve_format(&r, text, em);
	assert_true(n > 0);
	assert_string_equal(text, "mirror-agent reservation 1\n"
	                          "identity=spiffe://dr/mirror-1\n"
	                          "database=kv\n"
	                          "index=12345\n"
	                          "updated_ms=1700\n"
	                          "crc32c=66585222\n");
	assert_int_equal(spool_reserve_parse(text, (size_t)n, &back, em), 0);
	assert_string_equal(back.identity, r.identity);
	assert_string_equal(back.database, "kv");
	assert_int_equal(back.index, 12345);
	assert_int_equal(back.updated_ms, 1700);

	/* The largest identity fits. */
	memset(r.identity, 'a', SPOOL_RESERVE_IDENTITY_MAX);
	r.identity[SPOOL_RESERVE_IDENTITY_MAX] = '\0';
	r.index = UINT64_MAX;
	r.updated_ms = UINT64_MAX;
	n = spool_reserve_format(&r, text, em);
	assert_true(n > 0);
	assert_int_equal(spool_reserve_parse(text, (size_t)n, &back, em), 0);
	assert_int_equal(back.index, UINT64_MAX);

	/* Identities the file cannot hold. */
	r = mk("has space", 1, 1);
	assert_int_equal(spool_reserve_format(&r, text, em), MA_ERR_INVAL);
	r = mk("", 1, 1);
	assert_int_equal(spool_reserve_format(&r, text, em), MA_ERR_INVAL);
	r = mk("m\n", 1, 1);
	assert_int_equal(spool_reserve_format(&r, text, em), MA_ERR_INVAL);
	r = mk("m", 1, 1);
	strcpy(r.database, "bad/db");
	assert_int_equal(spool_reserve_format(&r, text, em), MA_ERR_INVAL);
}

/* Re-encodes a body with a good CRC line, so that the parser's other
 * checks are what refuses it. */
static size_t with_crc(const char *body, char *out)
{
	int n = sprintf(out, "%s", body);

	n +=
	    sprintf(out + n, "crc32c=%08x\n", (unsigned)crc32c(out, (size_t)n));
	return (size_t)n;
}

static void test_parse_strict(void **state)
{
	static const char *const bad[] = {
	    "mirror-agent reservation 1\nidentity=m\ndatabase=kv\nindex=+1\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 1\nidentity=m\ndatabase=kv\nindex=01\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 1\nidentity=m\ndatabase=kv\nindex=-1\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 1\nidentity=m\ndatabase=kv\nindex=1\n"
	    "updated_ms=18446744073709551616\n",
	    "mirror-agent reservation 1\nidentity=m\ndatabase=kv\nindex=1\n"
	    "updated_ms=5\nextra=1\n",
	    "mirror-agent reservation 1\nidentity=m m\ndatabase=kv\nindex=1\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 1\nidentity=\ndatabase=kv\nindex=1\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 1\nidentity=m\ndatabase=k/v\nindex=1\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 1\ndatabase=kv\nidentity=m\nindex=1\n"
	    "updated_ms=5\n",
	    "mirror-agent reservation 2\nidentity=m\ndatabase=kv\nindex=1\n"
	    "updated_ms=5\n",
	};
	char text[SPOOL_RESERVE_TEXT_MAX * 2], em[MA_ERRMSG_SIZE];
	struct spool_reservation r = mk("m", 1, 5), back;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t len = with_crc(bad[i], text);

		back.index = 99;
		assert_int_equal(spool_reserve_parse(text, len, &back, em),
		                 MA_ERR_CORRUPT);
		assert_int_equal(back.index, 0); /* zeroed */
	}
	/* A good record passes with_crc unchanged: the harness is sound. */
	n = (int)with_crc("mirror-agent reservation 1\nidentity=m\n"
	                  "database=kv\nindex=1\nupdated_ms=5\n",
	                  text);
	assert_int_equal(spool_reserve_parse(text, (size_t)n, &back, em), 0);
	assert_int_equal(back.updated_ms, 5);
	/* A flipped digit breaks the CRC. */
	n = spool_reserve_format(&r, text, em);
	text[strlen("mirror-agent reservation 1\nidentity=m\ndatabase=kv\n"
	            "index=")] = '7';
	assert_int_equal(spool_reserve_parse(text, (size_t)n, &back, em),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(em, "crc32c"));
	/* Truncated, NUL inside, oversized. */
	n = spool_reserve_format(&r, text, em);
	assert_int_equal(spool_reserve_parse(text, (size_t)n - 1, &back, em),
	                 MA_ERR_CORRUPT);
	text[30] = '\0';
	assert_int_equal(spool_reserve_parse(text, (size_t)n, &back, em),
	                 MA_ERR_CORRUPT);
	memset(text, 'a', sizeof text);
	assert_int_equal(spool_reserve_parse(text, sizeof text, &back, em),
	                 MA_ERR_CORRUPT);
}

static void test_dir_write_list_remove(void **state)
{
	char rdir[128], spool[96], path[256], em[MA_ERRMSG_SIZE];
	char name[SPOOL_RESERVE_NAME_LEN + 1],
	    name2[SPOOL_RESERVE_NAME_LEN + 1];
	struct spool_reservation r1 = mk("mirror-a", 10, 100),
	                         r2 = mk("mirror-b", 20, 200), *v;
	size_t n;

	(void)state;
	snprintf(spool, sizeof spool, "%s/spool/", dir);
	assert_int_equal(spool_reserve_dir(rdir, sizeof rdir, spool), 0);
	snprintf(path, sizeof path, "%s/spool.reservations", dir);
	assert_string_equal(rdir, path);
	assert_int_equal(spool_reserve_dir(rdir, 8, spool), MA_ERR_INVAL);
	assert_int_equal(spool_reserve_dir(rdir, sizeof rdir, spool), 0);

	/* No directory: nothing reserved. */
	assert_int_equal(spool_reserve_list(rdir, &v, &n, em), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	assert_int_equal(spool_reserve_write(rdir, &r1, em), 0);
	assert_int_equal(spool_reserve_write(rdir, &r2, em), 0);
	r1.index = 11; /* rewrite replaces */
	assert_int_equal(spool_reserve_write(rdir, &r1, em), 0);
	spool_reserve_file_name("mirror-a", name);
	spool_reserve_file_name("mirror-b", name2);
	assert_int_equal(strlen(name), SPOOL_RESERVE_NAME_LEN);
	assert_string_not_equal(name, name2);

	/* A damaged file and one under another identity's name reserve
	 * nothing; other names (serve's status file, temporaries) are not
	 * reservations. */
	snprintf(path, sizeof path, "%s/r-00000000deadbeef", rdir);
	write_text(path, "garbage\n");
	spool_reserve_file_name("mirror-c", name);
	snprintf(path, sizeof path, "%s/%s", rdir, name);
	{
		char text[SPOOL_RESERVE_TEXT_MAX];
		struct spool_reservation r4 = mk("mirror-d", 1, 1);
		int len = spool_reserve_format(&r4, text, em);

		assert_true(len > 0);
		write_text(path, text);
	}
	snprintf(path, sizeof path, "%s/status", rdir);
	write_text(path, "identity=x\n");

	assert_int_equal(spool_reserve_list(rdir, &v, &n, em), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].identity, "mirror-a") == 0)
			assert_int_equal(v[i].index, 11);
		else if (strcmp(v[i].identity, "mirror-b") == 0)
			assert_int_equal(v[i].index, 20);
		else
			fail_msg("unexpected reservation %s", v[i].identity);
	}
	free(v);

	assert_int_equal(spool_reserve_remove(rdir, "mirror-a", em), 0);
	assert_int_equal(spool_reserve_remove(rdir, "mirror-a", em), 0);
	assert_int_equal(spool_reserve_list(rdir, &v, &n, em), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].identity, "mirror-b");
	free(v);
}

static void test_wal_segments(void **state)
{
	char wal[128], path[256], em[MA_ERRMSG_SIZE];
	struct spool_segment *s;
	size_t n;

	(void)state;
	snprintf(wal, sizeof wal, "%s/wal", dir);
	assert_int_equal(spool_wal_segments(wal, &s, &n, em), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mkdir(wal, 0755), 0);
	snprintf(path, sizeof path, "%s/wal-00000000000000000201.seg", wal);
	write_text(path, "0123456789");
	snprintf(path, sizeof path, "%s/wal-00000000000000000001.seg", wal);
	write_text(path, "01234");
	snprintf(path, sizeof path, "%s/wal-00000000000000000101.seg.tmp", wal);
	write_text(path, "ignored");
	assert_int_equal(spool_wal_segments(wal, &s, &n, em), 0);
	assert_int_equal(n, 2);
	assert_int_equal(s[0].first_index, 1);
	assert_int_equal(s[0].bytes, 5);
	assert_int_equal(s[1].first_index, 201);
	assert_int_equal(s[1].bytes, 10);
	free(s);
}

/* Four segments of 1000 bytes: 1..100, 101..200, 201..300, 301.. */
static const struct spool_segment segs[] = {
    {1, 1000}, {101, 1000}, {201, 1000}, {301, 1000}};

static void test_held(void **state)
{
	(void)state;
	/* Cut 290: retention deletes 1..100 and 101..200. */
	assert_int_equal(spool_reserve_held(segs, 4, 50, 290), 2000);
	assert_int_equal(spool_reserve_held(segs, 4, 100, 290), 2000);
	assert_int_equal(spool_reserve_held(segs, 4, 101, 290), 1000);
	assert_int_equal(spool_reserve_held(segs, 4, 200, 290), 1000);
	assert_int_equal(spool_reserve_held(segs, 4, 201, 290), 0);
	/* The last segment is never deleted, so never held. */
	assert_int_equal(spool_reserve_held(segs, 4, 0, UINT64_MAX), 3000);
}

static void test_cut_rule(void **state)
{
	struct spool_reserve_budget b = {.max_bytes = 1500,
	                                 .max_age_ms = 60000};
	struct spool_reservation v[4];
	enum spool_reserve_verdict verdict[4];
	uint64_t held[4], cut;

	(void)state;
	/* Within budget: the oldest reservation lowers the cut. */
	v[0] = mk("m1", 150, 100000);
	cut = spool_reserve_cut(290, segs, 4, v, 1, &b, 100000, verdict, held);
	assert_int_equal(cut, 150);
	assert_int_equal(verdict[0], SPOOL_RESERVE_KEEP);
	assert_int_equal(held[0], 1000);

	/* A reservation at or after the cut holds nothing and is kept. */
	v[0] = mk("m1", 295, 100000);
	cut = spool_reserve_cut(290, segs, 4, v, 1, &b, 100000, verdict, held);
	assert_int_equal(cut, 290);
	assert_int_equal(verdict[0], SPOOL_RESERVE_KEEP);
	assert_int_equal(held[0], 0);

	/* Older than the age budget: dropped, even though small. The age
	 * limit itself is still within (60000 ms exactly). */
	v[0] = mk("old", 250, 100000 - 60001);
	v[1] = mk("edge", 260, 100000 - 60000);
	cut = spool_reserve_cut(290, segs, 4, v, 2, &b, 100000, verdict, held);
	assert_int_equal(verdict[0], SPOOL_RESERVE_DROP_AGE);
	assert_int_equal(verdict[1], SPOOL_RESERVE_KEEP);
	assert_int_equal(cut, 260);

	/* The bytes budget drops the oldest first (input unsorted): m_low
	 * would hold 2000 > 1500, m_mid 1000 fits. */
	v[0] = mk("m_mid", 150, 100000);
	v[1] = mk("m_low", 50, 100000);
	v[2] = mk("m_top", 280, 100000);
	cut = spool_reserve_cut(290, segs, 4, v, 3, &b, 100000, verdict, held);
	assert_string_equal(v[0].identity, "m_low"); /* sorted */
	assert_int_equal(verdict[0], SPOOL_RESERVE_DROP_BYTES);
	assert_int_equal(verdict[1], SPOOL_RESERVE_KEEP);
	assert_int_equal(held[1], 1000);
	assert_int_equal(verdict[2], SPOOL_RESERVE_KEEP);
	assert_int_equal(cut, 150);

	/* Below the wal's first index + 1: what it needs is gone. */
	v[0] = mk("stale", 10, 100000);
	cut = spool_reserve_cut(290, segs + 1, 3, v, 1, &b, 100000, verdict,
	                        held);
	assert_int_equal(verdict[0], SPOOL_RESERVE_STALE);
	assert_int_equal(cut, 290);
	/* index = first - 1 still works (the term at index comes from the
	 * snapshot the wal starts after). */
	v[0] = mk("edge", 100, 100000);
	cut = spool_reserve_cut(290, segs + 1, 3, v, 1, &b, 100000, verdict,
	                        held);
	assert_int_equal(verdict[0], SPOOL_RESERVE_KEEP);
	assert_int_equal(cut, 100);

	/* A zero byte budget honours none that would hold anything. */
	b.max_bytes = 0;
	v[0] = mk("m1", 250, 100000);
	cut = spool_reserve_cut(290, segs, 4, v, 1, &b, 100000, verdict, held);
	assert_int_equal(verdict[0], SPOOL_RESERVE_DROP_BYTES);
	assert_int_equal(cut, 290);

	/* Index 0 (a mirror starting from 1) never makes cut 0. */
	b.max_bytes = 1u << 30;
	v[0] = mk("m0", 0, 100000);
	cut = spool_reserve_cut(290, segs, 4, v, 1, &b, 100000, verdict, held);
	assert_int_equal(verdict[0], SPOOL_RESERVE_KEEP);
	assert_int_equal(cut, 1);
	/* A clock behind the writer's counts as age 0. */
	v[0] = mk("future", 200, 500000);
	cut = spool_reserve_cut(290, segs, 4, v, 1, &b, 100000, verdict, held);
	assert_int_equal(verdict[0], SPOOL_RESERVE_KEEP);
	assert_int_equal(cut, 200);
}

static void test_budget_file(void **state)
{
	struct spool_reserve_budget b = {.max_bytes = 1u << 30,
	                                 .max_age_ms = 86400000},
	                            back;
	char path[128], em[MA_ERRMSG_SIZE];

	(void)state;
	snprintf(path, sizeof path, "%s/none", dir);
	assert_int_equal(spool_reserve_budget_write(path, &b, em),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(spool_reserve_budget_read(dir, &back, em),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(spool_reserve_budget_write(dir, &b, em), 0);
	assert_int_equal(spool_reserve_budget_read(dir, &back, em), 0);
	assert_int_equal(back.max_bytes, 1u << 30);
	assert_int_equal(back.max_age_ms, 86400000);
	snprintf(path, sizeof path, "%s/budget", dir);
	write_text(path, "mirror-agent reservation budget 1\nmax_bytes=1\n"
	                 "max_age_ms=2\ncrc32c=00000000\n");
	assert_int_equal(spool_reserve_budget_read(dir, &back, em),
	                 MA_ERR_CORRUPT);
	assert_int_equal(back.max_bytes, 0);
}

static void test_headroom(void **state)
{
	struct spool_reserve_budget b = {.max_bytes = 1000,
	                                 .max_age_ms = 100000};

	(void)state;
	/* The age left. */
	assert_int_equal(spool_reserve_headroom_s(&b, 0, 0, 0), 100);
	assert_int_equal(spool_reserve_headroom_s(&b, 40000, 0, 0), 60);
	/* The bytes left at the write rate, when shorter. */
	assert_int_equal(spool_reserve_headroom_s(&b, 0, 400, 10), 60);
	assert_int_equal(spool_reserve_headroom_s(&b, 0, 0, 1), 100);
	/* Used up: zero. */
	assert_int_equal(spool_reserve_headroom_s(&b, 100000, 0, 0), 0);
	assert_int_equal(spool_reserve_headroom_s(&b, 0, 1000, 1), 0);
}

static void test_serve_record_report(void **state)
{
	char spool[96], wal[128], path[256], em[MA_ERRMSG_SIZE];
	struct serve_reserve_line *lines;
	size_t n;
	char *text;

	(void)state;
	snprintf(spool, sizeof spool, "%s/spool", dir);
	snprintf(wal, sizeof wal, "%s/wal", spool);
	assert_int_equal(mkdir(spool, 0755), 0);
	assert_int_equal(mkdir(wal, 0755), 0);
	snprintf(path, sizeof path, "%s/wal-00000000000000000001.seg", wal);
	write_text(path, "0123456789");
	snprintf(path, sizeof path, "%s/wal-00000000000000000101.seg", wal);
	write_text(path, "01234");

	assert_int_equal(
	    serve_reserve_record(spool, "mirror-a", "kv", 150, 1000, em), 0);
	assert_int_equal(
	    serve_reserve_record(spool, "mirror-b", "kv", 50, 4000, em), 0);
	assert_int_equal(
	    serve_reserve_record(spool, "bad identity", "kv", 5, 1, em),
	    MA_ERR_INVAL);
	assert_non_null(strstr(em, "bad identity"));
	/* The spool itself is untouched: the reservations live beside it. */
	snprintf(path, sizeof path, "%s/spool.reservations", dir);
	assert_int_equal(access(path, F_OK), 0);

	assert_int_equal(serve_reserve_scan(spool, 10000, 0, &lines, &n, em),
	                 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(lines[i].identity, "mirror-a") == 0) {
			assert_int_equal(lines[i].index, 150);
			assert_int_equal(lines[i].age_ms, 9000);
			assert_int_equal(lines[i].bytes_held, 5);
		} else {
			assert_string_equal(lines[i].identity, "mirror-b");
			assert_int_equal(lines[i].age_ms, 6000);
			assert_int_equal(lines[i].bytes_held, 15);
		}
	}
	text = serve_reserve_format_status(lines, 1);
	assert_non_null(text);
	assert_int_equal(strncmp(text, "identity=mirror-", 16), 0);
	assert_non_null(strstr(text, " database=kv index="));
	assert_non_null(strstr(text, " bytes_held="));
	free(text);
	free(lines);

	assert_int_equal(serve_reserve_report(spool, 10000, 0, em), 0);
	snprintf(path, sizeof path, "%s/spool.reservations/status", dir);
	{
		char buf[512] = {0};
		FILE *fp = fopen(path, "r");

		assert_non_null(fp);
		assert_true(fread(buf, 1, sizeof buf - 1, fp) > 0);
		fclose(fp);
		assert_non_null(strstr(buf,
		                       "identity=mirror-a database=kv "
		                       "index=150 age_ms=9000 "
		                       "bytes_held=5 headroom_s=unknown\n"));
		assert_non_null(strstr(buf,
		                       "identity=mirror-b database=kv "
		                       "index=50 age_ms=6000 "
		                       "bytes_held=15 headroom_s=unknown\n"));
	}
	/* With the tap's budget published: the headroom of each, at 1 byte
	 * of wal a second: mirror-a min((60000 - 9000) / 1000, 100 - 5),
	 * mirror-b min(54, 100 - 15). */
	{
		struct spool_reserve_budget b = {.max_bytes = 100,
		                                 .max_age_ms = 60000};
		char rdir[128];

		snprintf(rdir, sizeof rdir, "%s/spool.reservations", dir);
		assert_int_equal(spool_reserve_budget_write(rdir, &b, em), 0);
	}
	assert_int_equal(serve_reserve_scan(spool, 10000, 1, &lines, &n, em),
	                 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_true(lines[i].has_headroom);
		if (strcmp(lines[i].identity, "mirror-a") == 0)
			assert_int_equal(lines[i].headroom_s, 51);
		else
			assert_int_equal(lines[i].headroom_s, 54);
	}
	free(lines);
	assert_int_equal(serve_reserve_scan(spool, 10000, 2, &lines, &n, em),
	                 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(lines[i].identity, "mirror-b") == 0)
			assert_int_equal(lines[i].headroom_s, 42); /* 85/2 */
	free(lines);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* serve's reservation writer (issue 10 item 5): posts never touch the
 * disk, values posted while one is written coalesce (the newest wins),
 * flush waits for them, a failing directory is counted and the others
 * are still written; freeing writes what is pending. Prints the median
 * time the loop spends per reservation, written inline (before) and
 * posted (now), measured here in the same run. */
static void test_serve_writer(void **state)
{
	struct serve_reserve_writer *w;
	struct serve_reserve_writer_stats st;
	struct spool_reservation *v;
	char spool[96], bad[128], rdir[128], em[MA_ERRMSG_SIZE];
	uint64_t inl[41], post[41];
	size_t n;

	(void)state;
	snprintf(spool, sizeof spool, "%s/spool", dir);
	snprintf(rdir, sizeof rdir, "%s/spool.reservations", dir);
	snprintf(bad, sizeof bad, "%s/file/spool", dir);
	assert_int_equal(mkdir(spool, 0755), 0);
	{
		char f[96];

		snprintf(f, sizeof f, "%s/file", dir);
		write_text(f, "not a directory");
	}
	assert_int_equal(serve_reserve_writer_new(&w, em), 0);
	for (uint64_t i = 1; i <= 100; i++)
		assert_int_equal(serve_reserve_writer_post(w, spool, "mirror-a",
		                                           "kv", i, 1000 + i,
		                                           em),
		                 0);
	assert_int_equal(
	    serve_reserve_writer_post(w, spool, "mirror-b", "kv", 7, 5, em), 0);
	assert_int_equal(
	    serve_reserve_writer_post(w, bad, "mirror-c", "kv", 9, 5, em), 0);
	assert_int_equal(
	    serve_reserve_writer_post(w, spool, "mirror-a", "kv", 1, 1, em), 0);
	{
		char longdb[80];

		memset(longdb, 'x', sizeof longdb - 1);
		longdb[sizeof longdb - 1] = '\0';
		assert_int_equal(serve_reserve_writer_post(w, spool, "mirror-z",
		                                           longdb, 1, 1, em),
		                 MA_ERR_INVAL);
		assert_non_null(strstr(em, "too long"));
	}
	assert_int_equal(serve_reserve_writer_post(w, spool, "mirror-a", "kv",
	                                           100, 1100, em),
	                 0);
	serve_reserve_writer_flush(w);
	serve_reserve_writer_stats(w, &st);
	/* 104 posts accepted: each one written, failed or coalesced. */
	assert_int_equal(st.written + st.failed + st.coalesced, 104);
	assert_int_equal(st.failed, 1);
	assert_true(st.written >= 2 && st.written <= 103);
	assert_int_equal(spool_reserve_list(rdir, &v, &n, em), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].identity, "mirror-a") == 0) {
			assert_int_equal(v[i].index, 100);
			assert_int_equal(v[i].updated_ms, 1100);
		} else {
			assert_string_equal(v[i].identity, "mirror-b");
			assert_int_equal(v[i].index, 7);
		}
	}
	free(v);

	/* The loop's cost per reservation: inline write vs post. */
	for (int i = 0; i < 41; i++) {
		uint64_t t0 = mono_us();

		assert_int_equal(serve_reserve_record(spool, "mirror-d", "kv",
		                                      (uint64_t)i, 1, em),
		                 0);
		inl[i] = mono_us() - t0;
		t0 = mono_us();
		assert_int_equal(serve_reserve_writer_post(w, spool, "mirror-e",
		                                           "kv", (uint64_t)i, 1,
		                                           em),
		                 0);
		post[i] = mono_us() - t0;
	}
	/* Pending at free: written before the thread stops. */
	assert_int_equal(
	    serve_reserve_writer_post(w, spool, "mirror-f", "kv", 77, 1, em),
	    0);
	serve_reserve_writer_free(w);
	qsort(inl, 41, sizeof inl[0], cmp_u64);
	qsort(post, 41, sizeof post[0], cmp_u64);
	printf("# reservation on the loop, median of 41: written inline %llu "
	       "us, posted to the writer %llu us (%s)\n",
	       (unsigned long long)inl[20], (unsigned long long)post[20], dir);
	assert_int_equal(spool_reserve_list(rdir, &v, &n, em), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].identity, "mirror-f") == 0)
			assert_int_equal(v[i].index, 77);
		else if (strcmp(v[i].identity, "mirror-e") == 0)
			assert_int_equal(v[i].index, 40);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_parse),
	    cmocka_unit_test(test_parse_strict),
	    cmocka_unit_test_setup_teardown(test_dir_write_list_remove, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_wal_segments, setup, teardown),
	    cmocka_unit_test(test_held),
	    cmocka_unit_test(test_cut_rule),
	    cmocka_unit_test_setup_teardown(test_budget_file, setup, teardown),
	    cmocka_unit_test(test_headroom),
	    cmocka_unit_test_setup_teardown(test_serve_record_report, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_serve_writer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
