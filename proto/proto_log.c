/* proto_log: the log-tail stream (docs/PROTOCOL.md). One-letter kinds and,
 * for entries, one-letter keys: entries are the hot path and often small. */
#include <string.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "proto/proto_internal.h"

const char *proto_error_name(enum proto_error e)
{
	switch (e) {
	case PROTO_ERROR_COMPACTED:
		return "compacted";
	case PROTO_ERROR_DIVERGED:
		return "diverged";
	case PROTO_ERROR_NOT_FOUND:
		return "not-found";
	case PROTO_ERROR_FORBIDDEN:
		return "forbidden";
	case PROTO_ERROR_BAD_REQUEST:
		return "bad-request";
	case PROTO_ERROR_INTERNAL:
		return "internal";
	case PROTO_ERROR_UNAVAILABLE:
		return "unavailable";
	case PROTO_ERROR_CORRUPT:
		return "corrupt";
	}
	return "unknown";
}

int proto_log_encode(struct proto_buf *out, const struct proto_log_msg *m)
{
	struct proto_packer p;
	char kind[2] = {(char)m->kind, '\0'};

	switch (m->kind) {
	case PROTO_LOG_START:
	case PROTO_LOG_ENTRY:
	case PROTO_LOG_HEARTBEAT:
	case PROTO_LOG_ERROR:
		break;
	default:
		return MA_ERR_INVAL;
	}
	proto_pack_begin(&p, out);
	switch (m->kind) {
	case PROTO_LOG_START:
		proto_pack_map(&p, 2 + proto_identity_pairs(&m->id));
		proto_pack_kv_str(&p, "k", kind);
		proto_pack_identity(&p, &m->id);
		proto_pack_kv_u64(&p, "from", m->from_index);
		break;
	case PROTO_LOG_ENTRY:
		proto_pack_map(&p, 6);
		proto_pack_kv_str(&p, "k", kind);
		proto_pack_kv_u64(&p, "i", m->index);
		proto_pack_kv_u64(&p, "t", m->term);
		proto_pack_kv_u64(&p, "y", m->type);
		proto_pack_kv_bin(&p, "d", m->data, m->data_len);
		proto_pack_kv_u64(&p, "c", crc32c(m->data, m->data_len));
		break;
	case PROTO_LOG_HEARTBEAT:
		proto_pack_map(&p, (m->has_retention_headroom ? 5 : 4) +
		                       proto_freshness_pairs(&m->fresh));
		proto_pack_kv_str(&p, "k", kind);
		proto_pack_kv_u64(&p, "commit_index", m->commit_index);
		proto_pack_kv_u64(&p, "first_index", m->first_index);
		proto_pack_kv_i64(&p, "source_time", m->source_time_ms);
		if (m->has_retention_headroom)
			proto_pack_kv_u64(&p, "retention_headroom",
			                  m->retention_headroom_s);
		proto_pack_freshness(&p, &m->fresh);
		break;
	case PROTO_LOG_ERROR:
		proto_pack_map(&p, 4);
		proto_pack_kv_str(&p, "k", kind);
		proto_pack_kv_str(&p, "error", proto_error_name(m->error));
		proto_pack_kv_str(&p, "message", m->message);
		proto_pack_kv_u64(&p, "first_index", m->first_index);
		break;
	}
	return proto_pack_end(&p);
}

static int error_from_name(const char *name, enum proto_error *out)
{
	for (int e = PROTO_ERROR_COMPACTED; e <= PROTO_ERROR_CORRUPT; e++) {
		if (strcmp(name, proto_error_name((enum proto_error)e)) == 0) {
			*out = (enum proto_error)e;
			return 0;
		}
	}
	return -1;
}

