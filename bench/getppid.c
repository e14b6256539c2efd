/*
 * getppid loop: the cost of a trivial system call.
 * Usage: getppid [N]   (default N = 1000000)
 * Prints "bench: <ns> ns/call", measured over N calls after a 10k warm-up.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	long n = bench_arg_count(argc, argv, 1, 1000000);
	long sink = 0;

	for (long i = 0; i < 10000; i++)
		sink += syscall(SYS_getppid);

	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		sink += syscall(SYS_getppid);
	long long t1 = bench_now_ns();

	if (sink < 0) {
		fprintf(stderr, "getppid failed\n");
		return 1;
	}
	bench_report((double)(t1 - t0) / (double)n, "ns/call");
	return 0;
}
