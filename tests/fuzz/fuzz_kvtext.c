/* libFuzzer target for common/kvtext itself, on a table with every kind
 * of field: a magic line, strings, a bounded and an unbounded number, an
 * optional field, a repeated one, the CRC seal.
 *
 * The first input byte picks options: bit 0 appends a correct
 * "crc32c=XXXXXXXX" line over the rest of the input (as
 * tests/fuzz/fuzz_record.h); bit 1 reads with the same table but without
 * magic line and seal. Invariants (abort() on violation):
 * - kvtext_parse() returns 0 or MA_ERR_CORRUPT with a message;
 * - an accepted record keeps every field's limits (string lengths and
 *   bytes, the bounded number, 1..3 repeated lines);
 * - its values written back in table order are exactly the input bytes
 *   (the reader accepts one spelling of each record). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/kvtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAGIC "fuzz record 1"
#define TEXT_MAX 256

struct rec {
	char name[9];
	uint64_t count, small;
	char note[9];
	char tags[3][5];
	size_t ntags;
};

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool str_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errmsg[MA_ERRMSG_SIZE] = "", out[TEXT_MAX + 64];
	struct rec r;
	const struct kvtext_field fields[] = {
	    {"name", KVTEXT_STR, 0, 8, r.name, 0, NULL},
	    {"count", KVTEXT_U64, 0, 0, &r.count, 0, NULL},
	    {"small", KVTEXT_U64, 0, 1000, &r.small, 0, NULL},
	    {"note", KVTEXT_STR, KVTEXT_OPTIONAL, 8, r.note, 0, NULL},
	    {"tag", KVTEXT_STR, KVTEXT_REPEAT, 4, r.tags, 3, &r.ntags},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, NULL, 0, NULL},
	};
	bool plain;
	struct kvtext_format fmt = {"fuzz record", MAGIC, TEXT_MAX, fields,
	                            sizeof fields / sizeof fields[0]};
	size_t len, n;
	char *text;
	int rc;

	if (size < 1)
		return 0;
	plain = (data[0] & 2) != 0;
	if (plain) {
		fmt.magic = NULL;
		fmt.nfields--;
	}
	len = size - 1;
	text = malloc(len + 32);
	check(text != NULL);
	memcpy(text, data + 1, len);
	if (data[0] & 1)
		len += (size_t)snprintf(text + len, 32, "crc32c=%08x\n",
		                        crc32c(text, len));
	memset(&r, 0, sizeof r);
	rc = kvtext_parse(&fmt, text, len, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		free(text);
		return 0;
	}
	check(str_ok(r.name, 8) && r.small <= 1000);
	check(r.note[0] == '\0' || str_ok(r.note, 8));
	check(r.ntags >= 1 && r.ntags <= 3);
	n = (size_t)snprintf(
	    out, sizeof out, "%s%sname=%s\ncount=%llu\nsmall=%llu\n",
	    plain ? "" : MAGIC, plain ? "" : "\n", r.name,
	    (unsigned long long)r.count, (unsigned long long)r.small);
	if (r.note[0] != '\0')
		n += (size_t)snprintf(out + n, sizeof out - n, "note=%s\n",
		                      r.note);
	for (size_t i = 0; i < r.ntags; i++) {
		check(str_ok(r.tags[i], 4));
		n += (size_t)snprintf(out + n, sizeof out - n, "tag=%s\n",
		                      r.tags[i]);
	}
	if (!plain) {
		rc = kvtext_seal(out, n, sizeof out);
		check(rc > 0);
		n = (size_t)rc;
	}
	check(n == len && memcmp(out, text, len) == 0);
	free(text);
	return 0;
}
