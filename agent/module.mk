mirror_agent_SOURCES += \
	agent/main.c agent/commands.h
mirror_agent_SOURCES += agent/mirror_state.c agent/mirror_state.h

check_PROGRAMS += tests/unit/test_mirror_state
TESTS += tests/unit/test_mirror_state
tests_unit_test_mirror_state_SOURCES = tests/unit/test_mirror_state.c \
	agent/mirror_state.c
tests_unit_test_mirror_state_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_mirror_state_LDADD = $(TEST_LIBS)

mirror_agent_SOURCES += agent/protocol.c agent/protocol.h
check_PROGRAMS += tests/unit/test_protocol
TESTS += tests/unit/test_protocol
tests_unit_test_protocol_SOURCES = tests/unit/test_protocol.c agent/protocol.c
tests_unit_test_protocol_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_protocol_LDADD = $(TEST_LIBS)

if FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_protocol
FUZZ_TARGETS += tests/fuzz/fuzz_protocol
tests_fuzz_fuzz_protocol_SOURCES = tests/fuzz/fuzz_protocol.c agent/protocol.c
tests_fuzz_fuzz_protocol_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_protocol_LDADD = common/libcommon.a $(DEPS_LIBS)
endif
mirror_agent_SOURCES += agent/spool.c agent/spool.h
mirror_agent_SOURCES += agent/follow.c agent/follow.h agent/cmd_follow.c \
	agent/cmd_status.c
