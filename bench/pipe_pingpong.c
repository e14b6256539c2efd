/*
 * pipe_pingpong: context switches between two processes. The parent forks a
 * child; two pipes connect them; the parent writes one byte, the child reads
 * it and writes back the byte plus one, the parent reads and checks it. One
 * round trip = two 1-byte writes, two blocking reads, and (on one core, or
 * when the reader sleeps) two context switches. The child exits at EOF.
 * Usage: pipe_pingpong [N]   (default N = 20000 round trips)
 * Prints "bench: <ns> ns/roundtrip" over N round trips after 1000 warm-ups,
 * and "ops: <round trips>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 1000

static void must_read(int fd, unsigned char *b)
{
	ssize_t r = read(fd, b, 1);
	if (r != 1) {
		fprintf(stderr, "read: %s\n", r == 0 ? "EOF" : strerror(errno));
		exit(1);
	}
}

static void must_write(int fd, unsigned char b)
{
	if (write(fd, &b, 1) != 1) {
		perror("write");
		exit(1);
	}
}

static void echo(int in, int out)
{
	unsigned char b;
	ssize_t r;
	while ((r = read(in, &b, 1)) == 1)
		must_write(out, (unsigned char)(b + 1));
	if (r < 0) {
		perror("child: read");
		_exit(1);
	}
	_exit(0);
}

static void trips(int to, int from, long n)
{
	for (long i = 0; i < n; i++) {
		unsigned char b;
		must_write(to, (unsigned char)i);
		must_read(from, &b);
		if (b != (unsigned char)(i + 1)) {
			fprintf(stderr, "got %u for %u\n", b, (unsigned char)i);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	long n = bench_arg_count(argc, argv, 1, 20000);
	int down[2], up[2];
	if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0) {
		perror("pipe2");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		echo(down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);

	trips(down[1], up[0], WARMUP);
	long long t0 = bench_now_ns();
	trips(down[1], up[0], n);
	long long t1 = bench_now_ns();

	close(down[1]);
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child: wait status %#x\n", status);
		return 1;
	}
	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n, "ns/roundtrip");
	return 0;
}
