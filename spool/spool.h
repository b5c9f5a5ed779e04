/* The spool: one database's directory as a source node's tap writes it and
 * as a mirror keeps it (the same layout, so a mirror can be served):
 *
 *   <dir>/identity      cluster id, database id, epoch, incarnation
 *                       (durable, with CRC)
 *   <dir>/snapshots/    snapshot store (snapshot/snapshot.h)
 *   <dir>/wal/          committed log (wal/wal.h)
 *   <dir>/recv/         mirror only: <database>.partial + progress record
 *
 * The identity is fixed when the spool is created. Its incarnation is a
 * random UUID made then (tap_open), so a spool deleted and rebuilt under
 * the same cluster id is a new source to every mirror. A mirror stores the
 * cluster's identity without an incarnation (every node of a cluster has
 * its own spool and incarnation) and each node's incarnation in
 * <dir>/incarnations (below). `epoch` is written as 1 and never bumped:
 * the incarnation does the job the epoch was meant for (docs/TAP.md). */
#ifndef MIRROR_AGENT_SPOOL_H
#define MIRROR_AGENT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For struct proto_identity only: a header, no code of proto/ is linked. */
#include "proto/proto.h"

#define SPOOL_IDENTITY_FILE "identity"
#define SPOOL_SNAPSHOT_DIR "snapshots"
#define SPOOL_WAL_DIR "wal"

/* Writes dir/identity durably (creating dir). Replaces an existing one
 * only when `replace` is set. The cluster id (and the incarnation, when
 * set) must be UUIDs, the database id a name (common/parse.h): nothing
 * else is ever stored. 0, MA_ERR_EXISTS, MA_ERR_INVAL (bad ids),
 * MA_ERR_IO, MA_ERR_NOSPACE. */
int spool_identity_write(const char *dir, const struct proto_identity *id,
                         bool replace, char *errmsg);
/* The one reader of the spool's small text records (identity, promoted,
 * freshness, the last source commit index): reads dir/name, at most max
 * bytes, and hands the text to parse (which fills out). 0, MA_ERR_NOTFOUND
 * (errmsg "PATH: absent"), MA_ERR_CORRUPT (longer than max: wrapped
 * "cannot read WHAT"; or parse's refusal, prefixed with the path),
 * MA_ERR_INVAL (path too long) or the read error. */
int spool_record_read(const char *dir, const char *name, size_t max,
                      const char *what, const char *absent,
                      int (*parse)(const char *text, size_t len, void *out,
                                   char *errmsg),
                      void *out, char *errmsg);
/* Reads dir/identity. 0, MA_ERR_NOTFOUND (no identity yet), MA_ERR_CORRUPT
 * (malformed or CRC mismatch: names the file), MA_ERR_IO. */
int spool_identity_read(const char *dir, struct proto_identity *id,
                        char *errmsg);

/* The identity file's text, from memory (the decoder of bytes from disk,
 * and what the fuzz target drives). Largest identity file. */
#define SPOOL_IDENTITY_TEXT_MAX 256
/* Formats id as the identity file's text into out. Returns its length, or
 * MA_ERR_INVAL when an id breaks the name rule (common/parse.h). */
int spool_identity_format(const struct proto_identity *id,
                          char out[SPOOL_IDENTITY_TEXT_MAX], char *errmsg);
/* Parses text[0..len): exactly what spool_identity_format() writes, with a
 * good CRC line, and nothing else. 0 or MA_ERR_CORRUPT (*id zeroed). */
int spool_identity_parse(const char *text, size_t len,
                         struct proto_identity *id, char *errmsg);
/* True when a and b are the same identity (cluster, database, epoch,
 * incarnation; the UUIDs compared without regard to case). */
bool spool_identity_equal(const struct proto_identity *a,
                          const struct proto_identity *b);
/* True when a source announcing `seen` is the one a mirror stored as
 * `stored`: same cluster, database and epoch, and the same incarnation,
 * unless `stored` has none (written before incarnations existed: the
 * caller then stores the one it sees). */
bool spool_identity_accepts(const struct proto_identity *stored,
                            const struct proto_identity *seen);

