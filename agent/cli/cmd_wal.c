/* mirror-agent wal verify DIR | wal dump DIR [--from N] [--count K]:
 * operator tools over a WAL directory. Both are read-only: verify reports
 * a torn tail but never repairs it (the writer does, on open). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "common/crc32c.h"
#include "common/errors.h"
#include "common/parse.h"
#include "spool/spool.h"
#include "wal/wal.h"

#define PREVIEW_BYTES 32

enum { OPT_FROM = CLI_OPT_CUSTOM, OPT_COUNT };

static const struct cli_opt no_opts[] = {{NULL, NULL, 0, NULL, NULL}};

static const struct cli_opt dump_opts[] = {
    {"from", "N", OPT_FROM, NULL, "first index to print [the first held]"},
    {"count", "K", OPT_COUNT, NULL, "print at most K entries [all]"},
    {NULL, NULL, 0, NULL, NULL},
};

static const struct cli_command wal_cmd = {
    "wal",
    "wal verify DIR | wal dump DIR [--from N] [--count K]",
    "verify: checks every record of the wal in DIR (read-only: a torn "
    "tail is\nreported, not repaired) and prints OK or FAILED.\n"
    "dump: prints entries (index, term, type, length, CRC32C, a "
    "preview).\n",
    no_opts,
    0,
    1,
};

static const struct cli_command verify_cmd = {
    "wal verify",
    "wal verify DIR",
    "Checks every record of the wal in DIR (read-only: a torn tail is "
    "reported,\nnot repaired); prints OK, or FAILED and exits 1.\n",
    no_opts,
    1,
    1,
};

static const struct cli_command dump_cmd = {
    "wal dump",
    "wal dump DIR [--from N] [--count K]",
    "Prints the entries of the wal in DIR: index, term, type, length, "
    "CRC32C and\na preview of the data.\n",
    dump_opts,
    1,
    1,
};

static void print_segment(void *arg, const struct wal_verify_segment *s)
{
	(void)arg;
	printf("segment %s first_index=%" PRIu64 " entries=%" PRIu64
	       " bytes=%" PRIu64 "\n",
	       s->name, s->first_index, s->entries, s->file_bytes);
}

/* The latest committed snapshot (a .snapshot with its .meta) in dir, by
 * name only: verify takes no lock and reads no snapshot. false when none
 * or no such directory. */
static bool latest_snapshot(const char *dir, uint64_t *index, uint64_t *term)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		char snap[4096];
		uint64_t i, t;
		int end = 0;

		if (sscanf(de->d_name, "%" SCNu64 "-%" SCNu64 ".meta%n", &i, &t,
		           &end) != 2 ||
		    end == 0 || de->d_name[end] != '\0')
			continue;
		if (snprintf(snap, sizeof snap,
		             "%s/%" PRIu64 "-%" PRIu64 ".snapshot", dir, i,
		             t) >= (int)sizeof snap)
			continue;
		if (access(snap, F_OK) != 0 || (found && i <= *index))
			continue;
		*index = i;
		*term = t;
		found = true;
	}
	closedir(d);
	return found;
}

/* For the wal of a spool or mirror (DIR/../identity exists): the wal
 * must start where the snapshots leave off (spool_wal_base_check). */
static int verify_base(const char *dir, uint64_t first, char *errmsg)
{
	char snaps[4096];
	uint64_t index = 0, term = 0;
	struct stat st;
	bool has;

	/* A spool or mirror directory has an identity file. */
	snprintf(snaps, sizeof snaps, "%s/../" SPOOL_IDENTITY_FILE, dir);
	if (stat(snaps, &st) != 0)
		return 0; /* a bare wal directory: nothing to compare with */
	snprintf(snaps, sizeof snaps, "%s/../" SPOOL_SNAPSHOT_DIR, dir);
	has = latest_snapshot(snaps, &index, &term);
	return spool_wal_base_check(dir, first, has, index, term, errmsg);
}

