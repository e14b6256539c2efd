/*
 * pipe: pipe throughput in one thread (hull has no fork yet): write 64 KiB
 * into a pipe, read it back out, repeat. Both ends are non-blocking, so a
 * pipe smaller than a chunk cannot deadlock the one thread: whatever a write
 * took is drained before the next. Each byte is copied in and out once,
 * from and to cache-hot buffers, on every side alike.
 * Usage: pipe [MIB] [CHUNK_KIB]   (defaults 1024 MiB, 64 KiB)
 * Prints "bench: <MiB/s> MiB/s" (bytes through the pipe over the loop) and
 * "ops: <writes>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	long long want = (long long)bench_arg_count(argc, argv, 1, 1024) << 20;
	size_t chunk = (size_t)bench_arg_count(argc, argv, 2, 64) * 1024;
	unsigned char *src = bench_buffer(chunk);
	unsigned char *dst = bench_buffer(chunk);
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
		perror("pipe2");
		return 1;
	}
	long long moved = 0, ops = 0;
	unsigned sink = 0;
	long long t0 = bench_now_ns();
	while (moved < want) {
		ssize_t w = write(p[1], src, chunk);
		ops++;
		if (w <= 0) {
			/* The pipe is empty here: a write must take something. */
			perror("write to an empty pipe");
			return 1;
		}
		for (ssize_t left = w; left > 0;) {
			ssize_t r = read(p[0], dst, chunk);
			if (r <= 0) {
				fprintf(stderr, "read: %s with %zd bytes in the pipe\n",
					r == 0 ? "EOF" : strerror(errno), left);
				return 1;
			}
			sink += dst[0] + dst[r - 1];
			left -= r;
		}
		moved += w;
	}
	long long t1 = bench_now_ns();

	if (sink == 1) /* keep the loads */
		fprintf(stderr, " ");
	bench_report_ops(ops);
	bench_report(bench_mib_per_s(moved, t1 - t0), "MiB/s");
	return 0;
}
