/* Appliers: the mirror's read-only state built from its snapshot and log
 * (DESIGN.md section 7). An applier is a logic core: no sockets, no clock;
 * it reads a snapshot file when asked to restore and is otherwise fed
 * entries by the follower (agent/follow/follow_apply.c) in index order.
 *
 * Two implementations:
 *  - "none": the mirror keeps the snapshot and the log only. It tracks the
 *    applied index; every query answers MA_ERR_CONFIG ("no applier").
 *  - "kv":   the reference key-value store (examples/raftkv kv_store and
 *    kv_command, the very code the source nodes run), so get, scan and the
 *    fingerprint equal the source's at the same index.
 *
 * Entries: only WAL_ENTRY_COMMAND entries reach the state machine; barrier
 * and configuration entries (and the tap's barrier fillers, docs/TAP.md)
 * are skipped, but every entry advances the applied index. A command the
 * state machine rejects as malformed is a no-op, exactly as on the source
 * nodes (raftkv_node.c ignores it the same way on every node).
 *
 * Errors: 0 or a negative code from common/errors.h with errmsg
 * (MA_ERRMSG_SIZE bytes, may be NULL) filled. After a failed restore or
 * apply (out of memory, unreadable snapshot) the applier is failed: every
 * later apply and query returns MA_ERR_FAILED with the first error in
 * applier_error(); only a successful restore clears it. Not thread-safe. */
#ifndef MIRROR_AGENT_APPLIER_H
#define MIRROR_AGENT_APPLIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The values of enum config_applier (agent/config/config.h). */
enum applier_kind {
	APPLIER_NONE = 0,
	APPLIER_KV = 1,
};

/* Largest snapshot file a restore reads into memory (the kv store lives in
 * memory anyway). */
#define APPLIER_SNAPSHOT_MAX ((size_t)1 << 34)

struct applier; /* opaque */

enum applier_query_op {
	APPLIER_QUERY_GET,         /* ns, key */
	APPLIER_QUERY_SCAN,        /* ns, key = prefix (may be empty), limit */
	APPLIER_QUERY_FINGERPRINT, /* nothing */
};

struct applier_query {
	enum applier_query_op op;
	const char *ns;
	size_t ns_len;
	const uint8_t *key; /* get: the key; scan: the prefix */
	size_t key_len;
	size_t limit; /* scan: at most this many items (0: no limit) */
	const uint8_t
	    *after; /* scan: only keys greater than this (NULL: all) */
	size_t after_len;
};

/* One key handed to the query callback; pointers valid during the call. */
struct applier_item {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	uint64_t version;
};

/* Return non-zero to stop a scan early. */
typedef int (*applier_item_cb)(void *arg, const struct applier_item *item);

struct applier_result {
	uint64_t items;       /* get: 1; scan: keys passed to the callback */
	uint32_t fingerprint; /* fingerprint: kv_store_fingerprint() */
	uint64_t keys;        /* fingerprint: keys in the store */
	uint64_t revision;    /* fingerprint: the store's revision */
};

/* Creates an empty applier of the given kind for database `name` (kept
 * for messages; the caller keeps the string alive). Applied index 0.
 * 0, MA_ERR_INVAL (unknown kind), MA_ERR_NOMEM. */
int applier_new(enum applier_kind kind, const char *name, struct applier **out,
                char *errmsg);
/* NULL is fine. */
void applier_free(struct applier *a);

/* "none" or "kv". */
const char *applier_kind_name(enum applier_kind kind);
enum applier_kind applier_get_kind(const struct applier *a);

/* Replaces the state with the snapshot in the file at path, which covers
 * every entry up to index. "none" does not read the file. On success the
 * applied index is `index` and a failed applier is healthy again. On
 * failure the applier is failed (its previous content is gone from the
 * caller's point of view). 0 or MA_ERR_NOTFOUND, MA_ERR_IO,
 * MA_ERR_LIMIT (larger than APPLIER_SNAPSHOT_MAX), MA_ERR_CORRUPT (not a
 * valid snapshot of this kind: the reason), MA_ERR_NOMEM. */
int applier_restore_file(struct applier *a, const char *path, uint64_t index,
                         char *errmsg);
/* The same, cancellable from another thread (a restore on a helper thread
 * that a newer snapshot supersedes): once *cancel is set the restore stops
 * at its next check (after the file is read, then every
 * KV_RESTORE_CANCEL_EVERY records) and returns MA_ERR_AGAIN ("cancelled"),
 * the applier failed with that reason. cancel NULL: never. */
int applier_restore_file_cancel(struct applier *a, const char *path,
                                uint64_t index, const atomic_bool *cancel,
                                char *errmsg);
