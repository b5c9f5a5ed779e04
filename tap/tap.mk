# tap: the library a source Raft node links to write its committed entries
# and snapshots into a spool (tap/tap.h, docs/TAP.md). A source links
# tap/libtap.a and the module libraries below, nothing of the agent.
noinst_LIBRARIES += tap/libtap.a
tap_libtap_a_SOURCES = tap/tap.h tap/tap.c tap/tap_raft.c
tap_libtap_a_CPPFLAGS = $(AM_CPPFLAGS) $(RAFT_CFLAGS)
# What a program using the tap links (plus $(RAFT_LIBS) for tap_raft):
# no proto/ (no msgpack), nothing of agent/.
TAP_LIBS = tap/libtap.a snapshot/libsnapshot.a spool/libspool.a \
	wal/libwal.a common/libcommon.a

TAP_TESTS = tests/unit/test_tap tests/unit/test_tap_raft
check_PROGRAMS += $(TAP_TESTS)
TESTS += $(TAP_TESTS)
tests_unit_test_tap_SOURCES = tests/unit/test_tap.c
tests_unit_test_tap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tap_LDADD = $(TAP_LIBS) $(TEST_LIBS)
# The libraft wrapper against a hand-built struct raft (no I/O backend).
tests_unit_test_tap_raft_SOURCES = tests/unit/test_tap_raft.c
tests_unit_test_tap_raft_CPPFLAGS = $(AM_CPPFLAGS) $(RAFT_CFLAGS)
tests_unit_test_tap_raft_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tap_raft_LDADD = $(TAP_LIBS) $(TEST_LIBS) $(RAFT_LIBS)