/* A mirror's record of its sources' incarnations, one per source node:
 * every node of a cluster has a spool of its own and so an incarnation of
 * its own; a node answering with another incarnation than the one
 * recorded for it had its spool rebuilt and is a new source.
 * <dir>/incarnations: "node=N incarnation=U" lines and a CRC line,
 * written durably. A node is known by its endpoint as the operator wrote
 * it (host:port before resolving: a name keeps its node across address
 * changes, and another node taking over an address under another name is
 * not taken for it). Files written before that keyed nodes by resolved
 * address ("source=ADDR incarnation=U" lines): they read with by_address
 * set, and the mirror re-keys them at start (spool_incarnations_rekey:
 * the entry of the address an endpoint resolves to now becomes that
 * endpoint's) and drops the rest (docs/OPERATIONS.md, "Incarnations"). */
#define SPOOL_INCARNATIONS_FILE "incarnations"
#define SPOOL_INCARNATIONS_MAX 16
/* A node's name: a host name (up to 253 characters, [] around an IPv6
 * address) and ":PORT". Names compare case-insensitively, as DNS does. */
#define SPOOL_SOURCE_MAX 263
struct spool_incarnations {
	size_t n;
	struct {
		char source[SPOOL_SOURCE_MAX + 1];
		char incarnation[PROTO_INCARNATION_LEN + 1];
		bool by_address; /* an old "source=" line: keyed by address */
	} v[SPOOL_INCARNATIONS_MAX];
};
/* Reads dir/incarnations (none: s->n = 0), both line kinds. 0,
 * MA_ERR_CORRUPT (names the file), MA_ERR_IO. */
int spool_incarnations_read(const char *dir, struct spool_incarnations *s,
                            char *errmsg);
/* Writes it durably (each entry as the kind it is). 0, MA_ERR_INVAL (a
 * bad source or incarnation), MA_ERR_IO, MA_ERR_NOSPACE. */
int spool_incarnations_write(const char *dir,
                             const struct spool_incarnations *s, char *errmsg);
/* The incarnation recorded for the node named source (entries keyed by
 * address never match), or NULL. */
const char *spool_incarnation_of(const struct spool_incarnations *s,
                                 const char *source);
/* Migration of an old file: the entry keyed by address `addr` becomes the
 * entry of the node named `name`, unless name has one already. True when
 * one was re-keyed. */
bool spool_incarnations_rekey(struct spool_incarnations *s, const char *addr,
                              const char *name);
/* Drops every entry still keyed by address; returns how many. */
size_t spool_incarnations_drop_by_address(struct spool_incarnations *s);

/* Checks that a spool's wal starts where its snapshots leave off: with
 * no snapshot it must start at index 1; with one (the latest, index
 * snap_index, term snap_term) at or before snap_index + 1. A wal that
 * starts later lost its first segment(s): entries between the snapshot
 * and the wal are missing, and nothing else would notice (every segment
 * present is well-formed and contiguous). wal_first is the wal's first
 * index (0: no segment at all, which is fine). 0, or MA_ERR_CORRUPT with
 * errmsg naming the wal's first segment file and the snapshot. */
int spool_wal_base_check(const char *wal_dir, uint64_t wal_first,
                         bool has_snapshot, uint64_t snap_index,
                         uint64_t snap_term, char *errmsg);

/* Joins dir and a sub-directory name (SPOOL_*_DIR) into out. 0 or
 * MA_ERR_INVAL when it does not fit. */
int spool_path(char *out, size_t size, const char *dir, const char *sub);

/* Generates a random UUID (version 4) string into out (37 bytes). 0 or
 * MA_ERR_IO (no entropy source). */
int spool_uuid_generate(char out[PROTO_CLUSTER_ID_LEN + 1]);

/* ---- promoted record (spool_promoted.c) ----
 *
 * <dir>/promoted exists once a mirror's directory was promoted to a source
 * of its own (`mirror-agent promote`, docs/OPERATIONS.md "Promote"). It is
 * the commit point of the promotion: written durably before anything else
 * changes, it says which source the directory mirrored, at which index it
 * stopped, and the new incarnation (epoch, random id) that the identity
 * file then takes. A directory with this file is never followed again. */
#define SPOOL_PROMOTED_FILE "promoted"
#define SPOOL_PROMOTED_TEXT_MAX 640
#define SPOOL_FINGERPRINT_MAX 24 /* "kv:0123abcd" or "log:0123abcd" */

