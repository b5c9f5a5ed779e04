/* The read API's query parser (agent/readapi/read_api_query.h). */
#include "agent/readapi/read_api_query.h"

#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/parse.h"

enum param {
	P_NS = 1u << 0,
	P_KEY = 1u << 1,
	P_PREFIX = 1u << 2,
	P_LIMIT = 1u << 3,
	P_MIN = 1u << 4,
	P_TIMEOUT = 1u << 5,
	P_AFTER = 1u << 6,
	P_STALE = 1u << 7,
};

static const struct {
	const char *name;
	enum param bit;
} params[] = {
    {"ns", P_NS},         {"key", P_KEY},
    {"prefix", P_PREFIX}, {"limit", P_LIMIT},
    {"min_index", P_MIN}, {"timeout_ms", P_TIMEOUT},
    {"after", P_AFTER},   {"max_staleness", P_STALE},
};

/* Decodes s[0..len) (form encoding: %XX, '+' is a space) into out[0..cap).
 * Returns the decoded length or -1 (bad escape, too long). */
static long pct_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = parse_hex_digit(s[i + 1]);
			lo = parse_hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (n == cap)
			return -1;
		out[n++] = (uint8_t)c;
	}
	return (long)n;
}

/* The kv namespace rule: [A-Za-z0-9._-]{1,KV_NAMESPACE_MAX}. Unlike a
 * database name it never becomes a file name, so "." and ".." are
 * namespaces like others (kv_command_check() agrees). */
static bool ns_valid(const uint8_t *s, size_t len)
{
	return parse_name_chars_valid((const char *)s, len, KV_NAMESPACE_MAX);
}

static unsigned allowed_params(enum read_api_op op)
{
	switch (op) {
	case READ_API_OP_GET:
		return P_NS | P_KEY | P_MIN | P_TIMEOUT | P_STALE;
	case READ_API_OP_SCAN:
		return P_NS | P_PREFIX | P_LIMIT | P_AFTER | P_MIN | P_TIMEOUT |
		       P_STALE;
	case READ_API_OP_FINGERPRINT:
		return P_MIN | P_TIMEOUT | P_STALE;
	}
	return 0;
}

/* Stores one decoded value. 0 or MA_ERR_INVAL with why. */
static int store(struct read_api_query *q, enum param bit, const uint8_t *val,
                 size_t n, char *why, size_t whylen)
{
	switch (bit) {
	case P_NS:
		if (!ns_valid(val, n)) {
			snprintf(why, whylen,
			         "ns must be [A-Za-z0-9._-]{1,%d} (after "
			         "%%-decoding)",
			         KV_NAMESPACE_MAX);
			return MA_ERR_INVAL;
		}
		memcpy(q->ns, val, n);
		q->ns[n] = '\0';
		q->ns_len = n;
		return 0;
	case P_KEY:
		if (n == 0) {
			snprintf(why, whylen, "key must be 1..%d bytes",
			         KV_KEY_MAX);
			return MA_ERR_INVAL;
		}
		memcpy(q->key, val, n);
		q->key_len = n;
		return 0;
	case P_PREFIX: /* shares q->key: get has no prefix, scan no key */
		memcpy(q->key, val, n);
		q->key_len = n;
		return 0;
	case P_AFTER:
		memcpy(q->after, val, n);
		q->after_len = n;
		q->has_after = true;
		return 0;
	case P_LIMIT:
		if (parse_uint64_len((const char *)val, n, &q->limit, NULL) !=
		        0 ||
		    q->limit == 0 || q->limit > READ_API_SCAN_LIMIT_MAX) {
			snprintf(why, whylen, "limit must be an integer 1..%d",
			         READ_API_SCAN_LIMIT_MAX);
			return MA_ERR_INVAL;
		}
		return 0;
	case P_MIN:
		if (parse_uint64_len((const char *)val, n, &q->min_index,
		                     NULL) != 0) {
			snprintf(why, whylen,
			         "min_index must be a decimal integer "
			         "0..18446744073709551615");
			return MA_ERR_INVAL;
		}
		return 0;
	case P_STALE:
		if (parse_uint64_len((const char *)val, n, &q->max_staleness_ms,
		                     NULL) != 0) {
			snprintf(why, whylen,
			         "max_staleness must be a decimal integer of "
			         "milliseconds 0..18446744073709551615");
			return MA_ERR_INVAL;
		}
		q->has_max_staleness = true;
		return 0;
	case P_TIMEOUT:
		if (parse_uint64_len((const char *)val, n, &q->timeout_ms,
		                     NULL) != 0 ||
		    q->timeout_ms > READ_API_TIMEOUT_MAX_MS) {
			snprintf(why, whylen,
			         "timeout_ms must be an integer 0..%d",
			         READ_API_TIMEOUT_MAX_MS);
			return MA_ERR_INVAL;
		}
		return 0;
	}
	snprintf(why, whylen, "internal: parameter %u", (unsigned)bit);
	return MA_ERR_INVAL;
}

