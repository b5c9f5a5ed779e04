/* Reads the status JSON (status_json_format's output) back into the model
 * with jansson, for `mirror-agent status`. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "agent/status/status.h"
#include "common/errors.h"

/* Where a field sits, for messages: "databases[2].log_index". */
static void where(char *buf, size_t size, long db, const char *key)
{
	if (db < 0)
		snprintf(buf, size, "%s", key);
	else
		snprintf(buf, size, "databases[%ld].%s", db, key);
}

static int get_u64(json_t *obj, long db, const char *key, uint64_t *out,
                   char *errmsg)
{
	json_t *v = json_object_get(obj, key);
	char w[96];

	where(w, sizeof w, db, key);
	/* jansson holds integers as json_int_t (long long): every figure
	 * the writer emits fits below 2^63. */
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: %s: missing or not a non-negative "
		                 "integer",
		                 w);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A string field; null is read as "" when null_ok. */
static int get_text(json_t *obj, long db, const char *key, char *out,
                    size_t size, bool null_ok, char *errmsg)
{
	json_t *v = json_object_get(obj, key);
	char w[96];

	where(w, sizeof w, db, key);
	if (null_ok && json_is_null(v)) {
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: %s: missing or not a string", w);
	/* Cut at the field size like the writer's source fields; the texts
	 * it writes never exceed them. */
	snprintf(out, size, "%s", json_string_value(v));
	return 0;
}

static int read_database(json_t *o, long i, struct status_database *d,
                         char *errmsg)
{
	static const struct {
		const char *key;
		size_t offset;
	} nums[] = {
	    {"bytes_done", offsetof(struct status_database, bytes_done)},
	    {"bytes_total", offsetof(struct status_database, bytes_total)},
	    {"rate_bytes_per_s",
	     offsetof(struct status_database, rate_bytes_per_s)},
	    {"log_index", offsetof(struct status_database, log_index)},
	    {"applied_index", offsetof(struct status_database, applied_index)},
	    {"source_commit_index",
	     offsetof(struct status_database, source_commit_index)},
	    {"reconnects", offsetof(struct status_database, reconnects)},
	    {"skipped_commands",
	     offsetof(struct status_database, skipped_commands)},
	};
	char state[32];
	int rc;

	if (!json_is_object(o))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: databases[%ld] is not an object", i);
	if ((rc = get_text(o, i, "database", d->database, sizeof d->database,
	                   false, errmsg)) != 0 ||
	    (rc = get_text(o, i, "state", state, sizeof state, false,
	                   errmsg)) != 0 ||
	    (rc = get_text(o, i, "endpoint", d->endpoint, sizeof d->endpoint,
	                   false, errmsg)) != 0 ||
	    (rc = get_text(o, i, "error", d->error, sizeof d->error, false,
	                   errmsg)) != 0 ||
	    (rc = get_text(o, i, "applier", d->applier, sizeof d->applier,
	                   false, errmsg)) != 0 ||
	    (rc = get_text(o, i, "applier_error", d->applier_error,
	                   sizeof d->applier_error, true, errmsg)) != 0)
		return rc;
	if (status_state_parse(state, &d->state) != 0)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: databases[%ld].state: unknown state "
		                 "'%s'",
		                 i, state);
	for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
		rc = get_u64(o, i, nums[k].key,
		             (uint64_t *)((char *)d + nums[k].offset), errmsg);
		if (rc != 0)
			return rc;
	}
	/* null: not current / never (status.h); both lags together. */
	d->lag_known = !json_is_null(json_object_get(o, "lag_ms"));
	if (d->lag_known &&
	    ((rc = get_u64(o, i, "lag_entries", &d->lag_entries, errmsg)) !=
	         0 ||
	     (rc = get_u64(o, i, "lag_ms", &d->lag_ms, errmsg)) != 0))
		return rc;
	if (!d->lag_known && !json_is_null(json_object_get(o, "lag_entries")))
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: databases[%ld]: lag_ms is null but "
		                 "lag_entries is not",
		                 i);
	d->has_contact = !json_is_null(json_object_get(o, "last_contact_ms"));
	if (d->has_contact && (rc = get_u64(o, i, "last_contact_ms",
	                                    &d->last_contact_ms, errmsg)) != 0)
		return rc;
	/* Promoted: where it stopped (absent in an older writer's file,
	 * null in the other states). */
	if (d->state == MIRROR_PROMOTED &&
	    ((rc = get_u64(o, i, "promoted_index", &d->promoted_index,
	                   errmsg)) != 0 ||
	     (rc = get_u64(o, i, "promoted_term", &d->promoted_term, errmsg)) !=
	         0))
		return rc;
	return 0;
}

int status_json_parse(const char *text, size_t len, struct status_report *r,
                      char *errmsg)
{
	json_error_t jerr;
	json_t *root, *dbs, *v;
	uint64_t u;
	int rc;

	memset(r, 0, sizeof *r);
	if (len > STATUS_JSON_MAX)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: %zu bytes, more than the %u a status "
		                 "file can hold",
		                 len, STATUS_JSON_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return ma_errorf(errmsg, MA_ERR_CORRUPT,
		                 "status: not valid JSON at line %d column %d: "
		                 "%s",
		                 jerr.line, jerr.column, jerr.text);
	rc = MA_ERR_CORRUPT;
	if (!json_is_object(root)) {
		ma_errorf(errmsg, rc, "status: not a JSON object");
		goto done;
	}
	if ((rc = get_u64(root, -1, "pid", &u, errmsg)) != 0)
		goto done;
	r->pid = (long)u;
	if ((rc = get_u64(root, -1, "updated_unix_ms", &u, errmsg)) != 0)
		goto done;
	r->updated_unix_ms = (int64_t)u;
	v = json_object_get(root, "stopped");
	if (v != NULL && !json_is_boolean(v)) {
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "status: stopped: not a boolean");
		goto done;
	}
	r->stopped = json_is_true(v);
	if ((rc = get_text(root, -1, "endpoint", r->endpoint,
	                   sizeof r->endpoint, false, errmsg)) != 0)
		goto done;
	dbs = json_object_get(root, "databases");
	if (!json_is_array(dbs)) {
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "status: databases: missing or not an array");
		goto done;
	}
	if (json_array_size(dbs) > STATUS_MAX_DATABASES) {
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "status: %zu databases, at most %d are followed",
		               json_array_size(dbs), STATUS_MAX_DATABASES);
		goto done;
	}
	for (size_t i = 0; i < json_array_size(dbs); i++) {
		v = json_array_get(dbs, i);
		rc = read_database(v, (long)i, &r->databases[i], errmsg);
		if (rc != 0)
			goto done;
		r->count = i + 1;
	}
	rc = 0;
done:
	json_decref(root);
	return rc;
}
