/* Bearer token hashing and comparison (status_token.h). */
#include "agent/status/status_token.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include <wolfssl/options.h>

#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

bool status_token_hash(const char *token, size_t len,
                       char out[STATUS_TOKEN_HEX_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[WC_SHA256_DIGEST_SIZE];

	if (wc_Sha256Hash((const unsigned char *)token, (word32)len, d) != 0)
		return false;
	for (size_t i = 0; i < sizeof d; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[STATUS_TOKEN_HEX_SIZE - 1] = '\0';
	return true;
}

bool status_token_equal(const char *a, const char *b)
{
	unsigned char diff = 0;

	if (a[0] == '\0' || b[0] == '\0')
		return false;
	for (size_t i = 0; i < STATUS_TOKEN_HEX_SIZE - 1; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

enum status_token_header
status_token_from_header(const char *authorization,
                         char out[STATUS_TOKEN_HEX_SIZE])
{
	static const char scheme[] = "Bearer ";
	const size_t slen = sizeof scheme - 1;
	const char *token;

	if (authorization == NULL ||
	    strncasecmp(authorization, scheme, slen) != 0 ||
	    authorization[slen] == '\0')
		return STATUS_TOKEN_HEADER_MISSING;
	token = authorization + slen;
	if (!status_token_hash(token, strlen(token), out))
		return STATUS_TOKEN_HEADER_NO_HASH;
	return STATUS_TOKEN_HEADER_OK;
}

bool status_token_from_request(struct evhttp_request *req, const char *realm,
                               status_token_send_error_fn *send_error,
                               char out[STATUS_TOKEN_HEX_SIZE])
{
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	char challenge[128];

	switch (status_token_from_header(h, out)) {
	case STATUS_TOKEN_HEADER_OK:
		return true;
	case STATUS_TOKEN_HEADER_MISSING:
		snprintf(challenge, sizeof challenge, "Bearer realm=\"%s\"",
		         realm);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "WWW-Authenticate", challenge);
		send_error(req, 401, "unauthorized", STATUS_TOKEN_HEADER_HINT);
		return false;
	case STATUS_TOKEN_HEADER_NO_HASH:
		break;
	}
	send_error(req, 500, "internal error", "cannot hash the token");
	return false;
}
