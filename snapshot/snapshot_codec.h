/* snapshot_codec: per-chunk compression of snapshot bytes on the wire
 * (docs/PROTOCOL.md "Snapshot compression"). serve compresses a chunk's
 * data when the mirror asked for it and the result is smaller; follow
 * decompresses before the receiver sees the chunk, so the receiver, its
 * CRC32C checks (chunk and whole file, both over the raw bytes), its
 * durable offsets and resume are those of a raw stream.
 *
 * A codec holds one zstd context for each direction and one buffer; the
 * data a call hands back stays valid until the next call on the same
 * codec. No I/O, no clock. Built into proto/libproto.a (wire format; the
 * tap's shared library, made of libsnapshot's sources, needs no zstd). */
#ifndef MIRROR_SNAPSHOT_SNAPSHOT_CODEC_H
#define MIRROR_SNAPSHOT_SNAPSHOT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/snapshot.h"

/* struct snapshot_chunk.encoding values. */
#define SNAPSHOT_ENCODING_RAW 0
#define SNAPSHOT_ENCODING_ZSTD 1

/* Encodings a mirror accepts / a source offers, as a bit mask (the
 * snapshot request's `encodings` parameter, the info answer's
 * `snapshot_encodings` field). Unknown bits are ignored by both. */
#define SNAPSHOT_ENCODINGS_ZSTD 1u
#define SNAPSHOT_ENCODINGS_KNOWN SNAPSHOT_ENCODINGS_ZSTD

/* zstd levels serve accepts (snapshot_compression_level; 0 = off) and its
 * default (bench/bench_compress.sh: level 3 gives 5 % more than 1 on
 * text at 320 MB/s a core, far above any WAN link). */
#define SNAPSHOT_LEVEL_MIN 1
#define SNAPSHOT_LEVEL_MAX 19
#define SNAPSHOT_LEVEL_DEFAULT 3

/* Name of an encoding ("raw", "zstd", "?" for others). */
const char *snapshot_encoding_name(unsigned encoding);

struct snapshot_codec; /* opaque */

/* A codec. 0, MA_ERR_NOMEM. */
int snapshot_codec_new(struct snapshot_codec **out, char *errmsg);
/* NULL is fine. */
void snapshot_codec_free(struct snapshot_codec *k);

/* Compresses c's data at level when that makes it smaller: then c->data
 * points into the codec (until the next call), c->raw_len is the raw
 * length, c->data_len the compressed one and c->encoding
 * SNAPSHOT_ENCODING_ZSTD; c->crc32c is left alone (over the raw bytes).
 * Returns 1 (compressed), 0 (left raw: empty, or not smaller),
 * MA_ERR_NOMEM or MA_ERR_INVAL (a level outside 1..19, a chunk over
 * SNAPSHOT_CHUNK_MAX). */
int snapshot_codec_compress(struct snapshot_codec *k, int level,
                            struct snapshot_chunk *c, char *errmsg);

/* Turns a chunk as decoded from the wire into a raw one: for
 * SNAPSHOT_ENCODING_ZSTD, checks the announced raw length (1..raw_max,
 * within the snapshot's size; the compressed frame must announce the
 * same length and produce exactly it) and decompresses into the codec
 * (c->data valid until the next call), leaving encoding RAW, data_len
 * the raw length. A raw chunk is left as it is. 0, MA_ERR_PROTO naming
 * the chunk's offset and what is wrong (unknown encoding, a length over
 * the bound, data that is not a zstd frame of that length), or
 * MA_ERR_NOMEM. */
int snapshot_codec_decompress(struct snapshot_codec *k,
                              struct snapshot_chunk *c, size_t raw_max,
                              char *errmsg);

/* What a mirror does with every chunk it receives: adds its wire length to
 * *wire_bytes, decompresses it (creating *codec on first use; the caller
 * frees it) when it is not raw, then adds its raw length to *raw_bytes.
 * Returns what snapshot_codec_new / snapshot_codec_decompress return. */
int snapshot_codec_receive(struct snapshot_codec **codec,
                           struct snapshot_chunk *c, size_t raw_max,
                           uint64_t *wire_bytes, uint64_t *raw_bytes,
                           char *errmsg);

#endif
