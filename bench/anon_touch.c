/*
 * anon_touch: the first write to every page of a fresh anonymous mapping.
 * Usage: anon_touch [MIB]   (default 256)
 * Maps MIB MiB of private anonymous memory and writes one byte per 4 KiB page
 * (each page's first touch: a page fault natively, and under hull a fault
 * through the shadow MMU too), then unmaps it. What a program pays for fresh
 * heap memory. Prints "bench: <MiB/s> MiB/s" and "ops: <pages>".
 */
#include <sys/mman.h>

#include "bench.h"

int main(int argc, char **argv)
{
	size_t len = (size_t)bench_arg_count(argc, argv, 1, 256) << 20;
	long long t0 = bench_now_ns();
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < len; i += 4096)
		p[i] = 1;
	long long t1 = bench_now_ns();
	bench_report_ops((long long)(len / 4096));
	bench_report(bench_mib_per_s((long long)len, t1 - t0), "MiB/s");
	munmap((void *)p, len);
	return 0;
}
