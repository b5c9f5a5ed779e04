/* serve_request: the request parser of the source side (sans-I/O). Turns
 * a request's method and path into what is asked for, or into the text of
 * a 400 answer. No transport, no clock, no spool: the fuzz target
 * (tests/fuzz/fuzz_serve_request.c) drives it with arbitrary bytes.
 *
 * Accepted (docs/PROTOCOL.md):
 *   GET /v1/db/<db>/info
 *   GET /v1/db/<db>/snapshot?index=I&term=T[&offset=O][&encodings=E]
 *   GET /v1/db/<db>/log?from=N&prev_term=T
 * <db> follows the one name rule (common/parse.h). Each query parameter is
 * 1..20 decimal digits below 2^64, given at most once; unknown keys and
 * empty parameters are refused; offset defaults to 0; from is >= 1. */
#ifndef MIRROR_AGENT_SERVE_REQUEST_H
#define MIRROR_AGENT_SERVE_REQUEST_H

#include <stdint.h>

#include "common/parse.h"

/* Longest request path (with query) accepted. */
#define SERVE_PATH_MAX 512

enum serve_request_kind {
	SERVE_REQUEST_INFO,
	SERVE_REQUEST_SNAPSHOT,
	SERVE_REQUEST_LOG,
};

struct serve_request {
	char database[PARSE_NAME_MAX + 1];
	enum serve_request_kind kind;
	uint64_t index, term, offset; /* SNAPSHOT */
	/* SNAPSHOT, optional: the chunk encodings the mirror accepts
	 * (SNAPSHOT_ENCODINGS_* bits; unknown bits ignored), 0 = raw only. */
	uint64_t encodings;
	uint64_t from, prev_term; /* LOG */
};

/* Parses method and path (NUL-terminated; either may be NULL) into *rq.
 * Returns 0, or MA_ERR_INVAL with errmsg (MA_ERRMSG_SIZE bytes) saying
 * what is wrong in words a client can act on: answer 400 bad-request with
 * it. *rq is zeroed first, whatever the result. */
int serve_request_parse(const char *method, const char *path,
                        struct serve_request *rq, char *errmsg);

/* "info", "snapshot", "log". */
const char *serve_request_kind_name(enum serve_request_kind kind);

#endif