struct spool_promoted {
	struct proto_identity from; /* the source it mirrored */
	uint64_t epoch;             /* the identity's epoch from now on */
	char incarnation[PROTO_CLUSTER_ID_LEN + 1]; /* random UUID */
	uint64_t index, term;                       /* promoted at */
	char fingerprint[SPOOL_FINGERPRINT_MAX];    /* state at index */
	uint64_t source_commit_index; /* last one the mirror saw; 0 unknown */
	int64_t unix_ms;              /* when (wall clock) */
};

/* Formats p as the record's text (key=value lines and a crc32c line).
 * Returns its length, or MA_ERR_INVAL (an id breaks the name rule, a
 * fingerprint or incarnation with characters outside [A-Za-z0-9:-]). */
int spool_promoted_format(const struct spool_promoted *p,
                          char out[SPOOL_PROMOTED_TEXT_MAX], char *errmsg);
/* Parses exactly what spool_promoted_format() writes. 0 or MA_ERR_CORRUPT
 * (*p zeroed). */
int spool_promoted_parse(const char *text, size_t len, struct spool_promoted *p,
                         char *errmsg);
/* Writes dir/promoted durably (tmp, fsync, rename, fsync dir). 0 or
 * MA_ERR_INVAL, MA_ERR_IO, MA_ERR_NOSPACE. */
int spool_promoted_write(const char *dir, const struct spool_promoted *p,
                         char *errmsg);
/* Reads dir/promoted. 0, MA_ERR_NOTFOUND (not promoted), MA_ERR_CORRUPT
 * (names the file), MA_ERR_IO. */
int spool_promoted_read(const char *dir, struct spool_promoted *p,
                        char *errmsg);
/* Whether the promotion recorded in p is complete for a directory whose
 * identity is id: the identity carries the new epoch (written last). */
bool spool_promoted_complete(const struct spool_promoted *p,
                             const struct proto_identity *id);

/* ---- retention reservations (spool_reserve.c, docs/TAP.md
 * "Reservations") ----
 *
 * serve records, per mirror identity, the last index the mirror holds
 * durably in <spool_dir>.reservations/ (a sibling of the spool: serve
 * writes there and nowhere else, the spool stays read-only to it). The
 * tap's retention keeps the wal from the oldest live reservation on,
 * within a budget in bytes and age. One file per identity,
 * "r-<16 hex digits>" (a hash of the identity; the file holds the whole
 * identity), text lines and a CRC line, written durably. */
#define SPOOL_RESERVE_SUFFIX ".reservations"
#define SPOOL_RESERVE_TEXT_MAX 512
/* Identities: transport_request_peer()'s string, bytes 0x21..0x7e. */
#define SPOOL_RESERVE_IDENTITY_MAX 255
/* Files read per spool; more are ignored with a log line. */
#define SPOOL_RESERVE_MAX 256
#define SPOOL_RESERVE_NAME_LEN 18 /* "r-" + 16 hex digits */

struct spool_reservation {
	char identity[SPOOL_RESERVE_IDENTITY_MAX + 1];
	char database[PROTO_DATABASE_ID_MAX + 1];
	/* The last index the mirror holds durably: it asks for index + 1
	 * next and serve checks the term at index, so retention keeps the
	 * segment holding index. */
	uint64_t index;
	uint64_t updated_ms; /* Unix time (ms) serve last wrote it */
};

/* <spool_dir>.reservations into out (a trailing '/' of spool_dir is
 * dropped). 0 or MA_ERR_INVAL (does not fit). */
int spool_reserve_dir(char *out, size_t size, const char *spool_dir);
/* The file name of identity's reservation (NUL-terminated). */
void spool_reserve_file_name(const char *identity,
                             char out[SPOOL_RESERVE_NAME_LEN + 1]);
/* Formats r as the file's text. Returns its length or MA_ERR_INVAL (an
 * identity empty, too long or with bytes outside 0x21..0x7e; a database
 * breaking the name rule). */
int spool_reserve_format(const struct spool_reservation *r,
                         char out[SPOOL_RESERVE_TEXT_MAX], char *errmsg);
/* Parses exactly what spool_reserve_format() writes (no other spelling of
 * a number, no extra line, a good CRC). 0 or MA_ERR_CORRUPT (*r
 * zeroed). */
