common_libcommon_a_SOURCES += \
	common/crc32c.c common/crc32c.h \
	common/errors.c common/errors.h \
	common/io.c common/io.h \
	common/log.c common/log.h \
	common/parse.c common/parse.h \
	common/endian.h

check_PROGRAMS += tests/unit/test_crc32c tests/unit/test_io
TESTS += tests/unit/test_crc32c tests/unit/test_io
tests_unit_test_crc32c_SOURCES = tests/unit/test_crc32c.c
tests_unit_test_crc32c_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_crc32c_LDADD = $(TEST_LIBS)
tests_unit_test_io_SOURCES = tests/unit/test_io.c
tests_unit_test_io_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_io_LDADD = $(TEST_LIBS)
