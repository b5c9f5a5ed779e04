/* spoolgen: builds and grows spool directories for tests (spool/spool.h
 * layout) with deterministic content.
 *
 *   spoolgen init DIR --database NAME [--cluster-id UUID] [--epoch N]
 *                 [--incarnation UUID|none]   (default: a random one)
 *   spoolgen snapshot DIR --index I --term T --size BYTES [--seed S]
 *                     [--from-file PATH]
 *   spoolgen append DIR [--from I] --count N --term T [--size B]
 *                   [--rate-per-s R] [--segment-size BYTES]
 *   spoolgen compact DIR --before I
 *
 * Snapshot bytes come from a splitmix64 stream seeded with S (default: the
 * index), so a test can regenerate them; with --from-file they are PATH's
 * bytes, read again from its start at its end (bench_wan.sh -d: a real
 * snapshot's content at any size). Entry payloads are
 * "entry-<index>-" padded with the letter 'a' + index % 26 to B bytes (or
 * cut to B bytes); without --size just "entry-<index>". append without
 * --from continues after the last index (1 for an empty log) and fsyncs
 * each batch. Every command prints one line describing what it did. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/parse.h"
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "tests/lib/fixture.h"
#include "wal/wal.h"

/* Snapshots up to this size are built in memory; larger ones are streamed
 * through a temporary file. */
#define IN_MEMORY_MAX (64u << 20)

static void usage(void)
{
	fprintf(stderr,
	        "usage: spoolgen init DIR --database NAME [--cluster-id UUID] "
	        "[--epoch N] [--incarnation UUID|none]\n"
	        "       spoolgen snapshot DIR --index I --term T --size BYTES "
	        "[--seed S] [--from-file PATH]\n"
	        "       spoolgen append DIR [--from I] --count N --term T "
	        "[--size B] [--rate-per-s R] [--segment-size BYTES]\n"
	        "       spoolgen compact DIR --before I\n");
}

static int parse_u64(const char *flag, const char *s, uint64_t *out)
{
	char why[PARSE_WHY_SIZE];

	if (s != NULL && parse_uint64(s, out, why) == 0)
		return 0;
	fprintf(stderr, "spoolgen: %s: bad number '%s': %s\n", flag,
	        s != NULL ? s : "", s != NULL ? why : "missing");
	return -1;
}

/* Options of all sub-commands; which are used depends on the command. */
struct args {
	const char *dir, *database, *cluster_id, *incarnation, *from_file;
	uint64_t epoch, index, term, size, seed, from, count, rate, before,
	    segment_size;
	int has_index, has_term, has_size, has_seed, has_from, has_count,
	    has_before;
};

static int parse(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof *a);
	if (argc < 3) {
		usage();
		return -1;
	}
	a->dir = argv[2];
	for (int i = 3; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t *dst = NULL;
		int *has = NULL;

		if (v == NULL) {
			fprintf(stderr, "spoolgen: %s needs a value\n", f);
			return -1;
		}
		i++;
		if (strcmp(f, "--database") == 0) {
			a->database = v;
			continue;
		}
		if (strcmp(f, "--cluster-id") == 0) {
			a->cluster_id = v;
			continue;
		}
		if (strcmp(f, "--from-file") == 0) {
			a->from_file = v;
			continue;
		}
		if (strcmp(f, "--incarnation") == 0) {
			a->incarnation = v;
			continue;
		}
		if (strcmp(f, "--epoch") == 0)
			dst = &a->epoch;
		else if (strcmp(f, "--index") == 0)
			dst = &a->index, has = &a->has_index;
		else if (strcmp(f, "--term") == 0)
			dst = &a->term, has = &a->has_term;
		else if (strcmp(f, "--size") == 0)
			dst = &a->size, has = &a->has_size;
		else if (strcmp(f, "--seed") == 0)
			dst = &a->seed, has = &a->has_seed;
		else if (strcmp(f, "--from") == 0)
			dst = &a->from, has = &a->has_from;
		else if (strcmp(f, "--count") == 0)
			dst = &a->count, has = &a->has_count;
		else if (strcmp(f, "--rate-per-s") == 0)
			dst = &a->rate;
		else if (strcmp(f, "--before") == 0)
			dst = &a->before, has = &a->has_before;
		else if (strcmp(f, "--segment-size") == 0)
			dst = &a->segment_size;
		if (dst == NULL) {
			fprintf(stderr, "spoolgen: unknown option %s\n", f);
			usage();
			return -1;
		}
		if (parse_u64(f, v, dst) != 0)
			return -1;
		if (has != NULL)
			*has = 1;
	}
	return 0;
}

