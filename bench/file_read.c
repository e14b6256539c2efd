/*
 * file_read: sequential read of a large host file, 1 MiB per read().
 * Usage: file_read DIR [CHUNK_KIB]   (default 1024 KiB) reads DIR/big to EOF.
 * Prints "bench: <MiB/s> MiB/s" over the read loop (open excluded) and
 * "ops: <read calls>".
 */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	const char *dir = bench_arg_dir(argc, argv, 1);
	size_t chunk = (size_t)bench_arg_count(argc, argv, 2, 1024) * 1024;
	unsigned char *buf = bench_buffer(chunk);
	const char *path = bench_path(dir, "big");

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	long long total = 0, ops = 0;
	unsigned sink = 0;
	long long t0 = bench_now_ns();
	for (;;) {
		ssize_t n = read(fd, buf, chunk);
		ops++;
		if (n < 0) {
			perror("read");
			return 1;
		}
		if (n == 0)
			break;
		sink += buf[0] + buf[n - 1];
		total += n;
	}
	long long t1 = bench_now_ns();
	close(fd);

	if (total == 0) {
		fprintf(stderr, "%s is empty\n", path);
		return 1;
	}
	if (sink == 1) /* keep the loads */
		fprintf(stderr, " ");
	bench_report_ops(ops);
	bench_report(bench_mib_per_s(total, t1 - t0), "MiB/s");
	return 0;
}