/* Same from a buffer (tests, tools). */
int applier_restore_buf(struct applier *a, const void *buf, size_t len,
                        uint64_t index, char *errmsg);
/* Forgets everything: empty state, applied index 0, healthy. 0 or
 * MA_ERR_NOMEM (the applier is then failed). */
int applier_reset(struct applier *a, char *errmsg);

/* True when the kind can write its state as a snapshot (kv): the mirror
 * then takes local checkpoints (agent/follow/follow_checkpoint.h). */
bool applier_can_serialize(const struct applier *a);
/* Serialises the current state into a malloc()ed buffer in the kind's
 * snapshot format (the one applier_restore_buf reads, and the source's
 * own snapshot format: kv_store.h). 0, MA_ERR_CONFIG (the kind cannot),
 * MA_ERR_FAILED (failed applier), MA_ERR_NOMEM. */
int applier_serialize(const struct applier *a, void **buf, size_t *len,
                      char *errmsg);

/* Marks the applier as loading a snapshot elsewhere (msg says which):
 * queries answer MA_ERR_AGAIN with msg until applier_adopt, restore or
 * reset; the state and applied index stay as they are (a reader waiting
 * for a higher index keeps waiting). Not a failure: applier_error stays
 * NULL. */
void applier_set_loading(struct applier *a, const char *msg);

/* Moves the state, applied index and counters of `from` (same kind) into
 * a, which is healthy afterwards, and frees from. For a restore done on
 * another thread into a private applier: a keeps its address (readers
 * hold it). 0 or MA_ERR_INVAL (other kind; nothing changes). */
int applier_adopt(struct applier *a, struct applier *from, char *errmsg);

/* Applies the entry at index (type: enum wal_entry_type). Entries at or
 * below the applied index are skipped (0: replays are idempotent by
 * index); index must otherwise be applied + 1. 0 or MA_ERR_OFFSET (a gap:
 * nothing changes, the applier is not failed), MA_ERR_FAILED, MA_ERR_NOMEM
 * (now failed). */
int applier_apply(struct applier *a, uint64_t index, uint64_t term,
                  uint8_t type, const void *data, size_t len, char *errmsg);

/* False when the kind looks at no entry ("none"): the caller may then
 * apply entries with NULL data and any type without reading them. */
bool applier_needs_data(const struct applier *a);

/* Index of the last entry applied (or the restored snapshot's). */
uint64_t applier_applied_index(const struct applier *a);
/* Malformed commands skipped so far (see the top). */
uint64_t applier_skipped_commands(const struct applier *a);
/* NULL when healthy, else the first error (failed applier). */
const char *applier_error(const struct applier *a);
/* Marks the applier failed for a reason outside it (its input cannot be
 * read): reads then answer the error instead of stale data, until the
 * next restore. Returns code. */
int applier_fail(struct applier *a, int code, const char *msg);

/* Answers a query against the current state; cb (may be NULL for the
 * fingerprint) receives the items in key order. *res gets the figures.
 * 0, MA_ERR_NOTFOUND (get: no such key), MA_ERR_INVAL (bad namespace or
 * key: [A-Za-z0-9._-]{1,64}, key 1..1024 bytes, prefix 0..1024),
 * MA_ERR_CONFIG ("none": this database has no applier), MA_ERR_FAILED,
 * MA_ERR_AGAIN (loading a snapshot: applier_set_loading). */
int applier_query(struct applier *a, const struct applier_query *q,
                  applier_item_cb cb, void *arg, struct applier_result *res,
                  char *errmsg);

/* ------------------------------------------------------------------------
 * Implementations (applier.c dispatches; each file fills one table). */
struct applier_ops {
	const char *name;
	int (*create)(void **state);
	void (*destroy)(void *state);
	/* Empties the state (0 or MA_ERR_NOMEM, the old state kept). */
	int (*reset)(void **state);
	/* NULL when the kind keeps no state of its own ("none"). */
	/* Stops with MA_ERR_AGAIN, the state unchanged, once *cancel (NULL:
	 * never) is set. */
	int (*restore)(void *state, const void *buf, size_t len,
	               const atomic_bool *cancel, char *errmsg);
	/* NULL when the kind cannot write its state out. */
	int (*serialize)(const void *state, void **buf, size_t *len,
	                 char *errmsg);
	/* Commands only; return 1 for "malformed, skipped". */
	int (*apply)(void *state, const void *data, size_t len, char *errmsg);
	int (*query)(void *state, const struct applier_query *q,
	             applier_item_cb cb, void *arg, struct applier_result *res,
	             char *errmsg);
};

extern const struct applier_ops applier_kv_ops; /* applier_kv.c */

#endif
