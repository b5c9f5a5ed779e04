mirror_agent_SOURCES += \
	agent/main.c agent/commands.h
mirror_agent_SOURCES += agent/mirror_state.c agent/mirror_state.h

check_PROGRAMS += tests/unit/test_mirror_state
TESTS += tests/unit/test_mirror_state
tests_unit_test_mirror_state_SOURCES = tests/unit/test_mirror_state.c \
	agent/mirror_state.c
tests_unit_test_mirror_state_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_mirror_state_LDADD = $(TEST_LIBS)
