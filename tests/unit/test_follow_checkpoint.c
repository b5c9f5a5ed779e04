/* Mirror checkpoints (agent/follow/follow_checkpoint.h): the cadence and
 * trim rules, then real checkpoints of a kv applier over a real wal and
 * snapshot store in a scratch directory: written by a forked child,
 * committed in the source's snapshot format, the wal trimmed behind them,
 * the newest N kept, a restart restoring the checkpoint and replaying only
 * the wal after it, and a failed write that leaves everything as it was. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow_apply.h"
#include "agent/follow/follow_checkpoint.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "kv/kv_command.h"
#include "kv/kv_store.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "tests/lib/fixture.h"
#include "wal/wal.h"

#define CLUSTER "8d0c8d3e-0f6c-4b8a-9a57-3c1f0a2b4c5d"

/* ---- the rules ---- */

static void test_due_rule(void **state)
{
	struct follow_checkpoint_config cfg = {0};

	(void)state;
	/* All off. */
	assert_false(
	    follow_checkpoint_due(&cfg, 0, 0, 0, 1000000, 1 << 30, 1000000));
	cfg.every_entries = 1000;
	assert_false(follow_checkpoint_due(&cfg, 500, 0, 0, 1499, 0, 0));
	assert_true(follow_checkpoint_due(&cfg, 500, 0, 0, 1500, 0, 0));
	cfg.every_entries = 0;
	cfg.every_bytes = 4096;
	assert_false(follow_checkpoint_due(&cfg, 10, 100, 0, 11, 4195, 0));
	assert_true(follow_checkpoint_due(&cfg, 10, 100, 0, 11, 4196, 0));
	/* Bytes counted from a base above the current count (a restart
	 * reset the counter): not due, never an underflow. */
	assert_false(follow_checkpoint_due(&cfg, 10, 9000, 0, 11, 10, 0));
	cfg.every_bytes = 0;
	cfg.every_ms = 60000;
	assert_false(follow_checkpoint_due(&cfg, 10, 0, 1000, 11, 0, 60999));
	assert_true(follow_checkpoint_due(&cfg, 10, 0, 1000, 11, 0, 61000));
	/* Nothing applied since the last one: never due, whatever the
	 * time. */
	assert_false(follow_checkpoint_due(&cfg, 10, 0, 1000, 10, 0, 1 << 30));
	cfg.every_entries = 1;
	assert_false(follow_checkpoint_due(&cfg, 10, 0, 0, 10, 0, 0));
}

static void test_trim_point(void **state)
{
	(void)state;
	/* Keep 100 entries before the checkpoint at 1000: 901..1000. */
	assert_int_equal(follow_checkpoint_trim_point(
	                     1000, 100, FOLLOW_CHECKPOINT_NO_RESERVATION),
	                 901);
	/* No margin: the wal may start right after the checkpoint. */
	assert_int_equal(follow_checkpoint_trim_point(
	                     1000, 0, FOLLOW_CHECKPOINT_NO_RESERVATION),
	                 1001);
	/* A margin longer than the history keeps everything. */
	assert_int_equal(follow_checkpoint_trim_point(
	                     50, 100, FOLLOW_CHECKPOINT_NO_RESERVATION),
	                 1);
	assert_int_equal(follow_checkpoint_trim_point(
	                     100, 100, FOLLOW_CHECKPOINT_NO_RESERVATION),
	                 1);
	/* A downstream reservation below the margin wins; above it, the
	 * margin does. */
	assert_int_equal(follow_checkpoint_trim_point(1000, 100, 700), 700);
	assert_int_equal(follow_checkpoint_trim_point(1000, 100, 950), 901);
	assert_int_equal(follow_checkpoint_trim_point(1000, 0, 0), 1);
}

/* ---- real checkpoints ---- */

struct fx {
	char dir[4096];
	struct fx_spool spool; /* the mirror's directory: same layout */
	struct follow_apply fa;
	struct follow_checkpoint ck;
	struct follow_checkpoint_config cfg;
	uint64_t now;
};

