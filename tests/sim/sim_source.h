/* The simulation's source: serve's sans-I/O cores (agent/serve/
 * serve_request.h, serve_log.h, serve_snapshot.h) over a real spool in a
 * scratch directory, with the libevent glue of serve.c replaced by calls
 * the harness makes with a fake clock. A response is pulled: the harness
 * asks for its next bytes when the link has room, and a log stream also
 * wakes on the harness's heartbeat timer and on sim_source_touch. */
#ifndef MIRROR_TESTS_SIM_SOURCE_H
#define MIRROR_TESTS_SIM_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/serve/serve_snapshot.h"

struct sim_source;
struct sim_response;

/* Opens the spool at dir serving database `name` (its identity file must
 * name it). chunk_size: snapshot chunk bytes; fault: what every snapshot
 * stream damages (SERVE_FAULT_NONE: nothing). 0 or an MA_ERR_* code. */
int sim_source_open(const char *dir, const char *name, size_t chunk_size,
                    enum serve_fault fault, struct sim_source **out,
                    char *errmsg);
void sim_source_close(struct sim_source *s);
void sim_source_set_fault(struct sim_source *s, enum serve_fault fault);
/* serve's snapshot_compression_level (0, the default: off): info offers
 * zstd and snapshot requests that ask for it get compressed chunks. */
void sim_source_set_compression(struct sim_source *s, int level);
/* Snapshot streams compressed so far, and the chunk data bytes of every
 * finished snapshot stream before and after compression. */
void sim_source_compression_stats(const struct sim_source *s,
                                  uint64_t *zstd_streams, uint64_t *raw_bytes,
                                  uint64_t *wire_bytes);
/* serve's source protection (serve_limits_admit): snapshot requests past
 * l->snapshots_per_identity open snapshot responses get 503 unavailable.
 * Zero: no cap (the default). */
void sim_source_set_limits(struct sim_source *s, const struct serve_limits *l);
/* The retention headroom heartbeats carry (serve's glue computes it from
 * the tap's budget; here the test sets it). Default: none. */
void sim_source_set_headroom(struct sim_source *s, bool has, uint64_t secs);
/* Requests the cap refused so far. */
uint64_t sim_source_refused(const struct sim_source *s);
/* status != 0: every request is answered with it and an `x` frame
 * "unavailable" (a source that can do nothing for the mirror); 0: back
 * to normal. */
void sim_source_refuse_all(struct sim_source *s, int status);
/* The spool changed (entries, snapshots, compaction): the next pulls
 * refresh their readers, as serve does on an inotify wake-up. */
void sim_source_touch(struct sim_source *s);
/* Re-reads the identity file (after the test rewrote it). */
int sim_source_reload_identity(struct sim_source *s, char *errmsg);

/* Starts the response to GET path at wall time wall_ms: *status gets the
 * HTTP status; the body comes from sim_response_pull. Never fails (an
 * internal error is a 503 with an `x` frame, as serve answers). */
struct sim_response *sim_source_request(struct sim_source *s, const char *path,
                                        int64_t wall_ms, int *status);
/* Appends up to about max_bytes of body to out (whole frames). heartbeat
 * asks a log stream for a heartbeat frame now; a log stream refreshes its
 * reader when the source was touched since its last pull. Returns true
 * when the body is complete (no more bytes ever). */
bool sim_response_pull(struct sim_response *r, struct proto_buf *out,
                       size_t max_bytes, bool heartbeat, int64_t wall_ms);
/* True when the body ended in a reset (the snapshot file changed under
 * the sender), not cleanly. */
bool sim_response_reset(const struct sim_response *r);
/* True for a long-lived log stream. */
bool sim_response_is_log(const struct sim_response *r);
/* A snapshot stream's request offset (0 for others). */
uint64_t sim_response_offset(const struct sim_response *r);
void sim_response_free(struct sim_response *r);

#endif
