/*
 * sleeper: a program that touches almost nothing and sleeps, for measuring
 * the resident memory a sandbox needs to host an idle program.
 * Usage: sleeper [MS]   (default 2000 ms)
 */
#include <errno.h>
#include <time.h>

#include "bench.h"

int main(int argc, char **argv)
{
	long ms = bench_arg_count(argc, argv, 1, 2000);
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0) {
		if (errno != EINTR) {
			perror("nanosleep");
			return 1;
		}
	}
	return 0;
}
