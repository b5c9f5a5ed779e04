# agent: the mirror-agent program. Every stage is a folder of its own
# (docs/HACKING.md); all but main.c go into agent/libagent.a, which the
# tests link.
noinst_LIBRARIES += agent/libagent.a
agent_libagent_a_SOURCES = \
	agent/cli/cli.c agent/cli/cli.h \
	agent/cli/commands.h \
	agent/cli/cmd_check_config.c \
	agent/cli/cmd_follow.c \
	agent/cli/cmd_promote.c \
	agent/cli/cmd_serve.c \
	agent/cli/cmd_snapshot.c \
	agent/cli/cmd_status.c \
	agent/cli/cmd_status_options.c \
	agent/cli/cmd_wal.c \
	agent/cli/notify.c agent/cli/notify.h \
	agent/config/config_schema.c agent/config/config_file.c \
	agent/config/config_role.c agent/config/config.h \
	agent/config/config_int.h \
	agent/follow/follow.c agent/follow/follow.h \
	agent/follow/follow_core.c agent/follow/follow_core.h \
	agent/follow/follow_apply.c agent/follow/follow_apply.h \
	agent/follow/follow_checkpoint.c agent/follow/follow_checkpoint.h \
	agent/follow/follow_refresh.c agent/follow/follow_refresh.h \
	agent/follow/mirror_state.c agent/follow/mirror_state.h \
	agent/follow/source_view.c agent/follow/source_view.h \
	agent/serve/serve.c agent/serve/serve.h \
	agent/serve/serve_request.c agent/serve/serve_request.h \
	agent/serve/serve_log.c agent/serve/serve_log.h \
	agent/serve/serve_snapshot.c agent/serve/serve_snapshot.h \
	agent/serve/serve_reserve.c agent/serve/serve_reserve.h \
	agent/serve/serve_metrics.c agent/serve/serve_metrics.h \
	agent/apply/applier.c agent/apply/applier.h agent/apply/applier_kv.c \
	agent/readapi/read_api.c agent/readapi/read_api.h \
	agent/readapi/read_api_query.c agent/readapi/read_api_query.h \
	agent/promote/promote.c agent/promote/promote.h \
	agent/status/status.c agent/status/status.h \
	agent/status/status_follow.c agent/status/status_json_read.c \
	agent/status/status_html.c agent/status/status_token.c \
	agent/status/status_token.h \
	agent/status/status_listen.c agent/status/status_listen.h

mirror_agent_SOURCES += agent/cli/main.c

# Unit tests of the agent's stages.
check_PROGRAMS += tests/unit/test_promote
TESTS += tests/unit/test_promote
tests_unit_test_promote_SOURCES = tests/unit/test_promote.c
tests_unit_test_promote_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_promote_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

check_PROGRAMS += tests/unit/test_mirror_state
TESTS += tests/unit/test_mirror_state
tests_unit_test_mirror_state_SOURCES = tests/unit/test_mirror_state.c
tests_unit_test_mirror_state_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_mirror_state_LDADD = $(AGENT_TEST_LIBS)

check_PROGRAMS += tests/unit/test_source_view
TESTS += tests/unit/test_source_view
tests_unit_test_source_view_SOURCES = tests/unit/test_source_view.c
tests_unit_test_source_view_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_source_view_LDADD = $(AGENT_TEST_LIBS)
check_PROGRAMS += tests/unit/test_follow_core
TESTS += tests/unit/test_follow_core
tests_unit_test_follow_core_SOURCES = tests/unit/test_follow_core.c
tests_unit_test_follow_core_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_follow_core_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
# It runs `check-config` in-process too, and finds its data files through
# abs_top_srcdir (exported by the harness, compiled in for manual runs).
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_config_LDADD = $(AGENT_TEST_LIBS)
EXTRA_DIST += tests/unit/data/config

check_PROGRAMS += tests/unit/test_status
TESTS += tests/unit/test_status
tests_unit_test_status_SOURCES = tests/unit/test_status.c
tests_unit_test_status_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_status_LDADD = $(AGENT_TEST_LIBS)