static int decode_entry(const struct proto_fields *f, struct proto_log_msg *m,
                        char *errmsg)
{
	uint64_t v;
	int rc;

	if ((rc = proto_fields_u64(f, "i", UINT64_MAX, &m->index)) ||
	    (rc = proto_fields_u64(f, "t", UINT64_MAX, &m->term)) ||
	    (rc = proto_fields_u64(f, "y", UINT8_MAX, &v)))
		return rc;
	m->type = (uint8_t)v;
	if ((rc = proto_fields_u64(f, "c", UINT32_MAX, &v)))
		return rc;
	m->crc32c = (uint32_t)v;
	/* data stays valid after proto_fields_close() for as long as the
	 * caller's body does: msgpack-c references bin values. */
	if ((rc = proto_fields_bin(f, "d", &m->data, &m->data_len)))
		return rc;
	if (crc32c(m->data, m->data_len) != m->crc32c)
		return ma_errorf(errmsg, MA_ERR_CRC,
		                 "entry %llu: data CRC32C 0x%08x, declared "
		                 "0x%08x",
		                 (unsigned long long)m->index,
		                 crc32c(m->data, m->data_len), m->crc32c);
	return 0;
}

int proto_log_decode(const void *body, size_t len, size_t data_max,
                     struct proto_log_msg *m, char *errmsg)
{
	const struct proto_limits limits = {
	    .max_depth = 1,
	    .max_entries = 32,
	    .max_key = PROTO_KEY_MAX,
	    .max_str = PROTO_MESSAGE_MAX,
	    .max_bin = data_max > UINT32_MAX ? UINT32_MAX : (uint32_t)data_max,
	};
	struct proto_fields f;
	char kind[8], name[PROTO_MESSAGE_MAX + 1];
	int rc;

	memset(m, 0, sizeof *m);
	rc = proto_fields_open(&f, body, len, &limits, errmsg);
	if (rc == 0)
		rc = proto_fields_str(&f, "k", sizeof kind - 1, kind);
	if (rc != 0)
		goto out;
	if (strlen(kind) != 1) {
		rc = ma_errorf(errmsg, MA_ERR_PROTO,
		               "unknown log message kind '%s'", kind);
		goto out;
	}
	m->kind = (enum proto_log_kind)kind[0];
	switch (m->kind) {
	case PROTO_LOG_START:
		if (!(rc = proto_fields_identity(&f, &m->id)))
			rc = proto_fields_u64(&f, "from", UINT64_MAX,
			                      &m->from_index);
		break;
	case PROTO_LOG_ENTRY:
		rc = decode_entry(&f, m, errmsg);
		break;
	case PROTO_LOG_HEARTBEAT:
		if (!(rc = proto_fields_u64(&f, "commit_index", UINT64_MAX,
		                            &m->commit_index)) &&
		    !(rc = proto_fields_u64(&f, "first_index", UINT64_MAX,
		                            &m->first_index)))
			rc = proto_fields_i64(&f, "source_time",
			                      &m->source_time_ms);
		if (rc == 0 && proto_fields_has(&f, "retention_headroom")) {
			rc = proto_fields_u64(&f, "retention_headroom",
			                      UINT64_MAX,
			                      &m->retention_headroom_s);
			m->has_retention_headroom = rc == 0;
		}
		if (rc == 0)
			rc = proto_fields_freshness(&f, &m->fresh);
		break;
	case PROTO_LOG_ERROR:
		if ((rc = proto_fields_str(&f, "error", PROTO_MESSAGE_MAX,
		                           name)) ||
		    (rc = proto_fields_str(&f, "message", PROTO_MESSAGE_MAX,
		                           m->message)) ||
		    (rc = proto_fields_u64(&f, "first_index", UINT64_MAX,
		                           &m->first_index)))
			break;
		if (error_from_name(name, &m->error) != 0)
			rc = ma_errorf(errmsg, MA_ERR_PROTO,
			               "unknown error code '%s'", name);
		break;
	default:
		rc = ma_errorf(errmsg, MA_ERR_PROTO,
		               "unknown log message kind '%s'", kind);
		break;
	}
out:
	proto_fields_close(&f);
	return rc;
}
