/* Length-prefixed frames on a byte stream: a 4-byte big-endian body length,
 * then the body (one msgpack object in this protocol). HTTP/3 delivers a
 * response body in arbitrary pieces; the reader reassembles whole frames
 * and enforces a maximum frame size before buffering anything. */
#ifndef MIRROR_COMMON_FRAME_H
#define MIRROR_COMMON_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_SIZE 4

struct frame_reader {
	size_t frame_max;
	unsigned char hdr[FRAME_HEADER_SIZE];
	size_t hdr_len;
	size_t body_len;
	unsigned char *buf; /* body being assembled, frame_max bytes */
	size_t buf_len;
	int failed;
};

/* 0 or MA_ERR_NOMEM. frame_max > 0. */
int frame_reader_init(struct frame_reader *r, size_t frame_max);
void frame_reader_free(struct frame_reader *r);

/* Consumes bytes from buf[0..len) up to the end of the next frame and sets
 * *consumed. Returns 1 with *body and *body_len set to a whole frame (valid
 * until the next call), 0 when all input was consumed without completing a
 * frame, or MA_ERR_PROTO (zero-length or oversize frame, errmsg says which
 * and the limit). After an error every call fails again. */
int frame_reader_feed(struct frame_reader *r, const void *buf, size_t len,
                      size_t *consumed, const void **body, size_t *body_len,
                      char *errmsg);

/* 0 when the stream ended on a frame boundary, else MA_ERR_PROTO. */
int frame_reader_finish(const struct frame_reader *r, char *errmsg);

/* Writes the 4-byte header for a body of len bytes. */
void frame_header_put(unsigned char out[FRAME_HEADER_SIZE], uint32_t len);

#endif
