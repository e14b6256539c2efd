/*
 * Shared helpers for hull's benchmark programs (built by `cargo xtask bench`
 * with `gcc -static -O2`).
 *
 * Protocol: a self-timed benchmark prints exactly one line
 *     bench: <value> <unit>
 * on stdout (e.g. "bench: 87.3 ns/call"); xtask parses the last such line.
 * Programs must be deterministic, static, and exit 0 on success.
 */
#ifndef HULL_BENCH_H
#define HULL_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline long long bench_now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("clock_gettime");
		exit(2);
	}
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Parses argv[i] as a positive count, or returns `dflt` if absent. */
static inline long bench_arg_count(int argc, char **argv, int i, long dflt)
{
	if (argc <= i)
		return dflt;
	char *end;
	long n = strtol(argv[i], &end, 10);
	if (*end != '\0' || n <= 0) {
		fprintf(stderr, "bad count: %s\n", argv[i]);
		exit(2);
	}
	return n;
}

static inline void bench_report(double value, const char *unit)
{
	printf("bench: %.3f %s\n", value, unit);
	fflush(stdout);
}

#endif
