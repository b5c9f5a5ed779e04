/* The spool: one database's directory as a source node's tap writes it and
 * as a mirror keeps it (the same layout, so a mirror can be served):
 *
 *   <dir>/identity      cluster id, database id, epoch (durable, with CRC)
 *   <dir>/snapshots/    snapshot store (snapshot/snapshot.h)
 *   <dir>/wal/          committed log (wal/wal.h)
 *   <dir>/recv/         mirror only: <database>.partial + progress record
 *
 * The identity is fixed when the spool is created; `epoch` is bumped when a
 * spool is reset, so a mirror can tell a reset source from its old self. */
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
 * only when `replace` is set. 0, MA_ERR_EXISTS, MA_ERR_INVAL (bad ids),
 * MA_ERR_IO, MA_ERR_NOSPACE. */
int spool_identity_write(const char *dir, const struct proto_identity *id,
                         bool replace, char *errmsg);
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
/* True when a and b are the same source (cluster, database, epoch). */
bool spool_identity_equal(const struct proto_identity *a,
                          const struct proto_identity *b);

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

#endif
