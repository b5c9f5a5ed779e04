/* wal: on-disk encoding of segment headers and records (pure: no I/O).
 * docs/FORMAT.md describes every byte; keep the two in step. */
#ifndef MIRROR_WAL_WAL_FORMAT_H
#define MIRROR_WAL_WAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal/wal.h"

#define WAL_SEG_MAGIC "MAWALSEG"
#define WAL_FORMAT_VERSION 1
#define WAL_SEG_HEADER_SIZE 128
#define WAL_REC_HEADER_SIZE 32
/* Records start at multiples of 8 from the file start. 512 is a multiple
 * of 8, so the 4-byte length at the start of a record never straddles a
 * 512-byte sector. */
#define WAL_REC_ALIGN 8

/* "wal-" + 20 decimal digits + ".seg" + NUL */
#define WAL_SEG_NAME_SIZE 29

struct wal_seg_header {
	uint64_t first_index;
	struct wal_identity identity;
};

/* Encodes h into out[0..WAL_SEG_HEADER_SIZE). */
void wal_seg_header_encode(const struct wal_seg_header *h, uint8_t *out);
/* Decodes buf[0..len). Returns 0, or MA_ERR_CORRUPT with *reason set to a
 * static description (short, bad magic, unsupported version, bad CRC,
 * bad database id, index 0). */
int wal_seg_header_decode(const uint8_t *buf, size_t len,
                          struct wal_seg_header *h, const char **reason);

struct wal_rec_header {
	uint32_t len;
	uint8_t type;
	uint64_t index;
	uint64_t term;
	uint32_t crc;
};

/* Bytes a record with a payload of len bytes takes on disk (header,
 * payload, zero padding to WAL_REC_ALIGN). */
static inline uint64_t wal_rec_size(uint64_t len)
{
	return (WAL_REC_HEADER_SIZE + len + WAL_REC_ALIGN - 1) &
	       ~(uint64_t)(WAL_REC_ALIGN - 1);
}

/* Encodes e into out[0..wal_rec_size(e->len)), padding included. */
void wal_rec_encode(const struct wal_entry *e, uint8_t *out);
/* Decodes the fixed header at buf (WAL_REC_HEADER_SIZE bytes). Returns 0,
 * or MA_ERR_CORRUPT with *reason when a reserved byte is non-zero or the
 * length exceeds WAL_ENTRY_SIZE_MAX. Does not check the CRC. */
int wal_rec_header_decode(const uint8_t *buf, struct wal_rec_header *h,
                          const char **reason);
/* True when the CRC of the record at rec (header + h->len payload bytes)
 * matches h->crc. */
bool wal_rec_crc_ok(const uint8_t *rec, const struct wal_rec_header *h);

/* Segment file name for first_index ("wal-%020llu.seg"). */
void wal_seg_name(char out[WAL_SEG_NAME_SIZE], uint64_t first_index);
/* True when name is exactly a segment name; sets *first_index. */
bool wal_seg_name_parse(const char *name, uint64_t *first_index);

#endif
