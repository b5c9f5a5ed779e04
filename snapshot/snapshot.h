/* snapshot: the snapshot store, the sender (file -> chunks) and the
 * receiver (chunks -> .partial -> .snapshot). No wire bytes here: proto/
 * encodes chunks as envelopes and decodes them back (proto/proto.h). Disk
 * formats are documented byte by byte in docs/SNAPSHOT-FORMAT.md.
 *
 * Every function that can fail returns 0 (or a stated positive value) or a
 * negative code from common/errors.h and fills errmsg (MA_ERRMSG_SIZE bytes,
 * may be NULL) with what failed, where, and what to do.
 *
 * The sender and the receiver are logic cores: no sockets, no clock. The
 * receiver writes files (through common/io.h) but takes `now` from its
 * caller. The store is the filesystem glue. */
#ifndef MIRROR_SNAPSHOT_SNAPSHOT_H
#define MIRROR_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest cluster id and database id; both match [A-Za-z0-9._-]{1,64}. */
#define SNAPSHOT_ID_MAX 64

/* Default chunk size of the sender (chosen with bench/bench_receiver; see
 * docs/SNAPSHOT-FORMAT.md). */
#define SNAPSHOT_CHUNK_DEFAULT (256 * 1024)
/* Smallest and largest chunk size a sender accepts. */
#define SNAPSHOT_CHUNK_MIN 512
#define SNAPSHOT_CHUNK_MAX (16 * 1024 * 1024)

/* Largest chunk a receiving mirror accepts by default (the limit proto's
 * envelope decoder applies to the data field). */
#define SNAPSHOT_DATA_MAX_DEFAULT (1024 * 1024)

/* Receiver defaults: fsync the .partial (and then record the durable
 * offset) every 8 MiB; report progress every 1 MiB. */
#define SNAPSHOT_FSYNC_INTERVAL_DEFAULT (8u * 1024 * 1024)
#define SNAPSHOT_PROGRESS_INTERVAL_DEFAULT (1024u * 1024)

/* What names a snapshot and its content. Two snapshots are the same when
 * every field is equal (snapshot_ident_equal). */
struct snapshot_ident {
	char cluster_id[SNAPSHOT_ID_MAX + 1];  /* NUL-terminated */
	char database_id[SNAPSHOT_ID_MAX + 1]; /* NUL-terminated */
	uint64_t index;                        /* last Raft index included */
	uint64_t term;                         /* term of that entry */
	uint64_t size;                         /* bytes in the snapshot file */
	uint32_t crc32c;                       /* CRC32C of the whole file */
};

/* A stored snapshot: its identity and when it was created. */
struct snapshot_meta {
	struct snapshot_ident id;
	uint64_t created_ms; /* Unix time in milliseconds, from the caller */
};

/* Returns true when a and b name the same snapshot with the same content. */
bool snapshot_ident_equal(const struct snapshot_ident *a,
                          const struct snapshot_ident *b);

/* Checks both ids of ident with parse_name_valid (common/parse.h). 0 or
 * MA_ERR_INVAL naming the field. */
int snapshot_ident_check(const struct snapshot_ident *ident, char *errmsg);

/* ------------------------------------------------------------------------
 * Metadata file and receiver progress record (snapshot_meta.c). Fixed-size
 * little-endian records with their own CRC32C; layouts in
 * docs/SNAPSHOT-FORMAT.md. */

#define SNAPSHOT_META_SIZE 184
#define SNAPSHOT_PROGRESS_SIZE 192
/* The progress file of the previous layout (before 2026-11-29) held two
 * record slots this far apart; read only to convert it (see
 * snapshot_receiver.c). The marks file starts with one record. */
#define SNAPSHOT_PROGRESS_SLOT 512

/* Which snapshot the .partial holds (the marks file's header: offset,
 * CRC and seq 0); in the previous layout's .progress also how many of its
 * bytes are known durable, and the CRC32C of those bytes. */
struct snapshot_progress {
	struct snapshot_ident id;
	uint64_t durable_offset;
	uint32_t running_crc32c;
	uint64_t seq; /* higher is newer; picks between the two slots */
};

/* Encodes into out[SNAPSHOT_META_SIZE]. ids must be valid. */
void snapshot_meta_encode(const struct snapshot_meta *meta,
                          uint8_t out[SNAPSHOT_META_SIZE]);
