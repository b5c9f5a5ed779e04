/* bench_compress: zstd on snapshot bytes, chunk by chunk, as serve would
 * send them (bench_compress.sh feeds it real raftkv snapshots).
 *
 * For each FILE, chunk size and level: every chunk compressed on its own
 * (ZSTD_compressCCtx, one context reused), a chunk whose compressed form is
 * not smaller counted at its raw size (it would be sent raw), then every
 * compressed chunk decompressed and compared with the original. Prints
 * per line: the ratio raw/wire, compress and decompress MB/s of raw bytes
 * (medians of RUNS passes over the file, one core), the share of chunks
 * sent raw, and the projected time of a bootstrap of the file on each
 * link given with -l (name=MB/s of raw snapshot bytes the mirror moves
 * there today, from bench_wan): max(link time of the wire bytes, compress
 * time, decompress time) -- serve compresses while the link carries the
 * previous chunk. Not a test.
 *
 * usage: bench_compress [-c KIB[,KIB...]] [-L LEVEL[,LEVEL...]] [-r RUNS]
 *                       [-l NAME=MBPS]... FILE...
 *   -c chunk sizes in KiB (default 64,256)  -L levels (default 1,3)
 *   -r passes per measurement (default 3)   -l links (default none) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define MB 1e6
#define MAX_LIST 8
#define MAX_LINKS 8
#define MAX_RUNS 25

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int parse_list(const char *s, long *out, long lo, long hi)
{
	int n = 0;
	char *end;

	while (*s != '\0' && n < MAX_LIST) {
		long v = strtol(s, &end, 10);

		if (end == s || v < lo || v > hi || (*end != ',' && *end != 0))
			return -1;
		out[n++] = v;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

static unsigned char *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)size)) == NULL ||
	    fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "bench_compress: cannot read %s: %s\n", path,
		        errno ? strerror(errno) : "empty or short");
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	*len = buf != NULL ? (size_t)size : 0;
	return buf;
}

struct link {
	char name[32];
	double mbps;
};

int main(int argc, char **argv)
{
	long chunks[MAX_LIST] = {64, 256}, levels[MAX_LIST] = {1, 3};
	int n_chunks = 2, n_levels = 2, runs = 3, n_links = 0, opt_end = 1;
	struct link links[MAX_LINKS];

	for (; opt_end + 1 < argc && argv[opt_end][0] == '-'; opt_end += 2) {
		const char *o = argv[opt_end], *v = argv[opt_end + 1];

		if (strcmp(o, "-c") == 0)
			n_chunks = parse_list(v, chunks, 1, 16384);
		else if (strcmp(o, "-L") == 0)
			n_levels = parse_list(v, levels, -5, 19);
		else if (strcmp(o, "-r") == 0)
			runs = atoi(v);
		else if (strcmp(o, "-l") == 0 && n_links < MAX_LINKS &&
		         strchr(v, '=') != NULL) {
			const char *eq = strchr(v, '=');
			size_t nl = (size_t)(eq - v);

			if (nl >= sizeof links[0].name)
				nl = sizeof links[0].name - 1;
			memcpy(links[n_links].name, v, nl);
			links[n_links].name[nl] = '\0';
			links[n_links].mbps = atof(eq + 1);
			if (links[n_links].mbps <= 0)
				n_chunks = -1;
			n_links++;
		} else
			n_chunks = -1;
	}
	if (n_chunks <= 0 || n_levels <= 0 || runs < 1 || runs > MAX_RUNS ||
	    opt_end >= argc) {
		fprintf(stderr,
		        "usage: bench_compress [-c KIB[,KIB...]] "
		        "[-L LEVEL[,LEVEL...]] [-r RUNS (1..%d)] "
		        "[-l NAME=MBPS]... FILE...\n",
		        MAX_RUNS);
		return 2;
	}
	printf("# zstd %s, one core; ratio = raw/wire (a chunk that does not "
	       "shrink counted raw); MB/s of raw bytes, medians of %d "
	       "passes\n",
	       ZSTD_versionString(), runs);
	for (int f = opt_end; f < argc; f++) {
		size_t len;
		unsigned char *data = load(argv[f], &len);
		const char *base = strrchr(argv[f], '/');

		if (data == NULL)
			return 1;
		base = base != NULL ? base + 1 : argv[f];
		for (int c = 0; c < n_chunks; c++) {
			size_t chunk = (size_t)chunks[c] * 1024;
			size_t n = (len + chunk - 1) / chunk;
			size_t bound = ZSTD_compressBound(chunk);
			unsigned char *comp = malloc(n * bound);
			size_t *csize = calloc(n, sizeof *csize);
			unsigned char *out = malloc(chunk);
			ZSTD_CCtx *cctx = ZSTD_createCCtx();
			ZSTD_DCtx *dctx = ZSTD_createDCtx();

			if (comp == NULL || csize == NULL || out == NULL ||
			    cctx == NULL || dctx == NULL) {
				fprintf(stderr,
				        "bench_compress: out of memory\n");
				return 1;
			}
			for (int l = 0; l < n_levels; l++) {
				double ct[MAX_RUNS], dt[MAX_RUNS], wire = 0;
				size_t raw_chunks = 0;

				for (int r = 0; r < runs; r++) {
					double t0 = now_s();

					for (size_t i = 0; i < n; i++) {
						size_t at = i * chunk;
						size_t m = len - at < chunk
						               ? len - at
						               : chunk;

						csize[i] = ZSTD_compressCCtx(
						    cctx, comp + i * bound,
						    bound, data + at, m,
						    (int)levels[l]);
						if (ZSTD_isError(csize[i])) {
							fprintf(
							    stderr,
							    "bench_compress: "
							    "%s\n",
							    ZSTD_getErrorName(
							        csize[i]));
							return 1;
						}
					}
					ct[r] = now_s() - t0;
					t0 = now_s();
					for (size_t i = 0; i < n; i++) {
						size_t at = i * chunk;
						size_t m = len - at < chunk
						               ? len - at
						               : chunk;
						size_t got;

						if (csize[i] >= m)
							continue; /* sent raw */
						got = ZSTD_decompressDCtx(
						    dctx, out, chunk,
						    comp + i * bound, csize[i]);
						if (got != m ||
						    memcmp(out, data + at, m) !=
						        0) {
							fprintf(
							    stderr,
							    "bench_compress: "
							    "chunk %zu does "
							    "not round-trip\n",
							    i);
							return 1;
						}
					}
					dt[r] = now_s() - t0;
				}
				for (size_t i = 0; i < n; i++) {
					size_t at = i * chunk;
					size_t m =
					    len - at < chunk ? len - at : chunk;

					if (csize[i] >= m) {
						raw_chunks++;
						wire += (double)m;
					} else
						wire += (double)csize[i];
				}
				double cs = (double)len / MB / median(ct, runs);
				double ds = (double)len / MB / median(dt, runs);
				double ratio = (double)len / wire;

				char dstr[32] = "- (none compressed)";

				if (raw_chunks < n)
					snprintf(dstr, sizeof dstr, "%.0f", ds);
				else
					ds = 1e12; /* nothing to decompress */
				printf("%s chunk %ld KiB level %ld: ratio %.2f "
				       "(%.1f of %.1f MB), compress %.0f MB/s, "
				       "decompress %s MB/s, %zu of %zu chunks "
				       "raw\n",
				       base, chunks[c], levels[l], ratio,
				       wire / MB, (double)len / MB, cs, dstr,
				       raw_chunks, n);
				for (int k = 0; k < n_links; k++) {
					double t_raw =
					    (double)len / MB / links[k].mbps;
					double t = wire / MB / links[k].mbps;

					if ((double)len / MB / cs > t)
						t = (double)len / MB / cs;
					if ((double)len / MB / ds > t)
						t = (double)len / MB / ds;
					printf(
					    "  profile %s: raw %.1f s, zstd "
					    "%.1f s, projected speed-up %.2f\n",
					    links[k].name, t_raw, t, t_raw / t);
				}
			}
			ZSTD_freeCCtx(cctx);
			ZSTD_freeDCtx(dctx);
			free(comp);
			free(csize);
			free(out);
		}
		free(data);
	}
	return 0;
}
