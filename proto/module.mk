# proto: the wire format of the mirror protocol (docs/PROTOCOL.md).
noinst_LIBRARIES += proto/libproto.a
proto_libproto_a_SOURCES = proto/protocol.c proto/protocol.h

check_PROGRAMS += tests/unit/test_protocol
TESTS += tests/unit/test_protocol
tests_unit_test_protocol_SOURCES = tests/unit/test_protocol.c
tests_unit_test_protocol_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_protocol_LDADD = proto/libproto.a $(TEST_LIBS)

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_protocol
FUZZ_TARGETS += tests/fuzz/fuzz_protocol
tests_fuzz_fuzz_protocol_SOURCES = tests/fuzz/fuzz_protocol.c
tests_fuzz_fuzz_protocol_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_protocol_LDADD = proto/libproto.a common/libcommon.a \
	$(DEPS_LIBS)
endif
