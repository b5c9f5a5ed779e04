# Configuration file (agent/config.c) and `mirror-agent check-config`.
mirror_agent_SOURCES += \
	agent/config.c agent/config.h \
	agent/cmd_check_config.c

# agent/ has no library: the test compiles agent/config.c itself.
check_PROGRAMS += tests/unit/test_config
TESTS += tests/unit/test_config
# It runs `check-config` in-process too, and finds its data files through
# abs_top_srcdir (exported by the harness, compiled in for manual runs).
tests_unit_test_config_SOURCES = tests/unit/test_config.c \
	agent/config.c agent/config.h agent/cmd_check_config.c \
	agent/protocol.c
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_config_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_config_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/unit/data/config
