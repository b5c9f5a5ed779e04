/* proto_info: the answer to GET /v1/db/<database>/info (docs/PROTOCOL.md):
 * the source's identity, its log bounds and clock, and its latest
 * snapshot when it has one. */
#include <string.h>

#include "common/errors.h"
#include "proto/proto_internal.h"

size_t proto_identity_pairs(const struct proto_identity *id)
{
	return id->incarnation[0] != '\0' ? 4 : 3;
}

void proto_pack_identity(struct proto_packer *p,
                         const struct proto_identity *id)
{
	proto_pack_kv_str(p, "cluster_id", id->cluster_id);
	proto_pack_kv_str(p, "database_id", id->database_id);
	proto_pack_kv_u64(p, "epoch", id->epoch);
	/* Absent rather than empty when unknown: what an older source sends,
	 * and what an older mirror (which ignores unknown keys) never
	 * misses. */
	if (id->incarnation[0] != '\0')
		proto_pack_kv_str(p, "incarnation", id->incarnation);
}

static int fields_uuid(const struct proto_fields *f, const char *key,
                       char out[PROTO_CLUSTER_ID_LEN + 1])
{
	int rc = proto_fields_str(f, key, PROTO_CLUSTER_ID_LEN, out);

	if (rc == 0 && !proto_uuid_valid(out)) {
		out[0] = '\0';
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field '%s' is not a UUID "
		                 "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
		                 key);
	}
	return rc;
}

int proto_fields_identity(const struct proto_fields *f,
                          struct proto_identity *id)
{
	int rc;

	/* The cluster id ends up in the mirror's identity file and its wal
	 * headers: it is checked here, before anything stores it. */
	if ((rc = fields_uuid(f, "cluster_id", id->cluster_id)) ||
	    (rc = proto_fields_name(f, "database_id", PROTO_DATABASE_ID_MAX,
	                            id->database_id)) ||
	    (rc = proto_fields_u64(f, "epoch", UINT64_MAX, &id->epoch)))
		return rc;
	id->incarnation[0] = '\0';
	if (proto_fields_has(f, "incarnation"))
		return fields_uuid(f, "incarnation", id->incarnation);
	return 0;
}

const char *proto_leader_name(enum proto_leader l)
{
	switch (l) {
	case PROTO_LEADER_SELF:
		return "self";
	case PROTO_LEADER_KNOWN:
		return "known";
	case PROTO_LEADER_NONE:
		break;
	}
	return "none";
}

size_t proto_freshness_pairs(const struct proto_freshness *fr)
{
	return fr->known ? (fr->has_contact ? 3 : 2) : 0;
}

void proto_pack_freshness(struct proto_packer *p,
                          const struct proto_freshness *fr)
{
	if (!fr->known)
		return;
	proto_pack_kv_str(p, "leader", proto_leader_name(fr->leader));
	proto_pack_kv_u64(p, "node_commit_index", fr->node_commit_index);
	if (fr->has_contact)
		proto_pack_kv_u64(p, "leader_contact_age",
		                  fr->leader_contact_age_ms);
}

int proto_fields_freshness(const struct proto_fields *f,
                           struct proto_freshness *fr)
{
	char name[8];
	int rc;

	memset(fr, 0, sizeof *fr);
	if (!proto_fields_has(f, "leader"))
		return 0; /* an older source: unknown */
	rc = proto_fields_str(f, "leader", sizeof name - 1, name);
	if (rc != 0)
		return rc;
	if (strcmp(name, "self") == 0)
		fr->leader = PROTO_LEADER_SELF;
	else if (strcmp(name, "known") == 0)
		fr->leader = PROTO_LEADER_KNOWN;
	else if (strcmp(name, "none") == 0)
		fr->leader = PROTO_LEADER_NONE;
	else
		return ma_errorf(f->errmsg, MA_ERR_PROTO,
		                 "field 'leader' is '%s' (want self, known "
		                 "or none)",
		                 name);
	rc = proto_fields_u64(f, "node_commit_index", UINT64_MAX,
	                      &fr->node_commit_index);
	if (rc == 0 && proto_fields_has(f, "leader_contact_age")) {
		rc = proto_fields_u64(f, "leader_contact_age", UINT64_MAX,
		                      &fr->leader_contact_age_ms);
		fr->has_contact = rc == 0;
	}
	fr->known = rc == 0;
	return rc;
}

