# serve: the source side of the mirror protocol (agent/serve.{h,c}) and
# the `mirror-agent serve` command.
mirror_agent_SOURCES += agent/serve.c agent/serve.h agent/cmd_serve.c

# spoolgen: builds spools for tests (snapshots, log entries, compaction).
check_PROGRAMS += tests/tools/spoolgen
tests_tools_spoolgen_SOURCES = tests/tools/spoolgen.c agent/spool.c \
	agent/protocol.c
tests_tools_spoolgen_LDADD = snapshot/libsnapshot.a wal/libwal.a $(TEST_LIBS)

check_PROGRAMS += tests/integration/test_serve
TESTS += tests/integration/test_serve
tests_integration_test_serve_SOURCES = tests/integration/test_serve.c \
	agent/serve.c agent/spool.c agent/protocol.c
tests_integration_test_serve_CPPFLAGS = $(AM_CPPFLAGS) \
	-DMA_TOP_SRCDIR='"$(abs_top_srcdir)"' \
	-DMA_TOP_BUILDDIR='"$(abs_top_builddir)"'
tests_integration_test_serve_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_integration_test_serve_LDADD = transport/libtransport.a \
	snapshot/libsnapshot.a wal/libwal.a $(TEST_LIBS)