int read_api_query_parse(enum read_api_op op, const char *qs,
                         struct read_api_query *q, char *why, size_t whylen)
{
	unsigned seen = 0, allowed = allowed_params(op);
	uint8_t val[KV_KEY_MAX];

	memset(q, 0, sizeof *q);
	q->op = op;
	q->limit = READ_API_SCAN_LIMIT_DEFAULT;
	q->timeout_ms = READ_API_TIMEOUT_DEFAULT_MS;
	if (whylen > 0)
		why[0] = '\0';
	while (qs != NULL && *qs != '\0') {
		const char *amp = strchr(qs, '&');
		size_t plen = amp != NULL ? (size_t)(amp - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', plen);
		size_t klen = eq != NULL ? (size_t)(eq - qs) : plen;
		const char *v = eq != NULL ? eq + 1 : qs + plen;
		size_t vlen = plen - klen - (eq != NULL);
		enum param bit = 0;
		int shown = klen > 64 ? 64 : (int)klen;
		long n;
		int rc;

		if (plen == 0) { /* "a=1&&b=2", a trailing '&' */
			qs = amp != NULL ? amp + 1 : qs + plen;
			continue;
		}
		for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
			if (strlen(params[i].name) == klen &&
			    memcmp(params[i].name, qs, klen) == 0)
				bit = params[i].bit;
		}
		if (bit == 0 || !(allowed & bit)) {
			snprintf(why, whylen, "unknown parameter '%.*s'", shown,
			         qs);
			return MA_ERR_INVAL;
		}
		if (seen & bit) {
			snprintf(why, whylen, "parameter '%.*s' given twice",
			         shown, qs);
			return MA_ERR_INVAL;
		}
		seen |= bit;
		n = pct_decode(v, vlen, val, sizeof val);
		if (n < 0) {
			snprintf(why, whylen,
			         "parameter '%.*s': bad %%-escape or longer "
			         "than %d bytes",
			         shown, qs, KV_KEY_MAX);
			return MA_ERR_INVAL;
		}
		rc = store(q, bit, val, (size_t)n, why, whylen);
		if (rc != 0)
			return rc;
		qs = amp != NULL ? amp + 1 : qs + plen;
	}
	if ((allowed & P_NS) && !(seen & P_NS)) {
		snprintf(why, whylen, "ns is required");
		return MA_ERR_INVAL;
	}
	if ((allowed & P_KEY) && !(seen & P_KEY)) {
		snprintf(why, whylen, "key is required");
		return MA_ERR_INVAL;
	}
	return 0;
}

bool read_api_op_parse(const char *name, enum read_api_op *op)
{
	if (strcmp(name, "get") == 0)
		*op = READ_API_OP_GET;
	else if (strcmp(name, "scan") == 0)
		*op = READ_API_OP_SCAN;
	else if (strcmp(name, "fingerprint") == 0)
		*op = READ_API_OP_FINGERPRINT;
	else
		return false;
	return true;
}
