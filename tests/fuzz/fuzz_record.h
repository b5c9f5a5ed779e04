/* The half that the libFuzzer targets of the key=value records
 * (common/kvtext: identity, promoted, reservation, freshness) share.
 *
 * The first input byte picks options: bit 0 appends a correct
 * "crc32c=XXXXXXXX" line over the rest of the input, so the fuzzer gets
 * past the checksum into the line parser; otherwise the rest is the file
 * as is. Invariants (abort() on violation):
 * - parse returns 0 or MA_ERR_CORRUPT with a message, and leaves the
 *   record zeroed on failure;
 * - an accepted record passes the target's own check (valid);
 * - it formats back to exactly the input bytes (the parser accepts only
 *   what the writer writes) and parses again to the same record. */
#ifndef MIRROR_AGENT_FUZZ_RECORD_H
#define MIRROR_AGENT_FUZZ_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_record {
	size_t size;     /* of the record */
	size_t text_max; /* of format's output */
	int (*parse)(const char *text, size_t len, void *rec, char *errmsg);
	int (*format)(const void *rec, char *out, char *errmsg);
	bool (*valid)(const void *rec);
};

static inline void fuzz_check(bool ok)
{
	if (!ok)
		abort();
}

static inline int fuzz_record_run(const struct fuzz_record *fr,
                                  const uint8_t *data, size_t size)
{
	char errmsg[MA_ERRMSG_SIZE] = "";
	unsigned char *rec, *rec2, *zero;
	char *text, *out;
	size_t len;
	int rc, n;

	if (size < 1)
		return 0;
	len = size - 1;
	/* Exactly len bytes (plus the CRC line): ASan sees any overread. */
	text = malloc(len + 32);
	out = malloc(fr->text_max);
	rec = malloc(fr->size);
	rec2 = malloc(fr->size);
	zero = calloc(1, fr->size);
	fuzz_check(text != NULL && out != NULL && rec != NULL && rec2 != NULL &&
	           zero != NULL);
	memcpy(text, data + 1, len);
	if (data[0] & 1)
		len += (size_t)snprintf(text + len, 32, "crc32c=%08x\n",
		                        crc32c(text, len));
	memset(rec, 0x5a, fr->size);
	rc = fr->parse(text, len, rec, errmsg);
	if (rc != 0) {
		fuzz_check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		fuzz_check(memcmp(rec, zero, fr->size) == 0);
	} else {
		fuzz_check(fr->valid(rec));
		n = fr->format(rec, out, errmsg);
		fuzz_check(n > 0 && (size_t)n == len &&
		           memcmp(out, text, len) == 0);
		fuzz_check(fr->parse(out, (size_t)n, rec2, errmsg) == 0);
		fuzz_check(memcmp(rec, rec2, fr->size) == 0);
	}
	free(zero);
	free(rec2);
	free(rec);
	free(out);
	free(text);
	return 0;
}

#endif
