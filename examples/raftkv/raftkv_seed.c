/* raftkv-seed: writes the data directories of a new raftkv cluster (or of
 * one node joining an existing one) from a mirror's directory
 * (docs/OPERATIONS.md "Seed a new cluster").
 *
 *   raftkv-seed --data-dir DIR --database NAME [--at-index N]
 *               --cluster 1=HOST:PORT,2=HOST:PORT,... --out DIR
 *               [--cluster-id UUID | --keep-cluster-id]
 *               [--join ID=HOST:PORT]
 *
 * The kv state at the index (the mirror's newest snapshot plus its wal
 * entries up to the index; the promoted index of a promoted mirror, else
 * its last durable one) is written for every node ID of --cluster, or
 * with --join only for that node, which is not in --cluster (pre-seeding
 * a node that joins the existing cluster: --cluster is then that
 * cluster's configuration, and --keep-cluster-id keeps its spool's
 * identity), as:
 *   OUT/node-ID/raft   libraft's data directory: a snapshot at the index
 *                      and term with --cluster as its configuration, put
 *                      through libraft's own raft_uv I/O backend
 *                      (raft_io->set_term, then ->snapshot_put the way a
 *                      follower installs a leader's snapshot), so the
 *                      node starts from it as a normal member;
 *   OUT/node-ID/spool  the node's tap spool: identity with the new
 *                      cluster id (or the mirror's with --keep-cluster-id)
 *                      and the same snapshot, so its serve can feed
 *                      mirrors at once.
 * It prints one line: "seeded NAME index=N term=T fingerprint=kv:XXXXXXXX
 * cluster_id=UUID nodes=K bytes=B".
 *
 * Bad input changes nothing: every check (ids, addresses, an empty
 * target, the mirror's lock, the index) is done before the first write.
 *
 * Crash-safe: everything is written into a staging directory beside OUT,
 * PARENT/.BASE.seeding (marked by its file .raftkv-seed-staging), which
 * becomes OUT by one durable rename once every node is complete. A crash
 * (kill -9, power cut) before the rename leaves OUT as it was (absent or
 * empty) and the staging directory, which the next run removes and
 * redoes; after it OUT is complete. tests/integration/test_seed_crash.sh
 * crashes a run at every durability operation of common/io
 * (RAFTKV_SEED_CRASH_AT=N, a test hook: io_crash_set(N); with
 * RAFTKV_SEED_CRASH_AT=0 the run prints "io_ops=K" on stderr). */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "agent/apply/applier.h"
#include "agent/promote/promote.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "tap/tap.h"
#include "wal/wal.h"

#define NODES_MAX 16
#define ADDRESS_MAX 64

struct member {
	unsigned long long id;
	char address[ADDRESS_MAX];
};

struct args {
	const char *data_dir, *database, *out, *cluster_id;
	bool keep_cluster_id;
	uint64_t at_index;
	struct member m[NODES_MAX]; /* the configuration */
	unsigned n;
	struct member join; /* --join: the only node written (id 0: none) */
};

/* The state to seed. */
struct seed_state {
	struct proto_identity id; /* of the mirror */
	uint64_t index, term;
	uint32_t fingerprint;
	void *buf; /* kv_store_serialize() format, as raftkv snapshots */
	size_t len;
};

static void usage(void)
{
	fprintf(stderr, "usage: raftkv-seed --data-dir DIR --database NAME "
	                "[--at-index N]\n"
	                "         --cluster ID=HOST:PORT,... --out DIR\n"
	                "         [--cluster-id UUID | --keep-cluster-id] "
	                "[--join ID=HOST:PORT]\n");
}

