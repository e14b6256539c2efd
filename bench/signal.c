/*
 * signal: a process signals itself, N times: kill(getpid(), SIGUSR1) with a
 * handler installed (sigaction, empty mask, no SA_RESTART); the signal is
 * unblocked, so it is delivered on the way back from kill: the kernel builds
 * the signal frame, the handler runs (it counts), rt_sigreturn restores the
 * interrupted context. One round trip = kill -> handler -> sigreturn ->
 * back after the kill. No second process or thread is involved (process to
 * process hand-offs are what pipe_pingpong measures).
 * Usage: signal [N]   (default N = 100000)
 * Prints "bench: <ns> ns/signal" over N signals after 1000 warm-ups, and
 * "ops: <signals>".
 */
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 1000

static volatile sig_atomic_t handled;

static void handler(int sig)
{
	if (sig == SIGUSR1)
		handled++;
}

static void signals(pid_t self, long n)
{
	for (long i = 0; i < n; i++)
		if (kill(self, SIGUSR1) != 0) {
			perror("kill");
			exit(1);
		}
}

int main(int argc, char **argv)
{
	long n = bench_arg_count(argc, argv, 1, 100000);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("sigaction");
		return 1;
	}
	pid_t self = getpid();

	signals(self, WARMUP);
	long long t0 = bench_now_ns();
	signals(self, n);
	long long t1 = bench_now_ns();

	if (handled != n + WARMUP) {
		fprintf(stderr, "handler ran %ld times, expected %ld\n", (long)handled,
			n + WARMUP);
		return 1;
	}
	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n, "ns/signal");
	return 0;
}