static int cmd_init(const struct args *a)
{
	struct proto_identity id;
	char errmsg[MA_ERRMSG_SIZE];

	if (a->database == NULL) {
		fprintf(stderr, "spoolgen init: --database is required\n");
		return 2;
	}
	memset(&id, 0, sizeof id);
	if (a->cluster_id != NULL) {
		if (strlen(a->cluster_id) != PROTO_CLUSTER_ID_LEN) {
			fprintf(stderr, "spoolgen init: --cluster-id must be "
			                "a UUID\n");
			return 2;
		}
		memcpy(id.cluster_id, a->cluster_id, PROTO_CLUSTER_ID_LEN);
	} else if (spool_uuid_generate(id.cluster_id) != 0) {
		fprintf(stderr, "spoolgen init: no entropy for a UUID\n");
		return 1;
	}
	if (strlen(a->database) > PROTO_DATABASE_ID_MAX) {
		fprintf(stderr, "spoolgen init: --database too long\n");
		return 2;
	}
	strcpy(id.database_id, a->database);
	id.epoch = a->epoch;
	/* Like the tap: a random incarnation per spool; "none" writes the
	 * identity an older version wrote. */
	if (a->incarnation == NULL) {
		if (spool_uuid_generate(id.incarnation) != 0) {
			fprintf(stderr, "spoolgen init: no entropy\n");
			return 1;
		}
	} else if (strcmp(a->incarnation, "none") != 0) {
		if (strlen(a->incarnation) != PROTO_INCARNATION_LEN) {
			fprintf(stderr, "spoolgen init: --incarnation must be "
			                "a UUID or none\n");
			return 2;
		}
		memcpy(id.incarnation, a->incarnation, PROTO_INCARNATION_LEN);
	}
	if (spool_identity_write(a->dir, &id, false, errmsg) != 0) {
		fprintf(stderr, "spoolgen init: %s\n", errmsg);
		return 1;
	}
	printf("init %s cluster_id=%s database_id=%s epoch=%" PRIu64
	       " incarnation=%s\n",
	       a->dir, id.cluster_id, id.database_id, id.epoch,
	       id.incarnation[0] ? id.incarnation : "none");
	return 0;
}

/* --from-file: the source of snapshot bytes instead of the stream. */
static FILE *fill_src;

/* Fills buf with the next len bytes: of --from-file (read in a loop) when
 * given, else of the seeded stream. */
static void fill(struct fx_rng *rng, uint8_t *buf, size_t len)
{
	while (fill_src != NULL && len > 0) {
		size_t n = fread(buf, 1, len, fill_src);

		buf += n;
		len -= n;
		if (n == 0) {
			if (ferror(fill_src) || ftell(fill_src) == 0) {
				fprintf(stderr, "spoolgen snapshot: "
				                "--from-file is empty or "
				                "unreadable\n");
				exit(1);
			}
			rewind(fill_src);
		}
	}
	fx_rng_fill(rng, buf, len);
}

static int open_spool(const char *dir, struct proto_identity *id, char *errmsg)
{
	int rc = spool_identity_read(dir, id, errmsg);

	if (rc != 0)
		fprintf(stderr, "spoolgen: %s (run spoolgen init first)\n",
		        errmsg);
	return rc;
}