static int parse_id(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (*s < '1' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || *out > UINT_MAX ? -1 : 0;
}

/* "1=host:port,2=host:port" (flag names the option in messages): ids
 * and addresses must be unique, --join's among --cluster's. */
static int parse_cluster(struct args *a, const char *flag, const char *list,
                         char *errmsg)
{
	bool join = strcmp(flag, "--join") == 0;
	char *copy = strdup(list), *save = NULL, *item;
	int rc = 0;

	if (copy == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
	     item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		unsigned long long id;

		if (eq == NULL || eq[1] == '\0' ||
		    strlen(eq + 1) >= ADDRESS_MAX) {
			rc = ma_errorf(errmsg, MA_ERR_INVAL,
			               "%s: bad item '%s' (want ID=HOST:PORT)",
			               flag, item);
			break;
		}
		*eq = '\0';
		if (parse_id(item, &id) != 0) {
			rc = ma_errorf(errmsg, MA_ERR_INVAL,
			               "%s: bad node id '%s' (want 1..%u)",
			               flag, item, UINT_MAX);
			break;
		}
		for (unsigned i = 0; i < a->n && rc == 0; i++) {
			if (a->m[i].id == id)
				rc =
				    ma_errorf(errmsg, MA_ERR_INVAL,
				              "%s: node id %llu is given twice",
				              flag, id);
			else if (strcmp(a->m[i].address, eq + 1) == 0)
				rc = ma_errorf(
				    errmsg, MA_ERR_INVAL,
				    "%s: address %s is given to nodes "
				    "%llu and %llu",
				    flag, eq + 1, a->m[i].id, id);
		}
		if (rc == 0 && join && a->join.id != 0)
			rc = ma_errorf(errmsg, MA_ERR_INVAL,
			               "--join: one node at a time");
		if (rc == 0 && !join && a->n == NODES_MAX)
			rc = ma_errorf(errmsg, MA_ERR_LIMIT,
			               "--cluster: more than %d nodes",
			               NODES_MAX);
		if (rc == 0) {
			struct member *m = join ? &a->join : &a->m[a->n++];

			m->id = id;
			snprintf(m->address, ADDRESS_MAX, "%s", eq + 1);
		}
	}
	free(copy);
	return rc;
}

static int parse_args(int argc, char **argv, struct args *a, char *errmsg)
{
	const char *join = NULL;

	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(f, "--keep-cluster-id") == 0) {
			a->keep_cluster_id = true;
			continue;
		}
		if (strcmp(f, "--help") == 0) {
			usage();
			exit(0);
		}
		if (val == NULL) {
			usage();
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "%s needs a value", f);
		}
		i++;
		if (strcmp(f, "--data-dir") == 0) {
			a->data_dir = val;
		} else if (strcmp(f, "--database") == 0) {
			a->database = val;
		} else if (strcmp(f, "--out") == 0) {
			a->out = val;
		} else if (strcmp(f, "--cluster-id") == 0) {
			a->cluster_id = val;
		} else if (strcmp(f, "--join") == 0) {
			join = val;
		} else if (strcmp(f, "--at-index") == 0) {
			char why[MA_ERRMSG_SIZE];

			if (parse_uint64(val, &a->at_index, why) != 0)
				return ma_errorf(errmsg, MA_ERR_INVAL,
				                 "--at-index '%s': %s", val,
				                 why);
		} else if (strcmp(f, "--cluster") == 0) {
			int rc = parse_cluster(a, f, val, errmsg);

			if (rc != 0)
				return rc;
		} else {
			usage();
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "unknown option %s", f);
		}
	}
	if (a->data_dir == NULL || a->database == NULL || a->out == NULL ||
	    a->n == 0) {
		usage();
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "--data-dir, --database, --cluster and --out "
		                 "are required");
	}
	if (a->cluster_id != NULL && a->keep_cluster_id)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "--cluster-id and --keep-cluster-id exclude "
		                 "each other");
	/* Parsed last, so it is checked against the whole configuration. */
	if (join != NULL)
		return parse_cluster(a, "--join", join, errmsg);
	return 0;
}

/* ---- the state at the index --------------------------------------------- */

