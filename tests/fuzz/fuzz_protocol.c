/* libFuzzer target: the log-stream and info decoders behind the frame
 * reader, fed the input in two pieces split by its first byte. */
#include <stddef.h>
#include <stdint.h>

#include "common/errors.h"
#include "common/frame.h"
#include "proto/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader r;
	char errmsg[MA_ERRMSG_SIZE];
	size_t split, off = 0;

	if (size == 0)
		return 0;
	split = data[0] % size;
	data++;
	size--;
	if (split > size)
		split = size;
	if (frame_reader_init(&r, 1 << 16) != 0)
		return 0;
	while (off < size) {
		size_t end = off < split ? split : size;
		const void *body;
		size_t blen, used;
		int rc = frame_reader_feed(&r, data + off, end - off, &used,
		                           &body, &blen, errmsg);
		off += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			struct proto_log_msg m;
			struct proto_info info;
			(void)proto_log_decode(body, blen, 4096, &m, errmsg);
			(void)proto_info_decode(body, blen, &info, errmsg);
		}
	}
	(void)frame_reader_finish(&r, errmsg);
	frame_reader_free(&r);
	return 0;
}
