/*
 * fork_exec: fork + execve of a tiny static binary + waitpid, N times.
 * Usage: fork_exec DIR [N]   (default N = 1000); the child execs DIR/true
 * (bench/true.c: a static glibc program whose main returns 0) with an empty
 * environment, the parent waits for it and checks its exit status.
 * Prints "bench: <us> us/op" over N iterations after 10 warm-ups, and
 * "ops: <N + warm-ups>".
 */
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 10

static void once(const char *path)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		char *argv[] = { "true", NULL };
		char *envp[] = { NULL };
		execve(path, argv, envp);
		/* The parent reports it: 127 as a shell would. */
		perror(path);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		exit(1);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child: wait status %#x\n", status);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *dir = bench_arg_dir(argc, argv, 1);
	long n = bench_arg_count(argc, argv, 2, 1000);
	const char *path = bench_path(dir, "true");

	for (long i = 0; i < WARMUP; i++)
		once(path);
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		once(path);
	long long t1 = bench_now_ns();

	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n / 1e3, "us/op");
	return 0;
}
