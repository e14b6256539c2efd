/*
 * thread: pthread_create + pthread_join of a thread that returns at once,
 * N times (one thread at a time; default attributes, so glibc reuses the
 * stack of the joined thread as it does in any program).
 * Usage: thread [N]   (default N = 10000)
 * Prints "bench: <us> us/op" over N iterations after 100 warm-ups, and
 * "ops: <N + warm-ups>".
 */
#include <pthread.h>
#include <stdint.h>

#include "bench.h"

#define WARMUP 100

static void *body(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

static void once(uintptr_t i)
{
	pthread_t t;
	void *ret;
	int rc = pthread_create(&t, NULL, body, (void *)i);
	if (rc != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(rc));
		exit(1);
	}
	rc = pthread_join(t, &ret);
	if (rc != 0) {
		fprintf(stderr, "pthread_join: %s\n", strerror(rc));
		exit(1);
	}
	if ((uintptr_t)ret != i + 1) {
		fprintf(stderr, "thread %lu returned %p\n", (unsigned long)i, ret);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long n = bench_arg_count(argc, argv, 1, 10000);

	for (long i = 0; i < WARMUP; i++)
		once((uintptr_t)i);
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		once((uintptr_t)i);
	long long t1 = bench_now_ns();

	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n / 1e3, "us/op");
	return 0;
}
