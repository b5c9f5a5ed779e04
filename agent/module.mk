mirror_agent_SOURCES += \
	agent/main.c agent/commands.h
