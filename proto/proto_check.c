/* proto_check: the one structural pre-check, run on every message body
 * before msgpack-c unpacks it (see proto.h for why). It walks the bytes
 * once, keeping per open container only the number of items still owed. */
#include <inttypes.h>
#include <stdio.h>

#include "common/errors.h"
#include "proto/proto_internal.h"

#define MAX_STACK 16

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* "field 'name': " for a value of the top map when the key is printable,
 * else "". Keys are at most max_key bytes and were checked to be inside
 * the buffer. Called only on the way to an error: formatting it for every
 * value cost about 1 % of a bootstrap's receive path. */
static const char *field_prefix(char *out, size_t size, const uint8_t *key,
                                size_t key_len)
{
	if (key == NULL)
		return "";
	for (size_t i = 0; i < key_len; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return "";
	snprintf(out, size, "field '%.*s': ", (int)key_len, (const char *)key);
	return out;
}

int proto_check(const void *buf, size_t len, const struct proto_limits *limits,
                char *errmsg)
{
	const uint8_t *p = buf;
	uint64_t pending[MAX_STACK]; /* items still owed per open container */
	bool is_map[MAX_STACK];
	const uint8_t *key = NULL; /* last key read in the top map */
	size_t key_len = 0, off = 0;
	unsigned depth = 0;
	bool started = false;
	char pre[PROTO_KEY_MAX * 2 + 16];

	if (limits->max_depth == 0 || limits->max_depth >= MAX_STACK)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "msgpack depth limit %u outside 1..%d",
		                 limits->max_depth, MAX_STACK - 1);
	for (;;) {
		while (depth > 0 && pending[depth - 1] == 0)
			depth--;
		if (depth == 0 && started)
			break;
		if (off >= len)
			return ma_errorf(
			    errmsg, MA_ERR_PROTO,
			    "%smsgpack truncated at offset %zu",
			    field_prefix(pre, sizeof pre, key, key_len), off);

		/* A map owes 2n items; keys are the even counts. */
		bool is_key = depth > 0 && is_map[depth - 1] &&
		              pending[depth - 1] % 2 == 0;
		bool top_value = depth == 1 && !is_key;
		uint8_t b = p[off];
		size_t start = off++;
		uint64_t count = 0, skip = 0; /* container count or payload */
		unsigned nlen = 0;            /* bytes of a length field */
		enum { SCALAR, STR, BIN, ARRAY, MAP } kind = SCALAR;

		if (depth > 0)
			pending[depth - 1]--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 ||
		    b == 0xc3) {
			kind = SCALAR;
		} else if (b <= 0x8f) {
			kind = MAP;
			count = b & 0x0f;
		} else if (b <= 0x9f) {
			kind = ARRAY;
			count = b & 0x0f;
		} else if (b <= 0xbf) {
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
			case 0xce:
			case 0xd2:
				skip = 4;
				break;
			case 0xcb:
			case 0xcf:
			case 0xd3:
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
			default:
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "%smsgpack type 0x%02x (ext or reserved) "
				    "not allowed at offset %zu",
				    top_value ? field_prefix(pre, sizeof pre,
				                             key, key_len)
				              : "",
				    b, start);
			}
		}
		if (!started && kind != MAP)
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "message is not a map (msgpack type "
			                 "byte 0x%02x)",
			                 b);
		started = true;
		if (is_key && kind != STR)
			return ma_errorf(
			    errmsg, MA_ERR_PROTO,
			    "map key at offset %zu is not a string "
			    "(msgpack type byte 0x%02x)",
			    start, b);
		if (nlen > 0) {
			if (len - off < nlen)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "%smsgpack truncated at offset %zu",
				    top_value ? field_prefix(pre, sizeof pre,
				                             key, key_len)
				              : "",
				    off);
			uint64_t v = be(p + off, nlen);
			off += nlen;
			if (kind == ARRAY || kind == MAP)
				count = v;
			else
				skip = v;
		}
		switch (kind) {
		case STR: {
			uint32_t max =
			    is_key ? limits->max_key : limits->max_str;
			if (skip > max)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "%s%" PRIu64 " bytes exceeds the limit of "
				    "%" PRIu32 " (msgpack %s at offset %zu)",
				    top_value ? field_prefix(pre, sizeof pre,
				                             key, key_len)
				              : "",
				    skip, max, is_key ? "key" : "string",
				    start);
			break;
		}
		case BIN:
			if (skip > limits->max_bin)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "%s%" PRIu64 " bytes exceeds the limit of "
				    "%" PRIu32
				    " (msgpack binary at offset %zu)",
				    top_value ? field_prefix(pre, sizeof pre,
				                             key, key_len)
				              : "",
				    skip, limits->max_bin, start);
			break;
		case ARRAY:
		case MAP:
			if (count > limits->max_entries)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "%s%" PRIu64
				    " entries exceeds the limit of "
				    "%" PRIu32 " (msgpack %s at offset %zu)",
				    top_value ? field_prefix(pre, sizeof pre,
				                             key, key_len)
				              : "",
				    count, limits->max_entries,
				    kind == MAP ? "map" : "array", start);
			if (depth >= limits->max_depth)
				return ma_errorf(
				    errmsg, MA_ERR_PROTO,
				    "%snested map or array at offset %zu "
				    "(nesting deeper than %u)",
				    top_value ? field_prefix(pre, sizeof pre,
				                             key, key_len)
				              : "",
				    start, limits->max_depth);
			is_map[depth] = kind == MAP;
			pending[depth++] = kind == MAP ? count * 2 : count;
			break;
		case SCALAR:
			break;
		}
		if (skip > len - off)
			return ma_errorf(
			    errmsg, MA_ERR_PROTO,
			    "%smsgpack truncated at offset %zu",
			    top_value
			        ? field_prefix(pre, sizeof pre, key, key_len)
			        : "",
			    off);
		if (is_key && depth == 1) {
			key = p + off;
			key_len = (size_t)skip;
		}
		off += (size_t)skip;
	}
	if (off != len)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "%zu trailing bytes after the message at "
		                 "offset %zu",
		                 len - off, off);
	return 0;
}
