# Appliers (the mirror's read-only state, agent/applier.h) and the read
# API (agent/read_api.h) of `mirror-agent follow`. The kv applier runs the
# reference store's own state machine and codec (examples/raftkv).
APPLIER_SOURCES = agent/applier.c agent/applier.h agent/applier_kv.c \
	examples/raftkv/kv_command.c examples/raftkv/kv_command.h \
	examples/raftkv/kv_store.c examples/raftkv/kv_store.h
mirror_agent_SOURCES += $(APPLIER_SOURCES) agent/read_api.c agent/read_api.h

check_PROGRAMS += tests/unit/test_applier
TESTS += tests/unit/test_applier
tests_unit_test_applier_SOURCES = tests/unit/test_applier.c $(APPLIER_SOURCES)
tests_unit_test_applier_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_applier_LDADD = $(TEST_LIBS)

# End to end: raftkv cluster -> serve -> follow (applier = kv) -> HTTP.
TESTS += tests/integration/test_mirror_read.sh
EXTRA_DIST += tests/integration/test_mirror_read.sh
