/* Test fixtures (see fixture.h). */
#include "tests/lib/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "snapshot/snapshot.h"
#include "spool/spool.h"
#include "wal/wal.h"

void fx_rng_seed(struct fx_rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t fx_rng_next(struct fx_rng *r)
{
	uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t fx_rng_below(struct fx_rng *r, uint64_t n)
{
	return n == 0 ? 0 : fx_rng_next(r) % n;
}

bool fx_rng_chance(struct fx_rng *r, unsigned per_mille)
{
	return fx_rng_below(r, 1000) < per_mille;
}

void fx_rng_fill(struct fx_rng *r, uint8_t *buf, size_t len)
{
	while (len >= 8) {
		uint64_t v = fx_rng_next(r);

		memcpy(buf, &v, 8);
		buf += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t v = fx_rng_next(r);

		memcpy(buf, &v, len);
	}
}

void fx_fill(uint64_t seed, uint8_t *buf, size_t len)
{
	struct fx_rng r;

	fx_rng_seed(&r, seed);
	fx_rng_fill(&r, buf, len);
}

size_t fx_payload(uint64_t index, size_t size, char *buf, size_t cap)
{
	char prefix[32];
	int n = snprintf(prefix, sizeof prefix,
	                 size > 0 ? "entry-%llu-" : "entry-%llu",
	                 (unsigned long long)index);
	size_t len = size > 0 ? size : (size_t)n;

	if (len > cap)
		len = cap;
	memcpy(buf, prefix, (size_t)n < len ? (size_t)n : len);
	for (size_t i = (size_t)n; i < len; i++)
		buf[i] = (char)('a' + index % 26);
	return len;
}

int fx_wal_open(const char *wal_dir, const char *cluster_id,
                const char *database, uint64_t segment_size,
                struct wal_log **log, char *errmsg)
{
	struct wal_options opts;
	int rc;

	wal_options_init(&opts);
	rc = wal_identity_init(&opts.identity, cluster_id, database, errmsg);
	if (rc != 0)
		return rc;
	if (segment_size != 0)
		opts.segment_size = segment_size;
	return wal_log_open(wal_dir, &opts, log, errmsg);
}

int fx_spool_create(struct fx_spool *s, const char *dir, const char *database,
                    const char *cluster_id, uint64_t epoch,
                    uint64_t segment_size, char *errmsg)
{
	int rc;

	memset(s, 0, sizeof *s);
	if (strlen(dir) >= sizeof s->dir ||
	    strlen(database) > PROTO_DATABASE_ID_MAX ||
	    strlen(cluster_id) != PROTO_CLUSTER_ID_LEN)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "fx_spool_create: bad dir, database or "
		                 "cluster id");
	strcpy(s->dir, dir);
	strcpy(s->id.database_id, database);
	strcpy(s->id.cluster_id, cluster_id);
	s->id.epoch = epoch;
	s->segment_size = segment_size;
	if (spool_path(s->wal_dir, sizeof s->wal_dir, dir, SPOOL_WAL_DIR) !=
	        0 ||
	    spool_path(s->snap_dir, sizeof s->snap_dir, dir,
	               SPOOL_SNAPSHOT_DIR) != 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: path too long",
		                 dir);
	rc = spool_identity_write(dir, &s->id, false, errmsg);
	if (rc == 0)
		rc =
		    fx_wal_open(s->wal_dir, s->id.cluster_id, s->id.database_id,
		                s->segment_size, &s->log, errmsg);
	if (rc == 0)
		rc = snapshot_store_open(s->snap_dir, &s->store, errmsg);
	if (rc != 0)
		fx_spool_close(s);
	return rc;
}

void fx_spool_close(struct fx_spool *s)
{
	wal_log_close(s->log);
	s->log = NULL;
	snapshot_store_close(s->store);
	s->store = NULL;
}

int fx_spool_append(struct fx_spool *s, uint64_t count, uint64_t term,
                    size_t size, char *errmsg)
{
	char buf[4096];
	uint64_t next = wal_log_last_index(s->log) + 1;
	int rc;

	if (size > sizeof buf)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "fx_spool_append: size %zu over %zu", size,
		                 sizeof buf);
	for (uint64_t i = 0; i < count; i++) {
		struct wal_entry e;

		e.index = next + i;
		e.term = term;
		e.type = WAL_ENTRY_COMMAND;
		e.data = buf;
		e.len = fx_payload(e.index, size, buf, sizeof buf);
		rc = wal_log_append(s->log, &e, 1, 0, errmsg);
		if (rc != 0)
			return rc;
	}
	return wal_log_sync(s->log, errmsg);
}

int fx_spool_snapshot(struct fx_spool *s, uint64_t index, uint64_t term,
                      size_t size, uint64_t seed, struct snapshot_meta *meta,
                      char *errmsg)
{
	struct snapshot_ident ident;
	uint8_t *buf = malloc(size > 0 ? size : 1);
	int rc;

	if (buf == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	fx_fill(seed, buf, size);
	memset(&ident, 0, sizeof ident);
	strcpy(ident.cluster_id, s->id.cluster_id);
	strcpy(ident.database_id, s->id.database_id);
	ident.index = index;
	ident.term = term;
	rc = snapshot_store_create_from_buf(s->store, &ident, buf, size, 0,
	                                    meta, errmsg);
	free(buf);
	return rc;
}

int fx_spool_compact(struct fx_spool *s, uint64_t before, char *errmsg)
{
	return wal_log_truncate_prefix(s->log, before, errmsg);
}

int fx_spool_truncate(struct fx_spool *s, uint64_t last_kept, char *errmsg)
{
	return wal_log_truncate_suffix(s->log, last_kept, errmsg);
}

int fx_spool_set_identity(struct fx_spool *s, const struct proto_identity *id,
                          char *errmsg)
{
	int rc = spool_identity_write(s->dir, id, true, errmsg);

	if (rc == 0)
		s->id = *id;
	return rc;
}

uint64_t fx_spool_first_index(const struct fx_spool *s)
{
	return wal_log_first_index(s->log);
}

uint64_t fx_spool_last_index(const struct fx_spool *s)
{
	return wal_log_last_index(s->log);
}
