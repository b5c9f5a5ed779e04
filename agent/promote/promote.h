/* Promote: turns a mirror's database directory into a source of its own
 * (DESIGN.md section 11, docs/OPERATIONS.md "Promote").
 *
 * The sequence, for one database directory the caller has stopped
 * following (the wal's lock is taken here: a running follower gives
 * MA_ERR_BUSY):
 *   1. open the wal (its recovery keeps exactly the durable records) and
 *      the snapshot store; the promoted index is the wal's last index, or
 *      --at-index N, which must lie between the newest snapshot's index
 *      and the last index;
 *   2. rebuild the state at that index (the newest snapshot plus the wal
 *      entries after it) and take its fingerprint and term;
 *   3. commit: write <dir>/promoted durably (spool/spool.h). Before this
 *      step nothing of the directory has changed, so a crash leaves a
 *      followable mirror with its data; from this step on the directory
 *      is promoted (follow refuses it);
 *   4. roll forward: truncate the wal after the index, then write the
 *      identity with the new epoch (serve refuses the directory until
 *      this last write). Both are idempotent: running promote again on a
 *      directory whose promoted record exists finishes them and answers
 *      the recorded figures (`already`).
 *
 * Fingerprints (the same as the read API's /fingerprint for kv, so a DR
 * drill compares them with the source and a seeded cluster):
 *   kv:XXXXXXXX   kv_store_fingerprint() of the kv state at the index;
 *   log:XXXXXXXX  for applier "none": CRC32C over the base snapshot's
 *                 CRC32C and index (8 bytes little endian each, the CRC
 *                 widened) followed by, per entry after it up to the
 *                 index, its index and term (8 bytes LE), type (1 byte),
 *                 length (4 bytes LE) and data.
 *
 * Errors: 0 or a negative MA_ERR_* code with errmsg filled. */
#ifndef MIRROR_AGENT_PROMOTE_H
#define MIRROR_AGENT_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"
#include "spool/spool.h"

struct promote_options {
	const char *dir;   /* the database's spool-layout directory */
	const char *name;  /* its database id, as configured */
	int applier_kind;  /* enum applier_kind: which fingerprint */
	uint64_t at_index; /* 0: the last durable index */
	/* The last source commit index the mirror saw (the status file's
	 * source_commit_index); 0 when unknown. The larger of it and the
	 * directory's DIR/source_commit (spool.h) is recorded: no RPO figure
	 * when both are unknown. */
	uint64_t source_commit_index;
	int64_t now_unix_ms; /* recorded as the time of the promotion */
};

struct promote_result {
	struct spool_promoted rec; /* what the directory now records */
	bool already;         /* promoted before: rec is the earlier record */
	uint64_t truncated;   /* wal entries removed after the index */
	bool rpo_known;       /* rec.source_commit_index was known */
	uint64_t rpo_entries; /* source_commit_index - index (0 if ahead) */
};

/* Where a directory stands, for the choice of the promoted index: the
 * newest snapshot's index (0: none), the wal's first and last indexes
 * (last 0: empty). Pure: no I/O. */
struct promote_position {
	uint64_t snapshot_index;
	uint64_t wal_first, wal_last;
};

/* Chooses the promoted index for at_index (0: the last one held). Returns
 * 0 with *index set, or MA_ERR_NOTFOUND (no complete state: nothing held,
 * or a wal that does not start at 1 or right after the snapshot: still
 * Bootstrapping), MA_ERR_INVAL (at_index beyond the last durable index,
 * or before the newest snapshot), with errmsg naming the figures. */
int promote_choose_index(const struct promote_position *pos, uint64_t at_index,
                         uint64_t *index, char *errmsg);

/* A mirror directory opened to read its state at an index: the one
 * position lookup of promote and raftkv-seed. */
struct promote_source {
	struct wal_log *wal; /* locked: no follower runs on it */
	struct snapshot_store *store;
	struct snapshot_meta base; /* the newest snapshot, if have_base */
	bool have_base;
	struct promote_position pos;
};
struct applier;

/* Opens dir's wal (identity id: its cluster and database; the wal's lock:
 * MA_ERR_BUSY when a follower holds it, errmsg to be completed by the
 * caller with what to do) and snapshot store, and reads the position.
 * On failure nothing stays open. */
int promote_source_open(const char *dir, const struct proto_identity *id,
                        struct promote_source *s, char *errmsg);
void promote_source_close(struct promote_source *s);
/* The term of the entry at index: the newest snapshot's at its index,
 * else the wal's. 0 or the wal's error. */
int promote_source_term_at(struct promote_source *s, uint64_t index,
                           uint64_t *term, char *errmsg);
/* The kv state at index (the newest snapshot plus the wal entries after
 * it) in a new kv applier (*out; the caller frees it with
 * applier_free). index must lie within the position (promote_choose_
 * index). 0 or the restore/read/apply error. */
int promote_source_kv_at(struct promote_source *s, const char *name,
                         uint64_t index, struct applier **out, char *errmsg);

/* Runs the sequence above. Returns 0, or: MA_ERR_BUSY (a follower holds
 * the directory: stop it or promote through it), MA_ERR_NOTFOUND (no
 * identity or no complete state: nothing changed), MA_ERR_INVAL (bad
 * --at-index, or at_index differs from an earlier promotion's index:
 * nothing changed), MA_ERR_IDENTITY (the identity names another
 * database), MA_ERR_CORRUPT, MA_ERR_IO, MA_ERR_NOSPACE, MA_ERR_NOMEM. */
int promote_database(const struct promote_options *o, struct promote_result *r,
                     char *errmsg);

/* The answer line of `mirror-agent promote` for r (docs/OPERATIONS.md):
 * "promoted NAME index=N term=T fingerprint=F epoch=E incarnation=U
 * source_commit_index=S rpo_entries=K|unknown truncated=X[ already=1]\n"
 * on one line. Returns its length (cut to size - 1). */
int promote_result_format(const char *name, const struct promote_result *r,
                          char *out, size_t size);

/* Promotion through a running follower: `mirror-agent promote` writes
 * DATA_DIR/promote.request and sends the follower SIGUSR1; the follower
 * stops (syncing every wal), promotes the databases named, writes
 * DATA_DIR/promote.result ("status=N\n" and the answer lines) and exits. */
#define PROMOTE_REQUEST_FILE "promote.request"
#define PROMOTE_RESULT_FILE "promote.result"
#define PROMOTE_REQUEST_MAX 64 /* databases per request */
/* Longest request file read (at_index may carry leading zeros). */
#define PROMOTE_REQUEST_TEXT_MAX (1u << 16)

struct promote_request {
	uint64_t at_index; /* 0: the last durable index */
	size_t n;
	char names[PROMOTE_REQUEST_MAX][PROTO_DATABASE_ID_MAX + 1];
};

/* "at_index=N\n" then one "database=NAME\n" per database. Returns the
 * text's length or MA_ERR_LIMIT. */
int promote_request_format(const struct promote_request *rq, char *out,
                           size_t size);
/* Parses exactly that (names checked with the name rule, 1..64 of them;
 * at_index may have leading zeros), at most PROMOTE_REQUEST_TEXT_MAX
 * bytes. 0 or MA_ERR_CORRUPT naming the line and key. */
int promote_request_parse(const char *text, size_t len,
                          struct promote_request *rq, char *errmsg);

#endif
