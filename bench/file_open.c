/*
 * file_open: open + fstat + close of one host file, N times.
 * Usage: file_open DIR [N]   (default N = 10000) on DIR/tree/d00/f00.
 * Prints "bench: <ns> ns/op" over N iterations after 100 warm-ups, and
 * "ops: <N + warm-ups>".
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 100

static long long once(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	if (fstat(fd, &st) != 0) {
		perror("fstat");
		exit(1);
	}
	if (close(fd) != 0) {
		perror("close");
		exit(1);
	}
	return (long long)st.st_size;
}

int main(int argc, char **argv)
{
	const char *dir = bench_arg_dir(argc, argv, 1);
	long n = bench_arg_count(argc, argv, 2, 10000);
	const char *path = bench_path(dir, "tree/d00/f00");
	long long sink = 0;

	for (long i = 0; i < WARMUP; i++)
		sink += once(path);
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		sink += once(path);
	long long t1 = bench_now_ns();

	if (sink < 0)
		return 1;
	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n, "ns/op");
	return 0;
}
