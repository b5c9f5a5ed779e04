/* tap core (tap/tap.h): appends, idempotent re-appends after a reopen,
 * divergence, gaps, snapshots with retention, rebase on install. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sys/random.h>
#include <sys/syscall.h>

/* The tap's entropy, interposed: this program's getrandom() wins over
 * libc's for the spool code linked into it. fail_random makes it fail
 * (entropy not available) and counts the calls. */
static bool fail_random;
static int random_calls;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	random_calls++;
	if (fail_random)
		return -1;
	return syscall(SYS_getrandom, buf, len, flags);
}

#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "tap/tap.h"
#include "wal/wal.h"

#define UUID "6f0b7c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"
#define DB "kv"

struct fx {
	char dir[64];
	struct tap *tap;
	struct tap_options opts;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	strcpy(f->dir, "/tmp/ma-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	tap_options_init(&f->opts);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	tap_close(f->tap);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	char errmsg[MA_ERRMSG_SIZE];

	tap_close(f->tap);
	f->tap = NULL;
	assert_int_equal(tap_open(f->dir, UUID, DB, &f->opts, &f->tap, errmsg),
	                 0);
}

static size_t payload(uint64_t index, char *buf)
{
	return (size_t)sprintf(buf, "command-%llu", (unsigned long long)index);
}

static void append_range(struct fx *f, uint64_t from, uint64_t to,
                         uint64_t term)
{
	char errmsg[MA_ERRMSG_SIZE], buf[64];

	for (uint64_t i = from; i <= to; i++) {
		size_t n = payload(i, buf);
		int rc = tap_append(f->tap, i, term, TAP_ENTRY_COMMAND, buf, n,
		                    i, errmsg);

		if (rc != 0)
			fail_msg("append %llu: %s", (unsigned long long)i,
			         errmsg);
	}
}

/* Reads entry index of the spool's wal with an independent reader. */
static void read_entry(struct fx *f, uint64_t index, struct wal_entry *e,
                       struct wal_reader **r)
{
	char path[128], errmsg[MA_ERRMSG_SIZE];

