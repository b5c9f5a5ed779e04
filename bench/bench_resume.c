/* bench_resume: the longest event-loop turn on each side during the resume
 * of a large snapshot interrupted at 90 % (issue 8 item 4).
 *
 * A snapshot (default 4 GiB) is received into a .partial up to 90 % and
 * the receiver closed, as a killed mirror leaves it. Then, in the same run:
 *   before: what main did on the loop in one go -- the receiver's
 *     try_resume re-read of the durable prefix (1 MiB preads + CRC32C) and
 *     the sender's open at the resume offset (chunk-sized preads + CRC32C
 *     of the prefix), both reimplemented here as main has them, timed;
 *   after: the receiver's begin(), then the turns a loop runs while the
 *     last 10 % arrive -- feed one 256 KiB chunk; one verify slice of
 *     FOLLOW_CORE_VERIFY_STEP (1 MiB) -- until the commit, and the
 *     sender's open, then serve's pump turns (snapshot_sender_next until
 *     8 MiB of data and prefix were read, serve's PUMP_BUDGET); the
 *     longest single turn of each side is reported.
 * Every turn is timed with the monotonic clock. No network: the turns are
 * the cores' calls that the glue runs one per loop callback. Medians of
 * RUNS runs, ratios before/after, the load average. Not a test.
 *
 * usage: bench_resume [-s MIB] [-r RUNS] [DIR]
 *   -s snapshot size in MiB (default 4096)   -r runs (default 3)
 *   DIR default /dev/shm/ma-bench-resume (needs 2 x size free) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "snapshot/snapshot.h"

#define MIB (1024u * 1024u)
#define MAX_RUNS 15
#define CHUNK (256u * 1024u)   /* SNAPSHOT_CHUNK_DEFAULT */
#define VERIFY_STEP (1u * MIB) /* FOLLOW_CORE_VERIFY_STEP */
#define PUMP_BUDGET (8u * MIB) /* serve.c's budget per pump turn */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double ms_since(uint64_t t0)
{
	return (double)(clock_mono_ns() - t0) / 1e6;
}

static void die(const char *what, const char *errmsg)
{
	fprintf(stderr, "bench_resume: %s: %s\n", what, errmsg);
	exit(1);
}

/* Writes size bytes of xorshift data to path; returns their CRC32C. */
static uint32_t make_file(const char *path, uint64_t size, uint8_t *buf)
{
	uint64_t x = 88172645463325252ull, done = 0;
	uint32_t crc = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die(path, strerror(errno));
	while (done < size) {
		size_t n =
		    size - done < 8 * MIB ? (size_t)(size - done) : 8 * MIB;
		for (size_t i = 0; i + 8 <= n; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(buf + i, &x, 8);
		}
		if (io_write_all(fd, buf, n, NULL) != 0)
			die(path, "write failed");
		crc = crc32c_append(crc, buf, n);
		done += n;
	}
	close(fd);
	return crc;
}

/* main's try_resume: the whole durable prefix in 1 MiB preads. */
static double before_receiver(const char *partial, uint64_t durable,
                              uint8_t *buf)
{
	uint64_t t0 = clock_mono_ns(), off = 0;
	uint32_t crc = 0;
	int fd = open(partial, O_RDONLY);

	if (fd < 0)
		die(partial, strerror(errno));
	while (off < durable) {
		size_t n = durable - off < MIB ? (size_t)(durable - off) : MIB;
		if (io_pread_full(fd, buf, n, (off_t)off, NULL) != (ssize_t)n)
			die(partial, "short read");
		crc = crc32c_append(crc, buf, n);
		off += n;
	}
	close(fd);
	if (crc == 0x12345678u)
		fputs("", stderr); /* keep the CRC live */
	return ms_since(t0);
}

/* main's snapshot_sender_open at an offset: the prefix in chunk reads. */
static double before_sender(const char *path, uint64_t offset, uint8_t *buf)
{
	uint64_t t0 = clock_mono_ns(), off = 0;
	uint32_t crc = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die(path, strerror(errno));
	while (off < offset) {
		size_t n =
		    offset - off < CHUNK ? (size_t)(offset - off) : CHUNK;
		if (io_pread_full(fd, buf, n, (off_t)off, NULL) != (ssize_t)n)
			die(path, "short read");
		crc = crc32c_append(crc, buf, n);
		off += n;
	}
	close(fd);
	if (crc == 0x12345678u)
		fputs("", stderr);
	return ms_since(t0);
}

static struct snapshot_receiver *receiver(const char *mirror,
                                          struct snapshot_store *store)
{
	struct snapshot_receiver_config cfg;
	struct snapshot_receiver *r;
	char errmsg[MA_ERRMSG_SIZE];

