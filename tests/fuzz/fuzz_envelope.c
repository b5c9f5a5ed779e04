/* libFuzzer target for the snapshot envelope decoder: the one-shot decoder
 * on the whole input, and the piecewise framing decoder on the same input
 * cut into pieces whose sizes come from the input's first bytes. Any
 * decoded envelope must satisfy the decoder's promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/parse.h"
#include "snapshot/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct snapshot_envelope *env, size_t data_max)
{
	if (env->data_len > data_max || env->offset > env->id.size ||
	    env->data_len > env->id.size - env->offset ||
	    (env->data_len > 0 && env->data == NULL) ||
	    !parse_name_valid_str(env->id.cluster_id) ||
	    !parse_name_valid_str(env->id.database_id))
		abort();
	/* Touch every data byte so ASan checks the borrowed pointer. */
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < env->data_len; i++)
		sum ^= env->data[i];
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapshot_envelope env;
	struct snapshot_framer f;
	char errmsg[MA_ERRMSG_SIZE];
	const size_t data_max = 4096;
	size_t pos = 0, seed_len = size < 4 ? size : 4;
	unsigned seed = 0;
	int rc;

	rc = snapshot_envelope_decode(data, size, data_max, &env, errmsg);
	if (rc == 0)
		check(&env, data_max);
	else if (rc != MA_ERR_PROTO ||
	         memchr(errmsg, '\0', sizeof errmsg) == NULL)
		abort();

	/* Framing: the first bytes pick the piece sizes. */
	for (size_t i = 0; i < seed_len; i++)
		seed = seed * 251 + data[i];
	if (snapshot_framer_init(&f, data_max) != 0)
		abort();
	while (pos < size) {
		size_t piece, used;

		seed = seed * 1103515245u + 12345u;
		piece = 1 + (seed >> 16) % 97;
		if (piece > size - pos)
			piece = size - pos;
		while (piece > 0) {
			rc = snapshot_framer_feed(&f, data + pos, piece, &used,
			                          &env, errmsg);
			if (used > piece)
				abort();
			pos += used;
			piece -= used;
			if (rc < 0)
				goto out;
			if (rc == 1)
				check(&env, data_max);
			else if (piece != 0)
				abort();
		}
	}
	snapshot_framer_finish(&f, errmsg);
out:
	snapshot_framer_free(&f);
	return 0;
}
