/* Promote (promote.h): the commit-point sequence on one database
 * directory. File I/O only through wal/, snapshot/, spool/ and common/io,
 * whose durability operations are the crash points tests walk. */
#include "agent/promote/promote.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/apply/applier.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/kvtext.h"
#include "common/log.h"
#include "common/parse.h"
#include "snapshot/snapshot.h"
#include "wal/wal.h"

int promote_choose_index(const struct promote_position *pos, uint64_t at_index,
                         uint64_t *index, char *errmsg)
{
	uint64_t last = pos->wal_last > pos->snapshot_index
	                    ? pos->wal_last
	                    : pos->snapshot_index;

	*index = 0;
	if (last == 0)
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "no complete state yet (Bootstrapping: no "
		                 "snapshot and no log held); let the mirror "
		                 "finish its bootstrap first");
	/* The entries after the snapshot must all be in the wal. */
	if (pos->wal_last > pos->snapshot_index &&
	    pos->wal_first > pos->snapshot_index + 1)
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "no complete state: the wal starts at %" PRIu64
		                 " but the newest snapshot ends at %" PRIu64,
		                 pos->wal_first, pos->snapshot_index);
	if (at_index == 0) {
		*index = last;
		return 0;
	}
	if (at_index > last)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "--at-index %" PRIu64
		                 " is beyond the last durable, applied index "
		                 "%" PRIu64 "; give at most %" PRIu64,
		                 at_index, last, last);
	if (at_index < pos->snapshot_index)
		return ma_errorf(
		    errmsg, MA_ERR_INVAL,
		    "--at-index %" PRIu64
		    " is before the newest snapshot (index %" PRIu64
		    "): the mirror holds no state there; give "
		    "%" PRIu64 "..%" PRIu64,
		    at_index, pos->snapshot_index, pos->snapshot_index, last);
	*index = at_index;
	return 0;
}

/* ---- a mirror directory's state at an index (promote, raftkv-seed) ---- */

int promote_source_open(const char *dir, const struct proto_identity *id,
                        struct promote_source *s, char *errmsg)
{
	struct wal_options wo;
	char path[4096];
	int rc;