/* Decodes a metadata file's bytes. 0 or MA_ERR_CORRUPT (wrong length,
 * magic, version, CRC, bad id) with the reason in errmsg. */
int snapshot_meta_decode(const void *buf, size_t len,
                         struct snapshot_meta *meta, char *errmsg);
/* Reads and decodes the metadata file at path. 0, MA_ERR_NOTFOUND (no
 * such file), MA_ERR_IO, MA_ERR_CORRUPT. */
int snapshot_meta_read(const char *path, struct snapshot_meta *meta,
                       char *errmsg);

void snapshot_progress_encode(const struct snapshot_progress *p,
                              uint8_t out[SNAPSHOT_PROGRESS_SIZE]);
/* 0 or MA_ERR_CORRUPT; also rejects durable_offset > size. */
int snapshot_progress_decode(const void *buf, size_t len,
                             struct snapshot_progress *p, char *errmsg);

/* ------------------------------------------------------------------------
 * Store (snapshot_store.c): one directory holding <index>-<term>.snapshot
 * and <index>-<term>.meta per snapshot, plus a "store.lock" file.
 *
 * Visibility: the .meta is written durably first, then the data file is
 * renamed to its .snapshot name (io_durable_replace), so a .snapshot name
 * never exists without its metadata. Deletion removes the .snapshot first.
 *
 * Pins: snapshot_store_pin() keeps an in-memory reference count per
 * snapshot in this store handle and, while the count is above zero, holds
 * a shared flock() on an open descriptor of the .snapshot file. Retention
 * (in this or any other process) takes an exclusive non-blocking flock on
 * the file before deleting it and skips it when that fails, so a snapshot
 * pinned by any process is never deleted. Pins die with the process.
 *
 * Mutations (create, commit, retention, the leftover sweep at open) hold an
 * exclusive flock on store.lock for their duration, so a sweep in one
 * process never removes another process's in-progress temp file. */

struct snapshot_store; /* opaque */

/* Opens (creating with mode 0755 if missing) the store directory dir and
 * sweeps leftovers of interrupted store writes: *.tmp files and .meta
 * files without a .snapshot. 0, MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_store_open(const char *dir, struct snapshot_store **out,
                        char *errmsg);
/* Opens the store at dir for reading and pinning only (serve, which may
 * see spools through a read-only mount): creates nothing (no directory,
 * no store.lock), sweeps nothing, and refuses create, commit and
 * retention with MA_ERR_INVAL. A missing dir reads as an empty store. Pins
 * need no write access (shared flock on an O_RDONLY descriptor). 0,
 * MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_store_open_readonly(const char *dir, struct snapshot_store **out,
                                 char *errmsg);
/* Releases all pins held by this handle and frees it. NULL is fine. */
void snapshot_store_close(struct snapshot_store *store);

/* The store directory (as given to open) and the path of a snapshot's data
 * file. 0 or MA_ERR_INVAL (name too long). */
const char *snapshot_store_dir(const struct snapshot_store *store);
int snapshot_store_path(const struct snapshot_store *store, uint64_t index,
                        uint64_t term, char *out, size_t out_size);

/* Lists the snapshots with valid metadata, oldest first (by index, then
 * term), into a malloc()ed array the caller frees. Snapshots whose
 * metadata is missing or corrupt are skipped with a warning in the log.
 * 0 (possibly *count == 0), MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_store_list(struct snapshot_store *store,
                        struct snapshot_meta **metas, size_t *count,
                        char *errmsg);
/* The newest snapshot with valid metadata. 0, MA_ERR_NOTFOUND (store
 * empty), MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_store_latest(struct snapshot_store *store,
                          struct snapshot_meta *meta, char *errmsg);
/* Metadata of one snapshot. 0, MA_ERR_NOTFOUND, MA_ERR_CORRUPT (metadata
 * torn or garbled, or it names another index/term), MA_ERR_IO. */
int snapshot_store_get(struct snapshot_store *store, uint64_t index,
                       uint64_t term, struct snapshot_meta *meta, char *errmsg);

/* Pins a snapshot against deletion (see above); nests. 0,
 * MA_ERR_NOTFOUND, MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_store_pin(struct snapshot_store *store, uint64_t index,
                       uint64_t term, char *errmsg);
/* Drops one pin. 0 or MA_ERR_NOTFOUND (not pinned by this handle). */
int snapshot_store_unpin(struct snapshot_store *store, uint64_t index,
                         uint64_t term);

