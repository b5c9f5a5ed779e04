/* libFuzzer target for the retention reservation file
 * (spool/spool_reserve.c), which the tap reads to decide how much wal a
 * source keeps for its mirrors. Options and the invariants every record
 * keeps: tests/fuzz/fuzz_record.h; this one's own: an accepted
 * reservation has a database that passes the name rule and an identity of
 * printable bytes without spaces. */
#include "common/parse.h"
#include "spool/spool.h"
#include "tests/fuzz/fuzz_record.h"

static int parse(const char *text, size_t len, void *rec, char *errmsg)
{
	return spool_reserve_parse(text, len, rec, errmsg);
}

static int format(const void *rec, char *out, char *errmsg)
{
	return spool_reserve_format(rec, out, errmsg);
}

static bool valid(const void *rec)
{
	const struct spool_reservation *r = rec;

	if (!parse_name_valid_str(r->database) || r->identity[0] == '\0')
		return false;
	for (const char *p = r->identity; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_record fr = {sizeof(struct spool_reservation),
	                                      SPOOL_RESERVE_TEXT_MAX, parse,
	                                      format, valid};

	return fuzz_record_run(&fr, data, size);
}
