/* libFuzzer target for the WAL's decoders of bytes from disk: the segment
 * header and record header (wal/wal_format.c) and the recovery scan of a
 * whole segment (wal_seg_scan in wal/wal_segment.c, run on a memfd).
 *
 * The first input byte picks options; bit 0 "fixes up" every CRC32C before
 * decoding, so that the fuzzer gets past the checksums into the fields
 * behind them (a random input almost never carries a valid CRC). The rest
 * is a segment file: its first 128 bytes go to the header decoder, the
 * bytes after them to the record decoder, and the whole to the scan (with
 * a made-up header in front when its own does not decode).
 *
 * Invariants checked (abort() on violation):
 * - a decoder returns 0 or MA_ERR_CORRUPT with a reason;
 * - an accepted segment header or record re-encodes to exactly the input
 *   bytes (reserved bytes and padding are zero: the decoder accepts only
 *   what the encoder writes) and decodes again to the same values;
 * - a scan stops at an aligned offset within the file, every record it
 *   indexed decodes with a good CRC, consecutive indexes and
 *   non-decreasing terms, back to back; "clean" means it reached the end
 *   of the file; a "valid record after the bad spot" really is one; and
 *   wal_seg_check_tail() refuses exactly the mid-log corruption. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/errors.h"
#include "common/parse.h"
#include "wal/wal.h"
#include "wal/wal_format.h"
#include "wal/wal_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_reason(int rc, const char *reason)
{
	check(rc == MA_ERR_CORRUPT && reason != NULL && reason[0] != '\0');
}

/* Recomputes the CRC of the record at p (len bytes available) when its
 * header decodes and its payload fits. Returns its size on disk, or 0. */
static uint64_t fix_record(uint8_t *p, size_t len)
{
	struct wal_rec_header h;
	const char *reason;

	if (len < WAL_REC_HEADER_SIZE ||
	    wal_rec_header_decode(p, &h, &reason) != 0 ||
	    WAL_REC_HEADER_SIZE + (uint64_t)h.len > len)
		return 0;
	le_put32(p + 28,
	         crc32c_append(crc32c(p, 28), p + WAL_REC_HEADER_SIZE, h.len));
	return wal_rec_size(h.len);
}

static void fuzz_seg_header(const uint8_t *data, size_t size, bool fix)
{
	uint8_t buf[WAL_SEG_HEADER_SIZE], out[WAL_SEG_HEADER_SIZE];
	struct wal_seg_header h, h2;
	const char *reason = NULL;
	size_t n = size < sizeof buf ? size : sizeof buf;
	int rc;

	memcpy(buf, data, n);
	if (fix && n == sizeof buf)
		le_put32(buf + 124, crc32c(buf, 124));
	rc = wal_seg_header_decode(buf, n, &h, &reason);
	if (rc != 0) {
		check_reason(rc, reason);
		return;
	}
	check(n == WAL_SEG_HEADER_SIZE && h.first_index != 0);
	check(parse_name_valid_str(h.identity.database_id));
	check(strlen(h.identity.database_id) == buf[40]);
	wal_seg_header_encode(&h, out);
	check(memcmp(out, buf, sizeof buf) == 0);
	check(wal_seg_header_decode(out, sizeof out, &h2, &reason) == 0);
	check(h2.first_index == h.first_index &&
	      wal_identity_equal(&h2.identity, &h.identity));
}

static void fuzz_record(const uint8_t *data, size_t size, bool fix)
{
	struct wal_rec_header h;
	struct wal_entry e;
	const char *reason = NULL;
	uint8_t *buf, *out;
	uint64_t rsize;
	int rc;

	if (size < WAL_REC_HEADER_SIZE)
		return;
	buf = malloc(size);
	check(buf != NULL);
	memcpy(buf, data, size);
	if (fix)
		fix_record(buf, size);
	rc = wal_rec_header_decode(buf, &h, &reason);
	if (rc != 0) {
		check_reason(rc, reason);
		free(buf);
		return;
	}
	check(h.len <= WAL_ENTRY_SIZE_MAX);
	check(buf[5] == 0 && buf[6] == 0 && buf[7] == 0 &&
	      le_get32(buf + 24) == 0);
	rsize = wal_rec_size(h.len);
	check(rsize % WAL_REC_ALIGN == 0 &&
	      rsize >= WAL_REC_HEADER_SIZE + (uint64_t)h.len &&
	      rsize < WAL_REC_HEADER_SIZE + (uint64_t)h.len + WAL_REC_ALIGN);
	if (WAL_REC_HEADER_SIZE + (uint64_t)h.len > size) {
		free(buf);
		return;
	}
	if (!wal_rec_crc_ok(buf, &h)) {
		check(!fix);
		free(buf);
		return;
	}
	e.index = h.index;
	e.term = h.term;
	e.type = h.type;
	e.data = buf + WAL_REC_HEADER_SIZE;
	e.len = h.len;
	out = malloc(rsize);
	check(out != NULL);
	wal_rec_encode(&e, out);
	/* Padding is not covered by the CRC and never read: compare the
	 * header and payload, and check the encoder's padding is zero. */
	check(memcmp(out, buf, WAL_REC_HEADER_SIZE + h.len) == 0);
	for (uint64_t i = WAL_REC_HEADER_SIZE + h.len; i < rsize; i++)
		check(out[i] == 0);
	check(wal_rec_crc_ok(out, &h));
	free(out);
	free(buf);
}

