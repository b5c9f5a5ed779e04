COMMON_CORE_SOURCES = \
	common/clock.c common/clock.h \
	common/crc32c.c common/crc32c.h \
	common/errors.c common/errors.h \
	common/io.c common/io.h \
	common/log.c common/log.h \
	common/parse.c common/parse.h \
	common/endian.h \
	common/kvtext.c common/kvtext.h
# No libevent here: the tap library links $(COMMON_CORE_SOURCES) only
# (tap/tap.mk); sd_notify's timer is agent/cli/notify.c.
common_libcommon_a_SOURCES += $(COMMON_CORE_SOURCES)

check_PROGRAMS += tests/unit/test_crc32c tests/unit/test_io \
	tests/unit/test_parse tests/unit/test_clock
TESTS += tests/unit/test_crc32c tests/unit/test_io \
	tests/unit/test_parse tests/unit/test_clock
tests_unit_test_crc32c_SOURCES = tests/unit/test_crc32c.c
tests_unit_test_crc32c_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_crc32c_LDADD = $(TEST_LIBS)
tests_unit_test_io_SOURCES = tests/unit/test_io.c
tests_unit_test_io_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_io_LDADD = $(FIXTURE_LIBS) $(TEST_LIBS)
tests_unit_test_parse_SOURCES = tests/unit/test_parse.c
tests_unit_test_parse_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_parse_LDADD = $(TEST_LIBS)
tests_unit_test_clock_SOURCES = tests/unit/test_clock.c
tests_unit_test_clock_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_clock_LDADD = $(TEST_LIBS)

# The log line formats ([agent] log_format: text, journal, json).
check_PROGRAMS += tests/unit/test_log
TESTS += tests/unit/test_log
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_log_LDADD = $(AGENT_TEST_LIBS)

# The strict key=value record reader (common/kvtext.c).
check_PROGRAMS += tests/unit/test_kvtext
TESTS += tests/unit/test_kvtext
tests_unit_test_kvtext_SOURCES = tests/unit/test_kvtext.c
tests_unit_test_kvtext_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kvtext_LDADD = $(TEST_LIBS)
