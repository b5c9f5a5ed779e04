/* libFuzzer target for serve's request parser (agent/serve/
 * serve_request.h): the input is a path (its first byte picks the
 * method). An accepted request must keep the parser's promises: a valid
 * database name, from >= 1 for log, a path that re-parses to the same
 * request when printed back in canonical form. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/serve/serve_request.h"
#include "common/errors.h"
#include "common/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void canonical(const struct serve_request *rq, char *out, size_t n)
{
	switch (rq->kind) {
	case SERVE_REQUEST_INFO:
		snprintf(out, n, "/v1/db/%s/info", rq->database);
		break;
	case SERVE_REQUEST_SNAPSHOT:
		snprintf(out, n,
		         "/v1/db/%s/snapshot?index=%" PRIu64 "&term=%" PRIu64
		         "&offset=%" PRIu64,
		         rq->database, rq->index, rq->term, rq->offset);
		break;
	case SERVE_REQUEST_LOG:
		snprintf(out, n,
		         "/v1/db/%s/log?from=%" PRIu64 "&prev_term=%" PRIu64,
		         rq->database, rq->from, rq->prev_term);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serve_request rq, again;
	char em[MA_ERRMSG_SIZE], canon[SERVE_PATH_MAX * 2];
	char *path;
	const char *method;

	if (size == 0)
		return 0;
	method = data[0] & 1 ? "GET" : "PUT";
	path = malloc(size);
	if (path == NULL)
		return 0;
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';
	em[0] = '\0';
	if (serve_request_parse(method, path, &rq, em) != 0) {
		/* Every refusal says why. */
		if (em[0] == '\0')
			abort();
		free(path);
		return 0;
	}
	if (strcmp(method, "GET") != 0 || !parse_name_valid_str(rq.database) ||
	    (rq.kind == SERVE_REQUEST_LOG && rq.from == 0))
		abort();
	canonical(&rq, canon, sizeof canon);
	if (serve_request_parse("GET", canon, &again, em) != 0 ||
	    memcmp(&rq, &again, sizeof rq) != 0)
		abort();
	free(path);
	return 0;
}
