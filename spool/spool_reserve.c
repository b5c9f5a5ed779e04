/* Retention reservations: the file format, the directory and the
 * retention rule the tap applies (spool/spool.h, docs/TAP.md
 * "Reservations"). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/errors.h"
#include "common/io.h"
#include "common/kvtext.h"
#include "common/log.h"
#include "common/parse.h"
#include "spool/spool.h"
#include "wal/wal_segment.h"

#define MAGIC "mirror-agent reservation 1\n"

int spool_reserve_dir(char *out, size_t size, const char *spool_dir)
{
	size_t len = strlen(spool_dir);
	int n;

	while (len > 1 && spool_dir[len - 1] == '/')
		len--;
	n = snprintf(out, size, "%.*s%s", (int)len, spool_dir,
	             SPOOL_RESERVE_SUFFIX);
	if (len == 0 || n < 0 || (size_t)n >= size)
		return MA_ERR_INVAL;
	return 0;
}

void spool_reserve_file_name(const char *identity,
                             char out[SPOOL_RESERVE_NAME_LEN + 1])
{
	size_t len = strlen(identity);
	/* Two CRC32Cs (plain and seeded) make a 64-bit name: identities are
	 * a handful per spool, and a collision is caught when reading (the
	 * file names its whole identity). */
	uint32_t a = crc32c(identity, len);
	uint32_t b = crc32c_append(0x9e3779b9u, identity, len);

	snprintf(out, SPOOL_RESERVE_NAME_LEN + 1, "r-%08" PRIx32 "%08" PRIx32,
	         a, b);
}

static bool identity_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > SPOOL_RESERVE_IDENTITY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

int spool_reserve_format(const struct spool_reservation *r,
                         char out[SPOOL_RESERVE_TEXT_MAX], char *errmsg)
{
	int n;

	if (!identity_valid(r->identity))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "reservation identity must be 1..%d printable "
		                 "characters without spaces",
		                 SPOOL_RESERVE_IDENTITY_MAX);
	if (!parse_name_valid_str(r->database))
		return ma_errorf(errmsg, MA_ERR_INVAL,
		                 "reservation database '%s' breaks the name "
		                 "rule",
		                 r->database);
	n = snprintf(out, SPOOL_RESERVE_TEXT_MAX,
	             MAGIC "identity=%s\ndatabase=%s\nindex=%" PRIu64
	                   "\nupdated_ms=%" PRIu64 "\n",
	             r->identity, r->database, r->index, r->updated_ms);
	/* identity (255) + database (64) + two numbers fit with room for
	 * the CRC line: 27 + 10 + 255 + 10 + 64 + 7 + 20 + 12 + 20 + 4 +
	 * 16 < 512. */
	if (n < 0 ||
	    (n = kvtext_seal(out, (size_t)n, SPOOL_RESERVE_TEXT_MAX)) < 0)
		return ma_errorf(errmsg, MA_ERR_INVAL, "reservation too long");
	return n;
}

int spool_reserve_parse(const char *text, size_t len,
                        struct spool_reservation *r, char *errmsg)
{
	const struct kvtext_field fields[] = {
	    {"identity", KVTEXT_STR, 0, SPOOL_RESERVE_IDENTITY_MAX, r->identity,
	     0, NULL},
	    {"database", KVTEXT_STR, 0, PROTO_DATABASE_ID_MAX, r->database, 0,
	     NULL},
	    {"index", KVTEXT_U64, 0, 0, &r->index, 0, NULL},
	    {"updated_ms", KVTEXT_U64, 0, 0, &r->updated_ms, 0, NULL},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, NULL, 0, NULL},
	};
	const struct kvtext_format fmt = {"reservation",
	                                  "mirror-agent reservation 1",
	                                  SPOOL_RESERVE_TEXT_MAX - 1, fields,
	                                  sizeof fields / sizeof fields[0]};
	int rc;

	memset(r, 0, sizeof *r);
	rc = kvtext_parse(&fmt, text, len, errmsg);
	if (rc == 0 && (!identity_valid(r->identity) ||
	                !parse_name_valid_str(r->database)))
		rc = ma_errorf(errmsg, MA_ERR_CORRUPT,
		               "reservation: identity '%s' or database '%s' "
		               "is not one serve writes",
		               r->identity, r->database);
	if (rc != 0)
		memset(r, 0, sizeof *r);
	return rc;
}