	snprintf(path, sizeof path, "%s/wal", f->dir);
	assert_int_equal(wal_reader_open(path, NULL, r, errmsg), 0);
	assert_int_equal(wal_reader_seek(*r, index, errmsg), 0);
	assert_int_equal(wal_reader_next(*r, e, errmsg), 0);
	assert_int_equal(e->index, index);
}

static int unlink_identity(const char *dir)
{
	char path[256];

	snprintf(path, sizeof path, "%s/%s", dir, SPOOL_IDENTITY_FILE);
	return unlink(path);
}

static void test_new_spool_identity(void **state)
{
	struct fx *f = *state;
	struct proto_identity id, back;
	char errmsg[MA_ERRMSG_SIZE];
	struct tap *other = NULL;

	reopen(f);
	assert_int_equal(spool_identity_read(f->dir, &id, errmsg), 0);
	assert_string_equal(id.cluster_id, UUID);
	assert_string_equal(id.database_id, DB);
	assert_int_equal(id.epoch, 1);
	/* A random incarnation, kept across reopens. */
	assert_true(proto_uuid_valid(id.incarnation));
	reopen(f);
	assert_int_equal(spool_identity_read(f->dir, &back, errmsg), 0);
	assert_true(spool_identity_equal(&id, &back));
	tap_close(f->tap);
	f->tap = NULL;
	/* A spool written before incarnations gets one on open. */
	back.incarnation[0] = '\0';
	assert_int_equal(spool_identity_write(f->dir, &back, true, errmsg), 0);
	reopen(f);
	assert_int_equal(spool_identity_read(f->dir, &back, errmsg), 0);
	assert_true(proto_uuid_valid(back.incarnation));
	assert_string_not_equal(back.incarnation, id.incarnation);
	tap_close(f->tap);
	f->tap = NULL;
	/* The same spool rebuilt (deleted, opened again): a new one. */
	assert_int_equal(unlink_identity(f->dir), 0);
	reopen(f);
	assert_int_equal(spool_identity_read(f->dir, &id, errmsg), 0);
	assert_string_not_equal(back.incarnation, id.incarnation);
	tap_close(f->tap);
	f->tap = NULL;
	assert_int_equal(tap_open(f->dir, UUID, "other", NULL, &other, errmsg),
	                 MA_ERR_IDENTITY);
	assert_null(other);
	assert_int_equal(tap_open(f->dir,
	                          "6F0B7C1E-2A3D-4E5F-8A9B-0C1D2E3F4A5B", DB,
	                          NULL, &f->tap, errmsg),
	                 0);
	assert_int_equal(
	    tap_open(f->dir, "not-a-uuid", DB, NULL, &other, errmsg),
	    MA_ERR_INVAL);
}

/* Only a new spool (or one without an incarnation) needs a UUID:
 * reopening an existing spool reads no entropy, so it opens even when
 * none is available; creating one without entropy fails, named. */
static void test_reopen_needs_no_entropy(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct tap *other = NULL;

	random_calls = 0;
	reopen(f); /* new: one UUID */
	assert_int_equal(random_calls, 1);
	tap_close(f->tap);
	f->tap = NULL;
	fail_random = true;
	random_calls = 0;
	assert_int_equal(tap_open(f->dir, UUID, DB, NULL, &f->tap, errmsg), 0);
	assert_int_equal(random_calls, 0);
	tap_close(f->tap);
	f->tap = NULL;
	assert_int_equal(unlink_identity(f->dir), 0);
	assert_int_equal(tap_open(f->dir, UUID, DB, NULL, &other, errmsg),
	                 MA_ERR_IO);
	assert_null(other);
	assert_non_null(strstr(errmsg, "no entropy for the spool's "
	                               "incarnation"));
	fail_random = false;
}

static void test_append_idempotent_after_reopen(void **state)
{
	struct fx *f = *state;
	struct tap_stats st;

	reopen(f);
	append_range(f, 1, 10, 1);
	assert_int_equal(tap_last_index(f->tap), 10);
	/* A node restart: libraft replays from its snapshot (here: from 4). */
	reopen(f);
	append_range(f, 4, 12, 1);
	tap_get_stats(f->tap, &st);
	assert_int_equal(st.verified, 7);
	assert_int_equal(st.appended, 2);
	assert_int_equal(st.fillers, 0);
	assert_int_equal(tap_last_index(f->tap), 12);
	assert_int_equal(tap_sync(f->tap, NULL), 0);
	assert_int_equal(tap_durable_index(f->tap), 12);
}

static void test_mismatch_detected(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r;
	struct wal_entry e;

	reopen(f);
	append_range(f, 1, 5, 2);
	reopen(f);
	/* Same index, other data. */
	assert_int_equal(
	    tap_append(f->tap, 3, 2, TAP_ENTRY_COMMAND, "evil", 4, 0, errmsg),
	    MA_ERR_DIVERGED);
	assert_non_null(strstr(errmsg, "entry 3"));
	/* Same data, other term. */
	assert_int_equal(tap_append(f->tap, 4, 3, TAP_ENTRY_COMMAND,
	                            "command-4", 9, 0, errmsg),
	                 MA_ERR_DIVERGED);
	assert_non_null(strstr(errmsg, "term 2"));
	assert_non_null(strstr(errmsg, "term 3"));
	/* Nothing was overwritten. */
	read_entry(f, 3, &e, &r);
	assert_int_equal(e.len, 9);
	assert_memory_equal(e.data, "command-3", 9);
	wal_reader_close(r);
	/* A term going backwards for a new index is refused too. */
	assert_int_equal(
	    tap_append(f->tap, 6, 1, TAP_ENTRY_COMMAND, "x", 1, 0, errmsg),
	    MA_ERR_INVAL);
}

static void test_gap_filled_with_barriers(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r;
	struct wal_entry e;
	struct tap_stats st;

	reopen(f);
	/* A fresh spool whose first applied command is 3 (1: bootstrap
	 * configuration, 2: barrier). */
	assert_int_equal(
	    tap_append(f->tap, 3, 1, TAP_ENTRY_COMMAND, "c3", 2, 0, errmsg), 0);
	assert_int_equal(tap_first_index(f->tap), 1);
	append_range(f, 4, 4, 1);
	assert_int_equal(
	    tap_append(f->tap, 8, 2, TAP_ENTRY_COMMAND, "c8", 2, 0, errmsg), 0);
	tap_get_stats(f->tap, &st);
	assert_int_equal(st.fillers, 5);
	assert_int_equal(tap_last_index(f->tap), 8);
	read_entry(f, 5, &e, &r);
	for (uint64_t i = 5; i <= 7; i++) {
		assert_int_equal(e.index, i);
		assert_int_equal(e.type, WAL_ENTRY_BARRIER);
		assert_int_equal(e.len, 0);
		assert_int_equal(e.term, 2); /* the next entry's term */
		assert_int_equal(wal_reader_next(r, &e, errmsg), 0);
	}
	assert_int_equal(e.type, WAL_ENTRY_COMMAND);
	wal_reader_close(r);
	/* Re-tapping the real non-command entries matches their fillers;
	 * a command where a filler stands does not. */
	assert_int_equal(
	    tap_append(f->tap, 1, 1, TAP_ENTRY_CONFIG, "conf", 4, 0, errmsg),
	    0);
	assert_int_equal(
	    tap_append(f->tap, 6, 2, TAP_ENTRY_BARRIER, NULL, 0, 0, errmsg), 0);
	assert_int_equal(
	    tap_append(f->tap, 7, 2, TAP_ENTRY_COMMAND, "c7", 2, 0, errmsg),
	    MA_ERR_DIVERGED);
}

static size_t count_snapshots(struct fx *f)
{
	struct snapshot_store *s;
	struct snapshot_meta *m;
	char path[128], errmsg[MA_ERRMSG_SIZE];
	size_t n;

	snprintf(path, sizeof path, "%s/snapshots", f->dir);
	assert_int_equal(snapshot_store_open(path, &s, errmsg), 0);
	assert_int_equal(snapshot_store_list(s, &m, &n, errmsg), 0);
	free(m);
	snapshot_store_close(s);
	return n;
}

static void test_snapshot_retention(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE], big[200], path[128];
	uint64_t index, term;
	FILE *fp;

