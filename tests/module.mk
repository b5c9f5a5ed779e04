# Cross-module tests (integration, system, fuzz) register here.
EXTRA_DIST += tests/integration/lib.sh tests/certs/gen-certs.sh

# libFuzzer targets for the decoders of bytes from disk (tests/fuzz/; the
# wire decoders' targets are registered with their modules). Seeds in
# tests/fuzz/corpus/<name without fuzz_>/, made by the project's encoders.
if FUZZING
DISK_FUZZ = tests/fuzz/fuzz_wal tests/fuzz/fuzz_snapshot_meta \
	tests/fuzz/fuzz_identity tests/fuzz/fuzz_config tests/fuzz/fuzz_promoted \
	tests/fuzz/fuzz_reservation tests/fuzz/fuzz_freshness \
	tests/fuzz/fuzz_kvtext
noinst_PROGRAMS += $(DISK_FUZZ)
FUZZ_TARGETS += $(DISK_FUZZ)
tests_fuzz_fuzz_wal_SOURCES = tests/fuzz/fuzz_wal.c
tests_fuzz_fuzz_wal_LDADD = wal/libwal.a common/libcommon.a $(DEPS_LIBS)
tests_fuzz_fuzz_wal_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_snapshot_meta_SOURCES = tests/fuzz/fuzz_snapshot_meta.c
tests_fuzz_fuzz_snapshot_meta_LDADD = snapshot/libsnapshot.a \
	common/libcommon.a $(DEPS_LIBS)
tests_fuzz_fuzz_snapshot_meta_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_identity_SOURCES = tests/fuzz/fuzz_identity.c
tests_fuzz_fuzz_identity_LDADD = spool/libspool.a common/libcommon.a \
	$(DEPS_LIBS)
tests_fuzz_fuzz_identity_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_promoted_SOURCES = tests/fuzz/fuzz_promoted.c
tests_fuzz_fuzz_promoted_LDADD = spool/libspool.a common/libcommon.a \
	$(DEPS_LIBS)
tests_fuzz_fuzz_promoted_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_reservation_SOURCES = tests/fuzz/fuzz_reservation.c
tests_fuzz_fuzz_reservation_LDADD = spool/libspool.a wal/libwal.a \
	common/libcommon.a $(DEPS_LIBS)
tests_fuzz_fuzz_reservation_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_freshness_SOURCES = tests/fuzz/fuzz_freshness.c
tests_fuzz_fuzz_freshness_LDADD = spool/libspool.a common/libcommon.a \
	$(DEPS_LIBS)
tests_fuzz_fuzz_freshness_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_kvtext_SOURCES = tests/fuzz/fuzz_kvtext.c
tests_fuzz_fuzz_kvtext_LDADD = common/libcommon.a $(DEPS_LIBS)
tests_fuzz_fuzz_kvtext_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c
tests_fuzz_fuzz_config_LDADD = $(MODULE_LIBS) $(DEPS_LIBS) -lpthread
tests_fuzz_fuzz_config_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
endif
EXTRA_DIST += tests/fuzz/corpus/wal tests/fuzz/corpus/snapshot_meta \
	tests/fuzz/corpus/identity tests/fuzz/corpus/config \
	tests/fuzz/corpus/promoted tests/fuzz/corpus/reservation \
	tests/fuzz/corpus/freshness tests/fuzz/corpus/kvtext \
	tests/fuzz/fuzz_record.h
# The fuzzers' findings as unit tests, for every build.
check_PROGRAMS += tests/unit/test_disk_decoders
TESTS += tests/unit/test_disk_decoders
tests_unit_test_disk_decoders_SOURCES = tests/unit/test_disk_decoders.c
tests_unit_test_disk_decoders_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_disk_decoders_LDADD = snapshot/libsnapshot.a \
	spool/libspool.a wal/libwal.a proto/libproto.a $(TEST_LIBS)
# Every key=value record on common/kvtext, against the same edits.
check_PROGRAMS += tests/unit/test_records
TESTS += tests/unit/test_records
tests_unit_test_records_SOURCES = tests/unit/test_records.c
tests_unit_test_records_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_records_LDADD = $(AGENT_TEST_LIBS)

# End-to-end tests of `serve` + `follow` over loopback QUIC (shell, TAP).
FOLLOW_TESTS = tests/integration/test_follow_bootstrap.sh \
	tests/integration/test_follow_faults.sh \
	tests/integration/test_follow_tls.sh \
	tests/integration/test_follow_badsource.sh \
	tests/integration/test_follow_retry.sh \
	tests/integration/test_follow_incarnation.sh \
	tests/integration/test_follow_wal_hole.sh \
	tests/integration/test_follow_isolation.sh \
	tests/integration/test_follow_resume_large.sh \
	tests/integration/test_follow_error_source.sh \
	tests/integration/test_follow_fatal_stop.sh \
	tests/integration/test_follow_compression.sh
TESTS += $(FOLLOW_TESTS)
EXTRA_DIST += $(FOLLOW_TESTS)

# The shell helpers' own negative checks (assert_absent, assert_no_files).
TESTS += tests/integration/test_lib.sh
EXTRA_DIST += tests/integration/test_lib.sh

# mirror-agent promote end to end (serve + follow + promote).
TESTS += tests/integration/test_promote.sh
EXTRA_DIST += tests/integration/test_promote.sh
TESTS += tests/integration/test_seed_crash.sh
EXTRA_DIST += tests/integration/test_seed_crash.sh
TESTS += tests/integration/test_read_api_waiters.sh
EXTRA_DIST += tests/integration/test_read_api_waiters.sh

# The command line: --help everywhere, one range per flag and key, and
# serve/follow run from files made from etc/*.example.
TESTS += tests/integration/test_cli.sh
EXTRA_DIST += tests/integration/test_cli.sh

# make install into a DESTDIR; a program built out of tree against the
# installed tap library (pkg-config) writes a spool the installed program
# serves to a follow.
TESTS += tests/integration/test_install.sh
EXTRA_DIST += tests/integration/test_install.sh \
	tests/integration/tap_install_app.c

# systemd notification (Type=notify): READY=1, STATUS=, WATCHDOG=1,
# STOPPING=1 from serve and follow to a socket the test listens on.
check_PROGRAMS += tests/tools/notify_recv
tests_tools_notify_recv_SOURCES = tests/tools/notify_recv.c
TESTS += tests/integration/test_notify.sh
EXTRA_DIST += tests/integration/test_notify.sh

# /metrics through promtool, the sample alert rules and dashboard.
TESTS += tests/integration/test_metrics.sh
EXTRA_DIST += tests/integration/test_metrics.sh

# The operator tools: wal verify|dump, snapshot verify, check-config
# (--json and their messages), --version.
TESTS += tests/integration/test_tools.sh
EXTRA_DIST += tests/integration/test_tools.sh
