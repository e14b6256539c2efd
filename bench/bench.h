/*
 * Shared helpers for hull's benchmark programs (built by `cargo xtask bench`
 * with `gcc -static -O2`).
 *
 * Protocol: a self-timed benchmark prints exactly one line
 *     bench: <value> <unit>
 * on stdout (e.g. "bench: 87.3 ns/call"); xtask parses the last such line.
 * A program whose per-operation VM exits are reported also prints
 *     ops: <count>
 * the operations of the whole run (warm-ups included), which xtask divides
 * the exit counts of `hull run --stats` by.
 * Programs must be deterministic, static, and exit 0 on success.
 */
#ifndef HULL_BENCH_H
#define HULL_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static inline void bench_report_ops(long long ops)
{
	printf("ops: %lld\n", ops);
	fflush(stdout);
}

/* The data directory argument argv[i] (required). */
static inline const char *bench_arg_dir(int argc, char **argv, int i)
{
	if (argc <= i || argv[i][0] == '\0') {
		fprintf(stderr, "usage: %s DIR ...\n", argv[0]);
		exit(2);
	}
	return argv[i];
}

/* "DIR/NAME" in a static buffer (one path at a time is enough here). */
static inline const char *bench_path(const char *dir, const char *name)
{
	static char buf[4096];
	if ((size_t)snprintf(buf, sizeof buf, "%s/%s", dir, name) >= sizeof buf) {
		fprintf(stderr, "path too long: %s/%s\n", dir, name);
		exit(2);
	}
	return buf;
}

/* A page-aligned buffer, every page touched, so that first-touch faults are
 * not part of a measurement. */
static inline unsigned char *bench_buffer(size_t len)
{
	unsigned char *p = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
	if (p == NULL) {
		perror("aligned_alloc");
		exit(2);
	}
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 131 + 7);
	return p;
}

/* Bytes over nanoseconds, in MiB/s. */
static inline double bench_mib_per_s(long long bytes, long long ns)
{
	return (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9);
}

#endif
