# spool: the on-disk layout a source node's tap writes and serve reads (and
# a mirror keeps, so it can be served in turn): paths, identity file.
noinst_LIBRARIES += spool/libspool.a
spool_libspool_a_SOURCES = spool/spool.c spool/spool.h spool/spool_promoted.c \
	spool/spool_reserve.c spool/spool_fresh.c
