/* proto_frame: the one framer. A frame is a 4-byte big-endian body length
 * and the body. HTTP/3 hands a response body over in arbitrary pieces
 * (~1,400 bytes each, valid only during the callback); a frame that
 * arrives whole inside one piece is returned in place, one split across
 * pieces is copied once into a frame-sized buffer. Writing each piece
 * through instead (one syscall per piece) was measured 1.8-2.1x slower
 * than the copy plus one write per frame (bench/bench_receiver_pieces,
 * docs/DECISIONS.md). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "proto/proto.h"

void proto_frame_header_put(uint8_t out[PROTO_FRAME_HEADER_SIZE], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

int proto_framer_init(struct proto_framer *f, size_t frame_max)
{
	memset(f, 0, sizeof *f);
	if (frame_max == 0 || frame_max > PROTO_FRAME_MAX)
		return MA_ERR_INVAL;
	f->frame_max = frame_max;
	return 0;
}

void proto_framer_free(struct proto_framer *f)
{
	free(f->buf);
	f->buf = NULL;
	f->buf_len = 0;
	f->buf_cap = 0;
}

/* Hands out the body and gets ready for the next header. */
static int frame_done(struct proto_framer *f, const uint8_t *body,
                      const void **out, size_t *out_len)
{
	*out = body;
	*out_len = f->body_len;
	f->frames++;
	f->hdr_len = 0;
	f->buf_len = 0;
	return 1;
}

int proto_framer_feed(struct proto_framer *f, const void *buf, size_t len,
                      size_t *consumed, const void **body, size_t *body_len,
                      char *errmsg)
{
	const uint8_t *p = buf;
	size_t used = 0, take;

	*consumed = 0;
	if (f->error != 0)
		return ma_errorf(errmsg, f->error,
		                 "frame stream refused after an earlier error");
	if (f->hdr_len < PROTO_FRAME_HEADER_SIZE) {
		take = PROTO_FRAME_HEADER_SIZE - f->hdr_len;
		if (take > len)
			take = len;
		memcpy(f->hdr + f->hdr_len, p, take);
		f->hdr_len += take;
		used = take;
		*consumed = used;
		if (f->hdr_len < PROTO_FRAME_HEADER_SIZE)
			return 0;
		f->body_len = (size_t)f->hdr[0] << 24 |
		              (size_t)f->hdr[1] << 16 | (size_t)f->hdr[2] << 8 |
		              f->hdr[3];
		if (f->body_len == 0 || f->body_len > f->frame_max) {
			f->error = MA_ERR_PROTO;
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "frame length %zu outside 1..%zu "
			                 "(frame %" PRIu64 " of the stream)",
			                 f->body_len, f->frame_max,
			                 f->frames + 1);
		}
	}
	/* The whole body is in the caller's piece: no copy. */
	if (f->buf_len == 0 && len - used >= f->body_len) {
		*consumed = used + f->body_len;
		return frame_done(f, p + used, body, body_len);
	}
	if (used == len)
		return 0;
	if (f->buf_cap < f->body_len) {
		uint8_t *nb = realloc(f->buf, f->body_len);

		if (nb == NULL) {
			f->error = MA_ERR_NOMEM;
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "out of memory for a frame of %zu "
			                 "bytes",
			                 f->body_len);
		}
		f->buf = nb;
		f->buf_cap = f->body_len;
	}
	take = f->body_len - f->buf_len;
	if (take > len - used)
		take = len - used;
	memcpy(f->buf + f->buf_len, p + used, take);
	f->buf_len += take;
	*consumed = used + take;
	if (f->buf_len < f->body_len)
		return 0;
	return frame_done(f, f->buf, body, body_len);
}

int proto_framer_finish(const struct proto_framer *f, char *errmsg)
{
	if (f->hdr_len == 0)
		return 0;
	if (f->hdr_len < PROTO_FRAME_HEADER_SIZE)
		return ma_errorf(
		    errmsg, MA_ERR_PROTO,
		    "stream ended inside a frame header (%zu of %d "
		    "bytes)",
		    f->hdr_len, PROTO_FRAME_HEADER_SIZE);
	return ma_errorf(errmsg, MA_ERR_PROTO,
	                 "stream ended inside a frame (%zu of %zu body bytes)",
	                 f->buf_len, f->body_len);
}
