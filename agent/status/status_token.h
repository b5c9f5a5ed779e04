/* Bearer tokens of the HTTP listeners that show a status (the read API and
 * serve's metrics listener). The configuration stores only a token's
 * SHA-256 in lower-case hex (keys *_token_sha256); a request's token is
 * hashed and compared in constant time. One helper for both listeners, so
 * both check tokens the same way. */
#ifndef MIRROR_AGENT_STATUS_TOKEN_H
#define MIRROR_AGENT_STATUS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

struct evhttp_request;

#define STATUS_TOKEN_HEX_SIZE 65 /* 64 hex digits and the NUL */

/* SHA-256 of token[0..len) in lower-case hex into out; false when
 * wolfCrypt fails. */
bool status_token_hash(const char *token, size_t len,
                       char out[STATUS_TOKEN_HEX_SIZE]);
/* Whether two 64-digit hashes are equal, in time independent of their
 * content (a timing probe learns nothing); an empty one never matches. */
bool status_token_equal(const char *a, const char *b);

/* What a request's Authorization header held (status_token_from_header). */
enum status_token_header {
	STATUS_TOKEN_HEADER_OK,      /* out holds the token's hash */
	STATUS_TOKEN_HEADER_MISSING, /* no header, not "Bearer ", or an empty
	                                token: answer 401 with
	                                STATUS_TOKEN_HEADER_HINT */
	STATUS_TOKEN_HEADER_NO_HASH, /* wolfCrypt failed: answer 500 */
};

/* The 401 answer's hint, the same for both listeners. */
#define STATUS_TOKEN_HEADER_HINT "send Authorization: Bearer TOKEN"

/* Reads an "Authorization: Bearer TOKEN" header's value (authorization,
 * NULL when the request had none): the scheme "Bearer" in any case and
 * one space, then the token, every byte after the space up to the NUL
 * (none trimmed), which must not be empty. On STATUS_TOKEN_HEADER_OK out
 * holds the token's SHA-256 for status_token_equal; otherwise out is
 * undefined. The one parser of the read API and serve's metrics
 * listener. */
enum status_token_header
status_token_from_header(const char *authorization,
                         char out[STATUS_TOKEN_HEX_SIZE]);

/* A listener's error answer: code, reason (the JSON "error") and a
 * detail, in the listener's own body format. */
typedef void status_token_send_error_fn(struct evhttp_request *req, int code,
                                        const char *reason, const char *detail);

/* libevent glue over status_token_from_header, for both listeners: reads
 * req's Authorization header into out (the token's hash) and returns
 * true; otherwise answers itself through send_error and returns false:
 * 401 "unauthorized" with STATUS_TOKEN_HEADER_HINT and
 * "WWW-Authenticate: Bearer realm=\"<realm>\"" when the request carries
 * no bearer token, 500 when hashing fails. */
bool status_token_from_request(struct evhttp_request *req, const char *realm,
                               status_token_send_error_fn *send_error,
                               char out[STATUS_TOKEN_HEX_SIZE]);

#endif
