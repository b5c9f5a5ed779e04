/* bench_checkpoint: what mirror checkpoints (agent/follow/
 * follow_checkpoint.h) cost the tail and what they save at a restart.
 * Not a test.
 *
 * usage: bench_checkpoint [-k KEYS] [-s SECONDS] [-H N,N,...] [DIR]
 *   (default 200000 keys, 6 s, histories 10000,100000,1000000; DIR
 *   default /tmp: a scratch directory is made inside and removed)
 *
 * 1. Stall. A kv applier holding KEYS keys of 256-byte values is fed
 *    10,000 entries/s (10 puts of 256 B every millisecond, real clock)
 *    through a real wal (group commit every 10 ms) and the applier, the
 *    way follow_core does, and follow_checkpoint_tick runs every 100 ms
 *    (the core's tick) with a checkpoint due every second. One loop
 *    iteration = one millisecond's work; the figure is the longest
 *    iteration. Three phases of SECONDS each, in the same run: no
 *    checkpoints (baseline), checkpoints written by a forked child (the
 *    product), checkpoints serialised and written on the loop
 *    (inline_write: what a naive design would stall).
 * 2. Restart. For each history length N: a wal of N puts of 256 B (on
 *    100,000 keys) after an empty start; "before" opens the wal and
 *    restores the applier by replaying all N entries (what a restart did
 *    before this work); "after" takes a checkpoint 1,000 entries before
 *    the end, trims the wal (margin 1,000) and times the same restart:
 *    open the trimmed wal, restore the checkpoint, replay the tail.
 *    The time to reach Following adds the QUIC handshake and an info
 *    request to this. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/apply/applier.h"
#include "agent/follow/follow_apply.h"
#include "agent/follow/follow_checkpoint.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "kv/kv_command.h"
#include "snapshot/snapshot.h"
#include "wal/wal.h"

#define CLUSTER "8d0c8d3e-0f6c-4b8a-9a57-3c1f0a2b4c5d"
#define VALUE_SIZE 256

static char root[4096];

static void die(const char *what, const char *errmsg)
{
	fprintf(stderr, "bench_checkpoint: %s: %s\n", what, errmsg);
	exit(1);
}

static void rm_rf(const char *dir)
{
	char cmd[4400];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_checkpoint: cannot remove %s\n", dir);
}

/* A put of key k<n> with a 256-byte value naming seq. */
static size_t encode_put(uint64_t key, uint64_t seq, uint8_t *buf, size_t cap)
{
	char k[32], v[VALUE_SIZE];
	char errmsg[MA_ERRMSG_SIZE];
	struct kv_command c;
	size_t len;

	snprintf(k, sizeof k, "k%010" PRIu64, key);
	memset(v, 'a' + (int)(seq % 26), sizeof v);
	snprintf(v, 32, "%" PRIu64, seq);
	memset(&c, 0, sizeof c);
	c.op = KV_OP_PUT;
	c.ns = "bench";
	c.ns_len = 5;
	c.key = (const uint8_t *)k;
	c.key_len = strlen(k);
	c.value = (const uint8_t *)v;
	c.value_len = sizeof v;
	if (kv_command_encode(&c, buf, cap, 8, &len, errmsg) != 0)
		die("encode", errmsg);
	return len;
}

struct db {
	char dir[4200], wal_dir[4300], snap_dir[4300];
	struct wal_log *wal;
	struct snapshot_store *store;
	struct follow_apply fa;
};