/* Deletes the oldest snapshots until at most `keep` unpinned ones remain.
 * Pinned snapshots (by any process) are never deleted and do not count
 * toward keep. *removed (may be NULL) gets the number deleted. 0,
 * MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_store_retain(struct snapshot_store *store, size_t keep,
                          size_t *removed, char *errmsg);

/* Imports a complete, verified file src_dir/src_name (on the same
 * filesystem as the store) as the snapshot described by meta: writes the
 * metadata, then renames the file in (io_durable_replace) and fsyncs
 * src_dir. The caller has checked size and CRC32C. If the store already
 * holds this exact snapshot the source file is removed and 0 returned.
 * 0, MA_ERR_INVAL, MA_ERR_EXISTS (same index/term, different content),
 * MA_ERR_NOSPACE, MA_ERR_IO. */
int snapshot_store_commit(struct snapshot_store *store, const char *src_dir,
                          const char *src_name,
                          const struct snapshot_meta *meta, char *errmsg);

/* Creates a snapshot from a buffer or by copying a file. ident supplies
 * cluster_id, database_id, index and term; size and crc32c are computed
 * and the full metadata is returned in *meta (may be NULL). 0,
 * MA_ERR_INVAL, MA_ERR_EXISTS, MA_ERR_NOTFOUND (src_path), MA_ERR_NOSPACE,
 * MA_ERR_IO. */
int snapshot_store_create_from_buf(struct snapshot_store *store,
                                   const struct snapshot_ident *ident,
                                   const void *buf, size_t len,
                                   uint64_t created_ms,
                                   struct snapshot_meta *meta, char *errmsg);
int snapshot_store_create_from_file(struct snapshot_store *store,
                                    const struct snapshot_ident *ident,
                                    const char *src_path, uint64_t created_ms,
                                    struct snapshot_meta *meta, char *errmsg);

/* Verifies a snapshot file against the metadata file beside it
 * (<same name>.meta): size and CRC32C. 0 when both match; MA_ERR_CORRUPT
 * naming what differs; MA_ERR_NOTFOUND, MA_ERR_IO. *meta (may be NULL)
 * gets the metadata when it could be read. */
int snapshot_file_verify(const char *path, struct snapshot_meta *meta,
                         char *errmsg);

/* ------------------------------------------------------------------------
 * Chunks: what the sender produces and the receiver consumes (on the wire
 * an envelope, see proto/proto.h). */

struct snapshot_chunk {
	struct snapshot_ident id; /* the whole snapshot, in every chunk */
	uint64_t offset;          /* where data goes in the file */
	const uint8_t *data;      /* borrowed; NULL when data_len == 0 */
	size_t data_len;
	uint32_t crc32c; /* CRC32C of data */
	bool done;       /* last chunk: offset == id.size */
	/* On the wire only (snapshot_codec.h): SNAPSHOT_ENCODING_ZSTD when
	 * data holds raw_len bytes compressed; crc32c is still over the raw
	 * bytes. The receiver takes raw chunks only (encoding 0). */
	uint8_t encoding;
	size_t raw_len;
};

/* ------------------------------------------------------------------------
 * Sender (snapshot_sender.c): reads a snapshot file with pread() and
 * produces chunks from any offset, then a final {done} chunk. */

struct snapshot_sender; /* opaque */

/* Opens path for sending the snapshot `ident` (from its metadata) starting
 * at `offset` (<= ident->size), in chunks of chunk_size bytes (0 means
 * SNAPSHOT_CHUNK_DEFAULT; else SNAPSHOT_CHUNK_MIN..SNAPSHOT_CHUNK_MAX).
 * Reads no data: when offset > 0 the bytes before it are read later, in
 * slices of at most 1 MiB per snapshot_sender_next call, for the
 * whole-file CRC32C that detects a file changed under the sender. 0,
 * MA_ERR_INVAL, MA_ERR_NOTFOUND, MA_ERR_CORRUPT (size differs from the
 * metadata), MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_sender_open(const char *path, const struct snapshot_ident *ident,
                         uint64_t offset, size_t chunk_size,
                         struct snapshot_sender **out, char *errmsg);
void snapshot_sender_close(struct snapshot_sender *s);
/* Produces the next chunk into *c (data borrowed from the sender, valid
 * until the next call). Each call reads at most one chunk plus 1 MiB of a
 * resumed send's prefix. Returns 1 with a chunk, 2 with no chunk (every
 * data chunk is out but the prefix of a resumed send is still being read
 * for the whole-file CRC32C: call again, after other events), 0 after the
 * final {done} chunk was produced, MA_ERR_CORRUPT when the file no longer
 * matches its metadata (size or CRC32C; then no done chunk is produced),
 * MA_ERR_IO. */