	f->opts.segment_size = 4096;
	f->opts.snapshots_keep = 2;
	f->opts.trailing = 10;
	reopen(f);
	memset(big, 'x', sizeof big);
	for (uint64_t i = 1; i <= 300; i++)
		assert_int_equal(tap_append(f->tap, i, 1, TAP_ENTRY_COMMAND,
		                            big, sizeof big, 0, errmsg),
		                 0);
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 100, 1, "state-100", 9, 1, errmsg), 0);
	/* Only one snapshot: the wal before 101 - 10 may go. */
	assert_true(tap_first_index(f->tap) > 1);
	assert_true(tap_first_index(f->tap) <= 91);
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 200, 1, "state-200", 9, 2, errmsg), 0);
	/* Taking the same snapshot again is fine. */
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 200, 1, "state-200", 9, 2, errmsg), 0);
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 200, 1, "other", 5, 2, errmsg),
	    MA_ERR_EXISTS);
	/* From a file. */
	snprintf(path, sizeof path, "%s/state-300", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("state-300", fp);
	fclose(fp);
	assert_int_equal(
	    tap_snapshot_taken_file(f->tap, 300, 1, path, 3, errmsg), 0);
	assert_int_equal(count_snapshots(f), 2);
	assert_int_equal(tap_latest_snapshot(f->tap, &index, &term, errmsg), 0);
	assert_int_equal(index, 300);
	/* Oldest kept is 200: segments before 191 are gone, 191 stays. */
	assert_true(tap_first_index(f->tap) > 91);
	assert_true(tap_first_index(f->tap) <= 191);
	assert_int_equal(tap_last_index(f->tap), 300);
	/* Re-applying compacted entries is skipped, not an error. */
	assert_int_equal(
	    tap_append(f->tap, 5, 1, TAP_ENTRY_COMMAND, "zz", 2, 0, errmsg), 0);
	/* A snapshot whose term disagrees with the wal is divergence. */
	assert_int_equal(tap_snapshot_taken(f->tap, 250, 7, "s", 1, 4, errmsg),
	                 MA_ERR_DIVERGED);
}