	memset(&cfg, 0, sizeof cfg);
	cfg.data_dir = mirror;
	cfg.store = store;
	if (snapshot_receiver_open(&cfg, "big", &r, errmsg) != 0)
		die("receiver", errmsg);
	return r;
}

static void feed_chunk(struct snapshot_receiver *r,
                       const struct snapshot_ident *id, int src, uint64_t off,
                       uint8_t *buf, int *rc)
{
	struct snapshot_chunk c;
	char errmsg[MA_ERRMSG_SIZE];
	size_t n = id->size - off < CHUNK ? (size_t)(id->size - off) : CHUNK;

	memset(&c, 0, sizeof c);
	c.id = *id;
	c.offset = off;
	if (n > 0 && io_pread_full(src, buf, n, (off_t)off, NULL) != (ssize_t)n)
		die("source", "short read");
	c.data = n > 0 ? buf : NULL;
	c.data_len = n;
	c.crc32c = crc32c(buf, n);
	c.done = n == 0;
	*rc = snapshot_receiver_feed(r, &c, 0, errmsg);
	if (*rc < 0)
		die("feed", errmsg);
}

int main(int argc, char **argv)
{
	uint64_t size_mib = 4096, size, resume_at, durable = 0;
	int runs = 3, opt;
	const char *dir = "/dev/shm/ma-bench-resume";
	char src_dir[512], mirror[512], partial[600], gen[600], path[600],
	    cmd[700], errmsg[MA_ERRMSG_SIZE];
	double b_recv[MAX_RUNS], a_recv[MAX_RUNS], b_send[MAX_RUNS],
	    a_send[MAX_RUNS], total_recv[MAX_RUNS], a_slice[MAX_RUNS],
	    a_call[MAX_RUNS];
	struct snapshot_store *src_store;
	struct snapshot_meta meta;
	uint8_t *buf;
	double la[3] = {0, 0, 0};

	while ((opt = getopt(argc, argv, "s:r:")) != -1) {
		if (opt == 's')
			size_mib = strtoull(optarg, NULL, 10);
		else if (opt == 'r')
			runs = atoi(optarg);
		else {
			fprintf(
			    stderr,
			    "usage: bench_resume [-s MIB] [-r RUNS] [DIR]\n");
			return 2;
		}
	}
	if (optind < argc)
		dir = argv[optind];
	if (runs < 1 || runs > MAX_RUNS || size_mib < 16)
		die("arguments", "runs 1..15, size >= 16 MiB");
	log_set_level(LOG_LEVEL_WARN);
	size = size_mib * MIB;
	resume_at = size / 10 * 9;
	buf = malloc(8 * MIB);
	if (buf == NULL)
		die("malloc", "out of memory");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0 || mkdir(dir, 0755) != 0)
		die(dir, "cannot create");
	snprintf(src_dir, sizeof src_dir, "%s/src", dir);
	snprintf(mirror, sizeof mirror, "%s/mirror", dir);
	snprintf(partial, sizeof partial, "%s/recv/big.partial", mirror);
	if (snapshot_store_open(src_dir, &src_store, errmsg) != 0)
		die("source store", errmsg);
	snprintf(gen, sizeof gen, "%s/gen.tmp", src_dir);
	memset(&meta, 0, sizeof meta);
	snprintf(meta.id.cluster_id, sizeof meta.id.cluster_id, "bench");
	snprintf(meta.id.database_id, sizeof meta.id.database_id, "big");
	meta.id.index = 1000;
	meta.id.term = 1;
	meta.id.size = size;
	meta.id.crc32c = make_file(gen, size, buf);
	if (snapshot_store_commit(src_store, src_dir, "gen.tmp", &meta,
	                          errmsg) != 0)
		die("source commit", errmsg);
	if (snapshot_store_path(src_store, 1000, 1, path, sizeof path) != 0)
		die("path", "too long");
	printf("bench_resume: %" PRIu64 " MiB snapshot in %s, resumed at "
	       "90 %% (%" PRIu64 " bytes), %d runs\n",
	       size_mib, dir, resume_at, runs);

	for (int run = 0; run < runs; run++) {
		struct snapshot_store *store;
		struct snapshot_receiver *r;
		struct snapshot_sender *s;
		struct snapshot_chunk c;
		char mstore[600];
		uint64_t off, t0, tstart;
		double worst = 0, t, tc;
		int src, rc = 0;

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", mirror);
		if (system(cmd) != 0)
			die(mirror, "cannot remove");
		snprintf(mstore, sizeof mstore, "%s/snapshots", mirror);
		if (snapshot_store_open(mstore, &store, errmsg) != 0)
			die("mirror store", errmsg);
		src = open(path, O_RDONLY);
		if (src < 0)
			die(path, strerror(errno));

		/* A mirror killed at 90 %. */
		r = receiver(mirror, store);
		if (snapshot_receiver_begin(r, &meta.id, &off, errmsg) != 0)
			die("begin", errmsg);
		for (off = 0; off < resume_at; off += CHUNK)
			feed_chunk(r, &meta.id, src, off, buf, &rc);
		snapshot_receiver_close(r);

		/* Receiver, before: main's synchronous re-read. Its durable
		 * offset is the one begin() finds next. */
		r = receiver(mirror, store);
		t0 = clock_mono_ns();
		if (snapshot_receiver_begin(r, &meta.id, &durable, errmsg) != 0)
			die("begin", errmsg);
		worst = ms_since(t0);
		b_recv[run] = before_receiver(partial, durable, buf);

		/* Receiver, after: the loop's turns until the commit. */
		a_slice[run] = 0;
		a_call[run] = 0;
		tstart = clock_mono_ns();
		{
			bool fed_done = false, committed = false;

			off = durable;
			while (!committed) {
				if (!fed_done) {
					t0 = clock_mono_ns();
					feed_chunk(r, &meta.id, src, off, buf,
					           &rc);
					t = ms_since(t0);
					worst = t > worst ? t : worst;
					fed_done = off == size;
					off += size - off < CHUNK ? size - off
					                          : CHUNK;
					committed = rc == 1;
				}
				if (!committed &&
				    snapshot_receiver_verifying(r)) {
					t0 = clock_mono_ns();
					int v = snapshot_receiver_verify(
					    r, VERIFY_STEP, 0, errmsg);
					t = ms_since(t0);
					worst = t > worst ? t : worst;
					if (t > a_slice[run])
						a_slice[run] = t;
					if (v < 0)
						die("verify", errmsg);
					committed = v == 1;
				} else if (!committed && fed_done) {
					die("receiver",
					    "done but not committed");
				}
			}
		}
		total_recv[run] = ms_since(tstart);
		a_recv[run] = worst;
		snapshot_receiver_close(r);
		close(src);
		snapshot_store_close(store);

		/* Sender, before and after. */
		b_send[run] = before_sender(path, durable, buf);
		t0 = clock_mono_ns();
		if (snapshot_sender_open(path, &meta.id, durable, CHUNK, &s,
		                         errmsg) != 0)
			die("sender", errmsg);
		worst = ms_since(t0);
		for (rc = 1; rc >= 1;) {
			uint64_t produced = 0;

			t0 = clock_mono_ns();
			while (produced < PUMP_BUDGET) {
				uint64_t v0 = snapshot_sender_verified(s);
				uint64_t t1 = clock_mono_ns();
				rc = snapshot_sender_next(s, &c, errmsg);
				tc = ms_since(t1);
				if (tc > a_call[run])
					a_call[run] = tc;
				produced += snapshot_sender_verified(s) - v0;
				if (rc == 1)
					produced += c.data_len;
				if (rc < 0)
					die("sender", errmsg);
				if (rc == 0 || (rc == 1 && c.done))
					break;
			}
			t = ms_since(t0);
			worst = t > worst ? t : worst;
			if (rc == 1 && c.done)
				break;
		}
		a_send[run] = worst;
		snapshot_sender_close(s);
		printf("run %d: receiver longest turn: before %.1f ms, after "
		       "%.2f ms (longest verify slice %.2f ms; resume to "
		       "commit %.0f ms); sender: before %.1f ms, after %.2f "
		       "ms (longest single call %.2f ms)\n",
		       run + 1, b_recv[run], a_recv[run], a_slice[run],
		       total_recv[run], b_send[run], a_send[run], a_call[run]);
		fflush(stdout);
	}
	{
		double br = median(b_recv, runs), ar = median(a_recv, runs);
		double bs = median(b_send, runs), as = median(a_send, runs);

		printf("median longest loop turn, receiver: before %.1f ms, "
		       "after %.2f ms, ratio %.0fx\n",
		       br, ar, br / ar);
		printf("median longest loop turn, sender:   before %.1f ms, "
		       "after %.2f ms, ratio %.0fx\n",
		       bs, as, bs / as);
		printf("median longest verify slice (receiver): %.2f ms; "
		       "longest sender call: %.2f ms\n",
		       median(a_slice, runs), median(a_call, runs));
		printf("median resume to commit (receiver, in-process): %.0f "
		       "ms\n",
		       median(total_recv, runs));
	}
	if (getloadavg(la, 3) == 3)
		printf("load average: %.2f %.2f %.2f\n", la[0], la[1], la[2]);
	snapshot_store_close(src_store);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_resume: cannot remove %s\n", dir);
	free(buf);
	return 0;
}
