/* raftkv client protocol helpers, shared by raftkv-node and raftkv-cli.
 *
 * The protocol is line-based text over TCP (docs/TAP.md has the full
 * list): a request is one line of space-separated tokens, the answer one
 * line (scan: a header line and one line per key). Namespaces, keys and
 * values are tokens in percent-encoding: bytes outside 0x21..0x7e, and
 * '%', are written %XX; the token "-" alone means the empty string (a
 * literal "-" is written %2D). */
#ifndef RAFTKV_KV_TEXT_H
#define RAFTKV_KV_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Longest request or answer line, newline included (a 1 MiB value is at
 * most 3 MiB encoded). */
#define KV_LINE_MAX (4u << 20)
/* Most tokens in a request line. */
#define KV_TOKENS_MAX 8

/* Encoded size of len bytes, without NUL. */
size_t kv_text_encoded_len(const uint8_t *buf, size_t len);
/* Encodes buf into out (kv_text_encoded_len + 1 bytes, NUL-terminated);
 * returns the length written. */
size_t kv_text_encode(const uint8_t *buf, size_t len, char *out);
/* Decodes token tok in place (the result is never longer); stores the
 * length in *len. 0 or -1 for a malformed %XX. */
int kv_text_decode(char *tok, size_t *len);

/* Splits line (NUL-terminated, no newline) in place at spaces into at
 * most max tokens. Returns the number of tokens, or -1 when there are
 * more than max. */
int kv_text_split(char *line, char **tokens, int max);

#endif