static int verify(const char *dir)
{
	struct wal_verify_report rep;
	char errmsg[MA_ERRMSG_SIZE], uuid[37];
	int rc;

	rc = wal_verify(dir, &rep, print_segment, NULL, errmsg);
	if (rc == 0)
		rc = verify_base(dir, rep.segments > 0 ? rep.first_index : 0,
		                 errmsg);
	if (rc != 0) {
		fprintf(stderr, "mirror-agent wal verify: %s: %s\n",
		        ma_strerror(rc), errmsg);
		printf("FAILED\n");
		return 1;
	}
	if (rep.have_identity) {
		wal_identity_format_uuid(&rep.identity, uuid);
		printf("identity cluster=%s database=%s\n", uuid,
		       rep.identity.database_id);
	}
	printf("segments %zu\nentries %" PRIu64 "\n", rep.segments,
	       rep.entries);
	if (rep.entries > 0)
		printf("first_index %" PRIu64 "\nlast_index %" PRIu64 "\n",
		       rep.first_index, rep.last_index);
	else
		printf("first_index -\nlast_index -\n");
	if (rep.torn_tail)
		printf("torn tail %s/%s offset %" PRIu64 ": %s (%" PRIu64
		       " bytes after the last valid record; the writer "
		       "truncates them on open; left untouched)\n",
		       dir, rep.torn_file, rep.torn_offset, rep.torn_reason,
		       rep.torn_bytes);
	printf("OK\n");
	return 0;
}

static void print_preview(const uint8_t *p, size_t len)
{
	size_t n = len < PREVIEW_BYTES ? len : PREVIEW_BYTES;

	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('"');
	if (n < len)
		printf("...");
}

static int dump(const char *dir, uint64_t from, uint64_t count)
{
	char errmsg[MA_ERRMSG_SIZE];
	struct wal_reader *r;
	struct wal_entry e;
	uint64_t done = 0;
	struct stat st;
	int rc;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr,
		        "mirror-agent wal dump: %s is not a directory\n", dir);
		return 1;
	}
	rc = wal_reader_open(dir, NULL, &r, errmsg);
	if (rc == 0 && from != 0)
		rc = wal_reader_seek(r, from, errmsg);
	while (rc == 0 && done < count) {
		rc = wal_reader_next(r, &e, errmsg);
		if (rc != 0)
			break;
		printf("index=%" PRIu64 " term=%" PRIu64
		       " type=%u len=%zu crc32c=%08" PRIx32 " data=",
		       e.index, e.term, (unsigned)e.type, e.len,
		       crc32c(e.data, e.len));
		print_preview(e.data, e.len);
		putchar('\n');
		done++;
	}
	wal_reader_close(r);
	if (rc != 0 && rc != MA_ERR_AGAIN) {
		fprintf(stderr, "mirror-agent wal dump: %s: %s\n",
		        ma_strerror(rc), errmsg);
		return 1;
	}
	return 0;
}

int cmd_wal(int argc, char **argv)
{
	const struct cli_command *cmd;
	uint64_t from = 0, count = UINT64_MAX;
	char why[PARSE_WHY_SIZE];
	struct cli_args a;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		cmd = &verify_cmd;
	} else if (argc >= 2 && strcmp(argv[1], "dump") == 0) {
		cmd = &dump_cmd;
	} else {
		rc = cli_parse(&wal_cmd, argc, argv, &a);
		if (rc < 0)
			return CLI_EXIT_OK;
		if (rc == CLI_EXIT_OK) {
			/* No sub-command to point at: the whole usage. */
			cli_args_free(&a);
			fprintf(stderr, "mirror-agent wal: %s sub-command\n\n",
			        argc < 2 ? "missing" : "unknown");
			cli_usage(&wal_cmd, stderr);
			rc = CLI_EXIT_USAGE;
		}
		return rc;
	}
	rc = cli_parse(cmd, argc - 1, argv + 1, &a);
	if (rc != 0)
		return rc < 0 ? CLI_EXIT_OK : rc;
	for (size_t i = 0; i < a.n && rc == 0; i++) {
		uint64_t *dst = a.items[i].opt->id == OPT_FROM ? &from : &count;
		if (parse_uint64(a.items[i].value, dst, why) != 0)
			rc = cli_usage_error(cmd, "--%s %s: %s",
			                     a.items[i].opt->name,
			                     a.items[i].value, why);
	}
	if (rc == 0)
		rc = cmd == &verify_cmd ? verify(a.args[0])
		                        : dump(a.args[0], from, count);
	cli_args_free(&a);
	return rc;
}
