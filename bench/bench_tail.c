/* bench_tail: latency from an append on the source spool to durable in the
 * mirror's wal, and the highest rate the mirror sustains. Driven by
 * bench/bench_tail.sh, which starts serve on the spool and a follower whose
 * log (--log-level debug) it pipes into this program's stdin:
 *
 *   follow ... --log-level debug 2>&1 |
 *       bench_tail --spool DIR [--rates 1000,10000,50000] [--seconds S]
 *                  [--size BYTES] [--sync-ms MS] [--owd-ms MS]
 *                  [--ramp 100000,200000,400000] [--label TEXT]
 *
 * The writer appends entries of --size bytes (default 256) to the spool's
 * wal as the tap would (group commit: fdatasync once the oldest unsynced
 * append is --sync-ms old, default 10, the tap's interval), paced to each
 * rate for --seconds (default 5). Each entry's time is when it was due at
 * that rate (not when the writer got to it: a writer that falls behind
 * shows as latency, no coordinated omission). The mirror's log line
 * "NAME: wal durable through N" (follow_core.c) stamps every entry <= N,
 * read as it arrives on the pipe (CLOCK_MONOTONIC). Per rate it prints
 *   LABEL rate R: N entries, p50 A ms p99 B ms p999 C ms max D ms
 * minus --owd-ms (the link's one-way delay) when given, and after the max
 * ", F fdatasyncs/s": the mirror's durable advances (one per wal fdatasync:
 * each moves the durable end and logs one line) from the start of the
 * rate until its last entry was durable, per second. Then each --ramp
 * rate is tried in turn: sustained when the writer kept the rate and the
 * mirror had every entry durable within 1 s of the last append; the last
 * sustained one is printed as "LABEL max sustained rate R entries/s".
 * First it prints what the disk under the spool gives a wal right now,
 * the baseline of the mirror's group commit (its scratch directory is on
 * the same file system in bench_tail.sh):
 *   LABEL disk: fdatasync after a 2560-byte append p50 A ms p90 B ms
 *   p99 C ms (N samples) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/errors.h"
#include "proto/proto.h"
#include "spool/spool.h"
#include "wal/wal.h"

#define MAX_RATES 16
#define BATCH_MAX 4096

static uint64_t base_index;       /* first index the writer appends */
static _Atomic uint64_t *due_ns;  /* per entry: when it was due */
static _Atomic uint64_t *lat_ns;  /* per entry: latency, 0 = not yet */
static uint64_t cap_entries;      /* size of the arrays */
static _Atomic uint64_t durable;  /* the mirror's durable end */
static _Atomic int following;     /* the mirror said Following */
static _Atomic uint64_t advances; /* "wal durable through" lines */

static void die(const char *msg)
{
	fprintf(stderr, "bench_tail: %s\n", msg);
	exit(1);
}

