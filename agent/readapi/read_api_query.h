/* The read API's query strings (docs/OPERATIONS.md, "Reading from the
 * mirror"): a pure parser, no I/O and no libevent, so that every rule is
 * unit-tested and fuzzed on its own (tests/unit/test_read_api_query.c,
 * tests/fuzz/fuzz_read_api_query.c). read_api.c resolves the path and the
 * database and answers; this file decides what a query string means or
 * why it is a 400.
 *
 * Parameters, per operation (anything else is an error):
 *   get          ns (required), key (required), min_index, timeout_ms,
 *                max_staleness
 *   scan         ns (required), prefix, after, limit, min_index,
 *                timeout_ms, max_staleness
 *   fingerprint  min_index, timeout_ms, max_staleness
 * max_staleness is in milliseconds (read_api.h says what it bounds).
 * Values are form-encoded: %XX escapes (either case) and '+' for a space;
 * ns is [A-Za-z0-9._-]{1,KV_NAMESPACE_MAX} after decoding; key 1..
 * KV_KEY_MAX bytes, prefix and after 0..KV_KEY_MAX bytes (any bytes);
 * integers are decimal digits only (no sign, no spaces; leading zeros are
 * fine) up to 2^64-1; limit 1..READ_API_SCAN_LIMIT_MAX; timeout_ms
 * 0..READ_API_TIMEOUT_MAX_MS. A parameter given twice is an error; empty
 * pieces ("a=1&&b=2", a trailing '&') are skipped; a name without '='
 * has the empty value. */
#ifndef MIRROR_AGENT_READ_API_QUERY_H
#define MIRROR_AGENT_READ_API_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/readapi/read_api.h"
#include "kv/kv_command.h"

enum read_api_op { READ_API_OP_GET, READ_API_OP_SCAN, READ_API_OP_FINGERPRINT };

/* What one request asks for, decoded and checked. */
struct read_api_query {
	enum read_api_op op;
	size_t db; /* the caller's index of the database; the parser sets 0 */
	char ns[KV_NAMESPACE_MAX + 1]; /* NUL-terminated; "" for fingerprint */
	size_t ns_len;
	uint8_t key[KV_KEY_MAX]; /* get: the key; scan: the prefix */
	size_t key_len;
	bool has_after; /* scan: start after this key */
	uint8_t after[KV_KEY_MAX];
	size_t after_len;
	uint64_t limit;            /* scan [READ_API_SCAN_LIMIT_DEFAULT] */
	uint64_t min_index;        /* [0: no wait] */
	uint64_t timeout_ms;       /* [READ_API_TIMEOUT_DEFAULT_MS] */
	bool has_max_staleness;    /* [no bound] */
	uint64_t max_staleness_ms; /* refuse (503) when staler */
};

/* Parses qs (the part after '?', without it; NULL or "" for none) of a
 * request for op into *q, which it first clears and fills with the
 * defaults. Returns 0, or MA_ERR_INVAL with why (whylen bytes, always
 * NUL-terminated) naming the parameter and the rule it broke, for the
 * 400 answer; *q is then unspecified. */
int read_api_query_parse(enum read_api_op op, const char *qs,
                         struct read_api_query *q, char *why, size_t whylen);

/* "get", "scan", "fingerprint" into *op; false for anything else. */
bool read_api_op_parse(const char *name, enum read_api_op *op);

#endif
