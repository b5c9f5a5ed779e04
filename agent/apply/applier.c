/* Applier dispatch and the "none" applier (agent/apply/applier.h): index
 * bookkeeping, the failed state and the snapshot file read are common to
 * every kind; the kind's table does the state machine work. */
#include "agent/apply/applier.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/io.h"
#include "common/log.h"
#include "wal/wal.h"

struct applier {
	enum applier_kind kind;
	const struct applier_ops *ops; /* NULL for "none" */
	void *state;
	const char *name;
	uint64_t applied;
	uint64_t skipped;
	bool failed;
	char error[MA_ERRMSG_SIZE];
	bool loading; /* applier_set_loading */
	char loading_msg[MA_ERRMSG_SIZE];
};

const char *applier_kind_name(enum applier_kind kind)
{
	switch (kind) {
	case APPLIER_NONE:
		return "none";
	case APPLIER_KV:
		return "kv";
	}
	return "?";
}

enum applier_kind applier_get_kind(const struct applier *a)
{
	return a->kind;
}

int applier_new(enum applier_kind kind, const char *name, struct applier **out,
                char *errmsg)
{
	struct applier *a;
	int rc;

	if (kind != APPLIER_NONE && kind != APPLIER_KV)
		return ma_errorf(errmsg, MA_ERR_INVAL, "%s: unknown applier %d",
		                 name, (int)kind);
	a = calloc(1, sizeof *a);
	if (a == NULL)
		return ma_errorf(errmsg, MA_ERR_NOMEM, "out of memory");
	a->kind = kind;
	a->name = name;
	if (kind == APPLIER_KV) {
		a->ops = &applier_kv_ops;
		rc = a->ops->create(&a->state);
		if (rc != 0) {
			free(a);
			return ma_errorf(errmsg, rc,
			                 "%s: cannot create the kv applier: %s",
			                 name, ma_strerror(rc));
		}
	}
	*out = a;
	return 0;
}

void applier_free(struct applier *a)
{
	if (a == NULL)
		return;
	if (a->ops != NULL)
		a->ops->destroy(a->state);
	free(a);
}

/* The first error sticks: it is the one worth reading. */
static int fail(struct applier *a, int code, const char *msg)
{
	if (!a->failed) {
		a->failed = true;
		snprintf(a->error, sizeof a->error, "%.500s", msg);
		log_error("%s: applier failed: %s", a->name, msg);
	}
	return code;
}

/* A cancelled restore: failed like any other, but not logged as an error
 * (the caller superseded it on purpose and says so). */
static void cancelled(struct applier *a, const char *msg)
{
	a->failed = true;
	snprintf(a->error, sizeof a->error, "%.500s", msg);
}

int applier_fail(struct applier *a, int code, const char *msg)
{
	return fail(a, code, msg);
}

int applier_reset(struct applier *a, char *errmsg)
{
	a->loading = false;
	a->applied = 0;
	a->failed = false;
	a->error[0] = '\0';
	if (a->ops != NULL && a->ops->reset(&a->state) != 0) {
		fail(a, MA_ERR_NOMEM, "out of memory emptying the state");
		return ma_errorf(errmsg, MA_ERR_NOMEM, "%s: out of memory",
		                 a->name);
	}
	return 0;
}

static int restore_buf(struct applier *a, const void *buf, size_t len,
                       uint64_t index, const atomic_bool *cancel, char *errmsg)
{
	char why[MA_ERRMSG_SIZE];
	int rc;

	if (a->ops != NULL && a->ops->restore != NULL) {
		rc = a->ops->restore(a->state, buf, len, cancel, why);
		if (rc == MA_ERR_AGAIN && cancel != NULL &&
		    atomic_load(cancel)) {
			cancelled(a, why);
			return ma_errorf(errmsg, rc,
			                 "%s: snapshot %" PRIu64 ": %s",
			                 a->name, index, why);
		}
		if (rc != 0) {
			/* The kind's restore checks before it replaces, but
			 * the state no longer matches any index we know. */
			a->failed = false;
			fail(a, rc, why);
			return ma_errorf(errmsg, rc,
			                 "%s: snapshot %" PRIu64
			                 " cannot be restored: %s",
			                 a->name, index, why);
		}
	}
	a->applied = index;
	a->failed = false;
	a->error[0] = '\0';
	a->loading = false;
	return 0;
}

int applier_restore_buf(struct applier *a, const void *buf, size_t len,
                        uint64_t index, char *errmsg)
{
	return restore_buf(a, buf, len, index, NULL, errmsg);
}

