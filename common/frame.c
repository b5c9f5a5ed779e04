#include "common/frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

int frame_reader_init(struct frame_reader *r, size_t frame_max)
{
	memset(r, 0, sizeof *r);
	r->frame_max = frame_max;
	r->buf = malloc(frame_max);
	return r->buf != NULL ? 0 : MA_ERR_NOMEM;
}

void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

void frame_header_put(unsigned char out[FRAME_HEADER_SIZE], uint32_t len)
{
	out[0] = (unsigned char)(len >> 24);
	out[1] = (unsigned char)(len >> 16);
	out[2] = (unsigned char)(len >> 8);
	out[3] = (unsigned char)len;
}

int frame_reader_feed(struct frame_reader *r, const void *buf, size_t len,
                      size_t *consumed, const void **body, size_t *body_len,
                      char *errmsg)
{
	const unsigned char *p = buf;
	size_t off = 0;

	*consumed = 0;
	if (r->failed)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "frame stream already failed");
	while (off < len) {
		if (r->hdr_len < FRAME_HEADER_SIZE) {
			r->hdr[r->hdr_len++] = p[off++];
			if (r->hdr_len < FRAME_HEADER_SIZE)
				continue;
			r->body_len = (size_t)r->hdr[0] << 24 |
			              (size_t)r->hdr[1] << 16 |
			              (size_t)r->hdr[2] << 8 | r->hdr[3];
			if (r->body_len == 0 || r->body_len > r->frame_max) {
				r->failed = 1;
				*consumed = off;
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "frame length %zu outside 1..%zu",
				    r->body_len, r->frame_max);
			}
			r->buf_len = 0;
			continue;
		}
		size_t n = r->body_len - r->buf_len;
		if (n > len - off)
			n = len - off;
		memcpy(r->buf + r->buf_len, p + off, n);
		r->buf_len += n;
		off += n;
		if (r->buf_len == r->body_len) {
			*body = r->buf;
			*body_len = r->body_len;
			r->hdr_len = 0;
			*consumed = off;
			return 1;
		}
	}
	*consumed = off;
	return 0;
}

int frame_reader_finish(const struct frame_reader *r, char *errmsg)
{
	if (r->hdr_len != 0)
		return ma_errorf(
		    errmsg, MA_ERR_PROTO,
		    "stream ended inside a frame (%zu of %zu body bytes)",
		    r->buf_len,
		    r->hdr_len < FRAME_HEADER_SIZE ? (size_t)0 : r->body_len);
	return 0;
}
