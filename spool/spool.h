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
/* True when a and b are the same source (cluster, database, epoch). */
bool spool_identity_equal(const struct proto_identity *a,
                          const struct proto_identity *b);

/* Joins dir and a sub-directory name (SPOOL_*_DIR) into out. 0 or
 * MA_ERR_INVAL when it does not fit. */
int spool_path(char *out, size_t size, const char *dir, const char *sub);

/* Generates a random UUID (version 4) string into out (37 bytes). 0 or
 * MA_ERR_IO (no entropy source). */
int spool_uuid_generate(char out[PROTO_CLUSTER_ID_LEN + 1]);

#endif
