/* libFuzzer target for the promoted record (spool/spool_promoted.c), the
 * file that fences a promoted mirror's directory. Options and the
 * invariants every record keeps: tests/fuzz/fuzz_record.h; this one's own:
 * an accepted record has ids that pass the one name rule. */
#include "common/parse.h"
#include "spool/spool.h"
#include "tests/fuzz/fuzz_record.h"

static int parse(const char *text, size_t len, void *rec, char *errmsg)
{
	return spool_promoted_parse(text, len, rec, errmsg);
}

static int format(const void *rec, char *out, char *errmsg)
{
	return spool_promoted_format(rec, out, errmsg);
}

static bool valid(const void *rec)
{
	const struct spool_promoted *p = rec;

	return parse_name_valid_str(p->from.cluster_id) &&
	       parse_name_valid_str(p->from.database_id) && p->unix_ms >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_record fr = {sizeof(struct spool_promoted),
	                                      SPOOL_PROMOTED_TEXT_MAX, parse,
	                                      format, valid};

	return fuzz_record_run(&fr, data, size);
}
