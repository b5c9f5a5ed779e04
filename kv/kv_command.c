/* raftkv command codec (kv_command.h). */
#include "kv/kv_command.h"

#include <string.h>

#include "common/errors.h"

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int kv_op_is_write(enum kv_op op)
{
	return op == KV_OP_PUT || op == KV_OP_CAS || op == KV_OP_DEL ||
	       op == KV_OP_CAD;
}

const char *kv_op_name(enum kv_op op)
{
	switch (op) {
	case KV_OP_PUT:
		return "put";
	case KV_OP_CAS:
		return "cas";
	case KV_OP_DEL:
		return "del";
	case KV_OP_CAD:
		return "cad";
	case KV_OP_GET:
		return "get";
	case KV_OP_SCAN:
		return "scan";
	}
	return "?";
}

static int ns_valid(const char *ns, size_t len)
{
	if (len == 0 || len > KV_NAMESPACE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = ns[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int kv_command_check(const struct kv_command *cmd, char *errmsg)
{
	int has_value = cmd->op == KV_OP_PUT || cmd->op == KV_OP_CAS;

	if (cmd->op < KV_OP_PUT || cmd->op > KV_OP_SCAN)
		return ma_errorf(errmsg, MA_ERR_INVAL, "unknown op %d",
		                 (int)cmd->op);
	if (!ns_valid(cmd->ns, cmd->ns_len))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "namespace must be 1-%d characters of "
		                 "[A-Za-z0-9._-]",
		                 KV_NAMESPACE_MAX);
	if (cmd->key_len > KV_KEY_MAX ||
	    (cmd->key_len == 0 && cmd->op != KV_OP_SCAN))
		return ma_errorf(errmsg, MA_ERR_INVAL, "key must be 1-%d bytes",
		                 KV_KEY_MAX);
	if (cmd->key_len > 0 && cmd->key == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL, "NULL key");
	if (!has_value && cmd->value_len > 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s takes no value",
		                 kv_op_name(cmd->op));
	if (cmd->value_len > KV_VALUE_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "value larger than %u bytes", KV_VALUE_MAX);
	if (cmd->value_len > 0 && cmd->value == NULL)
		return ma_errorf(errmsg, MA_ERR_INVAL, "NULL value");
	return 0;
}

size_t kv_command_size(const struct kv_command *cmd)
{
	return KV_COMMAND_HEADER + cmd->ns_len + cmd->key_len + cmd->value_len;
}

int kv_command_encode(const struct kv_command *cmd, void *out, size_t cap,
                      size_t pad_to, size_t *len, char *errmsg)
{
	uint8_t *p = out;
	size_t n, padded;
	int rc;

	rc = kv_command_check(cmd, errmsg);
	if (rc != 0)
		return rc;
	if (pad_to == 0)
		pad_to = 1;
	n = kv_command_size(cmd);
	padded = (n + pad_to - 1) / pad_to * pad_to;
	if (padded > cap)
		return ma_errorf(errmsg, MA_ERR_LIMIT,
		                 "command needs %zu bytes, buffer has %zu",
		                 padded, cap);
	p[0] = KV_COMMAND_MAGIC;
	p[1] = KV_COMMAND_VERSION;
	p[2] = (uint8_t)cmd->op;
	p[3] = 0;
	put_u32(p + 4, (uint32_t)n);
	put_u16(p + 8, (uint16_t)cmd->ns_len);
	put_u16(p + 10, (uint16_t)cmd->key_len);
	put_u32(p + 12, (uint32_t)cmd->value_len);
	put_u64(p + 16, cmd->expected);
	p += KV_COMMAND_HEADER;
	memcpy(p, cmd->ns, cmd->ns_len);
	p += cmd->ns_len;
	if (cmd->key_len > 0)
		memcpy(p, cmd->key, cmd->key_len);
	p += cmd->key_len;
	if (cmd->value_len > 0)
		memcpy(p, cmd->value, cmd->value_len);
	memset((uint8_t *)out + n, 0, padded - n);
	*len = padded;
	return 0;
}

int kv_command_decode(const void *buf, size_t len, struct kv_command *cmd,
                      char *errmsg)
{
	const uint8_t *p = buf;
	size_t total, ns_len, key_len, value_len;
	char why[MA_ERRMSG_SIZE];

	if (len < KV_COMMAND_HEADER)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "command of %zu bytes is shorter than its "
		                 "%d-byte header",
		                 len, KV_COMMAND_HEADER);
	if (p[0] != KV_COMMAND_MAGIC || p[1] != KV_COMMAND_VERSION)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "bad magic/version %02x/%u (want %02x/%d)",
		                 p[0], p[1], KV_COMMAND_MAGIC,
		                 KV_COMMAND_VERSION);
	if (p[3] != 0)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "reserved byte is %u, not 0", p[3]);
	total = get_u32(p + 4);
	ns_len = get_u16(p + 8);
	key_len = get_u16(p + 10);
	value_len = get_u32(p + 12);
	/* Each length is checked against its limit before they are added,
	 * so the sum cannot overflow. */
	if (ns_len > KV_NAMESPACE_MAX || key_len > KV_KEY_MAX ||
	    value_len > KV_VALUE_MAX)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "length beyond the limits (namespace %zu, key "
		                 "%zu, value %zu)",
		                 ns_len, key_len, value_len);
	if (total != KV_COMMAND_HEADER + ns_len + key_len + value_len)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "total length %zu does not match the field "
		                 "lengths",
		                 total);
	if (total > len || len - total > 7)
		return ma_errorf(errmsg, MA_ERR_PROTO,
		                 "command of %zu bytes in a buffer of %zu "
		                 "(at most 7 bytes of padding)",
		                 total, len);
	for (size_t i = total; i < len; i++)
		if (p[i] != 0)
			return ma_errorf(errmsg, MA_ERR_PROTO,
			                 "non-zero padding byte at %zu", i);
	memset(cmd, 0, sizeof *cmd);
	cmd->op = (enum kv_op)p[2];
	cmd->expected = get_u64(p + 16);
	cmd->ns = (const char *)p + KV_COMMAND_HEADER;
	cmd->ns_len = ns_len;
	cmd->key = p + KV_COMMAND_HEADER + ns_len;
	cmd->key_len = key_len;
	cmd->value = cmd->key + key_len;
	cmd->value_len = value_len;
	if (kv_command_check(cmd, why) != 0)
		return ma_errorf(errmsg, MA_ERR_PROTO, "%s", why);
	return 0;
}