/* Rebuilds the kv state of the mirror's database directory at the seed
 * index. Holds the wal's lock meanwhile: a running follower gives
 * MA_ERR_BUSY. */
static int state_load(const char *dir, const char *name, uint64_t at_index,
                      struct seed_state *st, char *errmsg)
{
	struct applier_query q = {.op = APPLIER_QUERY_FINGERPRINT};
	struct applier_result res;
	struct spool_promoted rec;
	struct promote_source src;
	struct applier *a = NULL;
	int rc;

	rc = spool_identity_read(dir, &st->id, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, rc,
		                 "%s: no identity: this mirror has not reached "
		                 "a source yet, nothing to seed from",
		                 dir);
	if (rc != 0)
		return rc;
	if (strcmp(st->id.database_id, name) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "%s/identity names database '%s', not '%s'",
		                 dir, st->id.database_id, name);
	rc = spool_promoted_read(dir, &rec, errmsg);
	if (rc == 0) {
		if (at_index != 0 && at_index != rec.index)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "%s was promoted at index %" PRIu64
			                 ": seed it there (drop --at-index "
			                 "%" PRIu64 ")",
			                 dir, rec.index, at_index);
		at_index = rec.index;
	} else if (rc != MA_ERR_NOTFOUND) {
		return rc;
	}

	rc = promote_source_open(dir, &st->id, &src, errmsg);
	if (rc == MA_ERR_BUSY)
		return ma_errwrapf(errmsg, rc,
		                   "%s is in use by a running follower: "
		                   "promote through it (mirror-agent promote), "
		                   "then seed",
		                   dir);
	if (rc != 0)
		return rc;
	rc = promote_choose_index(&src.pos, at_index, &st->index, errmsg);
	if (rc != 0) {
		ma_errwrapf(errmsg, rc, "%s", dir);
		goto out;
	}
	rc = promote_source_term_at(&src, st->index, &st->term, errmsg);
	if (rc != 0)
		goto out;
	rc = promote_source_kv_at(&src, name, st->index, &a, errmsg);
	if (rc == 0)
		rc = applier_query(a, &q, NULL, NULL, &res, errmsg);
	if (rc == 0) {
		st->fingerprint = res.fingerprint;
		rc = applier_serialize(a, &st->buf, &st->len, errmsg);
	}
	if (rc != 0)
		ma_errwrapf(errmsg, rc,
		            "%s: cannot rebuild the state at %" PRIu64, dir,
		            st->index);
out:
	applier_free(a);
	promote_source_close(&src);
	return rc;
}

/* ---- targets ------------------------------------------------------------- */

/* 0 when path does not exist or is an empty directory. */
static int check_empty(const char *path, char *errmsg)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: %s", path,
		                 strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			/* Formatted before closedir(), which frees de. */
			rc = ma_errorf(errmsg, MA_ERR_INVAL,
			               "%s is not empty (holds %s): seeding "
			               "writes only into new or empty "
			               "directories; remove it or choose "
			               "another --out",
			               path, de->d_name);
	closedir(d);
	return rc;
}

/* ---- the staging directory (crash safety) ----------------------------- */

#define STAGE_MARKER ".raftkv-seed-staging"

struct stage {
	char parent[PATH_MAX]; /* OUT's parent directory */
	char out_name[NAME_MAX + 1];
	char name[NAME_MAX + 1]; /* ".OUTNAME.seeding" */
	char path[PATH_MAX];     /* parent/name */
	char out[PATH_MAX];      /* OUT without trailing slashes */
};

/* Splits OUT into its parent and name, and names the staging directory
 * beside it. */
