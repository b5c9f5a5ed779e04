/* bench_wal_seek: what a log request at the far end of a sealed 64 MiB
 * segment costs serve's event loop: wal_reader_open + wal_reader_seek to
 * the segment's last entry + wal_reader_next, with the process's index
 * cache of sealed segments cold (every segment read and CRC-checked: what
 * every request cost before the cache) and warm (the offsets copied),
 * measured in the same run. Not a test.
 *
 * usage: bench_wal_seek [DIR] (default /tmp; a scratch directory is made
 * inside and removed). The log: two sealed 64 MiB segments of 100-byte
 * entries and a short third; the request is for the last entry of the
 * second (an open indexes the first segment, the seek the second). The
 * files are in the page cache (just written): the cold figure is the CPU
 * cost alone, a disk read would add to it. RUNS runs of each; medians,
 * the ratio cold/warm, the load average. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "wal/wal.h"

#define RUNS 9
#define SEGMENT (64u << 20)
#define PAYLOAD 100

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

/* One request: open, seek to index, read it. Returns ms or -1. */
static double request(const char *dir, const struct wal_identity *id,
                      uint64_t index)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r = NULL;
	struct wal_entry e;
	uint64_t t0 = clock_mono_ns();
	double ms;

	if (wal_reader_open(dir, id, &r, errmsg) != 0 ||
	    wal_reader_seek(r, index, errmsg) != 0 ||
	    wal_reader_next(r, &e, errmsg) != 0 || e.index != index) {
		fprintf(stderr, "bench_wal_seek: %s\n", errmsg);
		wal_reader_close(r);
		return -1;
	}
	ms = (double)(clock_mono_ns() - t0) / 1e6;
	wal_reader_close(r);
	return ms;
}

int main(int argc, char **argv)
{
	char dir[4096], errmsg[MA_ERRMSG_SIZE], cmd[4200];
	struct wal_options o;
	struct wal_log *log = NULL;
	static uint8_t pay[PAYLOAD];
	struct wal_entry batch[256];
	uint64_t idx = 1, far = 0, h, m;
	double cold[RUNS], warm[RUNS], load[3] = {0, 0, 0};
	int rc = 1;

	log_set_level(LOG_LEVEL_ERROR);
	snprintf(dir, sizeof dir, "%s/bench-wal-seek-XXXXXX",
	         argc > 1 ? argv[1] : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	wal_options_init(&o);
	wal_identity_init(&o.identity, "6f1c3a52-9d0e-4b7a-8c21-0a1b2c3d4e5f",
	                  "bench", NULL);
	o.segment_size = SEGMENT;
	o.sync_every_append = false;
	if (wal_log_open(dir, &o, &log, errmsg) != 0) {
		fprintf(stderr, "bench_wal_seek: %s\n", errmsg);
		goto out;
	}
	memset(pay, 'x', sizeof pay);
	/* Two sealed segments and a few entries of a third. */
	while (idx < 10000000) {
		for (size_t k = 0; k < 256; k++)
			batch[k] = (struct wal_entry){.index = idx + k,
			                              .term = 1,
			                              .data = pay,
			                              .len = sizeof pay};
		if (wal_log_append(log, batch, 256, clock_mono_ms(), errmsg) !=
		    0) {
			fprintf(stderr, "bench_wal_seek: %s\n", errmsg);
			goto out;
		}
		idx += 256;
		if (far == 0) {
			/* The file of the third segment names its first. */
			char probe[4300];
			uint64_t segs = 0;
			FILE *p;

			snprintf(probe, sizeof probe,
			         "ls '%s' | grep -c '\\.seg$'", dir);
			if ((idx & 0xffff) != 1)
				continue;
			p = popen(probe, "r");
			if (p != NULL && fscanf(p, "%" SCNu64, &segs) != 1)
				segs = 0;
			if (p != NULL)
				pclose(p);
			if (segs >= 3)
				break;
		}
	}
	wal_log_sync(log, errmsg);
	{
		/* The last entry of the second segment: the third's first - 1.
		 */
		char probe[4300];
		FILE *p;

		snprintf(probe, sizeof probe,
		         "ls '%s' | grep '\\.seg$' | sort | sed -n 3p | "
		         "sed 's/^wal-0*//; s/\\.seg$//'",
		         dir);
		p = popen(probe, "r");
		if (p == NULL || fscanf(p, "%" SCNu64, &far) != 1 || far < 2) {
			fprintf(stderr, "bench_wal_seek: no third segment\n");
			if (p != NULL)
				pclose(p);
			goto out;
		}
		pclose(p);
		far--;
	}
	for (int i = 0; i < RUNS; i++) {
		wal_reader_index_cache_clear();
		cold[i] = request(dir, &o.identity, far);
		warm[i] = request(dir, &o.identity, far);
		if (cold[i] < 0 || warm[i] < 0)
			goto out;
	}
	wal_reader_index_cache_stats(&h, &m);
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = -1;
	printf("log request at index %" PRIu64
	       " (last entry of the 2nd sealed 64 MiB segment, %d-byte "
	       "entries), %d runs\n",
	       far, PAYLOAD, RUNS);
	printf("cold (no index cached: both segments read and checked): "
	       "median %.2f ms\n",
	       median(cold, RUNS));
	printf("warm (index cache):                                     "
	       "median %.3f ms\n",
	       median(warm, RUNS));
	printf("ratio cold/warm %.0f; last run: %" PRIu64 " hits, %" PRIu64
	       " misses; load average %.2f %.2f %.2f\n",
	       median(cold, RUNS) / median(warm, RUNS), h, m, load[0], load[1],
	       load[2]);
	rc = 0;
out:
	wal_log_close(log);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_wal_seek: cannot remove %s\n", dir);
	return rc;
}
