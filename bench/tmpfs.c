/*
 * tmpfs: write a new file on a tmpfs in 1 MiB writes, then read it back.
 * Usage: tmpfs DIR [MIB]   (default 64 MiB); DIR must be a tmpfs (natively
 * /dev/shm, in hull's guest /tmp). The file, DIR/hull-bench-tmpfs.PID, is
 * removed at the end.
 * Prints "bench: <MiB/s> MiB/s": bytes written plus bytes read over the
 * time of both loops (open and unlink excluded), and "ops: <writes + reads>".
 * Every chunk is stamped with its index and checked on the way back.
 */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK (1 << 20)

int main(int argc, char **argv)
{
	const char *dir = bench_arg_dir(argc, argv, 1);
	long chunks = bench_arg_count(argc, argv, 2, 64);
	unsigned char *src = bench_buffer(CHUNK);
	unsigned char *dst = bench_buffer(CHUNK);
	char name[64];
	snprintf(name, sizeof name, "hull-bench-tmpfs.%ld", (long)getpid());
	char path[4096];
	snprintf(path, sizeof path, "%s", bench_path(dir, name));

	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	long long ops = 0;
	long long t0 = bench_now_ns();
	for (long i = 0; i < chunks; i++) {
		memcpy(src, &i, sizeof i);
		ssize_t w = write(fd, src, CHUNK);
		ops++;
		if (w != CHUNK) {
			perror("write");
			unlink(path);
			return 1;
		}
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		perror("lseek");
		unlink(path);
		return 1;
	}
	for (long i = 0; i < chunks; i++) {
		ssize_t r = read(fd, dst, CHUNK);
		ops++;
		long got;
		memcpy(&got, dst, sizeof got);
		if (r != CHUNK || got != i || dst[CHUNK - 1] != src[CHUNK - 1]) {
			fprintf(stderr, "read back chunk %ld: %zd bytes, stamp %ld\n", i, r, got);
			unlink(path);
			return 1;
		}
	}
	long long t1 = bench_now_ns();
	close(fd);
	if (unlink(path) != 0) {
		perror("unlink");
		return 1;
	}

	bench_report_ops(ops);
	bench_report(bench_mib_per_s(2LL * chunks * CHUNK, t1 - t0), "MiB/s");
	return 0;
}
