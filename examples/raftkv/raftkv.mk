# raftkv: the reference source cluster, a libraft key-value store whose
# nodes write their spools through the tap (docs/TAP.md).
noinst_PROGRAMS += examples/raftkv/raftkv-node examples/raftkv/raftkv-cli
# The state machine and its codec live in kv/ (shared with the mirror).
RAFTKV_TEXT = examples/raftkv/kv_text.c examples/raftkv/kv_text.h
examples_raftkv_raftkv_node_SOURCES = examples/raftkv/raftkv_node.c \
	$(RAFTKV_TEXT)
examples_raftkv_raftkv_node_CPPFLAGS = $(AM_CPPFLAGS) $(RAFT_CFLAGS)
examples_raftkv_raftkv_node_LDADD = kv/libkv.a $(TAP_LIBS) $(DEPS_LIBS) \
	$(RAFT_LIBS) -lpthread
# raftkv-seed: a new cluster's (or a joining node's) data directories
# from a mirror (docs/OPERATIONS.md "Seed a new cluster").
noinst_PROGRAMS += examples/raftkv/raftkv-seed
examples_raftkv_raftkv_seed_SOURCES = examples/raftkv/raftkv_seed.c
examples_raftkv_raftkv_seed_CPPFLAGS = $(AM_CPPFLAGS) $(RAFT_CFLAGS)
examples_raftkv_raftkv_seed_LDADD = tap/libtap.a $(MODULE_LIBS) $(DEPS_LIBS) \
	$(RAFT_LIBS) -lpthread
examples_raftkv_raftkv_cli_SOURCES = examples/raftkv/raftkv_cli.c \
	$(RAFTKV_TEXT)
examples_raftkv_raftkv_cli_LDADD = common/libcommon.a

check_PROGRAMS += tests/unit/test_tap_kv
TESTS += tests/unit/test_tap_kv
tests_unit_test_tap_kv_SOURCES = tests/unit/test_tap_kv.c $(RAFTKV_TEXT)
tests_unit_test_tap_kv_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tap_kv_LDADD = kv/libkv.a $(TEST_LIBS)

TESTS += tests/integration/test_raftkv.sh
EXTRA_DIST += tests/integration/test_raftkv.sh