int spool_reserve_write(const char *rdir, const struct spool_reservation *r,
                        char *errmsg)
{
	char text[SPOOL_RESERVE_TEXT_MAX], name[SPOOL_RESERVE_NAME_LEN + 1];
	int n, rc;

	n = spool_reserve_format(r, text, errmsg);
	if (n < 0)
		return n;
	rc = io_mkdir_p(rdir, 0755, errmsg);
	if (rc != 0)
		return rc;
	spool_reserve_file_name(r->identity, name);
	return io_write_file_durable(rdir, name, text, (size_t)n, errmsg);
}

int spool_reserve_remove(const char *rdir, const char *identity, char *errmsg)
{
	char name[SPOOL_RESERVE_NAME_LEN + 1], path[4096];

	spool_reserve_file_name(identity, name);
	if (io_path_join(path, sizeof path, rdir, name) != 0)
		return ma_errorf(errmsg, MA_ERR_IO, "%s: path too long", rdir);
	if (unlink(path) != 0 && errno != ENOENT)
		return ma_errorf(errmsg, ma_error_from_errno(errno),
		                 "cannot remove reservation %s: %s", path,
		                 strerror(errno));
	return 0;
}

static bool is_reserve_name(const char *s)
{
	if (strlen(s) != SPOOL_RESERVE_NAME_LEN || strncmp(s, "r-", 2) != 0)
		return false;
	for (const char *p = s + 2; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int spool_reserve_list(const char *rdir, struct spool_reservation **out,
                       size_t *n, char *errmsg)
{
	struct spool_reservation *v = NULL;
	char path[4096], em[MA_ERRMSG_SIZE];
	char want[SPOOL_RESERVE_NAME_LEN + 1];
	struct dirent *de;
	size_t count = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	d = opendir(rdir);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		return ma_errorf(errmsg, ma_error_from_errno(errno),
		                 "cannot read reservations in %s: %s", rdir,
		                 strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		void *buf = NULL;
		size_t len = 0;
		int rc;

		if (!is_reserve_name(de->d_name))
			continue; /* ".", "..", temporary files */
		if (count == SPOOL_RESERVE_MAX) {
			log_warn("spool: %s: more than %d reservations; the "
			         "rest are ignored (remove stale ones)",
			         rdir, SPOOL_RESERVE_MAX);
			break;
		}
		if (v == NULL) {
			v = calloc(SPOOL_RESERVE_MAX, sizeof *v);
			if (v == NULL) {
				closedir(d);
				return ma_errorf(errmsg, MA_ERR_NOMEM,
				                 "out of memory reading "
				                 "reservations");
			}
		}
		if (io_path_join(path, sizeof path, rdir, de->d_name) != 0)
			continue;
		rc = io_read_file(path, SPOOL_RESERVE_TEXT_MAX, &buf, &len, em);
		if (rc == MA_ERR_NOTFOUND)
			continue; /* removed meanwhile */
		if (rc == 0)
			rc = spool_reserve_parse(buf, len, &v[count], em);
		free(buf);
		if (rc == 0) {
			spool_reserve_file_name(v[count].identity, want);
			if (strcmp(want, de->d_name) != 0) {
				rc = MA_ERR_CORRUPT;
				snprintf(em, sizeof em,
				         "names identity %s, whose file is %s",
				         v[count].identity, want);
			}
		}
		if (rc != 0) {
			log_warn("spool: reservation %s ignored (it reserves "
			         "nothing): %s",
			         path, em);
			continue;
		}
		count++;
	}
	closedir(d);
	if (count == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = count;
	return 0;
}

int spool_wal_segments(const char *wal_dir, struct spool_segment **out,
                       size_t *n, char *errmsg)
{
	struct spool_segment *v = NULL;
	uint64_t *firsts = NULL;
	size_t count = 0, k = 0;
	char path[4096], name[WAL_SEG_NAME_SIZE];
	struct stat st;
	int rc;

	*out = NULL;
	*n = 0;
	/* The wal's own listing: one rule for what a segment is called. */
	rc = wal_seg_list(wal_dir, &firsts, &count, errmsg);
	if (rc == MA_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (count > 0) {
		v = calloc(count, sizeof *v);
		if (v == NULL) {
			free(firsts);
			return ma_errorf(errmsg, MA_ERR_NOMEM,
			                 "out of memory listing %s", wal_dir);
		}
	}
	for (size_t i = 0; i < count; i++) {
		wal_seg_name(name, firsts[i]);
		if (io_path_join(path, sizeof path, wal_dir, name) != 0 ||
		    stat(path, &st) != 0)
			continue; /* removed meanwhile */
		v[k].first_index = firsts[i];
		v[k].bytes = (uint64_t)st.st_size;
		k++;
	}
	free(firsts);
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return 0;
}

uint64_t spool_reserve_held(const struct spool_segment *segs, size_t nsegs,
                            uint64_t index, uint64_t cut)
{
	uint64_t held = 0;

	/* Segment i (not the last) holds first_i .. first_{i+1} - 1 and is
	 * deleted by a truncation before x when first_{i+1} <= x. */
	for (size_t i = 0; i + 1 < nsegs; i++) {
		uint64_t next = segs[i + 1].first_index;

		if (next <= cut && next > index)
			held += segs[i].bytes;
	}
	return held;
}

uint64_t spool_reserve_cut(uint64_t cut, const struct spool_segment *segs,
                           size_t nsegs, struct spool_reservation *v, size_t n,
                           const struct spool_reserve_budget *b,
                           uint64_t now_ms, enum spool_reserve_verdict *verdict,
                           uint64_t *held)
{
	uint64_t first = nsegs > 0 ? segs[0].first_index : 0;
	uint64_t keep = cut;

	/* Oldest first, so the budget in bytes drops the oldest ones. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j].index < v[j - 1].index; j--) {
			struct spool_reservation t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		uint64_t age =
		    now_ms > v[i].updated_ms ? now_ms - v[i].updated_ms : 0;
		uint64_t h;

		held[i] = 0;
		if (age > b->max_age_ms) {
			verdict[i] = SPOOL_RESERVE_DROP_AGE;
			continue;
		}
		/* The mirror needs index + 1 on and the term at index: a
		 * wal starting after index has lost that already. */
		if (first > 0 && v[i].index + 1 < first) {
			verdict[i] = SPOOL_RESERVE_STALE;
			continue;
		}
		h = spool_reserve_held(segs, nsegs, v[i].index, cut);
		if (h > b->max_bytes ||
		    (b->max_bytes == 0 && v[i].index < cut)) {
			verdict[i] = SPOOL_RESERVE_DROP_BYTES;
			continue;
		}
		verdict[i] = SPOOL_RESERVE_KEEP;
		held[i] = h;
		if (v[i].index < keep)
			keep = v[i].index;
	}
	return keep == 0 ? 1 : keep;
}

#define BUDGET_MAGIC "mirror-agent reservation budget 1\n"
#define BUDGET_TEXT_MAX 128

static int budget_format(const struct spool_reserve_budget *b,
                         char out[BUDGET_TEXT_MAX])
{
	int n = snprintf(out, BUDGET_TEXT_MAX,
	                 BUDGET_MAGIC "max_bytes=%" PRIu64
	                              "\nmax_age_ms=%" PRIu64 "\n",
	                 b->max_bytes, b->max_age_ms);

	/* 34 + 30 + 31 + 16 < 128: it always fits. */
	return kvtext_seal(out, (size_t)n, BUDGET_TEXT_MAX);
}

int spool_reserve_budget_write(const char *rdir,
                               const struct spool_reserve_budget *b,
                               char *errmsg)
{
	char text[BUDGET_TEXT_MAX];
	struct stat st;
	int n = budget_format(b, text);

	if (stat(rdir, &st) != 0 || !S_ISDIR(st.st_mode))
		return ma_errorf(errmsg, MA_ERR_NOTFOUND,
		                 "%s: no reservation directory", rdir);
	return io_write_file_durable(rdir, SPOOL_RESERVE_BUDGET_FILE, text,
	                             (size_t)n, errmsg);
}

static int budget_parse(const char *text, size_t len, void *out, char *errmsg)
{
	struct spool_reserve_budget *b = out;
	const struct kvtext_field fields[] = {
	    {"max_bytes", KVTEXT_U64, 0, 0, &b->max_bytes, 0, NULL},
	    {"max_age_ms", KVTEXT_U64, 0, 0, &b->max_age_ms, 0, NULL},
	    {"crc32c", KVTEXT_CRC32C, 0, 0, NULL, 0, NULL},
	};
	const struct kvtext_format fmt = {
	    "reservation budget", "mirror-agent reservation budget 1",
	    BUDGET_TEXT_MAX, fields, sizeof fields / sizeof fields[0]};
	int rc = kvtext_parse(&fmt, text, len, errmsg);

	if (rc != 0)
		memset(b, 0, sizeof *b);
	return rc;
}

int spool_reserve_budget_read(const char *rdir, struct spool_reserve_budget *b,
                              char *errmsg)
{
	memset(b, 0, sizeof *b);
	return spool_record_read(rdir, SPOOL_RESERVE_BUDGET_FILE,
	                         BUDGET_TEXT_MAX, "reservation budget",
	                         "no reservation budget", budget_parse, b,
	                         errmsg);
}

uint64_t spool_reserve_headroom_s(const struct spool_reserve_budget *b,
                                  uint64_t age_ms, uint64_t held,
                                  uint64_t bytes_per_s)
{
	uint64_t s;

	if (age_ms >= b->max_age_ms || held >= b->max_bytes)
		return 0;
	s = (b->max_age_ms - age_ms) / 1000;
	if (bytes_per_s > 0 && (b->max_bytes - held) / bytes_per_s < s)
		s = (b->max_bytes - held) / bytes_per_s;
	return s;
}

static const char *verdict_why(enum spool_reserve_verdict v)
{
	switch (v) {
	case SPOOL_RESERVE_DROP_AGE:
		return "older than the reservation budget's age "
		       "(reserve_max_age)";
	case SPOOL_RESERVE_DROP_BYTES:
		return "it would keep more wal than the reservation budget's "
		       "bytes (reserve_max_bytes)";
	case SPOOL_RESERVE_STALE:
		return "the wal no longer holds what it reserves";
	default:
		return "kept";
	}
}

/* The reservation of identity as it is now on disk: false when it is gone
 * or unreadable. */
static bool reread(const char *rdir, const char *identity,
                   struct spool_reservation *out)
{
	char name[SPOOL_RESERVE_NAME_LEN + 1], path[4096], em[MA_ERRMSG_SIZE];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	spool_reserve_file_name(identity, name);
	if (io_path_join(path, sizeof path, rdir, name) != 0 ||
	    io_read_file(path, SPOOL_RESERVE_TEXT_MAX, &buf, &len, em) != 0)
		return false;
	rc = spool_reserve_parse(buf, len, out, em);
	free(buf);
	return rc == 0;
}

uint64_t spool_reserve_apply(const char *spool_dir, uint64_t cut,
                             const struct spool_reserve_budget *b,
                             uint64_t now_ms, const char *who)
{
	struct spool_reservation *v = NULL, now;
	struct spool_segment *segs = NULL;
	enum spool_reserve_verdict *verdict = NULL;
	char rdir[4096], wal_dir[4096], em[MA_ERRMSG_SIZE];
	uint64_t *held = NULL, keep = cut;
	size_t n = 0, nsegs = 0;

	if (spool_reserve_dir(rdir, sizeof rdir, spool_dir) != 0 ||
	    spool_path(wal_dir, sizeof wal_dir, spool_dir, SPOOL_WAL_DIR) != 0)
		return cut;
	if (spool_reserve_list(rdir, &v, &n, em) != 0) {
		log_warn("%s: reservations not read, none honoured: %s", who,
		         em);
		return cut;
	}
	if (n == 0) {
		free(v);
		return cut;
	}
	em[0] = '\0'; /* only spool_wal_segments fills it below */
	verdict = calloc(n, sizeof *verdict);
	held = calloc(n, sizeof *held);
	if (verdict == NULL || held == NULL ||
	    spool_wal_segments(wal_dir, &segs, &nsegs, em) != 0) {
		log_warn("%s: wal not listed, no reservation honoured: %s", who,
		         em[0] != '\0' ? em : "out of memory");
		goto out;
	}
	keep =
	    spool_reserve_cut(cut, segs, nsegs, v, n, b, now_ms, verdict, held);
	for (size_t i = 0; i < n; i++) {
		if (verdict[i] == SPOOL_RESERVE_KEEP) {
			if (held[i] > 0)
				log_info("%s: reservation of %s at %" PRIu64
				         " keeps %" PRIu64 " bytes of wal",
				         who, v[i].identity, v[i].index,
				         held[i]);
			continue;
		}
		/* serve may have rewritten it since the list: its mirror
		 * came back. The next round judges the new one. */
		if (reread(rdir, v[i].identity, &now) &&
		    (now.updated_ms != v[i].updated_ms ||
		     now.index != v[i].index)) {
			log_info(
			    "%s: reservation of %s renewed meanwhile: kept",
			    who, v[i].identity);
			continue;
		}
		log_warn("%s: reservation of mirror %s at index %" PRIu64
		         " dropped: %s; that mirror will download a snapshot "
		         "again",
		         who, v[i].identity, v[i].index,
		         verdict_why(verdict[i]));
		if (spool_reserve_remove(rdir, v[i].identity, em) != 0)
			log_warn("%s: %s", who, em);
	}
out:
	free(segs);
	free(held);
	free(verdict);
	free(v);
	return keep < 1 ? 1 : keep;
}
