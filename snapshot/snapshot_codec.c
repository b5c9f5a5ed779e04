/* snapshot_codec: zstd per snapshot chunk (see snapshot_codec.h). */
#include "snapshot/snapshot_codec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/errors.h"

struct snapshot_codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *buf;
	size_t cap;
};

const char *snapshot_encoding_name(unsigned encoding)
{
	switch (encoding) {
	case SNAPSHOT_ENCODING_RAW:
		return "raw";
	case SNAPSHOT_ENCODING_ZSTD:
		return "zstd";
	default:
		return "?";
	}
}

int snapshot_codec_new(struct snapshot_codec **out, char *errmsg)
{
	struct snapshot_codec *k = calloc(1, sizeof *k);

	*out = NULL;
	if (k == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory for a snapshot codec");
	*out = k;
	return 0;
}

void snapshot_codec_free(struct snapshot_codec *k)
{
	if (k == NULL)
		return;
	ZSTD_freeCCtx(k->cctx);
	ZSTD_freeDCtx(k->dctx);
	free(k->buf);
	free(k);
}

static int reserve(struct snapshot_codec *k, size_t n)
{
	uint8_t *nb;

	if (k->cap >= n)
		return 0;
	nb = realloc(k->buf, n);
	if (nb == NULL)
		return MA_ERR_NOMEM;
	k->buf = nb;
	k->cap = n;
	return 0;
}

int snapshot_codec_compress(struct snapshot_codec *k, int level,
                            struct snapshot_chunk *c, char *errmsg)
{
	size_t bound, n;

	if (level < SNAPSHOT_LEVEL_MIN || level > SNAPSHOT_LEVEL_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "zstd level %d outside %d..%d", level,
		                 SNAPSHOT_LEVEL_MIN, SNAPSHOT_LEVEL_MAX);
	if (c->encoding != SNAPSHOT_ENCODING_RAW)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "chunk at offset %" PRIu64 " is already %s",
		                 c->offset,
		                 snapshot_encoding_name(c->encoding));
	if (c->data_len == 0)
		return 0;
	if (c->data_len > SNAPSHOT_CHUNK_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "chunk of %zu bytes over the largest, %d",
		                 c->data_len, SNAPSHOT_CHUNK_MAX);
	if (k->cctx == NULL && (k->cctx = ZSTD_createCCtx()) == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory for a zstd context");
	bound = ZSTD_compressBound(c->data_len);
	if (reserve(k, bound) != 0)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory compressing %zu bytes",
		                 c->data_len);
	n = ZSTD_compressCCtx(k->cctx, k->buf, bound, c->data, c->data_len,
	                      level);
	/* An error here (it needs memory) leaves the chunk raw: the mirror
	 * gets the same bytes, only more of them. */
	if (ZSTD_isError(n) || n >= c->data_len)
		return 0;
	c->raw_len = c->data_len;
	c->data = k->buf;
	c->data_len = n;
	c->encoding = SNAPSHOT_ENCODING_ZSTD;
	return 1;
}

int snapshot_codec_decompress(struct snapshot_codec *k,
                              struct snapshot_chunk *c, size_t raw_max,
                              char *errmsg)
{
	unsigned long long announced;
	size_t n;

	if (c->encoding == SNAPSHOT_ENCODING_RAW)
		return 0;
	if (c->encoding != SNAPSHOT_ENCODING_ZSTD)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "chunk at offset %" PRIu64
		                 ": unknown encoding %u (this mirror knows raw "
		                 "and zstd)",
		                 c->offset, c->encoding);
	if (c->raw_len == 0 || c->raw_len > raw_max ||
	    c->raw_len > SNAPSHOT_CHUNK_MAX)
		return ma_errorf(
		    errmsg, MA_ERR_PROTO,
		    "chunk at offset %" PRIu64 ": raw_size %zu outside 1..%zu",
		    c->offset, c->raw_len,
		    raw_max < SNAPSHOT_CHUNK_MAX ? raw_max
		                                 : SNAPSHOT_CHUNK_MAX);
	if (c->offset > c->id.size || c->raw_len > c->id.size - c->offset)
		return ma_errorf(
		    errmsg, MA_ERR_PROTO,
		    "chunk at offset %" PRIu64
		    ": %zu raw bytes go beyond total_size %" PRIu64,
		    c->offset, c->raw_len, c->id.size);
	announced = ZSTD_getFrameContentSize(c->data, c->data_len);
	if (announced != c->raw_len)
		return ma_errorf(
		    errmsg, MA_ERR_PROTO,
		    "chunk at offset %" PRIu64
		    ": its %zu zstd bytes %s, not the %zu raw bytes announced",
		    c->offset, c->data_len,
		    announced == ZSTD_CONTENTSIZE_ERROR ? "are not a zstd frame"
		    : announced == ZSTD_CONTENTSIZE_UNKNOWN
		        ? "announce no size"
		        : "announce another size",
		    c->raw_len);
	if (k->dctx == NULL && (k->dctx = ZSTD_createDCtx()) == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory for a zstd context");
	if (reserve(k, c->raw_len) != 0)
		return ma_errorf(errmsg, MA_ERR_NOMEM,
		                 "out of memory decompressing %zu bytes",
		                 c->raw_len);
	/* The output never exceeds cap = raw_len: zstd stops with an error
	 * rather than write past it. */
	n = ZSTD_decompressDCtx(k->dctx, k->buf, c->raw_len, c->data,
	                        c->data_len);
	if (ZSTD_isError(n) || n != c->raw_len)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "chunk at offset %" PRIu64
		                 ": zstd data does not decompress to its %zu "
		                 "raw bytes (%s)",
		                 c->offset, c->raw_len,
		                 ZSTD_isError(n) ? ZSTD_getErrorName(n)
		                                 : "short");
	c->data = k->buf;
	c->data_len = c->raw_len;
	c->encoding = SNAPSHOT_ENCODING_RAW;
	return 0;
}

int snapshot_codec_receive(struct snapshot_codec **codec,
                           struct snapshot_chunk *c, size_t raw_max,
                           uint64_t *wire_bytes, uint64_t *raw_bytes,
                           char *errmsg)
{
	int rc;

	*wire_bytes += c->data_len;
	if (c->encoding != SNAPSHOT_ENCODING_RAW) {
		if (*codec == NULL) {
			rc = snapshot_codec_new(codec, errmsg);
			if (rc != 0)
				return rc;
		}
		rc = snapshot_codec_decompress(*codec, c, raw_max, errmsg);
		if (rc != 0)
			return rc;
	}
	*raw_bytes += c->data_len;
	return 0;
}