int proto_info_encode(struct proto_buf *out, const struct proto_info *info)
{
	struct proto_packer p;

	proto_pack_begin(&p, out);
	proto_pack_map(&p, (info->has_snapshot ? 9 : 5) +
	                       proto_identity_pairs(&info->id) +
	                       proto_freshness_pairs(&info->fresh) +
	                       (info->snapshot_encodings != 0));
	proto_pack_kv_str(&p, "k", "info");
	proto_pack_identity(&p, &info->id);
	proto_pack_kv_u64(&p, "first_index", info->first_index);
	proto_pack_kv_u64(&p, "commit_index", info->commit_index);
	proto_pack_kv_u64(&p, "commit_term", info->commit_term);
	proto_pack_kv_i64(&p, "source_time", info->source_time_ms);
	if (info->has_snapshot) {
		proto_pack_kv_u64(&p, "snapshot_index", info->snapshot_index);
		proto_pack_kv_u64(&p, "snapshot_term", info->snapshot_term);
		proto_pack_kv_u64(&p, "snapshot_size", info->snapshot_size);
		proto_pack_kv_u64(&p, "snapshot_crc32c", info->snapshot_crc32c);
	}
	proto_pack_freshness(&p, &info->fresh);
	/* Absent when 0: what an older mirror never misses. */
	if (info->snapshot_encodings != 0)
		proto_pack_kv_u64(&p, "snapshot_encodings",
		                  info->snapshot_encodings);
	return proto_pack_end(&p);
}

int proto_info_decode(const void *body, size_t len, struct proto_info *info,
                      char *errmsg)
{
	static const struct proto_limits limits = {
	    .max_depth = 1,
	    .max_entries = 32,
	    .max_key = PROTO_KEY_MAX,
	    .max_str = PROTO_MESSAGE_MAX,
	    .max_bin = 0,
	};
	struct proto_fields f;
	char kind[8];
	uint64_t crc;
	int rc;

	memset(info, 0, sizeof *info);
	rc = proto_fields_open(&f, body, len, &limits, errmsg);
	if (rc == 0)
		rc = proto_fields_str(&f, "k", sizeof kind - 1, kind);
	if (rc == 0 && strcmp(kind, "info") != 0)
		rc = ma_errorf(errmsg, MA_ERR_PROTO,
		               "expected an info message, got '%s'", kind);
	if (rc == 0 &&
	    !((rc = proto_fields_identity(&f, &info->id)) ||
	      (rc = proto_fields_u64(&f, "first_index", UINT64_MAX,
	                             &info->first_index)) ||
	      (rc = proto_fields_u64(&f, "commit_index", UINT64_MAX,
	                             &info->commit_index)) ||
	      (rc = proto_fields_u64(&f, "commit_term", UINT64_MAX,
	                             &info->commit_term)) ||
	      (rc = proto_fields_i64(&f, "source_time",
	                             &info->source_time_ms))) &&
	    proto_fields_has(&f, "snapshot_index")) {
		info->has_snapshot = true;
		if (!((rc = proto_fields_u64(&f, "snapshot_index", UINT64_MAX,
		                             &info->snapshot_index)) ||
		      (rc = proto_fields_u64(&f, "snapshot_term", UINT64_MAX,
		                             &info->snapshot_term)) ||
		      (rc = proto_fields_u64(&f, "snapshot_size", INT64_MAX,
		                             &info->snapshot_size)) ||
		      (rc = proto_fields_u64(&f, "snapshot_crc32c", UINT32_MAX,
		                             &crc))))
			info->snapshot_crc32c = (uint32_t)crc;
	}
	if (rc == 0)
		rc = proto_fields_freshness(&f, &info->fresh);
	/* Bits this mirror does not know are kept: the mirror asks only
	 * for those it knows. */
	if (rc == 0 && proto_fields_has(&f, "snapshot_encodings"))
		rc = proto_fields_u64(&f, "snapshot_encodings", UINT64_MAX,
		                      &info->snapshot_encodings);
	proto_fields_close(&f);
	return rc;
}
