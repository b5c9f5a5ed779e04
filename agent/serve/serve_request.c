/* serve_request: the pure request parser (see serve_request.h). */
#include "agent/serve/serve_request.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/errors.h"
#include "common/parse.h"

/* Longest key or endpoint name quoted back in a message. */
#define QUOTE_MAX 32

static int quoted_len(size_t len)
{
	return (int)(len > QUOTE_MAX ? QUOTE_MAX : len);
}

struct qparam {
	const char *key;
	bool required;
	uint64_t *dst;
	bool seen;
};

static int parse_query(const char *q, struct qparam *params, size_t n,
                       char *errmsg)
{
	while (q != NULL && *q != '\0') {
		const char *amp = strchr(q, '&');
		size_t len = amp != NULL ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', len);
		size_t klen;
		size_t i;

		if (eq == NULL)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "query parameter '%.*s' has no value",
			                 quoted_len(len), q);
		klen = (size_t)(eq - q);
		for (i = 0; i < n; i++) {
			if (strlen(params[i].key) == klen &&
			    memcmp(params[i].key, q, klen) == 0)
				break;
		}
		if (i == n)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "unknown query parameter '%.*s'",
			                 quoted_len(klen), q);
		if (params[i].seen)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "query parameter '%s' repeated",
			                 params[i].key);
		if (parse_uint64_len(eq + 1, len - klen - 1, params[i].dst,
		                     NULL) != 0)
			return ma_errorf(
			    errmsg, MA_ERR_INVAL,
			    "query parameter '%s' must be a decimal "
			    "number below 2^64",
			    params[i].key);
		params[i].seen = true;
		q = amp != NULL ? amp + 1 : NULL;
		if (amp != NULL && *q == '\0')
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "empty query parameter");
	}
	for (size_t i = 0; i < n; i++) {
		if (params[i].required && !params[i].seen)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "missing query parameter '%s'",
			                 params[i].key);
	}
	return 0;
}

static bool endpoint_is(const char *p, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(p, name, len) == 0;
}

int serve_request_parse(const char *method, const char *path,
                        struct serve_request *rq, char *errmsg)
{
	static const char prefix[] = "/v1/db/";
	const char *p, *slash, *query;
	size_t len, eplen;

	memset(rq, 0, sizeof *rq);
	if (method == NULL || strcmp(method, "GET") != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "only GET is served");
	if (path == NULL || strlen(path) > SERVE_PATH_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "path missing or longer than %d bytes",
		                 SERVE_PATH_MAX);
	if (strncmp(path, prefix, sizeof prefix - 1) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "path must start with %s", prefix);
	p = path + sizeof prefix - 1;
	slash = strchr(p, '/');
	len = slash != NULL ? (size_t)(slash - p) : 0;
	if (slash == NULL || len == 0 || len > PARSE_NAME_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "bad database name in path (want %s)",
		                 PARSE_NAME_RULE);
	if (!parse_name_valid(p, len))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "bad database name (want %s)",
		                 PARSE_NAME_RULE);
	memcpy(rq->database, p, len);
	rq->database[len] = '\0';
	p = slash + 1;
	query = strchr(p, '?');
	eplen = query != NULL ? (size_t)(query - p) : strlen(p);
	if (query != NULL)
		query++;
	if (endpoint_is(p, eplen, "info")) {
		rq->kind = SERVE_REQUEST_INFO;
		if (query != NULL)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "info takes no query");
		return 0;
	}
	if (!endpoint_is(p, eplen, "snapshot") && !endpoint_is(p, eplen, "log"))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "unknown endpoint '%.*s' (want info, snapshot "
		                 "or log)",
		                 quoted_len(eplen), p);
	if (query == NULL || *query == '\0')
		return ma_errorf(errmsg, MA_ERR_INVAL, "missing query");
	if (endpoint_is(p, eplen, "snapshot")) {
		struct qparam ps[] = {
		    {"index", true, &rq->index, false},
		    {"term", true, &rq->term, false},
		    {"offset", false, &rq->offset, false},
		    {"encodings", false, &rq->encodings, false},
		};

		rq->kind = SERVE_REQUEST_SNAPSHOT;
		return parse_query(query, ps, 4, errmsg);
	}
	{
		struct qparam ps[] = {
		    {"from", true, &rq->from, false},
		    {"prev_term", true, &rq->prev_term, false},
		};
		int rc;

		rq->kind = SERVE_REQUEST_LOG;
		rc = parse_query(query, ps, 2, errmsg);
		if (rc != 0)
			return rc;
		if (rq->from == 0)
			return ma_errorf(errmsg, MA_ERR_INVAL,
			                 "from must be at least 1 (indexes "
			                 "start at 1)");
		return 0;
	}
}

const char *serve_request_kind_name(enum serve_request_kind kind)
{
	switch (kind) {
	case SERVE_REQUEST_INFO:
		return "info";
	case SERVE_REQUEST_SNAPSHOT:
		return "snapshot";
	case SERVE_REQUEST_LOG:
		return "log";
	}
	return "?";
}
