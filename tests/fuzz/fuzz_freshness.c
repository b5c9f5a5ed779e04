/* libFuzzer target for the spool freshness record (spool/spool_fresh.c),
 * the tap's word on its node's leader that serve reads at every answer.
 * Options and the invariants every record keeps: tests/fuzz/fuzz_record.h;
 * this one's own: an accepted record has no negative time and leads only
 * when it knows a leader. */
#include "spool/spool.h"
#include "tests/fuzz/fuzz_record.h"

static int parse(const char *text, size_t len, void *rec, char *errmsg)
{
	return spool_freshness_parse(text, len, rec, errmsg);
}

static int format(const void *rec, char *out, char *errmsg)
{
	return spool_freshness_format(rec, out, errmsg);
}

static bool valid(const void *rec)
{
	const struct spool_freshness *f = rec;

	return f->leader_contact_ms >= 0 && f->written_ms >= 0 &&
	       (!f->is_leader || f->leader_known);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fuzz_record fr = {sizeof(struct spool_freshness),
	                                      SPOOL_FRESHNESS_TEXT_MAX, parse,
	                                      format, valid};

	return fuzz_record_run(&fr, data, size);
}
