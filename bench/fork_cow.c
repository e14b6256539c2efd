/*
 * fork_cow: fork + _exit + waitpid of a process with a 64 MiB heap, N times.
 * Usage: fork_cow [N] [MIB]   (defaults N = 300, MIB = 64)
 * Before the loop, MIB MiB are allocated (one anonymous mapping) and every
 * page of it is written, so the process owns that much dirty private memory.
 * In the loop the child calls _exit(0) at once and neither side writes to the
 * heap, so no page is ever copied: what is measured is fork sharing the
 * heap copy-on-write (duplicating its mappings, write-protecting them), the
 * child's exit tearing that down, and the parent's wait.
 * Prints "bench: <us> us/op" over N iterations after 5 warm-ups, and
 * "ops: <N + warm-ups>".
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define WARMUP 5

static void once(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0)
		_exit(0);
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
	long n = bench_arg_count(argc, argv, 1, 300);
	size_t len = (size_t)bench_arg_count(argc, argv, 2, 64) << 20;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *heap = mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (heap == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t off = 0; off < len; off += (size_t)page)
		heap[off] = (unsigned char)(off / (size_t)page * 131 + 7);

	for (long i = 0; i < WARMUP; i++)
		once();
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		once();
	long long t1 = bench_now_ns();

	/* The heap is intact (and its pages still the parent's). */
	for (size_t off = 0; off < len; off += (size_t)page)
		if (heap[off] != (unsigned char)(off / (size_t)page * 131 + 7)) {
			fprintf(stderr, "heap changed at %zu\n", off);
			return 1;
		}
	bench_report_ops(n + WARMUP);
	bench_report((double)(t1 - t0) / (double)n / 1e3, "us/op");
	return 0;
}