static int setup(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL ||
	    fx_scratch_dir("ckpt", fx->dir, sizeof fx->dir, errmsg) != 0 ||
	    fx_spool_create(&fx->spool, fx->dir, "kv", CLUSTER, 1, 4096,
	                    errmsg) != 0) {
		fprintf(stderr, "setup: %s\n", errmsg);
		return -1;
	}
	fx->fa.name = "kv";
	if (applier_new(APPLIER_KV, "kv", &fx->fa.applier, errmsg) != 0)
		return -1;
	fx->cfg.every_entries = 1000;
	fx->cfg.wal_keep_entries = 100;
	fx->cfg.keep_snapshots = 2;
	fx->now = 1000;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	io_fault_clear();
	follow_checkpoint_close(&fx->ck);
	follow_apply_close(&fx->fa);
	fx_spool_close(&fx->spool);
	fx_remove_tree(fx->dir);
	free(fx);
	return 0;
}

/* Appends count kv puts (key k<index % 700>, a value naming the index)
 * to the wal, fsynced, and applies them. */
static void append_puts(struct fx *fx, uint64_t count)
{
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t next = wal_log_last_index(fx->spool.log) + 1;

	if (wal_log_last_index(fx->spool.log) == 0)
		next = 1;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t index = next + i;
		char key[32], value[64];
		uint8_t buf[256];
		struct kv_command c;
		struct wal_entry e;
		size_t len;

		snprintf(key, sizeof key, "k%03u", (unsigned)(index % 700));
		snprintf(value, sizeof value, "value of entry %llu",
		         (unsigned long long)index);
		memset(&c, 0, sizeof c);
		c.op = KV_OP_PUT;
		c.ns = "ns";
		c.ns_len = 2;
		c.key = (const uint8_t *)key;
		c.key_len = strlen(key);
		c.value = (const uint8_t *)value;
		c.value_len = strlen(value);
		assert_int_equal(
		    kv_command_encode(&c, buf, sizeof buf, 8, &len, errmsg), 0);
		e.index = index;
		e.term = 3;
		e.type = WAL_ENTRY_COMMAND;
		e.data = buf;
		e.len = len;
		assert_int_equal(
		    wal_log_append(fx->spool.log, &e, 1, fx->now, errmsg), 0);
	}
	assert_int_equal(wal_log_sync(fx->spool.log, errmsg), 0);
	follow_apply_durable(&fx->fa, fx->spool.log);
	assert_null(applier_error(fx->fa.applier));
	assert_int_equal(applier_applied_index(fx->fa.applier),
	                 next + count - 1);
}

static struct follow_checkpoint_env env_of(struct fx *fx)
{
	struct follow_checkpoint_env env = {fx->fa.applier, fx->spool.log,
	                                    fx->spool.store, CLUSTER,
	                                    fx->fa.applied_bytes};
	return env;
}

/* Ticks until the checkpoint in flight is collected: at most 10 s. */
static void tick_until_idle(struct fx *fx)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct follow_checkpoint_env env = env_of(fx);
	struct timespec ms = {0, 2000000};

	for (int i = 0; i < 5000 && follow_checkpoint_busy(&fx->ck); i++) {
		nanosleep(&ms, NULL);
		fx->now += 2;
		assert_int_equal(
		    follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg), 0);
	}
	assert_false(follow_checkpoint_busy(&fx->ck));
}

static uint32_t fingerprint(struct applier *a)
{
	struct applier_query q = {.op = APPLIER_QUERY_FINGERPRINT};
	struct applier_result res;
	char errmsg[MA_ERRMSG_SIZE];

	assert_int_equal(applier_query(a, &q, NULL, NULL, &res, errmsg), 0);
	return res.fingerprint;
}

