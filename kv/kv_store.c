/* raftkv state machine (kv_store.h): a skip list ordered by (namespace,
 * key), so gets are O(log n) and prefix scans seek then walk. */
#include "kv/kv_store.h"

#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"

#define MAX_LEVEL 20
#define SNAP_HEADER 24 /* magic, version, revision, count */
#define REC_HEADER 16

struct node {
	uint8_t *data; /* namespace, key, value */
	uint16_t ns_len, key_len;
	uint32_t value_len;
	uint64_t version;
	int level;
	struct node *next[]; /* level pointers */
};

struct kv_store {
	struct node *head; /* sentinel with MAX_LEVEL pointers */
	int level;
	uint64_t count;
	uint64_t revision;
	uint64_t rng; /* level choice only: content never depends on it */
};

static int cmp_raw(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Orders a node against (ns, key). */
static int cmp_node(const struct node *x, const char *ns, size_t ns_len,
                    const void *key, size_t key_len)
{
	int c = cmp_raw(x->data, x->ns_len, ns, ns_len);

	if (c != 0)
		return c;
	return cmp_raw(x->data + x->ns_len, x->key_len, key, key_len);
}

static int random_level(struct kv_store *s)
{
	int level = 1;

	/* xorshift64; two bits per level: p = 1/4. */
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	for (uint64_t r = s->rng; level < MAX_LEVEL && (r & 3) == 0; r >>= 2)
		level++;
	return level;
}

int kv_store_new(struct kv_store **out)
{
	struct kv_store *s = calloc(1, sizeof *s);

	if (s == NULL)
		return MA_ERR_NOMEM;
	s->head = calloc(1, sizeof *s->head + MAX_LEVEL * sizeof(void *));
	if (s->head == NULL) {
		free(s);
		return MA_ERR_NOMEM;
	}
	s->head->level = MAX_LEVEL;
	s->level = 1;
	s->rng = 0x9e3779b97f4a7c15u;
	*out = s;
	return 0;
}

static void free_nodes(struct node *first)
{
	while (first != NULL) {
		struct node *next = first->next[0];

		free(first->data);
		free(first);
		first = next;
	}
}

void kv_store_free(struct kv_store *s)
{
	if (s == NULL)
		return;
	free_nodes(s->head->next[0]);
	free(s->head);
	free(s);
}

/* Fills update[] with the last node before (ns, key) on every level and
 * returns the first node at or after it (NULL at the end). */
static struct node *seek(const struct kv_store *s, const char *ns,
                         size_t ns_len, const void *key, size_t key_len,
                         struct node **update)
{
	struct node *x = s->head;

	for (int i = s->level - 1; i >= 0; i--) {
		while (x->next[i] != NULL &&
		       cmp_node(x->next[i], ns, ns_len, key, key_len) < 0)
			x = x->next[i];
		if (update != NULL)
			update[i] = x;
	}
	return x->next[0];
}

static struct node *find(const struct kv_store *s, const char *ns,
                         size_t ns_len, const void *key, size_t key_len,
                         struct node **update)
{
	struct node *x = seek(s, ns, ns_len, key, key_len, update);

	if (x != NULL && cmp_node(x, ns, ns_len, key, key_len) == 0)
		return x;
	return NULL;
}

static uint8_t *make_data(const char *ns, size_t ns_len, const void *key,
                          size_t key_len, const void *value, size_t value_len)
{
	uint8_t *d = malloc(ns_len + key_len + value_len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, ns, ns_len);
	memcpy(d + ns_len, key, key_len);
	if (value_len > 0)
		memcpy(d + ns_len + key_len, value, value_len);
	return d;
}

/* Sets (creating when x is NULL) the value of (ns, key). */
static int set(struct kv_store *s, struct node *x, struct node **update,
               const struct kv_command *c, uint64_t version)
{
	uint8_t *d = make_data(c->ns, c->ns_len, c->key, c->key_len, c->value,
	                       c->value_len);
	int level;

	if (d == NULL)
		return MA_ERR_NOMEM;
	if (x != NULL) {
		free(x->data);
		x->data = d;
		x->value_len = (uint32_t)c->value_len;
		x->version = version;
		return 0;
	}
	level = random_level(s);
	x = malloc(sizeof *x + (size_t)level * sizeof(void *));
	if (x == NULL) {
		free(d);
		return MA_ERR_NOMEM;
	}
	x->data = d;
	x->ns_len = (uint16_t)c->ns_len;
	x->key_len = (uint16_t)c->key_len;
	x->value_len = (uint32_t)c->value_len;
	x->version = version;
	x->level = level;
	for (int i = s->level; i < level; i++)
		update[i] = s->head;
	if (level > s->level)
		s->level = level;
	for (int i = 0; i < level; i++) {
		x->next[i] = update[i]->next[i];
		update[i]->next[i] = x;
	}
	s->count++;
	return 0;
}

static void unlink_node(struct kv_store *s, struct node *x,
                        struct node **update)
{
	for (int i = 0; i < x->level; i++)
		if (update[i]->next[i] == x)
			update[i]->next[i] = x->next[i];
	while (s->level > 1 && s->head->next[s->level - 1] == NULL)
		s->level--;
	free(x->data);
	free(x);
	s->count--;
}

int kv_store_apply(struct kv_store *s, const struct kv_command *c,
                   struct kv_result *res, char *errmsg)
{
	struct node *update[MAX_LEVEL], *x;
	uint64_t current;
	int rc;

	rc = kv_command_check(c, errmsg);
	if (rc != 0)
		return rc;
	if (!kv_op_is_write(c->op))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s is not a write command",
		                 kv_op_name(c->op));
	x = find(s, c->ns, c->ns_len, c->key, c->key_len, update);
	current = x != NULL ? x->version : 0;
	res->status = KV_OK;
	res->version = current;
	switch (c->op) {
	case KV_OP_CAS:
		if (current != c->expected) {
			res->status = KV_VERSION_MISMATCH;
			return 0;
		}
		/* fall through */
	case KV_OP_PUT:
		rc = set(s, x, update, c, s->revision + 1);
		if (rc != 0)
			return ma_errorf(errmsg, rc, "out of memory");
		res->version = ++s->revision;
		return 0;
	case KV_OP_CAD:
		if (x == NULL || current != c->expected) {
			res->status =
			    x == NULL ? KV_NOT_FOUND : KV_VERSION_MISMATCH;
			return 0;
		}
		/* fall through */
	case KV_OP_DEL:
		if (x == NULL) {
			res->status = KV_NOT_FOUND;
			return 0;
		}
		unlink_node(s, x, update);
		s->revision++;
		return 0;
	default:
		return MA_ERR_INVAL;
	}
}

