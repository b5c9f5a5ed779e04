/* bench_receiver: the snapshot receiver against a plain file write.
 *
 * Receives a snapshot (default 1 GiB) from pre-encoded, framed envelopes
 * held in memory, fed through the framer as transport-sized pieces
 * (frame reassembly + decode + CRC32C + write + fsync every 8 MiB with
 * its mark + final commit), and writes the same bytes with plain pwrite()
 * and the same fsync policy. Both run in the same process, alternating,
 * several times; prints medians, the ratio of the medians (receiver/plain)
 * and the median of the per-run ratios for each chunk and piece size.
 * Not a test.
 *
 * usage: bench_receiver [-s MIB] [-r RUNS] [-c KIB[,KIB...]]
 *                       [-p BYTES[,BYTES...]] [-f MIB] [DIR]
 *   -s snapshot size in MiB (default 1024)    -r runs (default 5)
 *   -c chunk sizes in KiB (default 64,256,1024)
 *   -p transport piece sizes in bytes, 0 = each frame whole (default
 *      65536; HTTP/3 hands a body over in ~1,400-byte pieces: -p 1400)
 *   -f fsync interval in MiB (default 8)      DIR default /tmp/ma-bench
 *   -R receiver runs only, no plain write (for perf record / strace)
 *   -m fdatasync the marks file at every Nth mark (default: the
 *      receiver's, SNAPSHOT_MARKS_SYNC_EVERY_DEFAULT) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"

#define MIB (1024.0 * 1024.0)
#define MAX_RUNS 50
#define MAX_CHUNKS 8
#define MAX_PIECES 4

/* CPU seconds (user + system) this process has used. */
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

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_receiver: %s: %s\n", what, msg);
	exit(1);
}

/* Baseline: the same bytes, same chunking, same fsync policy. */
static double run_plain(const char *dir, const uint8_t *data, size_t size,
                        size_t chunk, uint64_t interval)
{
	char path[4096];
	uint64_t synced = 0;
	double t0;
	int fd;

	snprintf(path, sizeof path, "%s/plain.bin", dir);
	t0 = clock_mono_s();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path, strerror(errno));
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (io_pwrite_all(fd, data + off, n, (off_t)off, NULL) != 0)
			die(path, "write failed");
		if (off + n - synced >= interval) {
			if (io_fdatasync(fd, NULL) != 0)
				die(path, "fsync failed");
			synced = off + n;
		}
	}
	if (io_fsync(fd, NULL) != 0 || close(fd) != 0 ||
	    io_fsync_dir(dir, NULL) != 0)
		die(path, "final fsync failed");
	t0 = clock_mono_s() - t0;
	unlink(path);
	return t0;
}

static unsigned marks_every; /* -m; 0: the receiver's default */

static double run_receiver(const char *dir, const struct snapshot_ident *id,
                           const struct proto_buf *stream, size_t piece,
                           uint64_t interval)
{
	char errmsg[MA_ERRMSG_SIZE], sdir[4096], path[4096];
	struct snapshot_receiver_config cfg;
	struct snapshot_store *store;
	struct snapshot_receiver *r;
	uint64_t off;
	double t0;
	int rc = 0;

	snprintf(sdir, sizeof sdir, "%s/snapshots", dir);
	if (snapshot_store_open(sdir, &store, errmsg) != 0)
		die("store", errmsg);
	memset(&cfg, 0, sizeof cfg);
	cfg.data_dir = dir;
	cfg.store = store;
	cfg.fsync_interval = interval;
	cfg.marks_sync_every = marks_every;
	t0 = clock_mono_s();
	if (snapshot_receiver_open(&cfg, id->database_id, &r, errmsg) != 0 ||
	    snapshot_receiver_begin(r, id, &off, errmsg) != 0)
		die("receiver", errmsg);
	for (size_t pos = 0, n; pos < stream->len && rc == 0; pos += n) {
		if (piece == 0) /* one whole frame: header and body */
			n = PROTO_FRAME_HEADER_SIZE +
			    ((size_t)stream->data[pos] << 24 |
			     (size_t)stream->data[pos + 1] << 16 |
			     (size_t)stream->data[pos + 2] << 8 |
			     stream->data[pos + 3]);
		else
			n = piece;
		if (n > stream->len - pos)
			n = stream->len - pos;
		rc = snapshot_receiver_feed_bytes(r, stream->data + pos, n, 0,
		                                  errmsg);
	}
	if (rc != 1)
		die("receive", rc < 0 ? errmsg : "did not complete");
	t0 = clock_mono_s() - t0;
	snapshot_receiver_close(r);
	snapshot_store_path(store, id->index, id->term, path, sizeof path);
	unlink(path);
	/* path ends in ".snapshot": swap the suffix for ".meta". */
	strcpy(path + strlen(path) - strlen("snapshot"), "meta");
	unlink(path);
	snapshot_store_close(store);
	return t0;
}

