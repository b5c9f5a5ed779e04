/* raftkv state machine: namespaces of versioned keys, in memory. Free of
 * libraft and of I/O, so a mirror's read-only applier can apply the same
 * commands (kv_command.h) to its own copy.
 *
 * Versions: the store keeps a revision counter, bumped by every write
 * that changes something; the version of a key is the revision of its
 * last write. So a key's version increases on every write, and a key
 * deleted and created again never reuses a version (no ABA for cas/cad).
 * Every node applies the same commands in the same order, so revisions
 * and versions are equal on every node. */
#ifndef RAFTKV_KV_STORE_H
#define RAFTKV_KV_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_command.h"

/* Snapshot format (kv_store_serialize), little-endian:
 *   "RKVS" magic, u32 format version 1, u64 revision, u64 key count,
 *   per key in (namespace, key) order: u16 namespace length, u16 key
 *   length, u32 value length, u64 version, namespace, key, value;
 *   then u32 CRC32C of every preceding byte. */
#define KV_SNAPSHOT_MAGIC "RKVS"
#define KV_SNAPSHOT_VERSION 1

enum kv_status {
	KV_OK = 0,
	KV_NOT_FOUND = 1,        /* get/del/cad on a missing key */
	KV_VERSION_MISMATCH = 2, /* cas/cad: version differs from expected */
};

/* Outcome of a command: on success the key's new version (put, cas) or
 * the version it had (del, cad); on failure its current version (0 when
 * absent). */
struct kv_result {
	enum kv_status status;
	uint64_t version;
};

struct kv_store; /* opaque */

/* 0 or MA_ERR_NOMEM. */
int kv_store_new(struct kv_store **out);
void kv_store_free(struct kv_store *s);

/* Applies a write command (put, cas, del, cad). 0 with *res filled (a
 * failed cas is a result, not an error), MA_ERR_INVAL (not a write or
 * not valid), MA_ERR_NOMEM (the store is unchanged). */
int kv_store_apply(struct kv_store *s, const struct kv_command *cmd,
                   struct kv_result *res, char *errmsg);
/* Decodes (kv_command_decode) and applies. Adds MA_ERR_PROTO. */
int kv_store_apply_buf(struct kv_store *s, const void *buf, size_t len,
                       struct kv_result *res, char *errmsg);

/* Reads a key: 0 with *value (valid until the next write), *value_len and
 * *version, or MA_ERR_NOTFOUND. */
int kv_store_get(const struct kv_store *s, const char *ns, size_t ns_len,
                 const void *key, size_t key_len, const uint8_t **value,
                 size_t *value_len, uint64_t *version);

/* Calls cb for every key of namespace ns starting with prefix (empty: all
 * keys of ns), in key order, at most limit keys (0: no limit), until cb
 * returns non-zero. The range scanned is [prefix, kv_prefix_end(prefix)).
 * Returns the number of keys passed to cb. */
typedef int (*kv_scan_cb)(void *arg, const uint8_t *key, size_t key_len,
                          const uint8_t *value, size_t value_len,
                          uint64_t version);
size_t kv_store_scan(const struct kv_store *s, const char *ns, size_t ns_len,
                     const void *prefix, size_t prefix_len, size_t limit,
                     kv_scan_cb cb, void *arg);

/* kv_store_scan() resuming after a key: the same range, but only keys
 * greater than after (after_len 0: from the start). It seeks straight to
 * after (O(log n)) rather than walking the range from its start, so that
 * paging through a large namespace costs one seek per page. */
size_t kv_store_scan_after(const struct kv_store *s, const char *ns,
                           size_t ns_len, const void *prefix, size_t prefix_len,
                           const void *after, size_t after_len, size_t limit,
                           kv_scan_cb cb, void *arg);

/* The smallest key greater than every key starting with prefix: prefix
 * with trailing 0xff bytes dropped and the last byte incremented. Writes
 * it to end (at least prefix_len bytes) and returns its length, or 0 when
 * there is no such key (empty or all-0xff prefix: scan to the end). */
size_t kv_prefix_end(const uint8_t *prefix, size_t prefix_len, uint8_t *end);

uint64_t kv_store_count(const struct kv_store *s);
uint64_t kv_store_revision(const struct kv_store *s);
/* CRC32C over the revision and every namespace, key, value and version in
 * order: equal on two nodes that applied the same entries. */
uint32_t kv_store_fingerprint(const struct kv_store *s);

/* Serializes the whole store into a malloc()ed buffer. 0 or
 * MA_ERR_NOMEM. */
int kv_store_serialize(const struct kv_store *s, void **buf, size_t *len,
                       char *errmsg);
/* Replaces the content with a serialized store. The buffer is checked
 * completely (CRC, lengths, limits, order) before anything changes. 0,
 * MA_ERR_CORRUPT (the reason in errmsg), MA_ERR_NOMEM. */
int kv_store_restore(struct kv_store *s, const void *buf, size_t len,
                     char *errmsg);
/* The same, cancellable from another thread: when *cancel (NULL: never)
 * is set, the restore stops at its next check (every
 * KV_RESTORE_CANCEL_EVERY records) and returns MA_ERR_AGAIN, the store
 * unchanged. For a restore that a newer one supersedes. */
#define KV_RESTORE_CANCEL_EVERY 1024
int kv_store_restore_cancel(struct kv_store *s, const void *buf, size_t len,
                            const atomic_bool *cancel, char *errmsg);

#endif