static void db_open(struct db *d, const char *name, uint64_t sync_ms)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_options wo;

	snprintf(d->dir, sizeof d->dir, "%s/%s", root, name);
	snprintf(d->wal_dir, sizeof d->wal_dir, "%s/wal", d->dir);
	snprintf(d->snap_dir, sizeof d->snap_dir, "%s/snapshots", d->dir);
	wal_options_init(&wo);
	if (wal_identity_init(&wo.identity, CLUSTER, "kv", errmsg) != 0)
		die("identity", errmsg);
	wo.segment_size = 16u << 20; /* the mirror's default */
	if (sync_ms > 0) {
		wo.sync_every_append = false;
		wo.sync_interval_ms = sync_ms;
	}
	if (wal_log_open(d->wal_dir, &wo, &d->wal, errmsg) != 0)
		die("wal open", errmsg);
	if (snapshot_store_open(d->snap_dir, &d->store, errmsg) != 0)
		die("store open", errmsg);
	d->fa.name = "kv";
	if (d->fa.applier == NULL &&
	    applier_new(APPLIER_KV, "kv", &d->fa.applier, errmsg) != 0)
		die("applier", errmsg);
}

static void db_close(struct db *d)
{
	follow_apply_close(&d->fa);
	wal_log_close(d->wal);
	snapshot_store_close(d->store);
	memset(d, 0, sizeof *d);
}

/* Appends n puts (keys seq % keys) from the wal's next index. */
static void append_puts(struct db *d, uint64_t n, uint64_t keys, uint64_t now)
{
	static uint8_t bufs[1000][VALUE_SIZE + 64];
	struct wal_entry e[1000];
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t next = wal_log_last_index(d->wal) + 1;

	while (n > 0) {
		size_t batch = n < 1000 ? (size_t)n : 1000;
		for (size_t i = 0; i < batch; i++) {
			e[i].index = next + i;
			e[i].term = 1;
			e[i].type = WAL_ENTRY_COMMAND;
			e[i].data = bufs[i];
			e[i].len = encode_put((next + i) % keys, next + i,
			                      bufs[i], sizeof bufs[i]);
		}
		if (wal_log_append(d->wal, e, batch, now, errmsg) != 0)
			die("append", errmsg);
		next += batch;
		n -= batch;
	}
}

/* ---- 1. stall ---- */

struct phase {
	const char *name;
	uint64_t longest_us, longest_tick_us;
	uint64_t iterations, checkpoints;
	double p999_us;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void run_phase(struct db *d, struct phase *ph, int mode, double seconds,
                      uint64_t keys)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct follow_checkpoint ck;
	struct follow_checkpoint_config cfg = {0};
	uint64_t start = clock_mono_us(), next_tick = 0;
	size_t cap = (size_t)(seconds * 1000) + 10, n = 0;
	uint64_t *iters = calloc(cap, sizeof *iters);

	if (iters == NULL)
		die("calloc", "out of memory");
	cfg.every_ms = mode == 0 ? 0 : 1000;
	cfg.wal_keep_entries = 10000;
	cfg.keep_snapshots = 2;
	cfg.inline_write = mode == 2;
	if (follow_checkpoint_init(&ck, &cfg, "kv", d->dir,
	                           applier_applied_index(d->fa.applier), 0,
	                           clock_mono_ms(), errmsg) != 0)
		die("checkpoint init", errmsg);
	for (uint64_t ms = 0; clock_mono_us() - start < seconds * 1e6; ms++) {
		/* Paced: iteration ms starts at start + ms milliseconds (or
		 * at once when late: the backlog is what a stall costs). */
		uint64_t due = start + ms * 1000, t0, t1;
		struct follow_checkpoint_env env;

		while (clock_mono_us() < due) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
		t0 = clock_mono_us();
		append_puts(d, 10, keys, clock_mono_ms());
		if (wal_log_sync_due(d->wal, clock_mono_ms()) &&
		    wal_log_sync(d->wal, errmsg) != 0)
			die("sync", errmsg);
		follow_apply_durable(&d->fa, d->wal);
		if (t0 >= next_tick) {
			env = (struct follow_checkpoint_env){
			    d->fa.applier, d->wal, d->store, CLUSTER,
			    d->fa.applied_bytes};
			if (follow_checkpoint_tick(&ck, &env, clock_mono_ms(),
			                           errmsg) != 0)
				die("checkpoint", errmsg);
			next_tick = t0 + 100000;
		}
		t1 = clock_mono_us();
		if (n < cap)
			iters[n++] = t1 - t0;
		if (t1 - t0 > ph->longest_us)
			ph->longest_us = t1 - t0;
	}
	/* Let the last one finish (not timed). */
	for (int i = 0; i < 10000 && follow_checkpoint_busy(&ck); i++) {
		struct follow_checkpoint_env env = {d->fa.applier, d->wal,
		                                    d->store, CLUSTER,
		                                    d->fa.applied_bytes};
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		if (follow_checkpoint_tick(&ck, &env, clock_mono_ms(),
		                           errmsg) != 0)
			die("checkpoint", errmsg);
	}
	follow_checkpoint_close(&ck);
	qsort(iters, n, sizeof *iters, cmp_u64);
	ph->iterations = n;
	ph->p999_us = n > 0 ? (double)iters[n - 1 - n / 1000] : 0;
	ph->checkpoints = ck.taken;
	ph->longest_tick_us = ck.longest_stall_us;
	free(iters);
}