int snapshot_sender_next(struct snapshot_sender *s, struct snapshot_chunk *c,
                         char *errmsg);
/* Offset of the next data byte to send. */
uint64_t snapshot_sender_offset(const struct snapshot_sender *s);
/* True while the prefix of a resumed send is not all read yet. */
bool snapshot_sender_verifying(const struct snapshot_sender *s);
/* Bytes of that prefix read so far (0 for a send from offset 0). */
uint64_t snapshot_sender_verified(const struct snapshot_sender *s);

/* ------------------------------------------------------------------------
 * Receiver (snapshot_receiver.c): chunks for one database to
 * <data_dir>/recv/<database>.partial, committed into a store. */

enum snapshot_recv_event_type {
	SNAPSHOT_RECV_PROGRESS, /* every progress_interval bytes */
	SNAPSHOT_RECV_COMPLETE, /* committed: ready to catch up the log */
};

struct snapshot_recv_event {
	enum snapshot_recv_event_type type;
	uint64_t bytes_done; /* monotonic within one receive */
	uint64_t bytes_total;
	uint64_t now; /* as passed to the call that caused the event */
	const struct snapshot_meta *meta; /* COMPLETE only */
};

struct snapshot_receiver_config {
	const char *data_dir;         /* the .partial lives in data_dir/recv */
	struct snapshot_store *store; /* where complete snapshots go */
	uint64_t fsync_interval;      /* 0: SNAPSHOT_FSYNC_INTERVAL_DEFAULT */
	uint64_t progress_interval;   /* 0: SNAPSHOT_PROGRESS_INTERVAL_... */
	void (*on_event)(void *arg, const struct snapshot_recv_event *ev);
	void *arg;
	/* The marks file is fdatasynced at every this many marks (0:
	 * SNAPSHOT_MARKS_SYNC_EVERY_DEFAULT; 1: at every fsync_interval). A
	 * mark is written only after the bytes it covers are durable, so an
	 * unsynced one lost in a power cut only moves the resume point back
	 * (to at most this many fsync intervals); a process crash loses
	 * none (they are in the page cache). */
	uint32_t marks_sync_every;
};
#define SNAPSHOT_MARKS_SYNC_EVERY_DEFAULT 4

struct snapshot_receiver; /* opaque */

/* Creates a receiver for database_id (creating data_dir/recv). Nothing is
 * touched on disk until snapshot_receiver_begin() or an offset-0 chunk.
 * 0, MA_ERR_INVAL, MA_ERR_NOMEM, MA_ERR_IO. */
int snapshot_receiver_open(const struct snapshot_receiver_config *cfg,
                           const char *database_id,
                           struct snapshot_receiver **out, char *errmsg);
/* Frees the receiver. Keeps the .partial and its marks file (a later
 * receiver resumes); use snapshot_receiver_abort() to drop them. */
void snapshot_receiver_close(struct snapshot_receiver *r);

/* Prepares to receive the snapshot `ident` (as announced by the source)
 * and stores in *offset the offset to request: the last durable mark
 * when the marks file on disk names exactly this snapshot (a .progress
 * of the previous layout is converted first; the .partial is truncated
 * to the mark; its prefix is trusted now and re-read later by
 * snapshot_receiver_verify: begin() reads no data), else 0 after
 * removing the old .partial and marks. A receiver that already
 * holds this snapshot (a reconnect) resumes from its durable offset and
 * keeps what it verified. Returns 1 (and *offset = size) when the store
 * already holds this snapshot, 0 when ready to receive, or MA_ERR_INVAL,
 * MA_ERR_IDENTITY (other database), MA_ERR_FAILED, MA_ERR_NOSPACE,
 * MA_ERR_IO. */
int snapshot_receiver_begin(struct snapshot_receiver *r,
                            const struct snapshot_ident *ident,
                            uint64_t *offset, char *errmsg);