/* Segment files (docs/FORMAT.md: wal-<20 digits>.seg). */
static size_t segment_count(struct fx *fx)
{
	DIR *d = opendir(fx->spool.wal_dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len == 28 && strncmp(de->d_name, "wal-", 4) == 0 &&
		    strcmp(de->d_name + 24, ".seg") == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void test_checkpoint_commits_and_trims(void **state)
{
	char errmsg[MA_ERRMSG_SIZE], path[4200];
	struct fx *fx = *state;
	struct follow_checkpoint_env env;
	struct snapshot_meta meta;
	struct applier *check;
	size_t segs_before;

	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	append_puts(fx, 999);
	env = env_of(fx);
	/* 999 entries: not due yet, nothing started. */
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	assert_false(follow_checkpoint_busy(&fx->ck));
	append_puts(fx, 1001); /* up to 2000 */
	segs_before = segment_count(fx);
	assert_true(segs_before > 10);
	env = env_of(fx);
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	assert_true(follow_checkpoint_busy(&fx->ck)); /* a child writes */
	/* The tail goes on while the child writes: the checkpoint is the
	 * state at 2000, not at 2100. */
	uint32_t at_2000 = fingerprint(fx->fa.applier);
	append_puts(fx, 100);
	tick_until_idle(fx);
	assert_int_equal(fx->ck.taken, 1);
	assert_int_equal(fx->ck.failed, 0);

	assert_int_equal(snapshot_store_latest(fx->spool.store, &meta, errmsg),
	                 0);
	assert_int_equal(meta.id.index, 2000);
	assert_int_equal(meta.id.term, 3);
	assert_string_equal(meta.id.cluster_id, CLUSTER);
	assert_string_equal(meta.id.database_id, "kv");
	assert_int_equal(meta.id.size, fx->ck.last_size);
	/* The source's format: the file verifies against its .meta and a
	 * fresh kv applier restores the state at 2000 from it. */
	assert_int_equal(
	    snapshot_store_path(fx->spool.store, 2000, 3, path, sizeof path),
	    0);
	assert_int_equal(snapshot_file_verify(path, NULL, errmsg), 0);
	assert_int_equal(applier_new(APPLIER_KV, "kv", &check, errmsg), 0);
	assert_int_equal(applier_restore_file(check, path, 2000, errmsg), 0);
	assert_int_equal(fingerprint(check), at_2000);
	applier_free(check);

	/* Trimmed: the wal keeps the 100 entries before the checkpoint (at
	 * segment granularity, so it starts at or below 1901), and whole
	 * segments before them are gone. */
	assert_true(wal_log_first_index(fx->spool.log) > 1);
	assert_true(wal_log_first_index(fx->spool.log) <= 1901);
	assert_true(wal_log_first_index(fx->spool.log) >= 1800);
	assert_int_equal(fx->ck.last_first_index,
	                 wal_log_first_index(fx->spool.log));
	assert_true(segment_count(fx) < segs_before / 4);
	/* No temp file is left in recv/. */
	snprintf(path, sizeof path, "%s/recv/kv.checkpoint.tmp", fx->dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* Cascade: a mirror B served from this directory has a reservation
 * beside it (written by serve); the trim keeps the wal from it, and drops
 * a reservation older than the budget (its file removed). */
static void test_trim_keeps_downstream_reservation(void **state)
{
	char errmsg[MA_ERRMSG_SIZE], rdir[4200];
	struct fx *fx = *state;
	struct spool_reservation r, *v;
	size_t n;

	assert_int_equal(spool_reserve_dir(rdir, sizeof rdir, fx->dir), 0);
	memset(&r, 0, sizeof r);
	strcpy(r.identity, "mirror-b");
	strcpy(r.database, "kv");
	r.index = 500;
	r.updated_ms = clock_wall_ms();
	assert_int_equal(spool_reserve_write(rdir, &r, errmsg), 0);
	strcpy(r.identity, "mirror-gone");
	r.index = 300;
	r.updated_ms =
	    clock_wall_ms() - FOLLOW_CHECKPOINT_RESERVE_MAX_AGE_MS - 1000;
	assert_int_equal(spool_reserve_write(rdir, &r, errmsg), 0);

	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	append_puts(fx, 2000);
	struct follow_checkpoint_env env = env_of(fx);
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	tick_until_idle(fx);
	assert_int_equal(fx->ck.taken, 1);
	/* Without B the wal would start near 1901 (test above); with it, at
	 * the segment holding 500, past the dropped reservation at 300. */
	assert_true(wal_log_first_index(fx->spool.log) <= 500);
	assert_true(wal_log_first_index(fx->spool.log) > 300);
	assert_int_equal(spool_reserve_list(rdir, &v, &n, errmsg), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].identity, "mirror-b");
	free(v);
	fx_remove_tree(rdir);
}

static void test_retention_keeps_newest(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = *state;
	struct snapshot_meta *metas = NULL;
	struct follow_checkpoint_env env;
	size_t count = 0;

	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	for (int round = 0; round < 4; round++) {
		append_puts(fx, 1000);
		env = env_of(fx);
		assert_int_equal(
		    follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg), 0);
		tick_until_idle(fx);
	}
	assert_int_equal(fx->ck.taken, 4);
	assert_int_equal(
	    snapshot_store_list(fx->spool.store, &metas, &count, errmsg), 0);
	assert_int_equal(count, 2);
	assert_int_equal(metas[0].id.index, 3000);
	assert_int_equal(metas[1].id.index, 4000);
	free(metas);
	assert_true(fx->ck.longest_stall_us > 0);
}

static void test_restart_restores_checkpoint(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = *state;
	struct follow_checkpoint_env env;
	struct follow_apply again = {0};
	uint32_t want;

	fx->cfg.wal_keep_entries = 0;
	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	append_puts(fx, 3000);
	env = env_of(fx);
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	tick_until_idle(fx);
	append_puts(fx, 250); /* the tail after the checkpoint */
	want = fingerprint(fx->fa.applier);
	/* Entries 1..2999 are gone (up to the segment holding 3001): only a
	 * restore from the checkpoint can rebuild the state now. */
	assert_true(wal_log_first_index(fx->spool.log) > 2900);

	again.name = "kv";
	assert_int_equal(applier_new(APPLIER_KV, "kv", &again.applier, errmsg),
	                 0);
	assert_true(
	    follow_apply_restore(&again, fx->spool.store, fx->spool.log));
	assert_null(applier_error(again.applier));
	assert_int_equal(applier_applied_index(again.applier), 3250);
	assert_int_equal(fingerprint(again.applier), want);
	/* Replayed the tail only: the bytes of 250 entries, not 3250. */
	assert_true(again.applied_bytes > 0);
	assert_true(again.applied_bytes * 10 < fx->fa.applied_bytes);
	follow_apply_close(&again);
}

/* Polls an async restore until it is adopted: at most 10 s. */
static bool poll_restore(struct follow_apply *fa, struct wal_log *wal)
{
	struct timespec ms = {0, 2000000};

	for (int i = 0; i < 5000; i++) {
		if (follow_apply_poll(fa, wal))
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

/* The daemon restores on a helper thread: until the state is adopted the
 * applier answers "restoring" (reads get 503) instead of an empty
 * state; then it holds the checkpoint plus the replayed tail. */
static void test_async_restore(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = *state;
	struct follow_checkpoint_env env;
	struct follow_apply again = {0};
	struct applier_query q = {.op = APPLIER_QUERY_FINGERPRINT};
	struct applier_result res;
	uint32_t want;

	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	append_puts(fx, 2000);
	env = env_of(fx);
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	tick_until_idle(fx);
	append_puts(fx, 77);
	want = fingerprint(fx->fa.applier);

	again.name = "kv";
	again.restore_async = true;
	assert_int_equal(applier_new(APPLIER_KV, "kv", &again.applier, errmsg),
	                 0);
	assert_true(
	    follow_apply_restore(&again, fx->spool.store, fx->spool.log));
	assert_true(follow_apply_restoring(&again));
	/* Loading, not failed: a reader waiting for an index keeps
	 * waiting; a read now is answered "restoring" (503). */
	assert_null(applier_error(again.applier));
	assert_int_equal(applier_applied_index(again.applier), 0);
	assert_int_equal(
	    applier_query(again.applier, &q, NULL, NULL, &res, errmsg),
	    MA_ERR_AGAIN);
	assert_non_null(strstr(errmsg, "restoring snapshot 2000"));
	/* Entries arriving meanwhile are not applied to the placeholder. */
	assert_false(follow_apply_durable(&again, fx->spool.log));
	assert_true(poll_restore(&again, fx->spool.log));
	assert_false(follow_apply_restoring(&again));
	assert_null(applier_error(again.applier));
	assert_int_equal(applier_applied_index(again.applier), 2077);
	assert_int_equal(fingerprint(again.applier), want);
	follow_apply_close(&again);
}

/* A snapshot that does not restore: the real reason replaces
 * "restoring", and nothing is replayed onto an empty state. */
static void test_async_restore_failure(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = *state;
	struct snapshot_ident id;
	struct follow_apply again = {0};
	static const char junk[] = "not a kv snapshot";

	append_puts(fx, 10);
	memset(&id, 0, sizeof id);
	snprintf(id.cluster_id, sizeof id.cluster_id, "%s", CLUSTER);
	snprintf(id.database_id, sizeof id.database_id, "kv");
	id.index = 5;
	id.term = 3;
	assert_int_equal(snapshot_store_create_from_buf(fx->spool.store, &id,
	                                                junk, sizeof junk, 1,
	                                                NULL, errmsg),
	                 0);
	again.name = "kv";
	again.restore_async = true;
	assert_int_equal(applier_new(APPLIER_KV, "kv", &again.applier, errmsg),
	                 0);
	assert_true(
	    follow_apply_restore(&again, fx->spool.store, fx->spool.log));
	assert_true(poll_restore(&again, fx->spool.log));
	assert_non_null(applier_error(again.applier));
	assert_null(strstr(applier_error(again.applier), "restoring"));
	assert_int_equal(applier_applied_index(again.applier), 0);
	follow_apply_close(&again);
}

/* A kv snapshot of `count` keys "k<9 digits>" in namespace "ns", each
 * value `tag`, built in the documented format (kv/kv_store.h) without a
 * store: malloc()ed into *buf. */
static void big_kv_snapshot(uint64_t count, const char *tag, void **buf,
                            size_t *len)
{
	size_t vlen = strlen(tag), rec = 16 + 2 + 10 + vlen;
	size_t n = 24 + count * rec + 4;
	uint8_t *p = malloc(n), *q;
	uint32_t crc;

	assert_non_null(p);
	memcpy(p, "RKVS", 4);
	q = p + 4;
#define PUT_LE(v, w)                                                           \
	do {                                                                   \
		for (int b_ = 0; b_ < (w); b_++)                               \
			*q++ = (uint8_t)((uint64_t)(v) >> (8 * b_));           \
	} while (0)
	PUT_LE(1, 4);
	PUT_LE(count, 8); /* revision */
	PUT_LE(count, 8);
	for (uint64_t i = 0; i < count; i++) {
		char key[16];

		snprintf(key, sizeof key, "k%09llu", (unsigned long long)i);
		PUT_LE(2, 2);
		PUT_LE(10, 2);
		PUT_LE(vlen, 4);
		PUT_LE(i + 1, 8); /* version */
		memcpy(q, "ns", 2);
		memcpy(q + 2, key, 10);
		memcpy(q + 12, tag, vlen);
		q += 12 + vlen;
	}
	crc = crc32c(p, (size_t)(q - p));
	PUT_LE(crc, 4);
#undef PUT_LE
	assert_int_equal((size_t)(q - p), n);
	*buf = p;
	*len = n;
}

static void store_snapshot(struct fx *fx, uint64_t index, const void *buf,
                           size_t len)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_ident id;

	memset(&id, 0, sizeof id);
	snprintf(id.cluster_id, sizeof id.cluster_id, "%s", CLUSTER);
	snprintf(id.database_id, sizeof id.database_id, "kv");
	id.index = index;
	id.term = 3;
	assert_int_equal(snapshot_store_create_from_buf(
	                     fx->spool.store, &id, buf, len, 1, NULL, errmsg),
	                 0);
}

/* A newer snapshot supersedes a restore still running on the helper
 * thread: starting the newer restore returns at once (the older one is
 * told to stop and reaped later, never joined on the loop, which would
 * stall heartbeats, reads and status for as long as it takes), and the
 * state adopted is the newer snapshot's. The older one is 1.5 M keys
 * (joined, the call took 325-373 ms here), the bound 50 ms. */
static void test_superseded_restore_does_not_block(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = *state;
	struct follow_apply again = {0};
	struct kv_store *want;
	void *big, *small;
	size_t big_len, small_len;
	uint64_t t0, took_ns;

	big_kv_snapshot(1500000, "old-value", &big, &big_len);
	store_snapshot(fx, 1000, big, big_len);
	free(big);
	again.name = "kv";
	again.restore_async = true;
	assert_int_equal(applier_new(APPLIER_KV, "kv", &again.applier, errmsg),
	                 0);
	assert_true(
	    follow_apply_restore(&again, fx->spool.store, fx->spool.log));
	assert_true(follow_apply_restoring(&again));

	big_kv_snapshot(300, "new-value", &small, &small_len);
	store_snapshot(fx, 2000, small, small_len);
	t0 = clock_mono_ns();
	assert_true(
	    follow_apply_restore(&again, fx->spool.store, fx->spool.log));
	took_ns = clock_mono_ns() - t0;
	printf("# superseding restore returned in %.3f ms (%zu still "
	       "winding down)\n",
	       (double)took_ns / 1e6, follow_apply_retired(&again));
	assert_true(took_ns < 50 * 1000000ull);
	assert_true(follow_apply_restoring(&again));
	assert_true(follow_apply_retired(&again) <= 1);

	assert_true(poll_restore(&again, fx->spool.log));
	assert_false(follow_apply_restoring(&again));
	assert_null(applier_error(again.applier));
	assert_int_equal(applier_applied_index(again.applier), 2000);
	assert_int_equal(kv_store_new(&want), 0);
	assert_int_equal(kv_store_restore(want, small, small_len, errmsg), 0);
	assert_int_equal(fingerprint(again.applier),
	                 kv_store_fingerprint(want));
	kv_store_free(want);
	free(small);
	/* The superseded one stops at its next check and is reaped by a
	 * later poll: bounded (10 s). */
	for (int i = 0; i < 5000 && follow_apply_retired(&again) > 0; i++) {
		struct timespec ms = {0, 2000000};

		follow_apply_poll(&again, fx->spool.log);
		nanosleep(&ms, NULL);
	}
	assert_int_equal(follow_apply_retired(&again), 0);
	/* It stopped at a cancel check, not by running to the end (a
	 * restore that ignored the flag finishes in about 350 ms and would
	 * still be reaped). */
	assert_int_equal(follow_apply_cancelled(&again), 1);
	follow_apply_close(&again);
}

static void test_failed_write_changes_nothing(void **state)
{
	char errmsg[MA_ERRMSG_SIZE], path[4200];
	struct fx *fx = *state;
	struct follow_checkpoint_env env;
	struct snapshot_meta meta;
	uint64_t first;

	fx->cfg.inline_write = true;
	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	append_puts(fx, 1500);
	first = wal_log_first_index(fx->spool.log);
	env = env_of(fx);
	io_fault_set(IO_FAULT_FSYNC, 1, 1, EIO); /* the temp file's fsync */
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	io_fault_clear();
	assert_int_equal(fx->ck.failed, 1);
	assert_int_equal(fx->ck.taken, 0);
	assert_int_equal(snapshot_store_latest(fx->spool.store, &meta, errmsg),
	                 MA_ERR_NOTFOUND);
	assert_int_equal(wal_log_first_index(fx->spool.log), first);
	snprintf(path, sizeof path, "%s/recv/kv.checkpoint.tmp", fx->dir);
	assert_int_equal(access(path, F_OK), -1);
	/* Not retried at every tick: the cadence restarted at 1500. */
	fx->now += 100;
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	assert_int_equal(fx->ck.failed + fx->ck.taken, 1);
	/* At the next due point it works (inline: in the same tick). */
	append_puts(fx, 1000);
	env = env_of(fx);
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	assert_int_equal(fx->ck.taken, 1);
	assert_true(wal_log_first_index(fx->spool.log) > first);
}

static void test_none_applier_takes_none(void **state)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct fx *fx = *state;
	struct applier *none;
	struct follow_checkpoint_env env;

	assert_int_equal(follow_checkpoint_init(&fx->ck, &fx->cfg, "kv",
	                                        fx->dir, 0, 0, fx->now, errmsg),
	                 0);
	append_puts(fx, 2000);
	assert_int_equal(applier_new(APPLIER_NONE, "kv", &none, errmsg), 0);
	for (uint64_t i = 1; i <= 2000; i++)
		assert_int_equal(applier_apply(none, i, 3, WAL_ENTRY_BARRIER,
		                               NULL, 0, errmsg),
		                 0);
	env = env_of(fx);
	env.applier = none;
	assert_int_equal(follow_checkpoint_tick(&fx->ck, &env, fx->now, errmsg),
	                 0);
	assert_false(follow_checkpoint_busy(&fx->ck));
	assert_int_equal(fx->ck.taken + fx->ck.failed, 0);
	assert_int_equal(wal_log_first_index(fx->spool.log), 1);
	applier_free(none);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_due_rule),
	    cmocka_unit_test(test_trim_point),
	    cmocka_unit_test_setup_teardown(
	        test_trim_keeps_downstream_reservation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_commits_and_trims,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retention_keeps_newest, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restart_restores_checkpoint,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async_restore, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_async_restore_failure, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_superseded_restore_does_not_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_write_changes_nothing,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_none_applier_takes_none, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
