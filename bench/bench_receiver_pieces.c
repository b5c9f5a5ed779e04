/* bench_receiver_pieces: what a frame split across transport pieces
 * should cost. HTTP/3 hands a response body over in ~1,400-byte pieces
 * that are valid only during the callback, so a chunk of the snapshot
 * either is copied piece by piece into a frame-sized buffer and written
 * with one pwrite() (what the framer and the receiver do: one copy in
 * user space, one syscall per chunk), or each piece goes to the file at
 * once (its CRC32C appended, one pwrite() per piece: no user-space copy,
 * one syscall per piece). Both against a plain write of the chunks
 * straight from memory (no copy, no CRC), with the same fsync policy
 * (fdatasync every 8 MiB), alternating the order, several runs; prints
 * every run, the medians of time and CPU and the ratios of the medians,
 * with the load average. Not a test.
 *
 * usage: bench_receiver_pieces [-s MIB] [-r RUNS] [-c KIB] [-p BYTES]
 *                              [-f MIB] [DIR]
 *   -s bytes in MiB (default 256)   -r runs (default 5)
 *   -c chunk KiB (default 256)      -p piece bytes (default 1400)
 *   -f fsync interval MiB (default 8)   DIR default /tmp/ma-bench */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/io.h"

#define MAX_RUNS 50

enum { PLAIN, COPY, DIRECT, NVAR };
static const char *const names[NVAR] = {"plain", "copy", "direct"};

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *in, int n)
{
	double v[MAX_RUNS];

	memcpy(v, in, (size_t)n * sizeof *v);
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_receiver_pieces: %s: %s\n", what, msg);
	exit(1);
}

/* Keeps the CRCs observable so the compiler cannot drop them. */
static volatile uint32_t sink;

static void sync_every(int fd, uint64_t done, uint64_t *synced,
                       uint64_t interval, const char *path)
{
	if (done - *synced >= interval) {
		if (io_fdatasync(fd, NULL) != 0)
			die(path, "fdatasync failed");
		*synced = done;
	}
}

static double run(int var, const char *dir, const uint8_t *data, size_t size,
                  size_t chunk, size_t piece, uint64_t interval, uint8_t *frame,
                  double *cpu)
{
	char path[4096];
	uint64_t synced = 0;
	uint32_t crc = 0;
	double t0, c0;
	int fd;

	snprintf(path, sizeof path, "%s/pieces-%s.bin", dir, names[var]);
	c0 = cpu_s();
	t0 = clock_mono_s();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path, strerror(errno));
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (var == PLAIN) {
			if (io_pwrite_all(fd, data + off, n, (off_t)off,
			                  NULL) != 0)
				die(path, "write failed");
		} else if (var == COPY) {
			/* Assemble the frame from the pieces, then one CRC
			 * pass and one write of the whole chunk. */
			for (size_t p = 0; p < n; p += piece) {
				size_t k = n - p < piece ? n - p : piece;
				memcpy(frame + p, data + off + p, k);
			}
			crc = crc32c_append(crc, frame, n);
			if (io_pwrite_all(fd, frame, n, (off_t)off, NULL) != 0)
				die(path, "write failed");
		} else {
			/* Each piece straight to the file, CRC as it goes. */
			for (size_t p = 0; p < n; p += piece) {
				size_t k = n - p < piece ? n - p : piece;
				crc = crc32c_append(crc, data + off + p, k);
				if (io_pwrite_all(fd, data + off + p, k,
				                  (off_t)(off + p), NULL) != 0)
					die(path, "write failed");
			}
		}
		sync_every(fd, off + n, &synced, interval, path);
	}
	if (io_fsync(fd, NULL) != 0 || close(fd) != 0)
		die(path, "final fsync failed");
	t0 = clock_mono_s() - t0;
	*cpu = cpu_s() - c0;
	sink = crc;
	unlink(path);
	return t0;
}

int main(int argc, char **argv)
{
	size_t size_mib = 256, chunk_kib = 256, piece = 1400;
	uint64_t fsync_mib = 8, x = 88172645463325252ULL;
	const char *dir = "/tmp/ma-bench";
	double t[NVAR][MAX_RUNS], c[NVAR][MAX_RUNS], mt[NVAR], mc[NVAR];
	double la[3] = {-1, -1, -1}, paired[MAX_RUNS];
	int runs = 5, opt;
	uint8_t *data, *frame;
	size_t size;

	while ((opt = getopt(argc, argv, "s:r:c:p:f:h")) != -1) {
		switch (opt) {
		case 's':
			size_mib = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'c':
			chunk_kib = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			piece = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			fsync_mib = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			        "usage: %s [-s MIB] [-r RUNS] [-c KIB] "
			        "[-p BYTES] [-f MIB] [DIR]\n",
			        argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		dir = argv[optind];
	if (runs < 1 || runs > MAX_RUNS || size_mib == 0 || chunk_kib == 0 ||
	    piece == 0 || fsync_mib == 0) {
		fprintf(stderr, "bench_receiver_pieces: bad arguments\n");
		return 2;
	}
	if (io_mkdir_p(dir, 0755, NULL) != 0)
		die(dir, "cannot create");
	size = size_mib << 20;
	data = malloc(size);
	frame = malloc(chunk_kib << 10);
	if (data == NULL || frame == NULL)
		die("malloc", "out of memory");
	for (size_t i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(data + i * 8, &x, 8);
	}
	if (getloadavg(la, 3) != 3)
		la[0] = la[1] = la[2] = -1;
	printf("%zu MiB, chunks %zu KiB, pieces %zu bytes, fsync every "
	       "%" PRIu64 " MiB, %d runs, dir %s, load average %.2f %.2f "
	       "%.2f\n",
	       size_mib, chunk_kib, piece, fsync_mib, runs, dir, la[0], la[1],
	       la[2]);
	for (int i = 0; i < runs; i++) {
		/* Rotate the order: no variant always runs first. */
		for (int k = 0; k < NVAR; k++) {
			int v = (i + k) % NVAR;

			t[v][i] = run(v, dir, data, size, chunk_kib << 10,
			              piece, fsync_mib << 20, frame, &c[v][i]);
		}
		paired[i] = t[DIRECT][i] / t[COPY][i];
		fprintf(stderr,
		        "  run %d: plain %.0f MB/s %.3f s CPU, copy %.0f MB/s "
		        "%.3f s CPU, direct %.0f MB/s %.3f s CPU\n",
		        i + 1, (double)size / 1e6 / t[PLAIN][i], c[PLAIN][i],
		        (double)size / 1e6 / t[COPY][i], c[COPY][i],
		        (double)size / 1e6 / t[DIRECT][i], c[DIRECT][i]);
	}
	for (int v = 0; v < NVAR; v++) {
		mt[v] = median(t[v], runs);
		mc[v] = median(c[v], runs);
		printf("%-7s %8.0f MB/s  %6.3f s CPU per run (medians)\n",
		       names[v], (double)size / 1e6 / mt[v], mc[v]);
	}
	printf("copy/direct: %.2fx the speed, %.2fx the CPU (medians); "
	       "median paired speed ratio %.2f\n",
	       mt[DIRECT] / mt[COPY], mc[COPY] / mc[DIRECT],
	       median(paired, runs));
	printf("copy/plain: %.3f of the speed, %.2fx the CPU (medians)\n",
	       mt[PLAIN] / mt[COPY], mc[COPY] / mc[PLAIN]);
	free(frame);
	free(data);
	return 0;
}
