/* The "kv" applier: the reference key-value store (examples/raftkv), the
 * same kv_store and kv_command code the source nodes run, so that a
 * mirror and a source that applied the same entries hold the same state
 * and the same kv_store_fingerprint(). */
#include "agent/apply/applier.h"

#include <string.h>

#include "common/errors.h"
#include "kv/kv_command.h"
#include "kv/kv_store.h"

static int kv_create(void **state)
{
	return kv_store_new((struct kv_store **)state);
}

static void kv_destroy(void *state)
{
	kv_store_free(state);
}

static int kv_reset(void **state)
{
	struct kv_store *fresh;
	int rc = kv_store_new(&fresh);

	if (rc != 0)
		return rc;
	kv_store_free(*state);
	*state = fresh;
	return 0;
}

static int kv_restore(void *state, const void *buf, size_t len,
                      const atomic_bool *cancel, char *errmsg)
{
	return kv_store_restore_cancel(state, buf, len, cancel, errmsg);
}

static int kv_serialize(const void *state, void **buf, size_t *len,
                        char *errmsg)
{
	return kv_store_serialize(state, buf, len, errmsg);
}

static int kv_apply(void *state, const void *data, size_t len, char *errmsg)
{
	struct kv_result res;
	int rc = kv_store_apply_buf(state, data, len, &res, errmsg);

	if (rc == MA_ERR_NOMEM)
		return rc;
	/* A failed cas/cad is a result, not an error; a command that does
	 * not decode or check is skipped by every source node alike. */
	return rc == 0 ? 0 : 1;
}

struct scan_ctx {
	applier_item_cb cb;
	void *arg;
};

static int scan_item(void *arg, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len, uint64_t version)
{
	struct scan_ctx *ctx = arg;
	struct applier_item item = {key, key_len, value, value_len, version};

	return ctx->cb != NULL ? ctx->cb(ctx->arg, &item) : 0;
}

static int kv_query(void *state, const struct applier_query *q,
                    applier_item_cb cb, void *arg, struct applier_result *res,
                    char *errmsg)
{
	struct kv_store *s = state;
	struct kv_command c;
	int rc;

	if (q->op == APPLIER_QUERY_FINGERPRINT) {
		res->fingerprint = kv_store_fingerprint(s);
		res->keys = kv_store_count(s);
		res->revision = kv_store_revision(s);
		return 0;
	}
	if (q->op != APPLIER_QUERY_GET && q->op != APPLIER_QUERY_SCAN)
		return ma_errorf(errmsg, MA_ERR_INVAL, "unknown query %d",
		                 (int)q->op);
	memset(&c, 0, sizeof c);
	c.op = q->op == APPLIER_QUERY_GET ? KV_OP_GET : KV_OP_SCAN;
	c.ns = q->ns;
	c.ns_len = q->ns_len;
	c.key = q->key;
	c.key_len = q->key_len;
	rc = kv_command_check(&c, errmsg);
	if (rc != 0)
		return rc;
	if (q->op == APPLIER_QUERY_GET) {
		struct applier_item item = {q->key, q->key_len, NULL, 0, 0};
		rc = kv_store_get(s, q->ns, q->ns_len, q->key, q->key_len,
		                  &item.value, &item.value_len, &item.version);
		if (rc != 0)
			return ma_errorf(errmsg, rc, "no such key");
		res->items = 1;
		if (cb != NULL)
			cb(arg, &item);
		return 0;
	}
	struct scan_ctx ctx = {cb, arg};
	res->items = kv_store_scan_after(s, q->ns, q->ns_len, q->key,
	                                 q->key_len, q->after, q->after_len,
	                                 q->limit, scan_item, &ctx);
	return 0;
}

const struct applier_ops applier_kv_ops = {
    .name = "kv",
    .create = kv_create,
    .destroy = kv_destroy,
    .reset = kv_reset,
    .restore = kv_restore,
    .serialize = kv_serialize,
    .apply = kv_apply,
    .query = kv_query,
};
