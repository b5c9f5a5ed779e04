/* libFuzzer target for the retention reservation file
 * (spool/spool_reserve.c), which the tap reads to decide how much wal a
 * source keeps for its mirrors.
 *
 * The first input byte picks options: bit 0 appends a correct
 * "crc32c=XXXXXXXX" line over the rest of the input, so the fuzzer gets
 * past the checksum into the line parser; otherwise the rest is the file
 * as is. Invariants (abort() on violation):
 * - spool_reserve_parse() returns 0 or MA_ERR_CORRUPT with a message, and
 *   leaves *r zeroed on failure;
 * - an accepted reservation has a database that passes the name rule and
 *   an identity of printable bytes without spaces;
 * - it formats back to exactly the input bytes (the parser accepts only
 *   what the writer writes). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/parse.h"
#include "spool/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct spool_reservation zero;
	char errmsg[MA_ERRMSG_SIZE] = "", out[SPOOL_RESERVE_TEXT_MAX];
	struct spool_reservation r;
	size_t len;
	char *text;
	int rc, n;

	if (size < 1)
		return 0;
	len = size - 1;
	/* Exactly len bytes (plus the CRC line): ASan sees any overread. */
	text = malloc(len + 32);
	check(text != NULL);
	memcpy(text, data + 1, len);
	if (data[0] & 1)
		len += (size_t)snprintf(text + len, 32, "crc32c=%08x\n",
		                        crc32c(text, len));
	rc = spool_reserve_parse(text, len, &r, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		check(memcmp(&r, &zero, sizeof r) == 0);
		free(text);
		return 0;
	}
	check(parse_name_valid_str(r.database));
	check(r.identity[0] != '\0');
	for (const char *p = r.identity; *p != '\0'; p++)
		check(*p > ' ' && *p < 0x7f);
	n = spool_reserve_format(&r, out, errmsg);
	check(n > 0 && (size_t)n == len && memcmp(out, text, len) == 0);
	free(text);
	return 0;
}
