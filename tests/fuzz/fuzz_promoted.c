/* libFuzzer target for the promoted record (spool/spool_promoted.c), the
 * file that fences a promoted mirror's directory.
 *
 * The first input byte picks options: bit 0 appends a correct
 * "crc32c=XXXXXXXX" line over the rest of the input, so the fuzzer gets
 * past the checksum into the key=value parser; otherwise the rest is the
 * file as is. Invariants (abort() on violation):
 * - spool_promoted_parse() returns 0 or MA_ERR_CORRUPT with a message,
 *   and leaves *p zeroed on failure;
 * - an accepted record has ids that pass the one name rule;
 * - it formats back to exactly the input bytes (the parser accepts only
 *   what the writer writes) and parses again to the same record. */
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
	static const struct spool_promoted zero;
	char errmsg[MA_ERRMSG_SIZE] = "", out[SPOOL_PROMOTED_TEXT_MAX];
	struct spool_promoted p, p2;
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
	rc = spool_promoted_parse(text, len, &p, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		check(memcmp(&p, &zero, sizeof p) == 0);
		free(text);
		return 0;
	}
	check(parse_name_valid_str(p.from.cluster_id));
	check(parse_name_valid_str(p.from.database_id));
	n = spool_promoted_format(&p, out, errmsg);
	check(n > 0 && (size_t)n == len && memcmp(out, text, len) == 0);
	check(spool_promoted_parse(out, (size_t)n, &p2, errmsg) == 0);
	check(memcmp(&p, &p2, sizeof p) == 0);
	free(text);
	return 0;
}
