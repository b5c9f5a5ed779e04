/* libFuzzer target for the read API's query parser: the first input byte
 * picks the operation, the rest is the query string. An accepted query
 * must satisfy the documented limits and survive a round trip (every byte
 * %-encoded again parses to the same query); a refused one must say why. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/readapi/read_api_query.h"
#include "common/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct read_api_query *q)
{
	if (q->ns_len > KV_NAMESPACE_MAX || strlen(q->ns) != q->ns_len ||
	    q->key_len > KV_KEY_MAX || q->after_len > KV_KEY_MAX ||
	    (!q->has_after && q->after_len != 0) || q->limit == 0 ||
	    q->limit > READ_API_SCAN_LIMIT_MAX ||
	    q->timeout_ms > READ_API_TIMEOUT_MAX_MS || q->db != 0)
		abort();
	if (q->op == READ_API_OP_GET && (q->ns_len == 0 || q->key_len == 0))
		abort();
	if (q->op == READ_API_OP_SCAN && q->ns_len == 0)
		abort();
	if (q->op == READ_API_OP_FINGERPRINT &&
	    (q->ns_len != 0 || q->key_len != 0 || q->has_after ||
	     q->limit != READ_API_SCAN_LIMIT_DEFAULT))
		abort();
}

static size_t put_pct(char *out, const char *name, const uint8_t *p, size_t len)
{
	size_t n = (size_t)sprintf(out, "&%s=", name);

	for (size_t i = 0; i < len; i++)
		n += (size_t)sprintf(out + n, "%%%02X", p[i]);
	return n;
}

/* The query q as a string that must parse back to q. */
static void encode(const struct read_api_query *q, char *out)
{
	size_t n = 0;

	n += (size_t)sprintf(out + n, "min_index=%llu&timeout_ms=%llu",
	                     (unsigned long long)q->min_index,
	                     (unsigned long long)q->timeout_ms);
	if (q->op == READ_API_OP_FINGERPRINT)
		return;
	n += put_pct(out + n, "ns", (const uint8_t *)q->ns, q->ns_len);
	if (q->op == READ_API_OP_GET) {
		put_pct(out + n, "key", q->key, q->key_len);
		return;
	}
	n += put_pct(out + n, "prefix", q->key, q->key_len);
	n += (size_t)sprintf(out + n, "&limit=%llu",
	                     (unsigned long long)q->limit);
	if (q->has_after)
		put_pct(out + n, "after", q->after, q->after_len);
}

static int same(const struct read_api_query *a, const struct read_api_query *b)
{
	return a->op == b->op && a->ns_len == b->ns_len &&
	       strcmp(a->ns, b->ns) == 0 && a->key_len == b->key_len &&
	       memcmp(a->key, b->key, a->key_len) == 0 &&
	       a->has_after == b->has_after && a->after_len == b->after_len &&
	       memcmp(a->after, b->after, a->after_len) == 0 &&
	       a->limit == b->limit && a->min_index == b->min_index &&
	       a->timeout_ms == b->timeout_ms;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct read_api_query q, again;
	static char qs[3 * 2 * KV_KEY_MAX + 512];
	char why[160];
	enum read_api_op op;
	char *text;
	int rc;

	if (size == 0)
		return 0;
	op = (enum read_api_op)(data[0] % 3);
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	memset(why, 0x55, sizeof why);
	rc = read_api_query_parse(op, text, &q, why, sizeof why);
	free(text);
	if (rc != 0) {
		if (rc != MA_ERR_INVAL ||
		    memchr(why, '\0', sizeof why) == NULL || why[0] == '\0')
			abort();
		return 0;
	}
	if (q.op != op)
		abort();
	check(&q);
	encode(&q, qs);
	if (read_api_query_parse(op, qs, &again, why, sizeof why) != 0)
		abort();
	if (!same(&q, &again))
		abort();
	return 0;
}
