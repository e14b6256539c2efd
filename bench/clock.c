/*
 * clock: clock_gettime(CLOCK_MONOTONIC) through libc (the vDSO, natively and under hull).
 * Usage: clock [N]   (default N = 1000000)
 * Prints "bench: <ns> ns/call", measured over N calls after a 10k warm-up.
 */
#include "bench.h"

int main(int argc, char **argv)
{
	long n = bench_arg_count(argc, argv, 1, 1000000);
	long long sink = 0;

	for (long i = 0; i < 10000; i++)
		sink += bench_now_ns();
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		sink += bench_now_ns();
	long long t1 = bench_now_ns();
	if (sink == 42)
		fprintf(stderr, " ");
	bench_report((double)(t1 - t0) / (double)n, "ns/call");
	return 0;
}
