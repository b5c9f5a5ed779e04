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

# The installed library (docs/TAP.md "Installed library"): the tap and the
# modules it uses in one shared and one static library, libmirror-tap, with
# a versioned soname. Built with libtool, which knows every platform's
# shared-library and soname rules; the sources are compiled again as PIC
# objects. Only tap_* and ma_strerror are exported from the shared library,
# so the modules' internals are not part of its ABI.
lib_LTLIBRARIES = tap/libmirror-tap.la
tap_libmirror_tap_la_SOURCES = $(tap_libtap_a_SOURCES) \
	$(snapshot_libsnapshot_a_SOURCES) $(spool_libspool_a_SOURCES) \
	$(wal_libwal_a_SOURCES) $(COMMON_CORE_SOURCES)
tap_libmirror_tap_la_CPPFLAGS = $(AM_CPPFLAGS) $(RAFT_CFLAGS)
tap_libmirror_tap_la_LDFLAGS = $(AM_LDFLAGS) -no-undefined \
	-version-info $(TAP_LT_VERSION) \
	-export-symbols-regex '^(tap_|ma_strerror$$)'
tap_libmirror_tap_la_LIBADD = $(ISAL_LIBS) $(RAFT_LIBS) -lpthread
# A node includes <mirror-tap/tap.h> (and <mirror-tap/errors.h> for the
# MA_ERR_* codes); no internal header and nothing of msgpack is installed.
mirrortapincdir = $(includedir)/mirror-tap
mirrortapinc_HEADERS = tap/tap.h common/errors.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = tap/mirror-tap.pc
EXTRA_DIST += tap/mirror-tap.pc.in

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