static void bench_stall(uint64_t keys, double seconds)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct phase ph[3] = {{.name = "no checkpoints (baseline)"},
	                      {.name = "checkpoints, forked writer"},
	                      {.name = "checkpoints written on the loop"}};
	struct db d = {0};
	void *snap = NULL;
	size_t snap_len = 0;
	uint64_t t0;

	db_open(&d, "stall", 10);
	t0 = clock_mono_us();
	append_puts(&d, keys, keys, clock_mono_ms());
	if (wal_log_sync(d.wal, errmsg) != 0)
		die("sync", errmsg);
	follow_apply_durable(&d.fa, d.wal);
	if (applier_serialize(d.fa.applier, &snap, &snap_len, errmsg) != 0)
		die("serialize", errmsg);
	free(snap);
	printf("stall: %" PRIu64 " keys of %d B loaded in %.1f s; state "
	       "snapshot %.1f MiB; 10000 entries/s for %.0f s per phase\n",
	       keys, VALUE_SIZE, (clock_mono_us() - t0) / 1e6,
	       snap_len / 1048576.0, seconds);
	for (int i = 0; i < 3; i++) {
		run_phase(&d, &ph[i], i, seconds, keys);
		printf("  %-34s longest iteration %8.2f ms, p99.9 %6.2f ms, "
		       "checkpoints %" PRIu64 ", longest in checkpoint start "
		       "%.2f ms\n",
		       ph[i].name, ph[i].longest_us / 1000.0,
		       ph[i].p999_us / 1000.0, ph[i].checkpoints,
		       ph[i].longest_tick_us / 1000.0);
	}
	printf("  ratio longest (forked / baseline) %.2f, (on the loop / "
	       "forked) %.2f\n",
	       (double)ph[1].longest_us / (double)ph[0].longest_us,
	       (double)ph[2].longest_us / (double)ph[1].longest_us);
	db_close(&d);
}

/* ---- 2. restart ---- */

static double restart_once(const char *name, uint64_t *replayed)
{
	struct db d = {0};
	uint64_t t0 = clock_mono_us();
	uint64_t base = 0;
	struct snapshot_meta meta;
	char errmsg[MA_ERRMSG_SIZE];

	db_open(&d, name, 0);
	if (snapshot_store_latest(d.store, &meta, errmsg) == 0)
		base = meta.id.index;
	follow_apply_restore(&d.fa, d.store, d.wal);
	if (applier_error(d.fa.applier) != NULL)
		die("restore", applier_error(d.fa.applier));
	*replayed = applier_applied_index(d.fa.applier) - base;
	t0 = clock_mono_us() - t0;
	db_close(&d);
	return t0 / 1e6;
}