static void test_snapshot_installed_rebases(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t index, term;
	struct tap_stats st;

	reopen(f);
	append_range(f, 1, 50, 1);
	assert_int_equal(
	    tap_snapshot_installed(f->tap, 80, 3, "leader-80", 9, 5, errmsg),
	    0);
	assert_int_equal(tap_first_index(f->tap), 81);
	assert_int_equal(tap_last_index(f->tap), 80);
	assert_int_equal(tap_latest_snapshot(f->tap, &index, &term, errmsg), 0);
	assert_int_equal(index, 80);
	assert_int_equal(term, 3);
	/* Entries the snapshot covers are skipped; the log continues. */
	append_range(f, 60, 60, 1);
	append_range(f, 81, 85, 3);
	tap_get_stats(f->tap, &st);
	assert_int_equal(st.rebases, 1);
	assert_int_equal(st.skipped, 1);
	reopen(f);
	assert_int_equal(tap_first_index(f->tap), 81);
	assert_int_equal(tap_last_index(f->tap), 85);
	/* Installing behind the wal's end drops the stale entries after. */
	assert_int_equal(
	    tap_snapshot_installed(f->tap, 83, 3, "leader-83", 9, 6, errmsg),
	    0);
	assert_int_equal(tap_first_index(f->tap), 84);
	assert_int_equal(tap_last_index(f->tap), 83);
}

static void test_snapshot_beyond_wal_rebases(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];

	reopen(f);
	append_range(f, 1, 5, 1);
	assert_int_equal(tap_snapshot_taken(f->tap, 9, 1, "s9", 2, 1, errmsg),
	                 0);
	assert_int_equal(tap_first_index(f->tap), 10);
	append_range(f, 10, 11, 1);
	assert_int_equal(tap_last_index(f->tap), 11);
	assert_int_equal(tap_snapshot_taken(f->tap, 0, 1, "s", 1, 1, errmsg),
	                 MA_ERR_INVAL);
}

static void test_group_commit(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];

	f->opts.sync_every_append = false;
	f->opts.sync_interval_ms = 100;
	reopen(f);
	assert_int_equal(
	    tap_append(f->tap, 1, 1, TAP_ENTRY_COMMAND, "a", 1, 1000, errmsg),
	    0);
	assert_int_equal(tap_durable_index(f->tap), 0);
	assert_int_equal(tap_sync_deadline(f->tap), 1100);
	assert_int_equal(tap_sync_if_due(f->tap, 1050, errmsg), 0);
	assert_int_equal(tap_durable_index(f->tap), 0);
	assert_int_equal(tap_sync_if_due(f->tap, 1100, errmsg), 0);
	assert_int_equal(tap_durable_index(f->tap), 1);
}

/* Writes a reservation for the spool, as serve would. */
static void reserve(struct fx *f, const char *who, uint64_t index,
                    uint64_t updated_ms)
{
	struct spool_reservation r;
	char rdir[128], errmsg[MA_ERRMSG_SIZE];

	memset(&r, 0, sizeof r);
	snprintf(r.identity, sizeof r.identity, "%s", who);
	strcpy(r.database, DB);
	r.index = index;
	r.updated_ms = updated_ms;
	assert_int_equal(spool_reserve_dir(rdir, sizeof rdir, f->dir), 0);
	assert_int_equal(spool_reserve_write(rdir, &r, errmsg), 0);
}

static size_t reservations(struct fx *f)
{
	struct spool_reservation *v;
	char rdir[128], errmsg[MA_ERRMSG_SIZE];
	size_t n;

	assert_int_equal(spool_reserve_dir(rdir, sizeof rdir, f->dir), 0);
	assert_int_equal(spool_reserve_list(rdir, &v, &n, errmsg), 0);
	free(v);
	return n;
}

