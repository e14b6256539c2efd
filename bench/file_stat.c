/*
 * file_stat: a find-like walk of a host directory tree that stats every
 * entry: readdir, then fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW) for each,
 * descending into directories with openat.
 * Usage: file_stat DIR   walks DIR/tree (100 directories x 100 files).
 * Prints "bench: <ns> ns/file" over the whole walk (directory reads
 * included) divided by the entries stat'ed, and "ops: <entries>".
 * One cold pass per process: a second pass would measure caches of a
 * long-lived sandbox instead of what one `find` sees.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

static long long entries, sink;

static void walk(int dfd, const char *what)
{
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		perror(what);
		exit(1);
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			perror(name);
			exit(1);
		}
		entries++;
		sink += st.st_size;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub < 0) {
				perror(name);
				exit(1);
			}
			walk(sub, name);
		}
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	const char *dir = bench_arg_dir(argc, argv, 1);
	const char *path = bench_path(dir, "tree");

	long long t0 = bench_now_ns();
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	walk(fd, path);
	long long t1 = bench_now_ns();

	if (entries == 0 || sink < 0) {
		fprintf(stderr, "%s: no entries\n", path);
		return 1;
	}
	bench_report_ops(entries);
	bench_report((double)(t1 - t0) / (double)entries, "ns/file");
	return 0;
}