static int stage_init(struct stage *sg, const char *out, char *errmsg)
{
	size_t len = strlen(out);
	const char *slash;

	while (len > 1 && out[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof sg->out)
		return ma_errorf(errmsg, MA_ERR_INVAL, "--out: bad path");
	memcpy(sg->out, out, len);
	sg->out[len] = '\0';
	slash = strrchr(sg->out, '/');
	if (slash == NULL)
		snprintf(sg->parent, sizeof sg->parent, ".");
	else if (slash == sg->out)
		snprintf(sg->parent, sizeof sg->parent, "/");
	else
		snprintf(sg->parent, sizeof sg->parent, "%.*s",
		         (int)(slash - sg->out), sg->out);
	if (snprintf(sg->out_name, sizeof sg->out_name, "%s",
	             slash != NULL ? slash + 1 : sg->out) >=
	        (int)sizeof sg->out_name ||
	    sg->out_name[0] == '\0' || strcmp(sg->out_name, ".") == 0 ||
	    strcmp(sg->out_name, "..") == 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "--out %s: name a directory to create (not / "
		                 "nor . or ..)",
		                 out);
	if (snprintf(sg->name, sizeof sg->name, ".%s.seeding", sg->out_name) >=
	        (int)sizeof sg->name ||
	    io_path_join(sg->path, sizeof sg->path, sg->parent, sg->name) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "--out too long");
	return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* What is at the staging path: 0 nothing, 1 a leftover of ours (the
 * marker is there, or it is empty but for the marker's temporary file: a
 * crash right after its mkdir), or
 * MA_ERR_INVAL (something else: named, not touched). */
static int stage_probe(const struct stage *sg, char *errmsg)
{
	char marker[PATH_MAX + 32];
	struct stat sb;
	DIR *d;
	struct dirent *de;
	bool empty = true;

	if (lstat(sg->path, &sb) != 0)
		return errno == ENOENT
		           ? 0
		           : ma_errorf(errmsg, MA_ERR_INVAL, "%s: %s", sg->path,
		                       strerror(errno));
	snprintf(marker, sizeof marker, "%s/%s", sg->path, STAGE_MARKER);
	if (S_ISDIR(sb.st_mode) && access(marker, F_OK) == 0)
		return 1;
	/* Empty, or holding only the marker's temporary file: a crash
	 * between the mkdir and the marker's rename. */
	if (S_ISDIR(sb.st_mode) && (d = opendir(sg->path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0 &&
			    strcmp(de->d_name, STAGE_MARKER ".tmp") != 0)
				empty = false;
		closedir(d);
		if (empty)
			return 1;
	}
	return ma_errorf(errmsg, MA_ERR_INVAL,
	                 "%s exists and is not raftkv-seed's staging "
	                 "directory (no %s in it): remove it, or choose "
	                 "another --out",
	                 sg->path, STAGE_MARKER);
}

/* Removes the staging directory (a leftover, or this run's after a
 * failure) and makes that durable. */
static int stage_remove(const struct stage *sg, char *errmsg)
{
	if (nftw(sg->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT)
		return ma_errorf(errmsg, MA_ERR_IO,
		                 "cannot remove %s: %s; remove it by hand",
		                 sg->path, strerror(errno));
	return io_fsync_dir(sg->parent, errmsg);
}

static int node_path(char *out, size_t size, const char *root,
                     unsigned long long id, const char *sub)
{
	int n = snprintf(out, size, "%s/node-%llu/%s", root, id, sub);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- libraft's data directory, through raft_uv ----------------------- */

struct uv_writer {
	bool done;
	int status;
};

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
	struct uv_writer *w = req->data;

	w->status = status;
	w->done = true;
}

static void io_closed_cb(struct raft_io *io)
{
	struct uv_writer *w = io->data;

	w->done = true;
}

/* Runs the loop until w->done (the uv backend's work runs on libuv's
 * thread pool; its callbacks come back on the loop). */
static void run_until(uv_loop_t *loop, struct uv_writer *w)
{
	while (!w->done)
		if (uv_run(loop, UV_RUN_ONCE) == 0 && !w->done)
			break;
}

/* Writes a libraft data directory at dir holding only the snapshot
 * (index, term, the configuration of every member, the state st) and
 * the term, as a follower that installed this snapshot from a leader. */
static int raft_dir_write(const char *dir, const struct args *a,
                          const struct member *self,
                          const struct seed_state *st, char *errmsg)
{
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft_snapshot snap;
	struct raft_io_snapshot_put req;
	struct raft_buffer buf;
	struct uv_writer w = {0};
	struct raft_snapshot *loaded = NULL;
	struct raft_entry *entries = NULL;
	raft_index start_index;
	size_t n_entries = 0;
	raft_id voted_for;
	raft_term term;
	uv_loop_t loop;
	int rc;

	memset(&io, 0, sizeof io);
	memset(&snap, 0, sizeof snap);
	if (uv_loop_init(&loop) != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "uv_loop_init failed");
	rc = raft_uv_tcp_init(&transport, &loop);
	if (rc != 0) {
		uv_loop_close(&loop);
		return ma_errorf(errmsg, MA_ERR_IO, "raft_uv_tcp_init: %s",
		                 raft_strerror(rc));
	}
	rc = raft_uv_init(&io, &loop, dir, &transport);
	if (rc != 0) {
		ma_errorf(errmsg, MA_ERR_IO, "raft_uv_init %s: %s", dir,
		          io.errmsg);
		goto out_transport;
	}
	io.data = &w;
	rc = io.init(&io, self->id, self->address);
	if (rc != 0) {
		ma_errorf(errmsg, MA_ERR_IO, "libraft init of %s: %s", dir,
		          io.errmsg);
		goto out_io;
	}
	rc = io.load(&io, &term, &voted_for, &loaded, &start_index, &entries,
	             &n_entries);
	if (rc != 0) {
		ma_errorf(errmsg, MA_ERR_IO, "libraft load of %s: %s", dir,
		          io.errmsg);
		goto out_io;
	}
	if (loaded != NULL || n_entries != 0 || term != 0) {
		/* check_empty() ran before: someone else writes here. */
		rc = ma_errorf(errmsg, MA_ERR_INVAL,
		               "%s already holds raft state (term %llu, %zu "
		               "entries)",
		               dir, (unsigned long long)term, n_entries);
		goto out_loaded;
	}
	/* The term first: a node whose current term were below its
	 * snapshot's would append entries of a lower term after it. */
	rc = io.set_term(&io, st->term);
	if (rc != 0) {
		ma_errorf(errmsg, MA_ERR_IO, "libraft set_term in %s: %s", dir,
		          io.errmsg);
		goto out_io;
	}
	snap.index = st->index;
	snap.term = st->term;
	snap.configuration_index = st->index;
	raft_configuration_init(&snap.configuration);
	for (unsigned i = 0; i < a->n; i++) {
		rc = raft_configuration_add(&snap.configuration, a->m[i].id,
		                            a->m[i].address, RAFT_VOTER);
		if (rc != 0) {
			ma_errorf(errmsg, MA_ERR_INVAL,
			          "libraft configuration: %s",
			          raft_strerror(rc));
			goto out_conf;
		}
	}
	buf.base = st->buf;
	buf.len = st->len;
	snap.bufs = &buf;
	snap.n_bufs = 1;
	req.data = &w;
	/* trailing 0: the path of a snapshot installed from a leader (the
	 * log restarts right after the snapshot's index). */
	rc = io.snapshot_put(&io, 0, &req, &snap, put_cb);
	if (rc != 0) {
		ma_errorf(errmsg, MA_ERR_IO, "libraft snapshot_put in %s: %s",
		          dir, raft_strerror(rc));
		goto out_conf;
	}
	run_until(&loop, &w);
	if (!w.done || w.status != 0) {
		rc = ma_errorf(errmsg, MA_ERR_IO,
		               "libraft could not write the snapshot in %s: "
		               "%s",
		               dir,
		               w.done ? raft_strerror(w.status)
		                      : "the loop stopped first");
		goto out_conf;
	}
	rc = 0;
out_conf:
	raft_configuration_close(&snap.configuration);
	goto out_io;
out_loaded:
	if (loaded != NULL) {
		raft_configuration_close(&loaded->configuration);
		for (unsigned i = 0; i < loaded->n_bufs; i++)
			raft_free(loaded->bufs[i].base);
		raft_free(loaded->bufs);
		raft_free(loaded);
	}
	if (entries != NULL) {
		/* One batch holds the data of all loaded entries. */
		raft_free(entries[0].batch);
		raft_free(entries);
	}
out_io:
	w.done = false;
	io.close(&io, io_closed_cb);
	run_until(&loop, &w);
	raft_uv_close(&io);
out_transport:
	raft_uv_tcp_close(&transport);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}

/* The node's tap spool: identity and the snapshot at the index. */
static int spool_write(const char *dir, const char *cluster_id,
                       const char *database, const struct seed_state *st,
                       char *errmsg)
{
	struct tap_options topts;
	struct tap *tap = NULL;
	int rc;

	tap_options_init(&topts);
	rc = tap_open(dir, cluster_id, database, &topts, &tap, errmsg);
	if (rc != 0)
		return rc;
	rc = tap_snapshot_taken(tap, st->index, st->term, st->buf, st->len,
	                        (uint64_t)clock_wall_ms(), errmsg);
	if (rc == 0)
		rc = tap_sync(tap, errmsg);
	tap_close(tap);
	return rc;
}

int main(int argc, char **argv)
{
	char errmsg[MA_ERRMSG_SIZE], dir[PATH_MAX], raft[PATH_MAX],
	    spool[PATH_MAX];
	char cluster_id[PROTO_CLUSTER_ID_LEN + 1], node_dir[PATH_MAX];
	const char *crash_at = getenv("RAFTKV_SEED_CRASH_AT");
	struct stage sg;
	int leftover;
	struct seed_state st;
	struct args a;
	unsigned written = 0, n_targets;
	struct member *targets;
	struct wal_identity wid;
	int rc;

	memset(&st, 0, sizeof st);
	/* Test hook (tests/integration/test_seed_crash.sh). */
	if (crash_at != NULL)
		io_crash_set(atol(crash_at));
	rc = parse_args(argc, argv, &a, errmsg);
	if (rc != 0)
		goto fail;
	rc = stage_init(&sg, a.out, errmsg);
	if (rc != 0)
		goto fail;
	targets = a.join.id != 0 ? &a.join : a.m;
	n_targets = a.join.id != 0 ? 1 : a.n;
	if (snprintf(dir, sizeof dir, "%s/%s", a.data_dir, a.database) >=
	    (int)sizeof dir) {
		rc = ma_errorf(errmsg, MA_ERR_INVAL, "--data-dir too long");
		goto fail;
	}
	/* Every check before the first write: OUT absent or empty, the
	 * staging path free or a leftover of an interrupted run. */
	for (unsigned i = 0; i < n_targets; i++) {
		if (node_path(raft, sizeof raft, sg.path, targets[i].id,
		              "raft") != 0 ||
		    node_path(spool, sizeof spool, sg.path, targets[i].id,
		              "spool") != 0) {
			rc = ma_errorf(errmsg, MA_ERR_INVAL, "--out too long");
			goto fail;
		}
	}
	if ((rc = check_empty(sg.out, errmsg)) != 0)
		goto fail;
	leftover = stage_probe(&sg, errmsg);
	if (leftover < 0) {
		rc = leftover;
		goto fail;
	}
	rc = state_load(dir, a.database, a.at_index, &st, errmsg);
	if (rc != 0)
		goto fail;
	if (a.keep_cluster_id)
		snprintf(cluster_id, sizeof cluster_id, "%s", st.id.cluster_id);
	else if (a.cluster_id != NULL)
		snprintf(cluster_id, sizeof cluster_id, "%s", a.cluster_id);
	else if (spool_uuid_generate(cluster_id) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_IO,
		               "no entropy for the new cluster id");
		goto fail;
	}
	/* A bad --cluster-id fails here, not half way through the nodes. */
	rc = wal_identity_init(&wid, cluster_id, a.database, errmsg);
	if (rc != 0) {
		ma_errwrapf(errmsg, rc, "--cluster-id");
		goto fail;
	}

	if (leftover == 1) {
		rc = stage_remove(&sg, errmsg);
		if (rc != 0)
			goto fail;
		fprintf(stderr,
		        "raftkv-seed: removed %s, left by an interrupted run "
		        "(%s was never written)\n",
		        sg.path, sg.out);
	}
	/* The staging directory, marked as ours before anything else goes
	 * into it. */
	if ((rc = io_mkdir_p(sg.path, 0755, errmsg)) != 0 ||
	    (rc = io_fsync_dir(sg.parent, errmsg)) != 0 ||
	    (rc = io_write_file_durable(sg.path, STAGE_MARKER,
	                                "raftkv-seed staging directory\n", 30,
	                                errmsg)) != 0)
		goto fail_stage;
	for (unsigned i = 0; i < n_targets; i++) {
		/* (The lengths were checked above.) */
		if (node_path(raft, sizeof raft, sg.path, targets[i].id,
		              "raft") != 0 ||
		    node_path(spool, sizeof spool, sg.path, targets[i].id,
		              "spool") != 0 ||
		    node_path(node_dir, sizeof node_dir, sg.path, targets[i].id,
		              "") != 0) {
			rc = ma_errorf(errmsg, MA_ERR_INVAL, "--out too long");
			goto fail_stage;
		}
		if ((rc = io_mkdir_p(raft, 0755, errmsg)) != 0 ||
		    (rc = raft_dir_write(raft, &a, &targets[i], &st, errmsg)) !=
		        0 ||
		    (rc = spool_write(spool, cluster_id, a.database, &st,
		                      errmsg)) != 0 ||
		    (rc = io_fsync_dir(raft, errmsg)) != 0 ||
		    (rc = io_fsync_dir(spool, errmsg)) != 0 ||
		    (rc = io_fsync_dir(node_dir, errmsg)) != 0) {
			ma_errwrapf(errmsg, rc, "node %llu", targets[i].id);
			goto fail_stage;
		}
		written++;
	}
	/* The commit point: the staging directory becomes OUT (an empty
	 * OUT is replaced), durably. */
	rc = io_durable_replace(sg.parent, sg.name, sg.out_name, errmsg);
	if (rc != 0)
		goto fail_stage;
	if (io_path_join(node_dir, sizeof node_dir, sg.out, STAGE_MARKER) !=
	        0 ||
	    unlink(node_dir) != 0 || io_fsync_dir(sg.out, errmsg) != 0)
		fprintf(stderr,
		        "raftkv-seed: %s is complete; %s is left "
		        "over (harmless)\n",
		        sg.out, node_dir);
	printf("seeded %s index=%" PRIu64 " term=%" PRIu64
	       " fingerprint=kv:%08" PRIx32 " cluster_id=%s nodes=%u "
	       "bytes=%zu\n",
	       a.database, st.index, st.term, st.fingerprint, cluster_id,
	       written, st.len);
	if (crash_at != NULL)
		fprintf(stderr, "io_ops=%ld\n", io_crash_ops());
	free(st.buf);
	return 0;
fail_stage : {
	char em2[MA_ERRMSG_SIZE];
	if (stage_remove(&sg, em2) != 0)
		fprintf(stderr, "raftkv-seed: %s\n", em2);
	else
		fprintf(stderr,
		        "raftkv-seed: nothing was written to %s (%u of "
		        "%u nodes had been staged; the staging "
		        "directory is removed): fix the cause and run "
		        "it again\n",
		        sg.out, written, n_targets);
}
fail:
	fprintf(stderr, "raftkv-seed: %s (%s)\n", errmsg, ma_strerror(rc));
	free(st.buf);
	return 1;
}
