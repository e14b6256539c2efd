/*
 * futex_pingpong: two threads hand a turn back and forth through one futex
 * word, with raw futex(2) calls (FUTEX_WAIT_PRIVATE / FUTEX_WAKE_PRIVATE),
 * no spinning: the side whose turn it is not sleeps in FUTEX_WAIT until the
 * word changes; the side that hands the turn over stores the new value and
 * always calls FUTEX_WAKE. One round trip is main -> partner -> main.
 * Usage: futex_pingpong [N]   (default N = 20000 round trips)
 * Prints "bench: <ns> ns/roundtrip" over N round trips after 1000 warm-ups,
 * and "ops: <round trips>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 1000

/* Whose turn: MAIN or PARTNER; STOP ends the partner. */
enum { MAIN, PARTNER, STOP };
static _Atomic int turn = MAIN;
static long partner_trips;

static void futex(int op, int val)
{
	long rc = syscall(SYS_futex, &turn, op, val, NULL, NULL, 0);
	if (rc < 0 && !(op == FUTEX_WAIT_PRIVATE && (errno == EAGAIN || errno == EINTR))) {
		perror("futex");
		exit(1);
	}
}

/* Sleeps while the word is `busy`; returns the new value. */
static int wait_while(int busy)
{
	int v;
	while ((v = atomic_load(&turn)) == busy)
		futex(FUTEX_WAIT_PRIVATE, busy);
	return v;
}

static void hand_over(int to)
{
	atomic_store(&turn, to);
	futex(FUTEX_WAKE_PRIVATE, 1);
}

static void *partner(void *arg)
{
	(void)arg;
	while (wait_while(MAIN) == PARTNER) {
		partner_trips++;
		hand_over(MAIN);
	}
	return NULL;
}

static void trips(long n)
{
	for (long i = 0; i < n; i++) {
		hand_over(PARTNER);
		wait_while(PARTNER);
	}
}

int main(int argc, char **argv)
{
	long n = bench_arg_count(argc, argv, 1, 20000);
	pthread_t t;
	int rc = pthread_create(&t, NULL, partner, NULL);
	if (rc != 0) {
		fprintf(stderr, "pthread_create: %s\n", strerror(rc));
		return 1;
	}

	trips(WARMUP);
	long long t0 = bench_now_ns();
	trips(n);
	long long t1 = bench_now_ns();

	hand_over(STOP);
	rc = pthread_join(t, NULL);
	if (rc != 0) {
		fprintf(stderr, "pthread_join: %s\n", strerror(rc));
		return 1;
	}
	if (partner_trips != n + WARMUP) {
		fprintf(stderr, "partner saw %ld turns, expected %ld\n", partner_trips,
			n + WARMUP);
		return 1;
	}
	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n, "ns/roundtrip");
	return 0;
}
