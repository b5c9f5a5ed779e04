/* libFuzzer target for the spool freshness record (spool/spool_fresh.c),
 * the tap's word on its node's leader that serve reads at every answer.
 *
 * The first input byte picks options: bit 0 appends a correct
 * "crc32c=XXXXXXXX" line over the rest of the input, so the fuzzer gets
 * past the checksum into the key=value parser; otherwise the rest is the
 * file as is. Invariants (abort() on violation):
 * - spool_freshness_parse() returns 0 or MA_ERR_CORRUPT with a message,
 *   and leaves *f zeroed on failure;
 * - an accepted record has no negative time and leads only when it knows
 *   a leader;
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
#include "spool/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct spool_freshness zero;
	char errmsg[MA_ERRMSG_SIZE] = "", out[SPOOL_FRESHNESS_TEXT_MAX];
	struct spool_freshness f;
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
	rc = spool_freshness_parse(text, len, &f, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		check(memcmp(&f, &zero, sizeof f) == 0);
		free(text);
		return 0;
	}
	check(f.leader_contact_ms >= 0 && f.written_ms >= 0);
	check(!f.is_leader || f.leader_known);
	n = spool_freshness_format(&f, out, errmsg);
	check(n > 0 && (size_t)n == len && memcmp(out, text, len) == 0);
	free(text);
	return 0;
}
