# kv: the reference state machine (a namespaced key-value store) and its
# command codec, shared by the raftkv example cluster and the mirror's kv
# applier. No libraft, no I/O.
noinst_LIBRARIES += kv/libkv.a
kv_libkv_a_SOURCES = kv/kv_store.c kv/kv_store.h kv/kv_command.c \
	kv/kv_command.h