/* The mirror's log, line by line, as it arrives. */
static void *reader(void *arg)
{
	char line[4096];

	(void)arg;
	while (fgets(line, sizeof line, stdin) != NULL) {
		uint64_t now = clock_mono_ns();
		const char *p = strstr(line, "wal durable through ");

		if (strstr(line, "state Following") != NULL)
			atomic_store(&following, 1);
		if (p == NULL)
			continue;
		uint64_t n = strtoull(p + 20, NULL, 10);
		uint64_t old = atomic_load(&durable);
		for (uint64_t i = old + 1; i <= n; i++) {
			if (i < base_index || i - base_index >= cap_entries)
				continue;
			uint64_t d = atomic_load(&due_ns[i - base_index]);
			if (d != 0)
				atomic_store(&lat_ns[i - base_index],
				             now > d ? now - d : 1);
		}
		atomic_fetch_add(&advances, 1);
		if (n > old)
			atomic_store(&durable, n);
	}
	return NULL;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ULL),
	                      (long)(ns % 1000000000ULL)};
	nanosleep(&ts, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t parse_rates(const char *s, uint64_t *out)
{
	size_t n = 0;
	while (*s && n < MAX_RATES) {
		char *end;
		out[n++] = strtoull(s, &end, 10);
		if (end == s)
			die("bad rate list");
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

struct phase {
	uint64_t first, count; /* indexes appended */
	bool kept_rate;        /* the writer kept up */
	uint64_t start_ns, advances0;
	double syncs_per_s; /* set by wait_durable */
};

/* Appends at rate for secs seconds; returns the phase. */
static struct phase run_phase(struct wal_log *log, uint64_t rate, double secs,
                              size_t size, uint64_t *next)
{
	static struct wal_entry entries[BATCH_MAX];
	static char *bufs;
	char errmsg[MA_ERRMSG_SIZE];
	uint64_t total = (uint64_t)(rate * secs), done = 0;
	uint64_t start = clock_mono_ns();
	struct phase ph = {*next, 0, true, start, atomic_load(&advances), 0};

	if (bufs == NULL && (bufs = malloc(BATCH_MAX * size)) == NULL)
		die("out of memory");
	if (*next - base_index + total > cap_entries)
		die("more entries than planned (internal)");
	while (done < total) {
		uint64_t now = clock_mono_ns();
		uint64_t due = (now - start) * rate / 1000000000ULL + 1;
		if (due > total)
			due = total;
		if (due <= done) {
			uint64_t at = start + done * 1000000000ULL / rate;
			sleep_ns(at > now ? at - now : 1000);
			if (wal_log_sync_due(log, clock_mono_ms()) &&
			    wal_log_sync(log, errmsg) != 0)
				die(errmsg);
			continue;
		}
		uint64_t n = due - done;
		if (n > BATCH_MAX)
			n = BATCH_MAX;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t idx = *next + i;
			char *p = bufs + i * size;
			memset(p, 'a' + (int)(idx % 26), size);
			memcpy(p, &idx, sizeof idx);
			entries[i].index = idx;
			entries[i].term = 1;
			entries[i].type = WAL_ENTRY_COMMAND;
			entries[i].data = p;
			entries[i].len = (uint32_t)size;
			atomic_store(&due_ns[idx - base_index],
			             start + (done + i) * 1000000000ULL / rate);
		}
		if (wal_log_append(log, entries, (size_t)n, clock_mono_ms(),
		                   errmsg) != 0)
			die(errmsg);
		*next += n;
		done += n;
	}
	if (wal_log_sync(log, errmsg) != 0)
		die(errmsg);
	/* Kept the rate: finished within 5 % (and 50 ms) of the plan. */
	uint64_t took = clock_mono_ns() - start;
	ph.kept_rate = took <= (uint64_t)(secs * 1.05e9) + 50000000ULL;
	ph.count = done;
	return ph;
}

/* The disk's fdatasync time after an append of 10 entries' worth, as the
 * mirror's wal pays it (the file grows: a journal commit on ext4). */
static void probe_disk(const char *dir, const char *label)
{
	enum { SAMPLES = 200 };
	static uint64_t t[SAMPLES];
	char path[4096], buf[2560];
	int fd;

	snprintf(path, sizeof path, "%s/bench-tail-probe", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create the disk probe file");
	memset(buf, 'p', sizeof buf);
	for (int i = 0; i < SAMPLES; i++) {
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			die("disk probe: write failed");
		uint64_t t0 = clock_mono_ns();
		if (fdatasync(fd) != 0)
			die("disk probe: fdatasync failed");
		t[i] = clock_mono_ns() - t0;
	}
	close(fd);
	unlink(path);
	qsort(t, SAMPLES, sizeof t[0], cmp_u64);
	printf("%s disk: fdatasync after a %zu-byte append p50 %.2f ms p90 "
	       "%.2f ms p99 %.2f ms (%d samples)\n",
	       label, sizeof buf, (double)t[SAMPLES / 2] / 1e6,
	       (double)t[SAMPLES * 9 / 10] / 1e6,
	       (double)t[SAMPLES * 99 / 100] / 1e6, SAMPLES);
	fflush(stdout);
}

/* Waits up to limit_ms for the mirror to hold the phase durably. */
static bool wait_durable(struct phase *ph, uint64_t limit_ms)
{
	uint64_t end = clock_mono_ms() + limit_ms;
	while (atomic_load(&durable) < ph->first + ph->count - 1) {
		if (clock_mono_ms() > end)
			return false;
		sleep_ns(1000000);
	}
	ph->syncs_per_s = (double)(atomic_load(&advances) - ph->advances0) /
	                  ((double)(clock_mono_ns() - ph->start_ns) / 1e9);
	return true;
}

static void report(const char *label, uint64_t rate, const struct phase *ph,
                   double owd_ms)
{
	uint64_t *v = malloc(ph->count * sizeof *v);
	size_t n = 0, missing = 0;

	if (v == NULL)
		die("out of memory");
	for (uint64_t i = 0; i < ph->count; i++) {
		uint64_t l = atomic_load(&lat_ns[ph->first - base_index + i]);
		if (l == 0)
			missing++;
		else
			v[n++] = l;
	}
	if (n == 0) {
		printf("%s rate %" PRIu64 ": no entry became durable\n", label,
		       rate);
		free(v);
		return;
	}
	qsort(v, n, sizeof *v, cmp_u64);
#define Q(q) ((double)v[(size_t)((double)(n - 1) * (q))] / 1e6 - owd_ms)
	printf("%s rate %" PRIu64 ": %zu entries, p50 %.2f ms p99 %.2f ms "
	       "p999 %.2f ms max %.2f ms, %.0f fdatasyncs/s%s%s\n",
	       label, rate, n, Q(0.5), Q(0.99), Q(0.999), Q(1.0),
	       ph->syncs_per_s, owd_ms > 0 ? " (minus the one-way delay)" : "",
	       ph->kept_rate ? "" : " (the writer fell behind)");
#undef Q
	if (missing)
		printf("%s rate %" PRIu64 ": %zu entries not durable on the "
		       "mirror within 10 s\n",
		       label, rate, missing);
	fflush(stdout);
	free(v);
}

int main(int argc, char **argv)
{
	const char *spool = NULL, *label = "tail";
	uint64_t rates[MAX_RATES] = {1000, 10000, 50000}, ramp[MAX_RATES];
	size_t nrates = 3, nramp = 0, size = 256;
	double secs = 5, owd_ms = 0;
	uint64_t sync_ms = 10;
	char errmsg[MA_ERRMSG_SIZE], path[4096];

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			die("every option takes a value (see the top of "
			    "bench/bench_tail.c)");
		i++;
		if (!strcmp(o, "--spool"))
			spool = v;
		else if (!strcmp(o, "--rates"))
			nrates = parse_rates(v, rates);
		else if (!strcmp(o, "--ramp"))
			nramp = parse_rates(v, ramp);
		else if (!strcmp(o, "--seconds"))
			secs = atof(v);
		else if (!strcmp(o, "--size"))
			size = (size_t)strtoull(v, NULL, 10);
		else if (!strcmp(o, "--sync-ms"))
			sync_ms = strtoull(v, NULL, 10);
		else if (!strcmp(o, "--owd-ms"))
			owd_ms = atof(v);
		else if (!strcmp(o, "--label"))
			label = v;
		else
			die("unknown option (see the top of "
			    "bench/bench_tail.c)");
	}
	if (spool == NULL || size < 8 || size > 65536 || secs <= 0)
		die("--spool DIR is required; --size 8..65536, --seconds > 0");

	struct proto_identity id;
	struct wal_options wo;
	struct wal_log *log;
	if (spool_identity_read(spool, &id, errmsg) != 0)
		die(errmsg);
	wal_options_init(&wo);
	if (wal_identity_init(&wo.identity, id.cluster_id, id.database_id,
	                      errmsg) != 0)
		die(errmsg);
	wo.sync_every_append = sync_ms == 0;
	wo.sync_interval_ms = sync_ms;
	if (spool_path(path, sizeof path, spool, SPOOL_WAL_DIR) != 0 ||
	    wal_log_open(path, &wo, &log, errmsg) != 0)
		die(errmsg);
	base_index = wal_log_last_index(log) + 1;
	atomic_store(&durable, base_index - 1);
	uint64_t planned = 0;
	for (size_t i = 0; i < nrates; i++)
		planned += (uint64_t)(rates[i] * secs) + 1;
	for (size_t i = 0; i < nramp; i++)
		planned += (uint64_t)(ramp[i] * secs) + 1;
	cap_entries = planned;
	due_ns = calloc(planned, sizeof *due_ns);
	lat_ns = calloc(planned, sizeof *lat_ns);
	if (due_ns == NULL || lat_ns == NULL)
		die("out of memory");

	pthread_t th;
	if (pthread_create(&th, NULL, reader, NULL) != 0)
		die("cannot start the reader thread");
	uint64_t until = clock_mono_ms() + 60000;
	while (!atomic_load(&following)) {
		if (clock_mono_ms() > until)
			die("the mirror did not reach Following within 60 s");
		sleep_ns(10000000);
	}
	sleep_ns(500000000); /* let the bootstrap's tail settle */
	probe_disk(spool, label);

	uint64_t next = base_index;
	for (size_t i = 0; i < nrates; i++) {
		struct phase ph = run_phase(log, rates[i], secs, size, &next);
		wait_durable(&ph, 10000);
		report(label, rates[i], &ph, owd_ms);
		sleep_ns(300000000);
	}
	uint64_t best = 0;
	for (size_t i = 0; i < nramp; i++) {
		struct phase ph = run_phase(log, ramp[i], secs, size, &next);
		bool ok = wait_durable(&ph, 1000);
		wait_durable(&ph, 10000);
		report(label, ramp[i], &ph, owd_ms);
		if (!ok || !ph.kept_rate)
			break;
		best = ramp[i];
		sleep_ns(300000000);
	}
	if (nramp > 0)
		printf("%s max sustained rate %" PRIu64 " entries/s%s\n", label,
		       best,
		       best == ramp[nramp - 1] ? " (the highest tried)" : "");
	wal_log_close(log);
	return 0;
}
