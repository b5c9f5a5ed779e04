# proto: the whole wire format of the mirror protocol (proto/proto.h,
# docs/PROTOCOL.md, docs/SNAPSHOT-FORMAT.md). The only module that includes
# msgpack.h.
noinst_LIBRARIES += proto/libproto.a
proto_libproto_a_SOURCES = proto/proto.h proto/proto_internal.h \
	proto/proto_buf.c proto/proto_frame.c proto/proto_check.c \
	proto/proto_fields.c proto/proto_envelope.c proto/proto_info.c \
	proto/proto_log.c proto/proto_fault.c
# The chunk codec (zstd per snapshot chunk, snapshot/snapshot_codec.h) is
# wire format, so it is built here and not into libsnapshot, whose sources
# also make the tap's shared library (which needs no zstd).
proto_libproto_a_SOURCES += snapshot/snapshot_codec.h \
	snapshot/snapshot_codec.c

# proto links snapshot/ only for snapshot_ident_check and the receiver that
# snapshot_receiver_feed_bytes feeds.
PROTO_TEST_LIBS = proto/libproto.a snapshot/libsnapshot.a $(TEST_LIBS)
PROTO_TESTS = tests/unit/proto/test_proto_check \
	tests/unit/proto/test_proto_frame \
	tests/unit/proto/test_proto_envelope \
	tests/unit/proto/test_proto_log
check_PROGRAMS += $(PROTO_TESTS)
TESTS += $(PROTO_TESTS)
tests_unit_proto_test_proto_check_SOURCES = tests/unit/proto/test_proto_check.c
tests_unit_proto_test_proto_check_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_proto_test_proto_check_LDADD = $(PROTO_TEST_LIBS)
tests_unit_proto_test_proto_frame_SOURCES = tests/unit/proto/test_proto_frame.c
tests_unit_proto_test_proto_frame_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_proto_test_proto_frame_LDADD = $(PROTO_TEST_LIBS)
tests_unit_proto_test_proto_envelope_SOURCES = \
	tests/unit/proto/test_proto_envelope.c
tests_unit_proto_test_proto_envelope_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_proto_test_proto_envelope_LDADD = $(PROTO_TEST_LIBS)
tests_unit_proto_test_proto_log_SOURCES = tests/unit/proto/test_proto_log.c
tests_unit_proto_test_proto_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_proto_test_proto_log_LDADD = $(PROTO_TEST_LIBS)

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_protocol tests/fuzz/fuzz_envelope
FUZZ_TARGETS += tests/fuzz/fuzz_protocol tests/fuzz/fuzz_envelope
tests_fuzz_fuzz_protocol_SOURCES = tests/fuzz/fuzz_protocol.c
tests_fuzz_fuzz_protocol_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_protocol_LDADD = proto/libproto.a snapshot/libsnapshot.a \
	common/libcommon.a $(DEPS_LIBS)
tests_fuzz_fuzz_envelope_SOURCES = tests/fuzz/fuzz_envelope.c
tests_fuzz_fuzz_envelope_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_envelope_LDADD = proto/libproto.a snapshot/libsnapshot.a \
	common/libcommon.a $(DEPS_LIBS)
endif
EXTRA_DIST += tests/fuzz/corpus/envelope tests/fuzz/run-fuzz.sh
