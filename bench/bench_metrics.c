/* bench_metrics: what one scrape of serve's /metrics costs against the
 * number of mirrors connected (N log streams over 4 databases), now
 * (serve_metrics_model_take's one pass over the streams, then the
 * rendering) against the access pattern it replaced: each of the eight
 * per-mirror passes asked serve_mirror_stat(sv, i) for the i-th stream,
 * which walked serve's stream list from its head, and looked the
 * mirror's database up by name among all databases, so a scrape cost
 * O(N^2). The baseline reproduces that walk over a list of stream-sized
 * nodes built here (serve's struct stream is private), then renders the
 * same model: what it adds to the rendering is the walks and lookups
 * alone. RUNS runs of each; medians, their ratio, and the load average.
 *
 * bench/bench_metrics [N...]   (default 100 1000 10000) */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/serve/serve_metrics.h"
#include "common/clock.h"

#define RUNS 9
#define NDBS 4

/* A node the size of a stream of serve (a few hundred bytes: buffers,
 * the request, the log reader's state), so that walking it touches
 * memory as the old walk did. */
struct node {
	struct node *next;
	int kind;
	struct serve_mirror_stat st;
	char pad[512];
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

static const char *const names[NDBS] = {"kv0", "kv1", "kv2", "kv3"};
static char idents[10000][24];

static void fill(struct serve_mirror_stat *m, size_t i)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&m->addr;

	memset(m, 0, sizeof *m);
	snprintf(idents[i % 10000], sizeof idents[0], "mirror-%zu", i);
	m->identity = idents[i % 10000];
	m->database_index = i % NDBS;
	m->database = names[m->database_index];
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)(10000 + i % 50000));
	a->sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
	m->addrlen = sizeof *a;
	m->age_ms = 1000 + i;
	m->contact_age_ms = i % 1000;
	m->bytes_sent = 4096 * i;
	m->requested_from = 1;
	m->sent_index = 1000000 - i;
	m->reservation_index = 999000;
}

/* The old access: pass p asks for mirror i by walking from the head,
 * then finds its database by name. */
static size_t old_walks(const struct node *head, size_t n,
                        const struct serve_database_stat *dbs,
                        struct serve_mirror_stat *out)
{
	size_t found = 0;

	for (int pass = 0; pass < 8; pass++)
		for (size_t i = 0; i < n; i++) {
			const struct node *s = head;
			size_t k = i;

			for (; s != NULL; s = s->next)
				if (s->kind == 1 && k-- == 0)
					break;
			if (s == NULL)
				break;
			out[i] = s->st;
			for (size_t d = 0; d < NDBS; d++)
				if (strcmp(dbs[d].name, s->st.database) == 0) {
					found++;
					break;
				}
		}
	return found;
}

int main(int argc, char **argv)
{
	static const size_t deflt[] = {100, 1000, 10000};
	size_t counts[16], ncounts = 0;
	struct serve_database_stat dbs[NDBS];
	double load[3] = {0, 0, 0};

	for (int a = 1; a < argc && ncounts < 16; a++)
		counts[ncounts++] = strtoul(argv[a], NULL, 10);
	if (ncounts == 0) {
		memcpy(counts, deflt, sizeof deflt);
		ncounts = 3;
	}
	for (size_t d = 0; d < NDBS; d++)
		dbs[d] =
		    (struct serve_database_stat){names[d], true, 1000000, 1, 0};
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("# serve /metrics render per scrape, %d runs each, load "
	       "average %.2f %.2f %.2f\n",
	       RUNS, load[0], load[1], load[2]);
	printf("%8s %14s %14s %8s %12s\n", "mirrors", "now ms", "old walk ms",
	       "old/now", "bytes");
	for (size_t c = 0; c < ncounts; c++) {
		size_t n = counts[c], len = 0;
		struct node *nodes = calloc(n, sizeof *nodes);
		struct serve_mirror_stat *ms = calloc(n, sizeof *ms);
		struct serve_metrics_model md = {0};
		double now[RUNS], old[RUNS];

		if (nodes == NULL || ms == NULL || n > 10000) {
			fprintf(stderr, "bench_metrics: N from 1 to 10000\n");
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
			nodes[i].kind = 1;
			fill(&nodes[i].st, i);
		}
		md.dbs = dbs;
		md.ndbs = NDBS;
		md.mirrors = ms;
		md.nmirrors = n;
		for (int r = 0; r < RUNS; r++) {
			uint64_t t0 = clock_mono_ns();
			char *text;

			/* now: one pass to take the streams, one render */
			for (size_t i = 0; i < n; i++)
				ms[i] = nodes[i].st;
			text = serve_metrics_model_prometheus(&md, NULL, &len);
			now[r] = (double)(clock_mono_ns() - t0) / 1e6;
			free(text);
			t0 = clock_mono_ns();
			if (old_walks(nodes, n, dbs, ms) != 8 * n)
				return 1;
			text = serve_metrics_model_prometheus(&md, NULL, &len);
			old[r] = (double)(clock_mono_ns() - t0) / 1e6;
			free(text);
		}
		{
			double a = median(now, RUNS), b = median(old, RUNS);

			printf("%8zu %14.3f %14.3f %8.1f %12zu\n", n, a, b,
			       b / a, len);
		}
		free(nodes);
		free(ms);
	}
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("# load average after: %.2f %.2f %.2f\n", load[0], load[1],
	       load[2]);
	return 0;
}
