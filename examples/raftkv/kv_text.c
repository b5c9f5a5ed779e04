/* raftkv client protocol helpers (kv_text.h). */
#include "examples/raftkv/kv_text.h"

#include <string.h>

static int plain(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e && c != '%';
}

size_t kv_text_encoded_len(const uint8_t *buf, size_t len)
{
	size_t n = 0;

	if (len == 0)
		return 1;
	if (len == 1 && buf[0] == '-')
		return 3;
	for (size_t i = 0; i < len; i++)
		n += plain(buf[i]) ? 1 : 3;
	return n;
}

size_t kv_text_encode(const uint8_t *buf, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (len == 0) {
		strcpy(out, "-");
		return 1;
	}
	if (len == 1 && buf[0] == '-') {
		strcpy(out, "%2D");
		return 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (plain(buf[i])) {
			out[n++] = (char)buf[i];
		} else {
			out[n++] = '%';
			out[n++] = hex[buf[i] >> 4];
			out[n++] = hex[buf[i] & 15];
		}
	}
	out[n] = '\0';
	return n;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int kv_text_decode(char *tok, size_t *len)
{
	size_t r = 0, w = 0;

	if (strcmp(tok, "-") == 0) {
		tok[0] = '\0';
		*len = 0;
		return 0;
	}
	while (tok[r] != '\0') {
		if (tok[r] == '%') {
			int hi, lo;

			if (tok[r + 1] == '\0' || tok[r + 2] == '\0')
				return -1;
			hi = hexval(tok[r + 1]);
			lo = hexval(tok[r + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			tok[w++] = (char)(hi << 4 | lo);
			r += 3;
		} else {
			tok[w++] = tok[r++];
		}
	}
	tok[w] = '\0';
	*len = w;
	return 0;
}

int kv_text_split(char *line, char **tokens, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			*p++ = '\0';
		if (*p == '\0')
			return n;
		if (n == max)
			return -1;
		tokens[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
	}
}