# Mirror checkpoints: rules, then real ones in a scratch directory.
check_PROGRAMS += tests/unit/test_follow_checkpoint
TESTS += tests/unit/test_follow_checkpoint
tests_unit_test_follow_checkpoint_SOURCES = tests/unit/test_follow_checkpoint.c
tests_unit_test_follow_checkpoint_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_follow_checkpoint_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

check_PROGRAMS += tests/unit/test_applier
TESTS += tests/unit/test_applier
tests_unit_test_applier_SOURCES = tests/unit/test_applier.c
tests_unit_test_applier_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_applier_LDADD = $(AGENT_TEST_LIBS)

# The access rule serve and [access] share (config_access_grant_allows).
check_PROGRAMS += tests/unit/test_access
TESTS += tests/unit/test_access
tests_unit_test_access_SOURCES = tests/unit/test_access.c
tests_unit_test_access_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_access_LDADD = $(AGENT_TEST_LIBS)

# The read API's query parser, by value, and its fuzz target.
check_PROGRAMS += tests/unit/test_read_api_query
TESTS += tests/unit/test_read_api_query
tests_unit_test_read_api_query_SOURCES = tests/unit/test_read_api_query.c
tests_unit_test_read_api_query_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_read_api_query_LDADD = $(AGENT_TEST_LIBS)
if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_read_api_query
FUZZ_TARGETS += tests/fuzz/fuzz_read_api_query
tests_fuzz_fuzz_read_api_query_SOURCES = tests/fuzz/fuzz_read_api_query.c
tests_fuzz_fuzz_read_api_query_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_read_api_query_LDADD = agent/libagent.a common/libcommon.a
endif
EXTRA_DIST += tests/fuzz/corpus/read_api_query

# spoolgen: builds spools for tests (snapshots, log entries, compaction).
check_PROGRAMS += tests/tools/spoolgen
tests_tools_spoolgen_SOURCES = tests/tools/spoolgen.c
tests_tools_spoolgen_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)

check_PROGRAMS += tests/integration/test_serve
TESTS += tests/integration/test_serve
tests_integration_test_serve_SOURCES = tests/integration/test_serve.c
tests_integration_test_serve_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMA_TOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DMA_TOP_BUILDDIR='"$(abs_top_builddir)"'
tests_integration_test_serve_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_serve_LDADD = $(AGENT_TEST_LIBS)

# End to end: raftkv cluster -> serve -> follow (applier = kv) -> HTTP.
TESTS += tests/integration/test_mirror_read.sh
EXTRA_DIST += tests/integration/test_mirror_read.sh
# Mirror checkpoints end to end: raftkv -> serve -> kv mirror that stores
# checkpoints, trims its wal and restarts from the newest one.
TESTS += tests/integration/test_mirror_checkpoint.sh
EXTRA_DIST += tests/integration/test_mirror_checkpoint.sh
# The status model end to end: file, /status, /metrics and `status`.
TESTS += tests/integration/test_status.sh
EXTRA_DIST += tests/integration/test_status.sh
TESTS += tests/integration/test_read_api_security.sh
EXTRA_DIST += tests/integration/test_read_api_security.sh
TESTS += tests/integration/test_status_page.sh
EXTRA_DIST += tests/integration/test_status_page.sh
# Issue 8: which source is fresher (/readyz, a stale read, /status).
TESTS += tests/integration/test_status_fresher.sh
EXTRA_DIST += tests/integration/test_status_fresher.sh
# An IPv6 source is named [HOST]:PORT everywhere (status file, page).
TESTS += tests/integration/test_follow_ipv6.sh
EXTRA_DIST += tests/integration/test_follow_ipv6.sh
TESTS += tests/integration/test_progress_tty.sh
EXTRA_DIST += tests/integration/test_progress_tty.sh
TESTS += tests/integration/test_demo_interrupt.sh
EXTRA_DIST += tests/integration/test_demo_interrupt.sh

include agent/serve/serve.mk

# sd_notify (agent/cli/notify.c) against a socket the test binds.
check_PROGRAMS += tests/unit/test_notify
TESTS += tests/unit/test_notify
tests_unit_test_notify_SOURCES = tests/unit/test_notify.c
tests_unit_test_notify_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_notify_LDADD = $(AGENT_TEST_LIBS)
