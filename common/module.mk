common_libcommon_a_SOURCES += \
	common/clock.c common/clock.h \
	common/crc32c.c common/crc32c.h \
	common/errors.c common/errors.h \
	common/io.c common/io.h \
	common/log.c common/log.h \
	common/msgpack_check.c common/msgpack_check.h \
	common/frame.c common/frame.h \
	common/parse.c common/parse.h \
	common/endian.h

check_PROGRAMS += tests/unit/test_crc32c tests/unit/test_io \
	tests/unit/test_msgpack_check tests/unit/test_clock
TESTS += tests/unit/test_crc32c tests/unit/test_io \
	tests/unit/test_msgpack_check tests/unit/test_clock
tests_unit_test_crc32c_SOURCES = tests/unit/test_crc32c.c
tests_unit_test_crc32c_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_crc32c_LDADD = $(TEST_LIBS)
tests_unit_test_io_SOURCES = tests/unit/test_io.c
tests_unit_test_io_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_io_LDADD = $(TEST_LIBS)
tests_unit_test_msgpack_check_SOURCES = tests/unit/test_msgpack_check.c
tests_unit_test_msgpack_check_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_msgpack_check_LDADD = $(TEST_LIBS)
tests_unit_test_clock_SOURCES = tests/unit/test_clock.c
tests_unit_test_clock_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_clock_LDADD = $(TEST_LIBS)
