/* bench_wal: WAL append throughput with group commit every 1 ms, against
 * plain write()+fdatasync() of the same bytes in the same batches,
 * measured in the same run. Not a test.
 *
 * usage: bench_wal [DIR] (default /tmp; a scratch directory is made inside
 * and removed).
 *
 * WAL phase: one wal_log_append() per entry for PHASE_SECONDS, with
 * sync_interval_ms = 1 and now_ms from the real monotonic clock, so each
 * fdatasync covers whatever was appended in the last millisecond. The
 * batches it produced (entries per sync) are recorded.
 * Baseline phase: replays exactly those batches into a plain file: one
 * write() per entry of the same on-disk record size, fdatasync() at the
 * same batch boundaries.
 * Each configuration runs RUNS times; medians are printed with the ratio
 * WAL / baseline (target >= 0.80). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "wal/wal.h"
#include "wal/wal_format.h"

#define RUNS 5
#define PHASE_SECONDS 0.25
#define MAX_BATCHES 200000

static uint32_t batches[MAX_BATCHES];

struct result {
	double wal_eps, base_eps;
	double wal_mbs, base_mbs;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

static void rm_rf(const char *dir)
{
	char cmd[4400];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_wal: could not remove %s\n", dir);
}

static int run_once(const char *base, size_t payload, struct result *res)
{
	char dir[4200], errmsg[MA_ERRMSG_SIZE], path[4200];
	struct wal_options o;
	struct wal_log *log = NULL;
	uint8_t *data = malloc(payload), *rec;
	uint64_t idx = 1, durable = 0, rsize = wal_rec_size(payload);
	size_t nb = 0;
	uint32_t in_batch = 0;
	double t0, t, wal_elapsed, base_elapsed;
	int fd, rc;

	snprintf(dir, sizeof dir, "%s/wal", base);
	memset(data, 'x', payload);
	wal_options_init(&o);
	wal_identity_init(&o.identity, "6f1c3a52-9d0e-4b7a-8c21-0a1b2c3d4e5f",
	                  "bench", NULL);
	o.sync_every_append = false;
	o.sync_interval_ms = 1;
	rc = wal_log_open(dir, &o, &log, errmsg);
	if (rc != 0) {
		fprintf(stderr, "bench_wal: %s\n", errmsg);
		free(data);
		return 1;
	}
	t0 = clock_mono_s();
	do {
		struct wal_entry e = {.index = idx,
		                      .term = 1,
		                      .type = WAL_ENTRY_COMMAND,
		                      .data = data,
		                      .len = payload};

		rc = wal_log_append(log, &e, 1, clock_mono_ms(), errmsg);
		if (rc != 0)
			break;
		idx++;
		in_batch++;
		if (wal_log_durable_index(log) != durable) {
			durable = wal_log_durable_index(log);
			if (nb < MAX_BATCHES)
				batches[nb++] = in_batch;
			in_batch = 0;
		}
		t = clock_mono_s();
	} while (t - t0 < PHASE_SECONDS && nb < MAX_BATCHES);
	if (rc == 0 && in_batch > 0) {
		rc = wal_log_sync(log, errmsg);
		if (nb < MAX_BATCHES)
			batches[nb++] = in_batch;
	}
	wal_elapsed = clock_mono_s() - t0;
	wal_log_close(log);
	if (rc != 0) {
		fprintf(stderr, "bench_wal: %s\n", errmsg);
		free(data);
		return 1;
	}

	/* Baseline: the same record bytes, the same batches. */
	rec = calloc(1, rsize);
	memcpy(rec + WAL_REC_HEADER_SIZE, data, payload);
	snprintf(path, sizeof path, "%s/plain", base);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		free(rec);
		free(data);
		return 1;
	}
	t0 = clock_mono_s();
	for (size_t b = 0; b < nb && rc == 0; b++) {
		for (uint32_t i = 0; i < batches[b] && rc == 0; i++)
			rc = io_write_all(fd, rec, rsize, NULL);
		if (rc == 0)
			rc = io_fdatasync(fd, NULL);
	}
	base_elapsed = clock_mono_s() - t0;
	close(fd);
	free(rec);
	free(data);
	if (rc != 0) {
		fprintf(stderr, "bench_wal: baseline: %s\n", ma_strerror(rc));
		return 1;
	}
	res->wal_eps = (double)(idx - 1) / wal_elapsed;
	res->base_eps = (double)(idx - 1) / base_elapsed;
	res->wal_mbs = res->wal_eps * (double)payload / 1e6;
	res->base_mbs = res->base_eps * (double)payload / 1e6;
	printf("  run: %" PRIu64 " entries in %zu batches (%.0f per batch); "
	       "wal %.0f/s, baseline %.0f/s, ratio %.2f\n",
	       idx - 1, nb, (double)(idx - 1) / (double)nb, res->wal_eps,
	       res->base_eps, res->wal_eps / res->base_eps);
	rm_rf(dir);
	unlink(path);
	return 0;
}

int main(int argc, char **argv)
{
	const char *parent = argc > 1 ? argv[1] : "/tmp";
	static const size_t sizes[] = {128, 4096};
	char base[4096];

	log_set_level(LOG_LEVEL_WARN);
	snprintf(base, sizeof base, "%s/ma-bench-wal-XXXXXX", parent);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr,
		        "bench_wal: cannot create a directory in %s: "
		        "%s\n",
		        parent, strerror(errno));
		return 1;
	}
	printf("bench_wal: dir %s, group commit every 1 ms, %d runs x %.2f s "
	       "per phase\n",
	       base, RUNS, PHASE_SECONDS);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		double we[RUNS], be[RUNS], wm[RUNS], bm[RUNS], ra[RUNS];
		struct result r;

		printf("payload %zu B (one warm-up run, not counted):\n",
		       sizes[s]);
		if (run_once(base, sizes[s], &r) != 0) {
			rm_rf(base);
			return 1;
		}
		for (int i = 0; i < RUNS; i++) {
			if (run_once(base, sizes[s], &r) != 0) {
				rm_rf(base);
				return 1;
			}
			we[i] = r.wal_eps;
			be[i] = r.base_eps;
			wm[i] = r.wal_mbs;
			bm[i] = r.base_mbs;
			ra[i] = r.wal_eps / r.base_eps;
		}
		printf("payload %5zu B  median: wal %10.0f entries/s %8.2f MB/s"
		       " | write+fdatasync %10.0f entries/s %8.2f MB/s | "
		       "ratio %.2f (median of per-run ratios %.2f)\n",
		       sizes[s], median(we, RUNS), median(wm, RUNS),
		       median(be, RUNS), median(bm, RUNS),
		       median(we, RUNS) / median(be, RUNS), median(ra, RUNS));
	}
	rm_rf(base);
	return 0;
}