int applier_restore_file_cancel(struct applier *a, const char *path,
                                uint64_t index, const atomic_bool *cancel,
                                char *errmsg)
{
	char why[MA_ERRMSG_SIZE];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (a->ops == NULL || a->ops->restore == NULL)
		return restore_buf(a, NULL, 0, index, cancel, errmsg);
	rc = io_read_file(path, APPLIER_SNAPSHOT_MAX, &buf, &len, why);
	if (rc == 0 && cancel != NULL && atomic_load(cancel)) {
		free(buf);
		rc = ma_errorf(why, MA_ERR_AGAIN,
		               "restore cancelled (superseded) after reading "
		               "%s",
		               path);
		cancelled(a, why);
		return ma_errorf(errmsg, rc, "%s: %s", a->name, why);
	}
	if (rc != 0) {
		a->failed = false;
		ma_errwrapf(why, rc, "cannot read snapshot");
		fail(a, rc, why);
		return ma_errorf(errmsg, rc, "%s: %s", a->name, why);
	}
	rc = restore_buf(a, buf, len, index, cancel, errmsg);
	free(buf);
	return rc;
}

int applier_restore_file(struct applier *a, const char *path, uint64_t index,
                         char *errmsg)
{
	return applier_restore_file_cancel(a, path, index, NULL, errmsg);
}

int applier_apply(struct applier *a, uint64_t index, uint64_t term,
                  uint8_t type, const void *data, size_t len, char *errmsg)
{
	char why[MA_ERRMSG_SIZE];
	int rc;

	(void)term;
	if (a->failed)
		return ma_errorf(errmsg, MA_ERR_FAILED,
		                 "%s: applier failed: %s", a->name, a->error);
	if (index <= a->applied)
		return 0;
	if (index != a->applied + 1)
		return ma_errorf(errmsg, MA_ERR_OFFSET,
		                 "%s: entry %" PRIu64
		                 " does not follow the applied index %" PRIu64,
		                 a->name, index, a->applied);
	if (type == WAL_ENTRY_COMMAND && a->ops != NULL) {
		rc = a->ops->apply(a->state, data, len, why);
		if (rc < 0) {
			char msg[MA_ERRMSG_SIZE];
			snprintf(msg, sizeof msg, "entry %" PRIu64 ": %.400s",
			         index, why);
			fail(a, rc, msg);
			return ma_errorf(errmsg, rc, "%s: %s", a->name, msg);
		}
		if (rc == 1) {
			/* The source nodes skip it the same way. */
			if (a->skipped++ < 10)
				log_warn("%s: entry %" PRIu64
				         ": skipping a malformed command: %s",
				         a->name, index, why);
		}
	}
	a->applied = index;
	return 0;
}

void applier_set_loading(struct applier *a, const char *msg)
{
	a->loading = true;
	snprintf(a->loading_msg, sizeof a->loading_msg, "%.500s", msg);
}

int applier_adopt(struct applier *a, struct applier *from, char *errmsg)
{
	void *state;

	if (a->kind != from->kind)
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "%s: cannot adopt a %s applier's state",
		                 a->name, applier_kind_name(from->kind));
	state = a->state;
	a->state = from->state;
	from->state = state; /* freed with from */
	a->applied = from->applied;
	a->skipped = from->skipped;
	a->failed = from->failed;
	memcpy(a->error, from->error, sizeof a->error);
	a->loading = false;
	applier_free(from);
	return 0;
}

bool applier_can_serialize(const struct applier *a)
{
	return a->ops != NULL && a->ops->serialize != NULL;
}

int applier_serialize(const struct applier *a, void **buf, size_t *len,
                      char *errmsg)
{
	if (!applier_can_serialize(a))
		return ma_errorf(errmsg, MA_ERR_CONFIG,
		                 "%s: the %s applier cannot write its state",
		                 a->name, applier_kind_name(a->kind));
	if (a->failed)
		return ma_errorf(errmsg, MA_ERR_FAILED,
		                 "%s: applier failed: %s", a->name, a->error);
	return a->ops->serialize(a->state, buf, len, errmsg);
}

bool applier_needs_data(const struct applier *a)
{
	return a->ops != NULL;
}

uint64_t applier_applied_index(const struct applier *a)
{
	return a->applied;
}

uint64_t applier_skipped_commands(const struct applier *a)
{
	return a->skipped;
}

const char *applier_error(const struct applier *a)
{
	return a->failed ? a->error : NULL;
}

int applier_query(struct applier *a, const struct applier_query *q,
                  applier_item_cb cb, void *arg, struct applier_result *res,
                  char *errmsg)
{
	memset(res, 0, sizeof *res);
	if (a->ops == NULL)
		return ma_errorf(
		    errmsg, MA_ERR_CONFIG,
		    "database '%s' has no applier (applier = none):"
		    " it keeps the snapshot and the log only",
		    a->name);
	if (a->failed)
		return ma_errorf(errmsg, MA_ERR_FAILED,
		                 "%s: applier failed: %s", a->name, a->error);
	if (a->loading)
		return ma_errorf(errmsg, MA_ERR_AGAIN, "%s: %s", a->name,
		                 a->loading_msg);
	return a->ops->query(a->state, q, cb, arg, res, errmsg);
}
