/* Bearer tokens of the HTTP listeners that show a status (the read API and
 * serve's metrics listener). The configuration stores only a token's
 * SHA-256 in lower-case hex (keys *_token_sha256); a request's token is
 * hashed and compared in constant time. One helper for both listeners, so
 * both check tokens the same way. */
#ifndef MIRROR_AGENT_STATUS_TOKEN_H
#define MIRROR_AGENT_STATUS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define STATUS_TOKEN_HEX_SIZE 65 /* 64 hex digits and the NUL */

/* SHA-256 of token[0..len) in lower-case hex into out; false when
 * wolfCrypt fails. */
bool status_token_hash(const char *token, size_t len,
                       char out[STATUS_TOKEN_HEX_SIZE]);
/* Whether two 64-digit hashes are equal, in time independent of their
 * content (a timing probe learns nothing); an empty one never matches. */
bool status_token_equal(const char *a, const char *b);

#endif