static void bench_restart(const uint64_t *hist, size_t nhist)
{
	char errmsg[MA_ERRMSG_SIZE];

	printf("restart (open the wal, restore the applier): history of "
	       "puts of %d B on 100000 keys\n",
	       VALUE_SIZE);
	for (size_t i = 0; i < nhist; i++) {
		struct follow_checkpoint ck;
		struct follow_checkpoint_config cfg = {0};
		struct follow_checkpoint_env env;
		struct db d = {0};
		char name[64];
		uint64_t r1, r2, first_before;
		double before, after;

		snprintf(name, sizeof name, "restart%zu", i);
		db_open(&d, name, 0);
		append_puts(&d, hist[i], 100000, clock_mono_ms());
		if (wal_log_sync(d.wal, errmsg) != 0)
			die("sync", errmsg);
		db_close(&d);
		before = restart_once(name, &r1);

		/* The same history with a checkpoint 1000 entries before its
		 * end: cut the last 1000, rebuild and checkpoint the state,
		 * append the same 1000 again (same bytes: encode_put). */
		db_open(&d, name, 0);
		first_before = wal_log_first_index(d.wal);
		if (wal_log_truncate_suffix(d.wal, hist[i] - 1000, errmsg) != 0)
			die("truncate", errmsg);
		db_close(&d);
		db_open(&d, name, 0);
		follow_apply_restore(&d.fa, d.store, d.wal);
		cfg.every_entries = 1;
		cfg.wal_keep_entries = 1000;
		cfg.keep_snapshots = 2;
		cfg.inline_write = true;
		if (follow_checkpoint_init(&ck, &cfg, "kv", d.dir, 0, 0, 0,
		                           errmsg) != 0)
			die("checkpoint init", errmsg);
		env = (struct follow_checkpoint_env){
		    d.fa.applier, d.wal, d.store, CLUSTER, d.fa.applied_bytes};
		if (follow_checkpoint_tick(&ck, &env, 1, errmsg) != 0 ||
		    ck.taken != 1)
			die("checkpoint", errmsg);
		append_puts(&d, 1000, 100000, clock_mono_ms());
		if (wal_log_sync(d.wal, errmsg) != 0)
			die("sync", errmsg);
		printf("  N=%-9" PRIu64 " checkpoint %.1f MiB; wal first index "
		       "%" PRIu64 " -> %" PRIu64 "\n",
		       hist[i], ck.last_size / 1048576.0, first_before,
		       wal_log_first_index(d.wal));
		db_close(&d);
		after = restart_once(name, &r2);
		printf("  N=%-9" PRIu64 " before %7.3f s (replayed %" PRIu64
		       ")   after %7.3f s (replayed %" PRIu64
		       ")   ratio %.1fx\n",
		       hist[i], before, r1, after, r2, before / after);
		{
			char path[4200];
			snprintf(path, sizeof path, "%s/%s", root, name);
			rm_rf(path);
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t keys = 200000, hist[8] = {10000, 100000, 1000000};
	size_t nhist = 3;
	double seconds = 6;
	const char *base = "/tmp";
	double load[3] = {0};
	FILE *f;
	int opt;

	while ((opt = getopt(argc, argv, "k:s:H:")) != -1) {
		switch (opt) {
		case 'k':
			keys = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 'H': {
			char *p = optarg;
			nhist = 0;
			while (*p != '\0' && nhist < 8) {
				hist[nhist] = strtoull(p, &p, 10);
				if (hist[nhist] > 2000)
					nhist++;
				if (*p == ',')
					p++;
				else
					break;
			}
			break;
		}
		default:
			fprintf(
			    stderr,
			    "usage: bench_checkpoint [-k KEYS] [-s SECONDS] "
			    "[-H N,N,...] [DIR]\n");
			return 2;
		}
	}
	if (optind < argc)
		base = argv[optind];
	log_set_level(LOG_LEVEL_WARN);
	snprintf(root, sizeof root, "%s/bench_checkpoint.XXXXXX", base);
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	f = fopen("/proc/loadavg", "r");
	if (f != NULL) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = 0;
		fclose(f);
	}
	printf("load average at start: %.2f %.2f %.2f\n", load[0], load[1],
	       load[2]);
	bench_stall(keys, seconds);
	bench_restart(hist, nhist);
	rm_rf(root);
	return 0;
}
