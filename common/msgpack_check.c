#include "common/msgpack_check.h"

#include "common/errors.h"

#define MAX_STACK 16

static uint64_t be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int msgpack_check(const void *buf, size_t len,
                  const struct msgpack_limits *limits, char *errmsg)
{
	const unsigned char *p = buf;
	uint64_t pending[MAX_STACK]; /* values still owed per open container */
	unsigned depth = 0;
	size_t off = 0;
	int objects = 0;

	if (limits->max_depth >= MAX_STACK)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "msgpack depth limit %u too large",
		                 limits->max_depth);
	for (;;) {
		/* Close containers that are complete. */
		while (depth > 0 && pending[depth - 1] == 0)
			depth--;
		if (depth == 0 && objects == 1)
			break;
		if (off >= len)
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "msgpack truncated at offset %zu",
			                 off);
		if (depth > 0)
			pending[depth - 1]--;
		else
			objects++;

		unsigned char b = p[off];
		size_t start = off++;
		uint64_t count = 0,
		         skip = 0; /* container count or payload bytes */
		unsigned nlen = 0; /* size of a length/value field */
		enum { SCALAR, STR, BIN, ARRAY, MAP } kind = SCALAR;

		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 ||
		    b == 0xc3) {
			kind = SCALAR;
		} else if (b >= 0x80 && b <= 0x8f) {
			kind = MAP;
			count = b & 0x0f;
		} else if (b >= 0x90 && b <= 0x9f) {
			kind = ARRAY;
			count = b & 0x0f;
		} else if (b >= 0xa0 && b <= 0xbf) {
			kind = STR;
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4:
			case 0xc5:
			case 0xc6:
				kind = BIN;
				nlen = 1u << (b - 0xc4);
				break;
			case 0xd9:
			case 0xda:
			case 0xdb:
				kind = STR;
				nlen = 1u << (b - 0xd9);
				break;
			case 0xdc:
			case 0xdd:
				kind = ARRAY;
				nlen = b == 0xdc ? 2 : 4;
				break;
			case 0xde:
			case 0xdf:
				kind = MAP;
				nlen = b == 0xde ? 2 : 4;
				break;
			case 0xca:
				skip = 4;
				break;
			case 0xcb:
				skip = 8;
				break;
			case 0xcc:
			case 0xd0:
				skip = 1;
				break;
			case 0xcd:
			case 0xd1:
				skip = 2;
				break;
			case 0xce:
			case 0xd2:
				skip = 4;
				break;
			case 0xcf:
			case 0xd3:
				skip = 8;
				break;
			default:
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "msgpack type 0x%02x (ext or reserved) not "
				    "allowed at offset %zu",
				    b, start);
			}
		}
		if (nlen > 0) {
			if (len - off < nlen)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "msgpack truncated at offset %zu", off);
			uint64_t v = be(p + off, nlen);
			off += nlen;
			if (kind == ARRAY || kind == MAP)
				count = v;
			else
				skip = v;
		}
		switch (kind) {
		case STR:
			if (skip > limits->max_str)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "msgpack string of %llu bytes at offset "
				    "%zu exceeds limit %u",
				    (unsigned long long)skip, start,
				    limits->max_str);
			break;
		case BIN:
			if (skip > limits->max_bin)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "msgpack binary of %llu bytes at offset "
				    "%zu exceeds limit %u",
				    (unsigned long long)skip, start,
				    limits->max_bin);
			break;
		case ARRAY:
		case MAP:
			if (count > limits->max_entries)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "msgpack container of %llu entries at "
				    "offset %zu exceeds limit %u",
				    (unsigned long long)count, start,
				    limits->max_entries);
			if (depth >= limits->max_depth)
				return ma_errorf(errmsg, MA_ERR_PROTO,
				                 "msgpack nesting deeper than "
				                 "%u at offset %zu",
				                 limits->max_depth, start);
			pending[depth++] = kind == MAP ? count * 2 : count;
			break;
		case SCALAR:
			break;
		}
		if (skip > len - off)
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "msgpack truncated at offset %zu",
			                 off);
		off += skip;
	}
	if (off != len)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "%zu bytes of trailing garbage after msgpack "
		                 "object at offset %zu",
		                 len - off, off);
	return 0;
}