/* After begin(), until the next begin() or abort(), the receiver is bound
 * to `ident`: every chunk must carry exactly that identity (cluster,
 * database, index, term, size, total CRC32C), an offset-0 chunk
 * included; any other is MA_ERR_IDENTITY, naming both. */

/* Accepts one chunk. Offset 0 starts a fresh receive (of c's
 * snapshot); any other offset must equal the next expected offset and the
 * snapshot identity must not change. Data is checked against its CRC32C,
 * written, and fsynced every fsync_interval bytes (then a mark is
 * appended to the marks file, which is fdatasynced every
 * marks_sync_every marks). On done the running
 * CRC32C must equal the declared total; then the file is fsynced and
 * committed to the store.
 * Returns 0 (accepted), 1 (snapshot committed; COMPLETE was reported),
 * 2 (every byte received and the total CRC32C matches, but a resumed
 * prefix is still being verified: the commit comes from
 * snapshot_receiver_verify), or:
 *   MA_ERR_OFFSET   offset gap/regression (message names both offsets)
 *   MA_ERR_CRC      chunk CRC wrong (chunk dropped, receiver usable), or
 *                   total CRC wrong (both values named; .partial removed)
 *   MA_ERR_IDENTITY chunk for another database or snapshot
 *   MA_ERR_PROTO    data beyond the declared size, done before the end
 *   MA_ERR_NOSPACE, MA_ERR_IO  write/fsync failure: fail-stop
 *   MA_ERR_FAILED   refused: an earlier write/fsync failed (open a new
 *                   receiver to resume from the durable offset) */
int snapshot_receiver_feed(struct snapshot_receiver *r,
                           const struct snapshot_chunk *c, uint64_t now,
                           char *errmsg);
/* 0 while the receiver accepts chunks; MA_ERR_FAILED (errmsg says why)
 * once an earlier write or fsync failed. */
int snapshot_receiver_refused(const struct snapshot_receiver *r, char *errmsg);
/* Per-stream state of a byte-stream front end: proto's
 * snapshot_receiver_feed_bytes keeps its framer here, so the receiver
 * itself never parses wire bytes. begin(), abort() and close() end the
 * stream: they call release(state) and forget it. Setting a new state
 * releases the old one. */
void *snapshot_receiver_stream(const struct snapshot_receiver *r);
void snapshot_receiver_stream_set(struct snapshot_receiver *r, void *state,
                                  void (*release)(void *state));
/* Verification of a resumed prefix. begin() trusts the durable prefix of
 * a .partial it resumes without reading it; the caller then re-reads it
 * with this function, a bounded slice per call between its other events
 * (never as one long read on an event loop), while chunks keep arriving.
 * The prefix is checked region by region (each region ends at a durable
 * offset; the running CRC32C at each was recorded in <db>.marks), the
 * newest region first. A done chunk that arrives first makes feed()
 * return 2; the commit then happens in the call that finishes the
 * verification (COMPLETE is reported). Reads at most budget bytes (0:
 * SNAPSHOT_VERIFY_STEP_DEFAULT). Returns 0 (more to do, or nothing),
 * 1 (snapshot committed), or:
 *   MA_ERR_CRC  a region read back with another CRC32C than recorded (or
 *               the file ends in it): the resume point went back to the
 *               region's start (durably); stop the stream and begin()
 *               again: it resumes there
 *   MA_ERR_NOMEM, MA_ERR_IO (fail-stop), and feed()'s codes for the
 *   commit. */
#define SNAPSHOT_VERIFY_STEP_DEFAULT (1024u * 1024)
int snapshot_receiver_verify(struct snapshot_receiver *r, size_t budget,
                             uint64_t now, char *errmsg);
/* True while part of a resumed prefix is not verified yet: call
 * snapshot_receiver_verify again soon. */
bool snapshot_receiver_verifying(const struct snapshot_receiver *r);

/* Next offset expected, bytes written, durable offset. */
uint64_t snapshot_receiver_offset(const struct snapshot_receiver *r);
uint64_t snapshot_receiver_durable_offset(const struct snapshot_receiver *r);
/* Removes the .partial and marks file and resets to "expect offset
 * 0". Also allowed after a failure, but a failed receiver stays failed.
 * Ends the byte stream (as begin() does). 0 or MA_ERR_IO. */
int snapshot_receiver_abort(struct snapshot_receiver *r, char *errmsg);

#endif
