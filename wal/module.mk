# wal: segmented log of committed Raft entries (see wal/wal.h, docs/FORMAT.md)
wal_libwal_a_SOURCES += \
	wal/wal.h \
	wal/wal_format.c wal/wal_format.h \
	wal/wal_segment.c wal/wal_segment.h \
	wal/wal_log.c wal/wal_log.h \
	wal/wal_reader.c wal/wal_reader.h \
	wal/wal_notify.c \
	wal/wal_mark.c \
	wal/wal_verify.c

WAL_TESTS = tests/unit/test_wal_format tests/unit/test_wal_recovery \
	tests/unit/test_wal_log tests/unit/test_wal_reader \
	tests/unit/test_wal_crash tests/unit/test_wal_cmd
check_PROGRAMS += $(WAL_TESTS)
TESTS += $(WAL_TESTS)
WAL_TEST_LDADD = $(FIXTURE_LIBS) wal/libwal.a $(TEST_LIBS)
tests_unit_test_wal_format_SOURCES = tests/unit/test_wal_format.c
tests_unit_test_wal_format_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wal_format_LDADD = $(WAL_TEST_LDADD)
tests_unit_test_wal_recovery_SOURCES = tests/unit/test_wal_recovery.c \
	tests/unit/wal_test_util.h
tests_unit_test_wal_recovery_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wal_recovery_LDADD = $(WAL_TEST_LDADD)
tests_unit_test_wal_log_SOURCES = tests/unit/test_wal_log.c \
	tests/unit/wal_test_util.h
tests_unit_test_wal_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wal_log_LDADD = $(WAL_TEST_LDADD)
tests_unit_test_wal_reader_SOURCES = tests/unit/test_wal_reader.c \
	tests/unit/wal_test_util.h
tests_unit_test_wal_reader_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wal_reader_LDADD = $(WAL_TEST_LDADD)
tests_unit_test_wal_crash_SOURCES = tests/unit/test_wal_crash.c \
	tests/unit/wal_test_util.h
tests_unit_test_wal_crash_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wal_crash_LDADD = $(WAL_TEST_LDADD)
# The operator command (agent/cli/cmd_wal.c).
tests_unit_test_wal_cmd_SOURCES = tests/unit/test_wal_cmd.c \
	tests/unit/wal_test_util.h
tests_unit_test_wal_cmd_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_wal_cmd_LDADD = $(FIXTURE_LIBS) $(AGENT_TEST_LIBS)