static void log_to(struct fx *f, char *path, size_t size)
{
	char errmsg[MA_ERRMSG_SIZE];

	snprintf(path, size, "%s/test.log", f->dir);
	assert_int_equal(log_open(path, errmsg), 0);
}

static bool log_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* 300 entries of ~230 bytes in 4 KiB segments (~16 entries each), one
 * snapshot at 200, trailing 10: without reservations the wal is cut
 * before 191. */
static void fill_for_reservations(struct fx *f)
{
	char errmsg[MA_ERRMSG_SIZE], big[200];

	f->opts.segment_size = 4096;
	f->opts.snapshots_keep = 1;
	f->opts.trailing = 10;
	reopen(f);
	memset(big, 'x', sizeof big);
	for (uint64_t i = 1; i <= 300; i++)
		assert_int_equal(tap_append(f->tap, i, 1, TAP_ENTRY_COMMAND,
		                            big, sizeof big, 0, errmsg),
		                 0);
}

static void test_reservation_keeps_wal(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE];

	fill_for_reservations(f);
	/* A mirror holds up to 120 durably (written at Unix ms 1000). */
	reserve(f, "mirror-a", 120, 1000);
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 200, 1, "s200", 4, 2000, errmsg), 0);
	/* The segment holding 120 stays, so the mirror can resume from
	 * 121 with the term at 120. */
	assert_true(tap_first_index(f->tap) <= 120);
	assert_true(tap_first_index(f->tap) > 100); /* not everything */
	assert_int_equal(reservations(f), 1);
	/* Once the mirror moves on, the next snapshot trims up to it. */
	reserve(f, "mirror-a", 195, 3000);
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 250, 1, "s250", 4, 4000, errmsg), 0);
	assert_true(tap_first_index(f->tap) > 120);
	assert_true(tap_first_index(f->tap) <= 195);
}

static void test_reservation_dropped_by_age(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE], logpath[128];

	fill_for_reservations(f);
	f->opts.reserve_max_age_ms = 60000;
	reopen(f);
	log_to(f, logpath, sizeof logpath);
	reserve(f, "mirror-old", 120, 1000);
	/* 60 001 ms later: beyond the budget's age. */
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 200, 1, "s200", 4, 61001, errmsg), 0);
	assert_int_equal(log_open(NULL, errmsg), 0);
	assert_true(tap_first_index(f->tap) > 120);
	assert_true(tap_first_index(f->tap) <= 191);
	assert_int_equal(reservations(f), 0); /* its file is gone */
	assert_true(log_has(logpath, "reservation of mirror mirror-old at "
	                             "index 120 dropped: older than the "
	                             "reservation budget's age"));
}

static void test_reservation_dropped_by_bytes(void **state)
{
	struct fx *f = *state;
	char errmsg[MA_ERRMSG_SIZE], logpath[128];

	fill_for_reservations(f);
	/* Two segments' worth: the mirror at 120 would hold ~4 segments
	 * (121..190), the one at 170 one or two. */
	f->opts.reserve_max_bytes = 2 * 4096 + 100;
	reopen(f);
	log_to(f, logpath, sizeof logpath);
	reserve(f, "mirror-far", 120, 1000);
	reserve(f, "mirror-near", 175, 1000);
	assert_int_equal(
	    tap_snapshot_taken(f->tap, 200, 1, "s200", 4, 2000, errmsg), 0);
	assert_int_equal(log_open(NULL, errmsg), 0);
	assert_true(tap_first_index(f->tap) > 120);
	assert_true(tap_first_index(f->tap) <= 175);
	assert_int_equal(reservations(f), 1);
	assert_true(log_has(logpath, "reservation of mirror mirror-far at "
	                             "index 120 dropped: it would keep more "
	                             "wal than the reservation budget's "
	                             "bytes"));
	assert_true(log_has(logpath, "reservation of mirror-near at 175 "
	                             "keeps"));
}

/* The freshness record: written at once the first time and when the
 * leader is lost or found, otherwise at most every
 * SPOOL_FRESHNESS_INTERVAL_MS and only when something changed; read
 * back exactly; a damaged one is refused. */
