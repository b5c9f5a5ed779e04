/* libFuzzer target for the spool identity file (spool/spool.c), the file
 * that decides whether a mirror may follow a source.
 *
 * The first input byte picks options: bit 0 appends a correct
 * "crc32c=XXXXXXXX" line over the rest of the input, so the fuzzer gets
 * past the checksum into the key=value parser; otherwise the rest is the
 * file as is. Invariants (abort() on violation):
 * - spool_identity_parse() returns 0 or MA_ERR_CORRUPT with a message,
 *   and leaves *id zeroed on failure;
 * - an accepted identity has ids that pass the one name rule;
 * - it formats back to exactly the input bytes (the parser accepts only
 *   what the writer writes) and parses again to the same identity. */
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
	static const struct proto_identity zero;
	char errmsg[MA_ERRMSG_SIZE] = "", out[SPOOL_IDENTITY_TEXT_MAX];
	struct proto_identity id, id2;
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
	rc = spool_identity_parse(text, len, &id, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		check(memcmp(&id, &zero, sizeof id) == 0);
		free(text);
		return 0;
	}
	check(parse_name_valid_str(id.cluster_id));
	check(parse_name_valid_str(id.database_id));
	n = spool_identity_format(&id, out, errmsg);
	check(n > 0 && (size_t)n == len && memcmp(out, text, len) == 0);
	check(spool_identity_parse(out, (size_t)n, &id2, errmsg) == 0);
	check(spool_identity_equal(&id, &id2));
	free(text);
	return 0;
}