int spool_reserve_parse(const char *text, size_t len,
                        struct spool_reservation *r, char *errmsg);
/* Writes r durably into rdir (created 0755 when missing) under
 * spool_reserve_file_name(r->identity). 0 or MA_ERR_INVAL, MA_ERR_IO,
 * MA_ERR_NOSPACE. */
int spool_reserve_write(const char *rdir, const struct spool_reservation *r,
                        char *errmsg);
/* Reads every reservation in rdir into a malloc()ed array (*out, *n;
 * none or no directory: *n = 0, *out NULL). A file that does not parse,
 * or whose name is not its identity's, reserves nothing: it is skipped
 * with a log line. 0, MA_ERR_IO, MA_ERR_NOMEM. */
int spool_reserve_list(const char *rdir, struct spool_reservation **out,
                       size_t *n, char *errmsg);
/* Removes identity's reservation from rdir (a missing one is fine). 0 or
 * MA_ERR_IO. */
int spool_reserve_remove(const char *rdir, const char *identity, char *errmsg);

/* The budget of reservations (tap_options reserve_max_*). */
struct spool_reserve_budget {
	uint64_t max_bytes;
	uint64_t max_age_ms;
};
/* The tap's budget, published in <rdir>/budget when the tap opens (when
 * the directory exists), so that serve can tell mirrors their headroom:
 * "mirror-agent reservation budget 1", max_bytes=N, max_age_ms=N and a
 * CRC line. */
#define SPOOL_RESERVE_BUDGET_FILE "budget"
/* Writes b durably into rdir (which must exist). 0 or MA_ERR_NOTFOUND (no
 * directory), MA_ERR_IO, MA_ERR_NOSPACE. */
int spool_reserve_budget_write(const char *rdir,
                               const struct spool_reserve_budget *b,
                               char *errmsg);
/* Reads it: 0, MA_ERR_NOTFOUND, MA_ERR_CORRUPT (not exactly what the
 * writer writes), MA_ERR_IO. */
int spool_reserve_budget_read(const char *rdir, struct spool_reserve_budget *b,
                              char *errmsg);
/* Seconds a mirror can stay away from now before the budget drops its
 * reservation: the age left (max_age_ms - age_ms), and the bytes left
 * (max_bytes - held) at the write rate (bytes_per_s; 0: no limit from
 * bytes). 0 when either is used up. */
uint64_t spool_reserve_headroom_s(const struct spool_reserve_budget *b,
                                  uint64_t age_ms, uint64_t held,
                                  uint64_t bytes_per_s);

/* The wal segments of a spool, oldest first: their first index and size
 * in bytes (the wal's own listing, wal_seg_list, and stat). *n = 0 when
 * the directory is missing. 0, MA_ERR_IO, MA_ERR_NOMEM. */
struct spool_segment {
	uint64_t first_index;
	uint64_t bytes;
};
int spool_wal_segments(const char *wal_dir, struct spool_segment **out,
                       size_t *n, char *errmsg);

/* The retention rule (pure). cut: the first index retention keeps without
 * reservations; segs[0..nsegs): the wal, oldest first; v[0..n): the
 * reservations, sorted here by index. A reservation is honoured (verdict
 * KEEP) unless it is older than max_age_ms at now_ms (DROP_AGE), or
 * below the wal's first index (STALE: what it needed is gone), or it
 * would make the spool keep more than max_bytes of segments retention
 * would otherwise delete (DROP_BYTES: the oldest go first; max_bytes 0
 * honours none). held[i] is what reservation i keeps beyond cut, in
 * bytes (0 unless KEEP). Returns the first index to keep:
 * min(cut, the lowest KEEP index), never 0. */
enum spool_reserve_verdict {
	SPOOL_RESERVE_KEEP,
	SPOOL_RESERVE_DROP_AGE,
	SPOOL_RESERVE_DROP_BYTES,
	SPOOL_RESERVE_STALE,
};
uint64_t spool_reserve_cut(uint64_t cut, const struct spool_segment *segs,
                           size_t nsegs, struct spool_reservation *v, size_t n,
                           const struct spool_reserve_budget *b,
                           uint64_t now_ms, enum spool_reserve_verdict *verdict,
                           uint64_t *held);