static void test_freshness_note(void **state)
{
	struct fx *f = *state;
	struct tap_freshness fr = {true, false, 1700000000000, 10};
	struct spool_freshness got;
	char errmsg[MA_ERRMSG_SIZE], path[PATH_MAX];
	FILE *fp;

	reopen(f);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 1000, 1700000000005, errmsg), 0);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg), 0);
	assert_true(got.leader_known && !got.is_leader);
	assert_true(got.leader_contact_ms == 1700000000000);
	assert_true(got.commit_index == 10 && got.written_ms == 1700000000005);
	/* Newer contact 50 ms later: not yet written. */
	fr.leader_contact_ms += 50;
	fr.commit_index = 11;
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 1050, 1700000000055, errmsg), 0);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg), 0);
	assert_true(got.commit_index == 10);
	/* At the interval: written. */
	assert_int_equal(tap_freshness_note(f->tap, &fr,
	                                    1000 + SPOOL_FRESHNESS_INTERVAL_MS,
	                                    1700000000105, errmsg),
	                 0);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg), 0);
	assert_true(got.commit_index == 11);
	/* The leader lost 1 ms later: written at once, contact kept. */
	fr.leader_known = false;
	assert_int_equal(tap_freshness_note(f->tap, &fr,
	                                    1001 + SPOOL_FRESHNESS_INTERVAL_MS,
	                                    1700000000106, errmsg),
	                 0);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg), 0);
	assert_false(got.leader_known);
	assert_true(got.leader_contact_ms == 1700000000050);
	/* Nothing changed for a second: nothing written. */
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 5000, 1700000004000, errmsg), 0);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg), 0);
	assert_true(got.written_ms == 1700000000106);
	/* A write that fails (a full disk) is tried again only after a
	 * backoff that doubles from the interval up to 5 s: not at every
	 * call. */
	fr.leader_known = true; /* news: would be written at once */
	io_fault_set(IO_FAULT_WRITE, 1, -1, ENOSPC);
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 6000, 1700000005000, errmsg),
	    MA_ERR_NOSPACE);
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 6099, 1700000005099, errmsg), 0);
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 6100, 1700000005100, errmsg),
	    MA_ERR_NOSPACE); /* after 100 ms */
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 6299, 1700000005299, errmsg), 0);
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 6300, 1700000005300, errmsg),
	    MA_ERR_NOSPACE); /* after 200 ms */
	{
		uint64_t now = 6300, waits[8];

		for (int i = 0; i < 8; i++) {
			uint64_t t = now + 1;

			while (tap_freshness_note(f->tap, &fr, t, 1700000010000,
			                          errmsg) == 0)
				t++;
			waits[i] = t - now;
			now = t;
		}
		assert_int_equal(waits[0], 400);
		assert_int_equal(waits[1], 800);
		assert_int_equal(waits[4], 5000); /* capped */
		assert_int_equal(waits[7], 5000);
	}
	io_fault_clear();
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 90000, 1700000090000, errmsg), 0);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg), 0);
	assert_true(got.leader_known && got.written_ms == 1700000090000);
	/* A leader that is not known: refused. */
	fr.leader_known = false;
	fr.is_leader = true;
	assert_int_equal(
	    tap_freshness_note(f->tap, &fr, 9000, 1700000009000, errmsg),
	    MA_ERR_INVAL);
	/* A damaged record is refused, naming the file. */
	snprintf(path, sizeof path, "%s/" SPOOL_FRESHNESS_FILE, f->dir);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	assert_int_equal(fputs("leader=self", fp) >= 0, 1);
	fclose(fp);
	assert_int_equal(spool_freshness_read(f->dir, &got, errmsg),
	                 MA_ERR_CORRUPT);
	assert_non_null(strstr(errmsg, SPOOL_FRESHNESS_FILE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_spool_identity, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_needs_no_entropy, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_append_idempotent_after_reopen,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mismatch_detected, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_gap_filled_with_barriers,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_retention, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_installed_rebases,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_beyond_wal_rebases,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_freshness_note, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reservation_keeps_wal, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reservation_dropped_by_age,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reservation_dropped_by_bytes,
	                                    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