	memset(s, 0, sizeof *s);
	/* The wal's lock first: a running follower holds it. */
	wal_options_init(&wo);
	rc = wal_identity_init(&wo.identity, id->cluster_id, id->database_id,
	                       errmsg);
	if (rc != 0)
		return rc;
	if (spool_path(path, sizeof path, dir, SPOOL_WAL_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	rc = wal_log_open(path, &wo, &s->wal, errmsg);
	if (rc != 0)
		return rc;
	if (spool_path(path, sizeof path, dir, SPOOL_SNAPSHOT_DIR) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long", dir);
		goto fail;
	}
	rc = snapshot_store_open(path, &s->store, errmsg);
	if (rc != 0)
		goto fail;
	rc = snapshot_store_latest(s->store, &s->base, errmsg);
	if (rc == 0)
		s->have_base = true;
	else if (rc != MA_ERR_NOTFOUND)
		goto fail;
	s->pos.snapshot_index = s->have_base ? s->base.id.index : 0;
	s->pos.wal_first = wal_log_first_index(s->wal);
	s->pos.wal_last = wal_log_last_index(s->wal);
	return 0;
fail:
	promote_source_close(s);
	return rc;
}

void promote_source_close(struct promote_source *s)
{
	snapshot_store_close(s->store);
	wal_log_close(s->wal);
	s->store = NULL;
	s->wal = NULL;
}

int promote_source_term_at(struct promote_source *s, uint64_t index,
                           uint64_t *term, char *errmsg)
{
	if (s->have_base && index == s->base.id.index) {
		*term = s->base.id.term;
		return 0;
	}
	return wal_log_term_at(s->wal, index, term, errmsg);
}

int promote_source_kv_at(struct promote_source *s, const char *name,
                         uint64_t index, struct applier **out, char *errmsg)
{
	struct applier *a = NULL;
	char path[4096];
	int rc;

	*out = NULL;
	rc = applier_new(APPLIER_KV, name, &a, errmsg);
	if (rc != 0)
		return rc;
	if (s->have_base) {
		rc = snapshot_store_path(s->store, s->base.id.index,
		                         s->base.id.term, path, sizeof path);
		if (rc == 0)
			rc = applier_restore_file(a, path, s->base.id.index,
			                          errmsg);
		else
			ma_errorf(errmsg, rc, "snapshot path too long");
	}
	for (uint64_t i = s->pos.snapshot_index + 1; i <= index && rc == 0;
	     i++) {
		struct wal_entry e;

		rc = wal_log_read(s->wal, i, &e, errmsg);
		if (rc == 0)
			rc = applier_apply(a, e.index, e.term, e.type, e.data,
			                   e.len, errmsg);
	}
	if (rc != 0) {
		applier_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

static void le64(unsigned char out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

/* The "log:" fingerprint of promote.h. */
static int log_fingerprint(struct wal_log *wal,
                           const struct snapshot_meta *base, uint64_t index,
                           uint32_t *out, char *errmsg)
{
	unsigned char hdr[21];
	uint32_t crc;
	int rc;

	le64(hdr, base != NULL ? base->id.crc32c : 0);
	le64(hdr + 8, base != NULL ? base->id.index : 0);
	crc = crc32c(hdr, 16);
	for (uint64_t i = (base != NULL ? base->id.index : 0) + 1; i <= index;
	     i++) {
		struct wal_entry e;

		rc = wal_log_read(wal, i, &e, errmsg);
		if (rc != 0)
			return rc;
		le64(hdr, e.index);
		le64(hdr + 8, e.term);
		hdr[16] = e.type;
		for (int k = 0; k < 4; k++)
			hdr[17 + k] =
			    (unsigned char)((uint64_t)e.len >> (8 * k));
		crc = crc32c_append(crc, hdr, sizeof hdr);
		crc = crc32c_append(crc, e.data, e.len);
	}
	*out = crc;
	return 0;
}

/* The "kv:" fingerprint: the kv state rebuilt at index. */
static int kv_fingerprint(struct promote_source *src, const char *name,
                          uint64_t index, uint32_t *out, char *errmsg)
{
	struct applier_query q = {.op = APPLIER_QUERY_FINGERPRINT};
	struct applier_result res;
	struct applier *a = NULL;
	int rc;

	rc = promote_source_kv_at(src, name, index, &a, errmsg);
	if (rc == 0)
		rc = applier_query(a, &q, NULL, NULL, &res, errmsg);
	if (rc == 0)
		*out = res.fingerprint;
	applier_free(a);
	return rc;
}

/* The identity of the new incarnation, written last. */
static int write_identity(const char *dir, const struct spool_promoted *rec,
                          char *errmsg)
{
	struct proto_identity id = rec->from;

	id.epoch = rec->epoch;
	/* The promoted directory is a new source: a new incarnation. */
	snprintf(id.incarnation, sizeof id.incarnation, "%s", rec->incarnation);
	return spool_identity_write(dir, &id, true, errmsg);
}

static void set_rpo(struct promote_result *r)
{
	r->rpo_known = r->rec.source_commit_index > 0;
	r->rpo_entries = r->rec.source_commit_index > r->rec.index
	                     ? r->rec.source_commit_index - r->rec.index
	                     : 0;
}

int promote_database(const struct promote_options *o, struct promote_result *r,
                     char *errmsg)
{
	struct proto_identity id;
	struct spool_promoted rec;
	struct promote_position pos;
	struct promote_source src;
	bool have_rec;
	uint64_t index, held;
	uint32_t fp = 0;
	int rc;

	memset(r, 0, sizeof *r);
	rc = spool_identity_read(o->dir, &id, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return ma_errorf(errmsg, rc,
		                 "%s: no identity: this directory has not "
		                 "reached a source yet, nothing to promote",
		                 o->dir);
	if (rc != 0)
		return rc;
	if (strcmp(id.database_id, o->name) != 0)
		return ma_errorf(errmsg, MA_ERR_IDENTITY,
		                 "%s/identity names database '%s', not '%s'",
		                 o->dir, id.database_id, o->name);
	rc = spool_promoted_read(o->dir, &rec, errmsg);
	if (rc != 0 && rc != MA_ERR_NOTFOUND)
		return rc;
	have_rec = rc == 0;
	if (have_rec && (strcmp(rec.from.cluster_id, id.cluster_id) != 0 ||
	                 strcmp(rec.from.database_id, id.database_id) != 0 ||
	                 (id.epoch != rec.from.epoch && id.epoch != rec.epoch)))
		return ma_errorf(
		    errmsg, MA_ERR_CORRUPT,
		    "%s: the promoted record (from %s epoch %" PRIu64
		    ") does not match the identity (%s epoch "
		    "%" PRIu64 ")",
		    o->dir, rec.from.cluster_id, rec.from.epoch, id.cluster_id,
		    id.epoch);
	if (have_rec && o->at_index != 0 && o->at_index != rec.index)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s was already promoted at index %" PRIu64
		                 "; --at-index %" PRIu64 " cannot change that",
		                 o->dir, rec.index, o->at_index);
	if (!have_rec && id.epoch == UINT64_MAX)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: epoch %" PRIu64 " cannot be incremented",
		                 o->dir, id.epoch);

	rc = promote_source_open(o->dir, &id, &src, errmsg);
	if (rc == MA_ERR_BUSY)
		return ma_errwrapf(
		    errmsg, rc,
		    "%s is in use by a running follower: stop it first, or "
		    "promote through it (mirror-agent promote finds it by its "
		    "status file)",
		    o->dir);
	if (rc != 0)
		return rc;
	pos = src.pos;
	held = pos.wal_last > pos.snapshot_index ? pos.wal_last
	                                         : pos.snapshot_index;

	if (have_rec) {
		/* Committed earlier: finish the roll-forward. */
		if (held < rec.index) {
			rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
			               "%s holds entries up to %" PRIu64
			               " only, but was promoted at %" PRIu64,
			               o->dir, held, rec.index);
			goto out;
		}
		r->already = true;
		index = rec.index;
		goto roll_forward;
	}

	rc = promote_choose_index(&pos, o->at_index, &index, errmsg);
	if (rc != 0) {
		ma_errwrapf(errmsg, rc, "%s", o->dir);
		goto out;
	}
	memset(&rec, 0, sizeof rec);
	rec.from = id;
	rec.epoch = id.epoch + 1;
	rec.index = index;
	rc = promote_source_term_at(&src, index, &rec.term, errmsg);
	if (rc != 0)
		goto out;
	if (o->applier_kind == APPLIER_KV) {
		rc = kv_fingerprint(&src, o->name, index, &fp, errmsg);
		snprintf(rec.fingerprint, sizeof rec.fingerprint,
		         "kv:%08" PRIx32, fp);
	} else {
		rc = log_fingerprint(src.wal, src.have_base ? &src.base : NULL,
		                     index, &fp, errmsg);
		snprintf(rec.fingerprint, sizeof rec.fingerprint,
		         "log:%08" PRIx32, fp);
	}
	if (rc != 0) {
		ma_errwrapf(errmsg, rc,
		            "%s: cannot rebuild the state at %" PRIu64, o->dir,
		            index);
		goto out;
	}
	if (spool_uuid_generate(rec.incarnation) != 0) {
		rc = ma_errorf(errmsg, MA_ERR_IO,
		               "no entropy for the new incarnation id");
		goto out;
	}
	/* The status file is rewritten once a second and forgets across
	 * a restart; the follower's DIR/source_commit keeps the highest
	 * figure it heard: the larger of the two, or the RPO under-counts. */
	rec.source_commit_index = o->source_commit_index;
	{
		uint64_t seen;
		char em[MA_ERRMSG_SIZE];
		int seen_rc = spool_source_commit_read(o->dir, &seen, em);
		if (seen_rc == 0 && seen > rec.source_commit_index)
			rec.source_commit_index = seen;
		else if (seen_rc != 0 && seen_rc != MA_ERR_NOTFOUND)
			log_warn("%s: %s", o->name, em);
	}
	rec.unix_ms = o->now_unix_ms;
	/* The commit point. */
	rc = spool_promoted_write(o->dir, &rec, errmsg);
	if (rc != 0)
		goto out;

roll_forward:
	if (pos.wal_last > index) {
		r->truncated = pos.wal_last - index;
		rc = wal_log_truncate_suffix(src.wal, index, errmsg);
		if (rc != 0)
			goto out;
	}
	if (!spool_promoted_complete(&rec, &id)) {
		rc = write_identity(o->dir, &rec, errmsg);
		if (rc != 0)
			goto out;
	}
	r->rec = rec;
	set_rpo(r);
	log_info("%s: promoted at index %" PRIu64 " term %" PRIu64
	         " (%s), epoch %" PRIu64 "%s",
	         o->name, rec.index, rec.term, rec.fingerprint, rec.epoch,
	         r->already ? " (already promoted)" : "");
out:
	promote_source_close(&src);
	return rc;
}

int promote_result_format(const char *name, const struct promote_result *r,
                          char *out, size_t size)
{
	char rpo[32];
	int n;

	if (r->rpo_known)
		snprintf(rpo, sizeof rpo, "%" PRIu64, r->rpo_entries);
	else
		snprintf(rpo, sizeof rpo, "unknown");
	n = snprintf(out, size,
	             "promoted %s index=%" PRIu64 " term=%" PRIu64
	             " fingerprint=%s epoch=%" PRIu64 " incarnation=%s "
	             "source_commit_index=%" PRIu64
	             " rpo_entries=%s truncated=%" PRIu64 "%s\n",
	             name, r->rec.index, r->rec.term, r->rec.fingerprint,
	             r->rec.epoch, r->rec.incarnation,
	             r->rec.source_commit_index, rpo, r->truncated,
	             r->already ? " already=1" : "");
	if (n < 0)
		return 0;
	return (size_t)n >= size ? (int)size - 1 : n;
}

int promote_request_format(const struct promote_request *rq, char *out,
                           size_t size)
{
	size_t len;
	int n;

	n = snprintf(out, size, "at_index=%" PRIu64 "\n", rq->at_index);
	if (n < 0 || (size_t)n >= size)
		return MA_ERR_LIMIT;
	len = (size_t)n;
	for (size_t i = 0; i < rq->n; i++) {
		n = snprintf(out + len, size - len, "database=%s\n",
		             rq->names[i]);
		if (n < 0 || (size_t)n >= size - len)
			return MA_ERR_LIMIT;
		len += (size_t)n;
	}
	return (int)len;
}

int promote_request_parse(const char *text, size_t len,
                          struct promote_request *rq, char *errmsg)
{
	/* Leading zeros taken, as they always were: the file may be
	 * written by hand. */
	const struct kvtext_field fields[] = {
	    {"at_index", KVTEXT_U64, KVTEXT_ZEROS, 0, &rq->at_index, 0, NULL},
	    {"database", KVTEXT_STR, KVTEXT_REPEAT, PROTO_DATABASE_ID_MAX,
	     rq->names, PROMOTE_REQUEST_MAX, &rq->n},
	};
	const struct kvtext_format fmt = {"promote request", NULL,
	                                  PROMOTE_REQUEST_TEXT_MAX, fields,
	                                  sizeof fields / sizeof fields[0]};
	int rc;

	memset(rq, 0, sizeof *rq);
	rc = kvtext_parse(&fmt, text, len, errmsg);
	for (size_t i = 0; rc == 0 && i < rq->n; i++)
		if (!parse_name_valid_str(rq->names[i]))
			rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
			               "promote request line %zu (database): "
			               "'%s' is not %s",
			               i + 2, rq->names[i], PARSE_NAME_RULE);
	if (rc != 0)
		memset(rq, 0, sizeof *rq);
	return rc;
}