int kv_store_apply_buf(struct kv_store *s, const void *buf, size_t len,
                       struct kv_result *res, char *errmsg)
{
	struct kv_command c;
	int rc = kv_command_decode(buf, len, &c, errmsg);

	return rc != 0 ? rc : kv_store_apply(s, &c, res, errmsg);
}

int kv_store_get(const struct kv_store *s, const char *ns, size_t ns_len,
                 const void *key, size_t key_len, const uint8_t **value,
                 size_t *value_len, uint64_t *version)
{
	struct node *x = find(s, ns, ns_len, key, key_len, NULL);

	if (x == NULL)
		return MA_ERR_NOTFOUND;
	*value = x->data + x->ns_len + x->key_len;
	*value_len = x->value_len;
	*version = x->version;
	return 0;
}

size_t kv_prefix_end(const uint8_t *prefix, size_t prefix_len, uint8_t *end)
{
	size_t n = prefix_len;

	while (n > 0 && prefix[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	memcpy(end, prefix, n);
	end[n - 1]++;
	return n;
}

size_t kv_store_scan(const struct kv_store *s, const char *ns, size_t ns_len,
                     const void *prefix, size_t prefix_len, size_t limit,
                     kv_scan_cb cb, void *arg)
{
	return kv_store_scan_after(s, ns, ns_len, prefix, prefix_len, NULL, 0,
	                           limit, cb, arg);
}

size_t kv_store_scan_after(const struct kv_store *s, const char *ns,
                           size_t ns_len, const void *prefix, size_t prefix_len,
                           const void *after, size_t after_len, size_t limit,
                           kv_scan_cb cb, void *arg)
{
	uint8_t end[KV_KEY_MAX];
	size_t end_len = 0, done = 0;
	const void *from = prefix;
	size_t from_len = prefix_len;
	struct node *x;

	if (prefix_len > KV_KEY_MAX || after_len > KV_KEY_MAX)
		return 0;
	if (prefix_len > 0)
		end_len = kv_prefix_end(prefix, prefix_len, end);
	/* Start at whichever of prefix and after comes later. */
	if (after_len > 0 &&
	    cmp_raw(after, after_len, prefix, prefix_len) > 0) {
		from = after;
		from_len = after_len;
	}
	x = seek(s, ns, ns_len, from, from_len, NULL);
	for (; x != NULL; x = x->next[0]) {
		const uint8_t *key = x->data + x->ns_len;

		if (cmp_raw(x->data, x->ns_len, ns, ns_len) != 0)
			break;
		if (end_len > 0 && cmp_raw(key, x->key_len, end, end_len) >= 0)
			break;
		if (after_len > 0 &&
		    cmp_raw(key, x->key_len, after, after_len) <= 0)
			continue; /* only the key equal to after itself */
		if (limit > 0 && done == limit)
			break;
		done++;
		if (cb(arg, key, x->key_len, key + x->key_len, x->value_len,
		       x->version) != 0)
			break;
	}
	return done;
}

uint64_t kv_store_count(const struct kv_store *s)
{
	return s->count;
}

uint64_t kv_store_revision(const struct kv_store *s)
{
	return s->revision;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void record_header(const struct node *x, uint8_t h[REC_HEADER])
{
	put_le(h, x->ns_len, 2);
	put_le(h + 2, x->key_len, 2);
	put_le(h + 4, x->value_len, 4);
	put_le(h + 8, x->version, 8);
}

uint32_t kv_store_fingerprint(const struct kv_store *s)
{
	uint8_t h[REC_HEADER];
	uint32_t crc;

	put_le(h, s->revision, 8);
	crc = crc32c(h, 8);
	for (struct node *x = s->head->next[0]; x != NULL; x = x->next[0]) {
		record_header(x, h);
		crc = crc32c_append(crc, h, sizeof h);
		crc = crc32c_append(crc, x->data,
		                    (size_t)x->ns_len + x->key_len +
		                        x->value_len);
	}
	return crc;
}

int kv_store_serialize(const struct kv_store *s, void **buf, size_t *len,
                       char *errmsg)
{
	size_t size = SNAP_HEADER + 4, off;
	uint8_t *p;

	for (struct node *x = s->head->next[0]; x != NULL; x = x->next[0])
		size +=
		    REC_HEADER + (size_t)x->ns_len + x->key_len + x->value_len;
	p = malloc(size);
	if (p == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory for a %zu-byte snapshot", size);
	memcpy(p, KV_SNAPSHOT_MAGIC, 4);
	put_le(p + 4, KV_SNAPSHOT_VERSION, 4);
	put_le(p + 8, s->revision, 8);
	put_le(p + 16, s->count, 8);
	off = SNAP_HEADER;
	for (struct node *x = s->head->next[0]; x != NULL; x = x->next[0]) {
		size_t n = (size_t)x->ns_len + x->key_len + x->value_len;

		record_header(x, p + off);
		memcpy(p + off + REC_HEADER, x->data, n);
		off += REC_HEADER + n;
	}
	put_le(p + off, crc32c(p, off), 4);
	*buf = p;
	*len = size;
	return 0;
}

int kv_store_restore(struct kv_store *s, const void *buf, size_t len,
                     char *errmsg)
{
	return kv_store_restore_cancel(s, buf, len, NULL, errmsg);
}

int kv_store_restore_cancel(struct kv_store *s, const void *buf, size_t len,
                            const atomic_bool *cancel, char *errmsg)
{
	const uint8_t *p = buf;
	struct kv_store *n;
	struct node *update[MAX_LEVEL], *prev = NULL;
	uint64_t count, revision, i;
	size_t off;
	int rc;

	if (len < SNAP_HEADER + 4 || memcmp(p, KV_SNAPSHOT_MAGIC, 4) != 0 ||
	    get_le(p + 4, 4) != KV_SNAPSHOT_VERSION)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "not a raftkv snapshot (format %d)",
		                 KV_SNAPSHOT_VERSION);
	if (crc32c(p, len - 4) != (uint32_t)get_le(p + len - 4, 4))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "snapshot CRC32C mismatch");
	revision = get_le(p + 8, 8);
	count = get_le(p + 16, 8);
	rc = kv_store_new(&n);
	if (rc != 0)
		return ma_errorf(errmsg, rc, "out of memory");
	/* Records come in order: each is appended after the previous one, so
	 * update[] is simply the last node of each level. */
	for (int l = 0; l < MAX_LEVEL; l++)
		update[l] = n->head;
	off = SNAP_HEADER;
	for (i = 0; i < count; i++) {
		struct kv_command c;
		char why[MA_ERRMSG_SIZE];
		size_t rec;

		if (cancel != NULL && i % KV_RESTORE_CANCEL_EVERY == 0 &&
		    atomic_load(cancel)) {
			kv_store_free(n);
			return ma_errorf(errmsg, MA_ERR_AGAIN,
			                 "restore cancelled at record %llu of "
			                 "%llu (superseded)",
			                 (unsigned long long)i,
			                 (unsigned long long)count);
		}
		if (len - 4 - off < REC_HEADER)
			goto truncated;
		memset(&c, 0, sizeof c);
		c.op = KV_OP_PUT;
		c.ns_len = (size_t)get_le(p + off, 2);
		c.key_len = (size_t)get_le(p + off + 2, 2);
		c.value_len = (size_t)get_le(p + off + 4, 4);
		if (c.value_len > KV_VALUE_MAX)
			goto bad_record;
		rec = c.ns_len + c.key_len + c.value_len;
		if (len - 4 - off - REC_HEADER < rec)
			goto truncated;
		c.ns = (const char *)p + off + REC_HEADER;
		c.key = (const uint8_t *)c.ns + c.ns_len;
		c.value = c.key + c.key_len;
		if (kv_command_check(&c, why) != 0)
			goto bad_record;
		if (prev != NULL &&
		    cmp_node(prev, c.ns, c.ns_len, c.key, c.key_len) >= 0)
			goto bad_record;
		rc = set(n, NULL, update, &c, get_le(p + off + 8, 8));
		if (rc != 0) {
			kv_store_free(n);
			return ma_errorf(errmsg, rc, "out of memory");
		}
		prev = update[0]->next[0];
		for (int l = 0; l < prev->level; l++)
			update[l] = prev;
		off += REC_HEADER + rec;
	}
	if (off != len - 4) {
		kv_store_free(n);
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "%zu bytes after the last record",
		                 len - 4 - off);
	}
	n->revision = revision;
	/* Swap contents: s keeps its address. */
	{
		struct kv_store tmp = *s;

		*s = *n;
		*n = tmp;
	}
	kv_store_free(n);
	return 0;

truncated:
	kv_store_free(n);
	return ma_errorf(errmsg, MA_ERR_CORRUPT,
	                 "snapshot truncated in record %llu",
	                 (unsigned long long)i);
bad_record:
	kv_store_free(n);
	return ma_errorf(errmsg, MA_ERR_CORRUPT,
	                 "invalid or out-of-order record %llu",
	                 (unsigned long long)i);
}