static int cmd_snapshot(const struct args *a)
{
	struct proto_identity id;
	struct snapshot_ident ident;
	struct snapshot_meta meta;
	struct snapshot_store *store = NULL;
	char errmsg[MA_ERRMSG_SIZE], path[4096], tmp[4200];
	struct fx_rng rng;
	uint8_t *buf = NULL;
	int rc, fd = -1, status = 1;

	if (!a->has_index || !a->has_term || !a->has_size || a->index == 0) {
		fprintf(stderr, "spoolgen snapshot: --index (>= 1), --term "
		                "and --size are required\n");
		return 2;
	}
	if (open_spool(a->dir, &id, errmsg) != 0)
		return 1;
	fx_rng_seed(&rng, a->has_seed ? a->seed : a->index);
	if (a->from_file != NULL &&
	    (fill_src = fopen(a->from_file, "rb")) == NULL) {
		fprintf(stderr, "spoolgen snapshot: --from-file %s: %s\n",
		        a->from_file, strerror(errno));
		return 1;
	}
	memset(&ident, 0, sizeof ident);
	strcpy(ident.cluster_id, id.cluster_id);
	strcpy(ident.database_id, id.database_id);
	ident.index = a->index;
	ident.term = a->term;
	if (spool_path(path, sizeof path, a->dir, SPOOL_SNAPSHOT_DIR) != 0 ||
	    snapshot_store_open(path, &store, errmsg) != 0) {
		fprintf(stderr, "spoolgen snapshot: %s\n", errmsg);
		return 1;
	}
	if (a->size <= IN_MEMORY_MAX) {
		buf = malloc(a->size > 0 ? (size_t)a->size : 1);
		if (buf == NULL) {
			fprintf(stderr, "spoolgen snapshot: out of memory\n");
			goto out;
		}
		fill(&rng, buf, (size_t)a->size);
		rc = snapshot_store_create_from_buf(
		    store, &ident, buf, (size_t)a->size, clock_wall_ms(), &meta,
		    errmsg);
	} else {
		uint64_t left = a->size;

		snprintf(tmp, sizeof tmp, "%s/spoolgen-XXXXXX", a->dir);
		fd = mkstemp(tmp);
		buf = malloc(1u << 20);
		if (fd < 0 || buf == NULL) {
			fprintf(stderr, "spoolgen snapshot: %s: %s\n", tmp,
			        strerror(errno));
			goto out;
		}
		while (left > 0) {
			size_t n = left < (1u << 20) ? (size_t)left : 1u << 20;

			fill(&rng, buf, n);
			rc = io_write_all(fd, buf, n, errmsg);
			if (rc != 0) {
				fprintf(stderr, "spoolgen snapshot: %s\n",
				        errmsg);
				goto out;
			}
			left -= n;
		}
		rc = snapshot_store_create_from_file(
		    store, &ident, tmp, clock_wall_ms(), &meta, errmsg);
	}
	if (rc != 0) {
		fprintf(stderr, "spoolgen snapshot: %s\n", errmsg);
		goto out;
	}
	printf("snapshot %" PRIu64 "-%" PRIu64 " size=%" PRIu64
	       " crc32c=%08" PRIx32 "\n",
	       meta.id.index, meta.id.term, meta.id.size, meta.id.crc32c);
	status = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(buf);
	snapshot_store_close(store);
	if (fill_src != NULL)
		fclose(fill_src);
	return status;
}

static int open_log(const char *dir, uint64_t segment_size,
                    struct wal_log **log)
{
	struct proto_identity id;
	char errmsg[MA_ERRMSG_SIZE], path[4096];

	if (open_spool(dir, &id, errmsg) != 0)
		return -1;
	if (spool_path(path, sizeof path, dir, SPOOL_WAL_DIR) != 0) {
		fprintf(stderr, "spoolgen: %s: path too long\n", dir);
		return -1;
	}
	if (fx_wal_open(path, id.cluster_id, id.database_id, segment_size, log,
	                errmsg) != 0) {
		fprintf(stderr, "spoolgen: %s: %s\n", dir, errmsg);
		return -1;
	}
	return 0;
}

