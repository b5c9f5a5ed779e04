# snapshot: store, sender, receiver (no wire bytes: proto/ has those).
snapshot_libsnapshot_a_SOURCES += \
	snapshot/snapshot.h \
	snapshot/snapshot_meta.c \
	snapshot/snapshot_store.c \
	snapshot/snapshot_sender.c \
	snapshot/snapshot_receiver.c

SNAPSHOT_TESTS = \
	tests/unit/test_snapshot_store \
	tests/unit/test_snapshot_receiver
check_PROGRAMS += $(SNAPSHOT_TESTS)
TESTS += $(SNAPSHOT_TESTS)
tests_unit_test_snapshot_store_SOURCES = tests/unit/test_snapshot_store.c
tests_unit_test_snapshot_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_snapshot_store_LDADD = $(AGENT_TEST_LIBS)
tests_unit_test_snapshot_receiver_SOURCES = tests/unit/test_snapshot_receiver.c
tests_unit_test_snapshot_receiver_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
# The stream test feeds framed bytes through proto's front end.
tests_unit_test_snapshot_receiver_LDADD = proto/libproto.a \
	snapshot/libsnapshot.a $(TEST_LIBS)
# Per-chunk zstd and its wire fields (envelope, info, request).
check_PROGRAMS += tests/unit/test_snapshot_codec
TESTS += tests/unit/test_snapshot_codec
tests_unit_test_snapshot_codec_SOURCES = tests/unit/test_snapshot_codec.c
tests_unit_test_snapshot_codec_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_snapshot_codec_LDADD = $(AGENT_TEST_LIBS)
