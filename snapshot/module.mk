# snapshot: store, envelope codec and framing, sender, receiver.
snapshot_libsnapshot_a_SOURCES += \
	snapshot/snapshot.h \
	snapshot/snapshot_meta.c \
	snapshot/snapshot_store.c \
	snapshot/snapshot_envelope.c \
	snapshot/snapshot_sender.c \
	snapshot/snapshot_receiver.c

SNAPSHOT_TESTS = \
	tests/unit/test_snapshot_store \
	tests/unit/test_snapshot_envelope \
	tests/unit/test_snapshot_receiver
check_PROGRAMS += $(SNAPSHOT_TESTS)
TESTS += $(SNAPSHOT_TESTS)
tests_unit_test_snapshot_store_SOURCES = tests/unit/test_snapshot_store.c
tests_unit_test_snapshot_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_snapshot_store_LDADD = $(AGENT_TEST_LIBS)
tests_unit_test_snapshot_envelope_SOURCES = tests/unit/test_snapshot_envelope.c
tests_unit_test_snapshot_envelope_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_snapshot_envelope_LDADD = snapshot/libsnapshot.a $(TEST_LIBS)
tests_unit_test_snapshot_receiver_SOURCES = tests/unit/test_snapshot_receiver.c
tests_unit_test_snapshot_receiver_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_snapshot_receiver_LDADD = snapshot/libsnapshot.a $(TEST_LIBS)

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_envelope
FUZZ_TARGETS += tests/fuzz/fuzz_envelope
tests_fuzz_fuzz_envelope_SOURCES = tests/fuzz/fuzz_envelope.c
tests_fuzz_fuzz_envelope_LDADD = snapshot/libsnapshot.a common/libcommon.a \
	$(DEPS_LIBS)
tests_fuzz_fuzz_envelope_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif
EXTRA_DIST += tests/fuzz/corpus/envelope tests/fuzz/run-fuzz.sh
