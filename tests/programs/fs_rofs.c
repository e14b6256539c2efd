/* A read-only mount: every write-side call fails with Linux's errno (EROFS, or the error
 * Linux checks first: EEXIST for an existing name, EBADF/EINVAL for an fd opened
 * read-only), and reading still works. argv[1] = the read-only directory, which holds
 * file ("read only\n", 0644), dir/inner, empty_dir/ and link -> file.
 *
 * The expectations were checked against Linux on a read-only bind mount; they differ
 * from a chmod 0555 directory (EACCES, and nothing at all for root). */
#include "fs_util.h"
#include <sys/statfs.h>
#include <sys/time.h>

#ifndef ST_RDONLY
#define ST_RDONLY 1
#endif

static void reads_work(void) {
    EXPECT_STR(fs_content("file"), "read only\n", "read a file");
    EXPECT_STR(fs_content("dir/inner"), "inner\n", "read a nested file");
    EXPECT_STR(fs_content("link"), "read only\n", "read through a symlink");
    char t[16] = {0};
    EXPECT_EQ(readlink("link", t, sizeof t - 1), 4, "readlink");
    struct stat st;
    EXPECT_OK(stat("file", &st), "stat");
    EXPECT_EQ(st.st_mode & 07777, 0644, "mode as on the host");
    fs_list("listing", ".", 20);
    EXPECT_OK(access("file", R_OK), "access R_OK");
    EXPECT_ERR(access("file", W_OK), EROFS, "access W_OK");
    EXPECT_ERR(access("dir", W_OK), EROFS, "access W_OK on a dir");
    struct statfs sfs;
    EXPECT_OK(statfs(".", &sfs), "statfs");
    CHECK((sfs.f_flags & ST_RDONLY) != 0, "statfs says ST_RDONLY");
    EXPECT_OK(chdir("dir"), "chdir into a read-only dir");
    EXPECT_OK(chdir(".."), "and back");
    int fd = open("file", O_RDONLY | O_CREAT, 0644);
    EXPECT_OK(fd, "O_CREAT on an existing file, read-only access");
    close(fd);
}

static void writes_fail(void) {
    EXPECT_ERR(open("file", O_WRONLY), EROFS, "open O_WRONLY");
    EXPECT_ERR(open("file", O_RDWR), EROFS, "open O_RDWR");
    EXPECT_ERR(open("file", O_RDONLY | O_TRUNC), EROFS, "open O_RDONLY|O_TRUNC");
    EXPECT_ERR(open("file", O_WRONLY | O_APPEND), EROFS, "open O_APPEND");
    EXPECT_ERR(open("new", O_WRONLY | O_CREAT, 0644), EROFS, "create a file");
    EXPECT_ERR(open("new", O_RDONLY | O_CREAT, 0644), EROFS, "create a file O_RDONLY");
    EXPECT_ERR(open("file", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST,
               "O_CREAT|O_EXCL on an existing file");
    EXPECT_ERR(creat("new", 0644), EROFS, "creat new");
    EXPECT_ERR(creat("file", 0644), EROFS, "creat existing");
    EXPECT_ERR(open(".", O_TMPFILE | O_RDWR, 0600), EROFS, "O_TMPFILE");
    EXPECT_ERR(mkdir("newdir", 0755), EROFS, "mkdir");
    EXPECT_ERR(mkdir("dir", 0755), EEXIST, "mkdir existing");
    EXPECT_ERR(rmdir("empty_dir"), EROFS, "rmdir");
    EXPECT_ERR(unlink("file"), EROFS, "unlink");
    EXPECT_ERR(unlink("link"), EROFS, "unlink a symlink");
    EXPECT_ERR(unlinkat(AT_FDCWD, "empty_dir", AT_REMOVEDIR), EROFS, "unlinkat AT_REMOVEDIR");
    EXPECT_ERR(rename("file", "renamed"), EROFS, "rename");
    EXPECT_ERR(rename("file", "dir/inner"), EROFS, "rename over a file");
    EXPECT_ERR(syscall(SYS_renameat2, AT_FDCWD, "file", AT_FDCWD, "dir/inner", 2), EROFS,
               "renameat2 EXCHANGE");
    EXPECT_ERR(link("file", "hard"), EROFS, "link");
    EXPECT_ERR(symlink("file", "sym"), EROFS, "symlink");
    EXPECT_ERR(chmod("file", 0600), EROFS, "chmod");
    EXPECT_ERR(chmod("link", 0600), EROFS, "chmod through a symlink");
    EXPECT_ERR(chown("file", (uid_t)-1, (gid_t)-1), EROFS, "chown(-1, -1)");
    EXPECT_ERR(lchown("link", (uid_t)-1, (gid_t)-1), EROFS, "lchown");
    EXPECT_ERR(truncate("file", 0), EROFS, "truncate");
    EXPECT_ERR(truncate("file", 100), EROFS, "truncate up");
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    EXPECT_ERR(utimensat(AT_FDCWD, "file", ts, 0), EROFS, "utimensat explicit");
    EXPECT_ERR(utimensat(AT_FDCWD, "file", NULL, 0), EROFS, "utimensat now");
    EXPECT_ERR(utimensat(AT_FDCWD, "link", ts, AT_SYMLINK_NOFOLLOW), EROFS,
               "utimensat NOFOLLOW on a symlink");
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    EXPECT_ERR(utimes("file", tv), EROFS, "utimes");

    int fd = open("file", O_RDONLY);
    EXPECT_ERR(write(fd, "x", 1), EBADF, "write on the read-only fd");
    EXPECT_ERR(pwrite(fd, "x", 1, 0), EBADF, "pwrite on the read-only fd");
    EXPECT_ERR(ftruncate(fd, 0), EINVAL, "ftruncate on the read-only fd");
    EXPECT_ERR(fallocate(fd, 0, 0, 4096), EBADF, "fallocate on the read-only fd");
    EXPECT_ERR(fchmod(fd, 0600), EROFS, "fchmod");
    EXPECT_ERR(fchown(fd, (uid_t)-1, (gid_t)-1), EROFS, "fchown");
    EXPECT_ERR(futimens(fd, ts), EROFS, "futimens");
    int src = open("dir/inner", O_RDONLY);
    loff_t oi = 0, oo = 0;
    EXPECT_ERR(copy_file_range(src, &oi, fd, &oo, 1, 0), EBADF,
               "copy_file_range into the read-only fd");
    close(src);
    close(fd);
    int dfd = open("dir", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR(openat(dfd, "x", O_CREAT | O_WRONLY, 0644), EROFS, "openat O_CREAT in a dirfd");
    EXPECT_ERR(mkdirat(dfd, "x", 0755), EROFS, "mkdirat");
    EXPECT_ERR(unlinkat(dfd, "inner", 0), EROFS, "unlinkat");
    EXPECT_ERR(symlinkat("x", dfd, "y"), EROFS, "symlinkat");
    EXPECT_ERR(linkat(AT_FDCWD, "file", dfd, "z", 0), EROFS, "linkat");
    EXPECT_ERR(fchmodat(dfd, "inner", 0600, 0), EROFS, "fchmodat");
    close(dfd);
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    reads_work();
    writes_fail();
    fs_list("listing afterwards", ".", 20);
    return check_summary();
}
