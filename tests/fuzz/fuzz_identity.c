/* libFuzzer target for the spool identity file (spool/spool.c), the file
 * that decides whether a mirror may follow a source. Options and the
 * invariants every record keeps: tests/fuzz/fuzz_record.h; this one's own:
 * an accepted identity has ids that pass the one name rule. */
#include "common/parse.h"
#include "spool/spool.h"
#include "tests/fuzz/fuzz_record.h"

static int parse(const char *text, size_t len, void *rec, char *errmsg)
{
	return spool_identity_parse(text, len, rec, errmsg);
}

static int format(const void *rec, char *out, char *errmsg)
{
	return spool_identity_format(rec, out, errmsg);
}

static bool valid(const void *rec)
{
	const struct proto_identity *id = rec;

	return parse_name_valid_str(id->cluster_id) &&
	       parse_name_valid_str(id->database_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_record fr = {sizeof(struct proto_identity),
	                                      SPOOL_IDENTITY_TEXT_MAX, parse,
	                                      format, valid};

	return fuzz_record_run(&fr, data, size);
}