/* Retention's whole step over the reservations beside spool_dir, for the
 * tap and for a mirror whose directory is served on (cascade): lists
 * them and the wal's segments, applies spool_reserve_cut under b at
 * now_ms (Unix ms: serve stamps reservations with the wall clock), logs
 * (prefixed with who) what each kept reservation holds and why each other
 * one is dropped, and removes a dropped one only if serve did not rewrite
 * it meanwhile (its mirror came back). Returns the first index to keep;
 * cut itself when there is nothing to honour or the directory cannot be
 * read (a reservation that cannot be read reserves nothing: retention
 * never stops on one). */
uint64_t spool_reserve_apply(const char *spool_dir, uint64_t cut,
                             const struct spool_reserve_budget *b,
                             uint64_t now_ms, const char *who);
/* Bytes of segs retention keeps for a reservation at index beyond cut:
 * the segments that truncating before cut deletes and truncating before
 * index keeps (the last segment is never deleted). */
uint64_t spool_reserve_held(const struct spool_segment *segs, size_t nsegs,
                            uint64_t index, uint64_t cut);

/* The highest commit index a mirror heard its source announce (the RPO
 * figure of a promotion, issue 11): DIR/source_commit, one line
 * "source_commit_index=N\n". The follower replaces it atomically, not
 * durably, each time a source raises the figure (it survives a killed
 * process, not a power cut), and reads it back at start-up, so a restart
 * does not forget what the source had committed; promote takes it when
 * the status file knows less. */
#define SPOOL_SOURCE_COMMIT_FILE "source_commit"
/* 0, or the write error (errmsg names the file). */
int spool_source_commit_write(const char *dir, uint64_t index, char *errmsg);
/* 0 with *index, MA_ERR_NOTFOUND (none yet), MA_ERR_CORRUPT (not that
 * one line: errmsg names the file) or the read error. */
int spool_source_commit_read(const char *dir, uint64_t *index, char *errmsg);
/* ---- freshness record (spool_fresh.c) ----
 *
 * <dir>/freshness: what the tap's node knows about its cluster, for serve
 * to carry in every info answer and heartbeat (docs/TAP.md "Freshness").
 * Rewritten atomically (io_write_file_replace) at most every
 * SPOOL_FRESHNESS_INTERVAL_MS or when whether a leader is known changes,
 * and never fsynced: it is a hint that a crash may leave one write behind,
 * and the reader ages it against its own clock anyway. No file: unknown
 * (a tap that predates it, or an application that does not report). */
#define SPOOL_FRESHNESS_FILE "freshness"
#define SPOOL_FRESHNESS_TEXT_MAX 192
#define SPOOL_FRESHNESS_INTERVAL_MS 100
struct spool_freshness {
	/* The node knows a leader now (itself included). */
	bool leader_known;
	bool is_leader;
	/* Wall clock (ms since the epoch) of the node's last contact with a
	 * leader: for the leader itself, the last time it knew it had a
	 * quorum; 0 when it never had any. */
	int64_t leader_contact_ms;
	/* The node's Raft commit index (may be ahead of what the spool
	 * holds while entries are being applied). */
	uint64_t commit_index;
	int64_t written_ms; /* wall clock of the write */
};
/* Formats f as the file's text (key=value lines and a CRC line). Returns
 * its length, or MA_ERR_INVAL (a negative time). */
int spool_freshness_format(const struct spool_freshness *f,
                           char out[SPOOL_FRESHNESS_TEXT_MAX], char *errmsg);
/* Parses exactly what spool_freshness_format writes. 0 or MA_ERR_CORRUPT
 * (*f zeroed). */
int spool_freshness_parse(const char *text, size_t len,
                          struct spool_freshness *f, char *errmsg);
/* Replaces dir/freshness atomically, without fsync. 0, MA_ERR_INVAL,
 * MA_ERR_IO, MA_ERR_NOSPACE. */
int spool_freshness_write(const char *dir, const struct spool_freshness *f,
                          char *errmsg);
/* Reads dir/freshness. 0, MA_ERR_NOTFOUND (no record: unknown),
 * MA_ERR_CORRUPT (names the file), MA_ERR_IO. */
int spool_freshness_read(const char *dir, struct spool_freshness *f,
                         char *errmsg);

#endif