static int cmd_append(const struct args *a)
{
	struct wal_log *log;
	struct wal_entry *entries = NULL;
	char errmsg[MA_ERRMSG_SIZE], *bufs = NULL;
	uint64_t next, done = 0, batch, start_ms;
	size_t psize;
	int status = 1;

	if (!a->has_count || !a->has_term || a->count == 0) {
		fprintf(stderr, "spoolgen append: --count (>= 1) and --term "
		                "are required\n");
		return 2;
	}
	if (a->size > WAL_ENTRY_SIZE_MAX) {
		fprintf(stderr, "spoolgen append: --size too large\n");
		return 2;
	}
	if (open_log(a->dir, a->segment_size, &log) != 0)
		return 1;
	next = a->has_from ? a->from : wal_log_last_index(log) + 1;
	if (next == 0)
		next = 1;
	psize = a->size > 0 ? (size_t)a->size : 32;
	/* Batches: about 10 per second when rate-limited, else up to 1000
	 * entries or 4 MiB. */
	batch = a->rate > 0 ? (a->rate + 9) / 10 : 1000;
	if (batch * psize > (4u << 20))
		batch = (4u << 20) / psize;
	if (batch == 0)
		batch = 1;
	if (batch > a->count)
		batch = a->count;
	entries = calloc((size_t)batch, sizeof *entries);
	bufs = malloc((size_t)batch * psize);
	if (entries == NULL || bufs == NULL) {
		fprintf(stderr, "spoolgen append: out of memory\n");
		goto out;
	}
	start_ms = clock_mono_ms();
	while (done < a->count) {
		uint64_t n = a->count - done < batch ? a->count - done : batch;

		if (a->rate > 0) {
			/* Wait until done entries are due at this rate. */
			uint64_t due = start_ms + done * 1000 / a->rate;
			uint64_t now = clock_mono_ms();

			if (due > now) {
				struct timespec ts = {
				    (time_t)((due - now) / 1000),
				    (long)((due - now) % 1000) * 1000000};
				nanosleep(&ts, NULL);
			}
		}
		for (uint64_t i = 0; i < n; i++) {
			char *p = bufs + i * psize;

			entries[i].index = next + done + i;
			entries[i].term = a->term;
			entries[i].type = WAL_ENTRY_COMMAND;
			entries[i].data = p;
			entries[i].len = fx_payload(entries[i].index,
			                            (size_t)a->size, p, psize);
		}
		if (wal_log_append(log, entries, (size_t)n, clock_mono_ms(),
		                   errmsg) != 0 ||
		    wal_log_sync(log, errmsg) != 0) {
			fprintf(stderr, "spoolgen append: %s\n", errmsg);
			goto out;
		}
		done += n;
	}
	printf("append %" PRIu64 "..%" PRIu64 " term=%" PRIu64 "\n", next,
	       next + a->count - 1, a->term);
	status = 0;
out:
	free(entries);
	free(bufs);
	wal_log_close(log);
	return status;
}

static int cmd_compact(const struct args *a)
{
	struct wal_log *log;
	char errmsg[MA_ERRMSG_SIZE];
	int status = 0;

	if (!a->has_before) {
		fprintf(stderr, "spoolgen compact: --before is required\n");
		return 2;
	}
	if (open_log(a->dir, 0, &log) != 0)
		return 1;
	if (wal_log_truncate_prefix(log, a->before, errmsg) != 0) {
		fprintf(stderr, "spoolgen compact: %s\n", errmsg);
		status = 1;
	} else {
		printf("compact first=%" PRIu64 " last=%" PRIu64 "\n",
		       wal_log_first_index(log), wal_log_last_index(log));
	}
	wal_log_close(log);
	return status;
}

int main(int argc, char **argv)
{
	struct args a;

	if (argc < 2 || parse(argc, argv, &a) != 0) {
		if (argc < 2)
			usage();
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(&a);
	if (strcmp(argv[1], "snapshot") == 0)
		return cmd_snapshot(&a);
	if (strcmp(argv[1], "append") == 0)
		return cmd_append(&a);
	if (strcmp(argv[1], "compact") == 0)
		return cmd_compact(&a);
	fprintf(stderr, "spoolgen: unknown command '%s'\n", argv[1]);
	usage();
	return 2;
}
