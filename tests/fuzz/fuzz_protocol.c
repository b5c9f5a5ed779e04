/* libFuzzer target: the log-stream and info decoders behind the framer,
 * fed the input in two pieces split by its first byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/errors.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_framer r;
	char errmsg[MA_ERRMSG_SIZE];
	size_t split, off = 0;

	if (size == 0)
		return 0;
	split = data[0] % size;
	data++;
	size--;
	if (split > size)
		split = size;
	if (proto_framer_init(&r, 1 << 16) != 0)
		abort();
	while (off < size) {
		size_t end = off < split ? split : size;
		const void *body;
		size_t blen, used;
		int rc = proto_framer_feed(&r, data + off, end - off, &used,
		                           &body, &blen, errmsg);
		off += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			struct proto_log_msg m;
			struct proto_info info;

			if (proto_log_decode(body, blen, 4096, &m, errmsg) ==
			        0 &&
			    m.kind == PROTO_LOG_ENTRY && m.data_len > 4096)
				abort();
			(void)proto_info_decode(body, blen, &info, errmsg);
		}
	}
	(void)proto_framer_finish(&r, errmsg);
	proto_framer_free(&r);
	return 0;
}
