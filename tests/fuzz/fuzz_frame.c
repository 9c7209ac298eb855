/*
 * fuzz_frame.c: libFuzzer target for the frame checker.
 *
 * Every input goes through tokq_frame_check, as a frame body from the
 * socket does in the daemon.  Only what it passes is handed to
 * msgpack_unpack, and that must then succeed, consume every byte and give
 * a map: the checker may refuse valid msgpack (depth, counts) but must never
 * pass something the decoder chokes on.  The sanitizers catch the rest.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *       tests/fuzz/fuzz_frame.c common/proto.c \
 *       $(pkg-config --cflags --libs msgpack) -o build/fuzz_frame
 *   build/fuzz_frame -max_total_time=60 tests/fuzz/corpus
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <msgpack.h>

#include "tokq.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_zone		 zone;
	msgpack_object		 obj;
	msgpack_unpack_return	 ret;
	size_t			 off = 0;

	if (tokq_frame_check((const char *)data, size) != 0)
		return 0;
	if (!msgpack_zone_init(&zone, 2048))
		abort();
	ret = msgpack_unpack((const char *)data, size, &off, &zone, &obj);
	if (ret != MSGPACK_UNPACK_SUCCESS || off != size ||
	    obj.type != MSGPACK_OBJECT_MAP) {
		fprintf(stderr, "frame passed the check but msgpack_unpack "
		    "returned %d, off %zu of %zu, type %d\n", (int)ret, off,
		    size, (int)obj.type);
		abort();
	}
	msgpack_zone_destroy(&zone);
	return 0;
}
