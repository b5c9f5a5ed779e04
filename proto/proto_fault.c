/* proto_fault: frames a correct source never sends, for serve's fault
 * injection (serve --fault) and for tests of the mirror's decoders. They
 * live here so that no other module writes wire bytes by hand. */
#include <string.h>

#include "common/errors.h"
#include "proto/proto_internal.h"

static int raw_frame(struct proto_buf *out, uint32_t declared, const void *body,
                     size_t body_len)
{
	size_t start = out->len;
	uint8_t hdr[PROTO_FRAME_HEADER_SIZE];

	proto_frame_header_put(hdr, declared);
	if (proto_buf_append(out, hdr, sizeof hdr) != 0 ||
	    proto_buf_append(out, body, body_len) != 0) {
		out->len = start;
		return MA_ERR_NOMEM;
	}
	return 0;
}

int proto_fault_frame_encode(struct proto_buf *out, enum proto_fault_frame kind)
{
	struct proto_packer p;
	char name[300]; /* over the 256-byte limit on strings */

	switch (kind) {
	case PROTO_FAULT_OVERSIZE_FRAME:
		return raw_frame(out, 64u << 20, "\x80", 1);
	case PROTO_FAULT_MALFORMED:
		return raw_frame(out, 8, "\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1", 8);
	case PROTO_FAULT_OVERSIZE_FIELD:
		memset(name, 'x', sizeof name);
		proto_pack_begin(&p, out);
		proto_pack_map(&p, 1);
		proto_pack_key(&p, "database_id");
		proto_pack_str(&p, name, sizeof name);
		return proto_pack_end(&p);
	}
	return MA_ERR_INVAL;
}