/* The record at off in file[0..size) decodes, fits with its padding and
 * has a good CRC: what the scan may index or report as valid. */
static bool record_ok(const uint8_t *file, size_t size, uint64_t off,
                      struct wal_rec_header *h)
{
	const char *reason;

	return off % WAL_REC_ALIGN == 0 && off + WAL_REC_HEADER_SIZE <= size &&
	       wal_rec_header_decode(file + off, h, &reason) == 0 &&
	       off + wal_rec_size(h->len) <= size &&
	       wal_rec_crc_ok(file + off, h);
}

static void fuzz_scan(const uint8_t *data, size_t size, bool fix)
{
	struct wal_seg_header sh;
	struct wal_rec_header h;
	struct wal_window w;
	struct wal_tail tail;
	struct wal_seg seg;
	char errmsg[MA_ERRMSG_SIZE], name[WAL_SEG_NAME_SIZE];
	const char *reason;
	uint64_t prev_term = 0, next_off = WAL_SEG_HEADER_SIZE, first;
	size_t fsize;
	uint8_t *file;
	int fd, rc;

	/* The input as the file when its header decodes, else after one. */
	file = malloc(WAL_SEG_HEADER_SIZE + size);
	check(file != NULL);
	memcpy(file, data, size);
	if (fix && size >= WAL_SEG_HEADER_SIZE)
		le_put32(file + 124, crc32c(file, 124));
	if (wal_seg_header_decode(file, size, &sh, &reason) == 0) {
		fsize = size;
	} else {
		memset(&sh, 0, sizeof sh);
		sh.first_index = 1;
		check(wal_identity_init(&sh.identity,
		                        "00000000-0000-4000-8000-000000000001",
		                        "db", errmsg) == 0);
		wal_seg_header_encode(&sh, file);
		memcpy(file + WAL_SEG_HEADER_SIZE, data, size);
		fsize = WAL_SEG_HEADER_SIZE + size;
	}
	first = sh.first_index;
	if (fix) {
		uint64_t off = WAL_SEG_HEADER_SIZE, n;
		while ((n = fix_record(file + off, fsize - off)) != 0 &&
		       off + n <= fsize)
			off += n;
	}
	fd = memfd_create("fuzz-wal-seg", MFD_CLOEXEC);
	check(fd >= 0);
	check(write(fd, file, fsize) == (ssize_t)fsize);

	wal_seg_name(name, first);
	wal_seg_init(&seg, name, first, true);
	wal_window_init(&w);
	rc = wal_seg_scan(fd, "fuzz.seg", &seg, &w, &tail, errmsg);
	check(rc == 0);
	check(tail.off == seg.end && tail.file_size == fsize);
	check(tail.off >= WAL_SEG_HEADER_SIZE && tail.off <= fsize);
	check(tail.off % WAL_REC_ALIGN == 0);
	check(tail.clean == (tail.off == fsize));
	check(tail.clean || tail.reason[0] != '\0');
	for (uint64_t i = 0; i < seg.count; i++) {
		uint64_t off = seg.offsets[i];
		check(record_ok(file, fsize, off, &h));
		check(h.index == first + i && h.term >= prev_term);
		check(off == next_off);
		prev_term = h.term;
		next_off = off + wal_rec_size(h.len);
	}
	check(next_off == tail.off);
	check(seg.last_term == prev_term);
	if (tail.valid_after) {
		check(!tail.clean && tail.after_off > tail.off);
		check(record_ok(file, fsize, tail.after_off, &h));
		check(h.index == tail.after_index && h.index != 0);
	}
	rc = wal_seg_check_tail("fuzz.seg", &tail, true, errmsg);
	check(rc == 0 ? tail.clean || !tail.valid_after
	              : rc == MA_ERR_CORRUPT && tail.valid_after);
	rc = wal_seg_check_tail("fuzz.seg", &tail, false, errmsg);
	check(rc == 0 ? tail.clean : rc == MA_ERR_CORRUPT);

	wal_window_free(&w);
	wal_seg_free(&seg);
	close(fd);
	free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool fix;

	if (size < 1)
		return 0;
	fix = (data[0] & 1) != 0;
	data++;
	size--;
	fuzz_seg_header(data, size, fix);
	if (size > WAL_SEG_HEADER_SIZE)
		fuzz_record(data + WAL_SEG_HEADER_SIZE,
		            size - WAL_SEG_HEADER_SIZE, fix);
	else
		fuzz_record(data, size, fix);
	fuzz_scan(data, size, fix);
	return 0;
}