static void encode_stream(const struct snapshot_ident *id, const uint8_t *data,
                          size_t size, size_t chunk, struct proto_buf *sb)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct snapshot_chunk env;

	memset(&env, 0, sizeof env);
	env.id = *id;
	for (size_t off = 0;; off += env.data_len) {
		env.offset = off;
		env.data_len = size - off < chunk ? size - off : chunk;
		env.data = env.data_len > 0 ? data + off : NULL;
		env.crc32c = crc32c(env.data, env.data_len);
		env.done = env.data_len == 0;
		if (proto_envelope_encode(sb, &env, errmsg) != 0)
			die("encode", errmsg);
		if (env.done)
			break;
	}
}

int main(int argc, char **argv)
{
	size_t size_mib = 1024, chunks[MAX_CHUNKS], pieces[MAX_PIECES];
	int runs = 5, nchunks = 0, npieces = 0, opt;
	bool bad = false, only_receiver = false;
	uint64_t fsync_mib = 8;
	const char *dir = "/tmp/ma-bench";
	struct snapshot_ident id;
	uint8_t *data;
	uint64_t x = 88172645463325252ULL;

	while ((opt = getopt(argc, argv, "s:r:c:p:f:m:Rh")) != -1) {
		switch (opt) {
		case 's':
			size_mib = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'c':
			for (char *t = strtok(optarg, ",");
			     t != NULL && nchunks < MAX_CHUNKS;
			     t = strtok(NULL, ","))
				chunks[nchunks++] = strtoul(t, NULL, 10) * 1024;
			break;
		case 'p':
			for (char *t = strtok(optarg, ",");
			     t != NULL && npieces < MAX_PIECES;
			     t = strtok(NULL, ",")) {
				char *end;
				pieces[npieces++] = strtoul(t, &end, 10);
				if (*end != '\0' || (pieces[npieces - 1] > 0 &&
				                     pieces[npieces - 1] < 64))
					bad = true;
			}
			break;
		case 'f':
			fsync_mib = strtoul(optarg, NULL, 10);
			break;
		case 'R':
			only_receiver = true;
			break;
		case 'm':
			marks_every = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			        "usage: %s [-s MIB] [-r RUNS] [-c KIB,...] "
			        "[-p BYTES,...] [-f MIB] [-m N] [-R] [DIR]\n",
			        argv[0]);
			return 2;
		}
	}
	if (optind < argc)
		dir = argv[optind];
	if (nchunks == 0) {
		chunks[0] = 64 * 1024;
		chunks[1] = 256 * 1024;
		chunks[2] = 1024 * 1024;
		nchunks = 3;
	}
	if (npieces == 0)
		pieces[npieces++] = 65536;
	if (runs < 1 || runs > MAX_RUNS || size_mib == 0 || bad ||
	    fsync_mib == 0) {
		fprintf(stderr, "bench_receiver: bad arguments (pieces are "
		                "0 for whole frames or at least 64 bytes)\n");
		return 2;
	}
	log_set_level(LOG_LEVEL_WARN);
	if (io_mkdir_p(dir, 0755, NULL) != 0)
		die(dir, "cannot create");

	size_t size = size_mib * 1024 * 1024;
	data = malloc(size);
	if (data == NULL)
		die("malloc", "out of memory");
	for (size_t i = 0; i < size / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(data + i * 8, &x, 8);
	}
	memset(&id, 0, sizeof id);
	strcpy(id.cluster_id, "bench-cluster");
	strcpy(id.database_id, "bench");
	id.index = 1;
	id.term = 1;
	id.size = size;
	id.crc32c = crc32c(data, size);

	{
		double la[3] = {0, 0, 0};

		if (getloadavg(la, 3) != 3)
			la[0] = la[1] = la[2] = -1;
		printf("snapshot %zu MiB, %d runs, fsync every %" PRIu64
		       " MiB, marks fdatasynced every %u, dir %s, load "
		       "average %.2f %.2f %.2f\n",
		       size_mib, runs, fsync_mib,
		       marks_every ? marks_every
		                   : SNAPSHOT_MARKS_SYNC_EVERY_DEFAULT,
		       dir, la[0], la[1], la[2]);
	}
	printf("%10s %8s %14s %14s %8s %12s\n", "chunk", "pieces",
	       "receiver MB/s", "plain MB/s", "ratio", "paired ratio");
	for (int c = 0; c < nchunks * npieces; c++) {
		size_t chunk = chunks[c / npieces], piece = pieces[c % npieces];
		char pname[24];
		double tr[MAX_RUNS], tp[MAX_RUNS], pr[MAX_RUNS], mr, mp;
		double cpu_r = 0, cpu_p = 0, c0;
		struct proto_buf sb;

		if (chunk < SNAPSHOT_CHUNK_MIN ||
		    chunk > SNAPSHOT_DATA_MAX_DEFAULT)
			die("chunk", "outside the receiver's data limit");
		if (piece == 0)
			snprintf(pname, sizeof pname, "frames");
		else
			snprintf(pname, sizeof pname, "%zu", piece);
		proto_buf_init(&sb);
		encode_stream(&id, data, size, chunk, &sb);
		for (int i = 0; i < runs; i++) {
			/* Alternate the order so neither side always runs
			 * on a cache the other one warmed or filled. */
			for (int k = 0; k < 2; k++) {
				c0 = cpu_s();
				if ((i + k) % 2 == 0 && only_receiver) {
					tp[i] = 1; /* not measured */
				} else if ((i + k) % 2 == 0) {
					tp[i] =
					    run_plain(dir, data, size, chunk,
					              fsync_mib << 20);
					cpu_p += cpu_s() - c0;
				} else {
					tr[i] =
					    run_receiver(dir, &id, &sb, piece,
					                 fsync_mib << 20);
					cpu_r += cpu_s() - c0;
				}
			}
			pr[i] = tp[i] / tr[i];
			fprintf(stderr,
			        "  chunk %zu KiB pieces %s run %d: receiver "
			        "%.0f MB/s, plain %.0f MB/s\n",
			        chunk / 1024, pname, i + 1,
			        (double)size / 1e6 / tr[i],
			        (double)size / 1e6 / tp[i]);
		}
		/* MB/s = 10^6 bytes/s, as the other benchmarks print. */
		mr = (double)size / 1e6 / median(tr, runs);
		mp = (double)size / 1e6 / median(tp, runs);
		/* Ratio of medians, and the median of per-run ratios (each
		 * pair ran back to back, so it shares the machine's load). */
		printf("%6zu KiB %8s %14.0f %14.0f %8.3f %12.3f\n",
		       chunk / 1024, pname, mr, mp, mr / mp, median(pr, runs));
		printf("%19s CPU per run: receiver %.2f s, plain %.2f s\n", "",
		       cpu_r / runs, cpu_p / runs);
		fflush(stdout);
		proto_buf_free(&sb);
	}
	free(data);
	return 0;
}
