/* Across file systems: argv[1] and argv[2] are directories on two different mounts
 * (natively a disk directory and a tmpfs one; under hull two --mounts, or a mount and
 * the guest's /tmp). Hard links and renames between them are EXDEV; copying works; a
 * rename inside one of them still works. argv[2] is created if it is missing. */
#include "fs_util.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR_A DIR_B\n", argv[0]);
        return 2;
    }
    fs_begin(argc, argv); /* cwd = A */
    if (mkdir(argv[2], 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create the second dir: %s\n", fs_errname(errno));
        return 2;
    }
    int b = open(argv[2], O_RDONLY | O_DIRECTORY);
    if (b < 0) {
        fprintf(stderr, "cannot open the second dir: %s\n", fs_errname(errno));
        return 2;
    }
    struct stat sa, sb;
    stat(".", &sa);
    fstat(b, &sb);
    CHECK(sa.st_dev != sb.st_dev, "the two dirs are on different file systems");

    fs_write_file("a_file", "from a\n");
    mkdir("a_dir", 0755);
    fs_write_file("a_dir/inner", "inner\n");
    EXPECT_ERR(linkat(AT_FDCWD, "a_file", b, "linked", 0), EXDEV, "link across mounts");
    EXPECT_ERR(renameat(AT_FDCWD, "a_file", b, "moved"), EXDEV, "rename a file across mounts");
    EXPECT_ERR(renameat(AT_FDCWD, "a_dir", b, "moved_dir"), EXDEV, "rename a dir across mounts");
    EXPECT_ERR(syscall(SYS_renameat2, AT_FDCWD, "a_file", b, "moved", RENAME_NOREPLACE), EXDEV,
               "renameat2 NOREPLACE across mounts");
    int fb = openat(b, "b_file", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    write(fb, "from b\n", 7);
    close(fb);
    EXPECT_ERR(syscall(SYS_renameat2, AT_FDCWD, "a_file", b, "b_file", RENAME_EXCHANGE), EXDEV,
               "RENAME_EXCHANGE across mounts");
    EXPECT_ERR(renameat(b, "b_file", AT_FDCWD, "back"), EXDEV, "rename from B to A");
    EXPECT_ERR(linkat(b, "b_file", AT_FDCWD, "back_link", 0), EXDEV, "link from B to A");
    CHECK(fs_exists("a_file") && fs_exists("a_dir/inner") && !fs_exists("back") &&
              !fs_exists("back_link"),
          "the failed calls changed nothing in A");
    struct stat st;
    CHECK(fstatat(b, "linked", &st, 0) != 0 && fstatat(b, "moved", &st, 0) != 0 &&
              fstatat(b, "moved_dir", &st, 0) != 0,
          "nor in B");

    /* A symlink may point across; a copy crosses. */
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "%s/a_file", fs_base);
    EXPECT_OK(symlinkat(target, b, "to_a"), "a symlink in B pointing into A");
    int fd = openat(b, "to_a", O_RDONLY);
    char buf[32] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf - 1), 7, "read A's file through it");
    close(fd);
    EXPECT_STR(buf, "from a\n", "content through the cross-mount symlink");
    EXPECT_OK(unlinkat(b, "to_a", 0), "remove it");
    int in = open("a_file", O_RDONLY);
    int out = openat(b, "copy", O_CREAT | O_WRONLY | O_TRUNC, 0640);
    loff_t oi = 0, oo = 0;
    long n = copy_file_range(in, &oi, out, &oo, 100, 0);
    /* Linux 5.3..5.18 copied across file systems, older and newer say EXDEV; either way
     * a read/write copy works. */
    CHECK(n == 7 || (n == -1 && errno == EXDEV), "copy_file_range across mounts: 7 or EXDEV");
    if (n != 7) {
        char data[16];
        long r = pread(in, data, sizeof data, 0);
        pwrite(out, data, (size_t)r, 0);
    }
    close(in);
    close(out);
    fd = openat(b, "copy", O_RDONLY);
    memset(buf, 0, sizeof buf);
    EXPECT_EQ(read(fd, buf, sizeof buf - 1), 7, "the copy in B");
    close(fd);
    EXPECT_OK(renameat(b, "copy", b, "copy_renamed"), "rename within B");
    EXPECT_OK(rename("a_file", "a_renamed"), "rename within A");
    EXPECT_OK(linkat(b, "copy_renamed", b, "copy_link", 0), "link within B");
    fs_list("A", ".", 20);
    fs_list("B", argv[2], 20);
    close(b);
    return check_summary();
}
