/*
 * mmap_read: a large host file mapped (MAP_PRIVATE, read-only) and read through the
 * mapping, 8 bytes per 64.
 * Usage: mmap_read DIR   maps DIR/big.
 * Prints "bench: <MiB/s> MiB/s" over the first touch of every page (mmap included) and
 * "ops: <pages>".
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	const char *dir = bench_arg_dir(argc, argv, 1);
	const char *path = bench_path(dir, "big");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
		perror(path);
		return 1;
	}
	size_t len = (size_t)st.st_size;
	long long t0 = bench_now_ns();
	const unsigned long long *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	unsigned long long sink = 0;
	for (size_t i = 0; i < len / 8; i += 8)
		sink += p[i];
	long long t1 = bench_now_ns();
	if (sink == 1)
		fprintf(stderr, " ");
	bench_report_ops((long long)(len / 4096));
	bench_report(bench_mib_per_s((long long)len, t1 - t0), "MiB/s");
	munmap((void *)p, len);
	close(fd);
	return 0;
}
