/* libFuzzer target for the snapshot records read back from disk
 * (snapshot/snapshot_meta.c): the metadata file beside every .snapshot and
 * the receiver's two-slot progress record beside a .partial.
 *
 * The first input byte picks options: bit 0 fixes up the trailing CRC32C
 * before decoding (so the fuzzer reaches the fields behind it), bit 1 feeds
 * the bytes to the progress decoder instead of the metadata decoder. The
 * rest is the record. Invariants (abort() on violation):
 * - the decoders return 0 or MA_ERR_CORRUPT with a message;
 * - an accepted record has valid ids (the one name rule), a progress
 *   record's durable offset is within the snapshot size;
 * - it re-encodes to exactly the input bytes (reserved bytes and id padding
 *   are zero: what the encoder writes is all the decoder accepts) and
 *   decodes again to the same values. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/errors.h"
#include "common/parse.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_ident(const struct snapshot_ident *id)
{
	char errmsg[MA_ERRMSG_SIZE];

	check(parse_name_valid_str(id->cluster_id));
	check(parse_name_valid_str(id->database_id));
	check(snapshot_ident_check(id, errmsg) == 0);
}

static void fuzz_meta(const uint8_t *buf, size_t len)
{
	char errmsg[MA_ERRMSG_SIZE] = "";
	uint8_t out[SNAPSHOT_META_SIZE];
	struct snapshot_meta m, m2;
	int rc;

	rc = snapshot_meta_decode(buf, len, &m, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		return;
	}
	check(len == SNAPSHOT_META_SIZE);
	check_ident(&m.id);
	snapshot_meta_encode(&m, out);
	check(memcmp(out, buf, sizeof out) == 0);
	check(snapshot_meta_decode(out, sizeof out, &m2, errmsg) == 0);
	check(snapshot_ident_equal(&m.id, &m2.id) &&
	      m.created_ms == m2.created_ms);
}

static void fuzz_progress(const uint8_t *buf, size_t len)
{
	char errmsg[MA_ERRMSG_SIZE] = "";
	uint8_t out[SNAPSHOT_PROGRESS_SIZE];
	struct snapshot_progress p, p2;
	int rc;

	rc = snapshot_progress_decode(buf, len, &p, errmsg);
	if (rc != 0) {
		check(rc == MA_ERR_CORRUPT && errmsg[0] != '\0');
		return;
	}
	check(len == SNAPSHOT_PROGRESS_SIZE);
	check_ident(&p.id);
	check(p.durable_offset <= p.id.size);
	snapshot_progress_encode(&p, out);
	check(memcmp(out, buf, sizeof out) == 0);
	check(snapshot_progress_decode(out, sizeof out, &p2, errmsg) == 0);
	check(snapshot_ident_equal(&p.id, &p2.id) &&
	      p.durable_offset == p2.durable_offset &&
	      p.running_crc32c == p2.running_crc32c && p.seq == p2.seq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool fix, progress;
	uint8_t *buf;

	if (size < 1)
		return 0;
	fix = (data[0] & 1) != 0;
	progress = (data[0] & 2) != 0;
	data++;
	size--;
	/* A copy of exactly `size` bytes, so ASan sees any read past it. */
	buf = malloc(size > 0 ? size : 1);
	check(buf != NULL);
	memcpy(buf, data, size);
	if (fix && size >= 4)
		le_put32(buf + size - 4, crc32c(buf, size - 4));
	if (progress)
		fuzz_progress(buf, size);
	else
		fuzz_meta(buf, size);
	free(buf);
	return 0;
}
