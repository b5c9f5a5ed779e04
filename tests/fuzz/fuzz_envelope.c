/* libFuzzer target for the snapshot envelope decoder: on the whole input
 * as one frame body, and behind the framer on the same input cut into
 * pieces whose sizes come from the input's first bytes. Any decoded
 * envelope must satisfy the decoder's promises; a zstd one (encoding,
 * raw_size) then goes through follow's chunk decoder
 * (snapshot_codec_decompress), which must either refuse it with
 * MA_ERR_PROTO or hand back exactly raw_size bytes within the bounds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/parse.h"
#include "proto/proto.h"
#include "snapshot/snapshot_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snapshot_codec *codec;

static void check(const struct snapshot_chunk *c, size_t data_max)
{
	size_t span =
	    c->encoding == SNAPSHOT_ENCODING_RAW ? c->data_len : c->raw_len;

	if (c->data_len > data_max || c->offset > c->id.size ||
	    span > c->id.size - c->offset ||
	    (c->encoding != SNAPSHOT_ENCODING_RAW &&
	     (c->encoding != SNAPSHOT_ENCODING_ZSTD || c->raw_len == 0 ||
	      c->raw_len > data_max)) ||
	    (c->data_len > 0 && c->data == NULL) ||
	    !parse_name_valid_str(c->id.cluster_id) ||
	    !parse_name_valid_str(c->id.database_id))
		abort();
	/* Touch every data byte so ASan checks the borrowed pointer. */
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < c->data_len; i++)
		sum ^= c->data[i];
	(void)sum;
}

static void decode(const void *body, size_t len, size_t data_max)
{
	struct snapshot_chunk c;
	char errmsg[MA_ERRMSG_SIZE];
	int rc = proto_envelope_decode(body, len, data_max, &c, errmsg);

	if (rc == 0) {
		size_t raw_len = c.raw_len;
		bool zstd = c.encoding == SNAPSHOT_ENCODING_ZSTD;

		check(&c, data_max);
		if (codec == NULL && snapshot_codec_new(&codec, errmsg) != 0)
			abort();
		rc = snapshot_codec_decompress(codec, &c, data_max, errmsg);
		if (rc == 0) {
			if (c.encoding != SNAPSHOT_ENCODING_RAW ||
			    (zstd && c.data_len != raw_len))
				abort();
			check(&c, data_max);
		} else if ((rc != MA_ERR_PROTO && rc != MA_ERR_NOMEM) ||
		           !zstd || memchr(errmsg, '\0', sizeof errmsg) == NULL)
			abort();
	} else if ((rc != MA_ERR_PROTO && rc != MA_ERR_NOMEM) ||
	           memchr(errmsg, '\0', sizeof errmsg) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_framer f;
	char errmsg[MA_ERRMSG_SIZE];
	const size_t data_max = 4096;
	size_t pos = 0, seed_len = size < 4 ? size : 4;
	unsigned seed = 0;
	int rc;

	decode(data, size, data_max);

	/* Framing: the first bytes pick the piece sizes. */
	for (size_t i = 0; i < seed_len; i++)
		seed = seed * 251 + data[i];
	if (proto_framer_init(&f, data_max + PROTO_ENVELOPE_OVERHEAD_MAX) != 0)
		abort();
	while (pos < size) {
		size_t piece, used;

		seed = seed * 1103515245u + 12345u;
		piece = 1 + (seed >> 16) % 97;
		if (piece > size - pos)
			piece = size - pos;
		while (piece > 0) {
			const void *body;
			size_t blen;

			rc = proto_framer_feed(&f, data + pos, piece, &used,
			                       &body, &blen, errmsg);
			if (used > piece)
				abort();
			pos += used;
			piece -= used;
			if (rc < 0)
				goto out;
			if (rc == 1) {
				if (blen == 0 || blen > f.frame_max)
					abort();
				decode(body, blen, data_max);
			} else if (piece != 0) {
				abort();
			}
		}
	}
	proto_framer_finish(&f, errmsg);
out:
	proto_framer_free(&f);
	return 0;
}
