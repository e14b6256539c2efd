/* open/openat/creat and their flags (O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY,
 * O_NOFOLLOW, O_PATH, O_TMPFILE), close and close_range, umask, and the path errors:
 * ENOENT, EEXIST, EISDIR, ENOTDIR, EBADF, ELOOP (loops and more than 40 links),
 * ENAMETOOLONG. argv[1] = scratch directory. Leaves a small tree behind for the harness
 * to compare. */
#include "fs_util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void creat_flags(void) {
    int fd = open("f1", O_CREAT | O_WRONLY, 0644);
    EXPECT_OK(fd, "open O_CREAT new file");
    EXPECT_EQ(write(fd, "hello\n", 6), 6, "write to the new file");
    close(fd);
    fs_show("f1", "f1");
    fd = open("f1", O_CREAT | O_WRONLY, 0600);
    EXPECT_OK(fd, "open O_CREAT existing file");
    close(fd);
    EXPECT_EQ(fs_mode("f1"), 0644, "O_CREAT on an existing file keeps its mode");
    EXPECT_STR(fs_content("f1"), "hello\n", "O_CREAT without O_TRUNC keeps the content");
    EXPECT_ERR(open("f1", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL existing");
    fd = open("f1", O_WRONLY | O_TRUNC);
    EXPECT_OK(fd, "open O_TRUNC");
    struct stat st;
    EXPECT_OK(fstat(fd, &st), "fstat after O_TRUNC");
    EXPECT_EQ(st.st_size, 0, "O_TRUNC empties the file");
    EXPECT_EQ(write(fd, "truncated\n", 10), 10, "write after O_TRUNC");
    close(fd);
    fd = open("f1", O_WRONLY | O_APPEND);
    EXPECT_OK(fd, "open O_APPEND");
    EXPECT_EQ(lseek(fd, 0, SEEK_SET), 0, "lseek to 0 on an O_APPEND fd");
    EXPECT_EQ(write(fd, "appended\n", 9), 9, "write with O_APPEND");
    EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 19, "offset after an appending write is the end");
    close(fd);
    EXPECT_STR(fs_content("f1"), "truncated\nappended\n", "O_APPEND wrote at the end");

    char c;
    fd = open("f1", O_RDONLY);
    EXPECT_ERR(write(fd, "x", 1), EBADF, "write on an O_RDONLY fd");
    close(fd);
    fd = open("f1", O_WRONLY);
    EXPECT_ERR(read(fd, &c, 1), EBADF, "read on an O_WRONLY fd");
    close(fd);

    fd = creat("c1", 0640);
    EXPECT_OK(fd, "creat new");
    EXPECT_EQ(write(fd, "xyz", 3), 3, "write to creat fd");
    EXPECT_ERR(read(fd, &c, 1), EBADF, "creat fd is write-only");
    close(fd);
    fs_show("c1", "c1");
    fd = creat("c1", 0600);
    EXPECT_OK(fd, "creat existing");
    close(fd);
    fs_show("c1 after second creat (truncated, mode kept)", "c1");
    EXPECT_ERR(open("", O_RDONLY), ENOENT, "open empty path");
}

static void openat_and_dirs(void) {
    EXPECT_OK(mkdir("d", 0755), "mkdir d");
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(dfd, "open d O_DIRECTORY");
    int fd = openat(dfd, "inner", O_CREAT | O_RDWR, 0644);
    EXPECT_OK(fd, "openat(dirfd, inner, O_CREAT)");
    EXPECT_EQ(write(fd, "inner\n", 6), 6, "write inner");
    close(fd);
    fs_show("d/inner", "d/inner");
    char abs[PATH_MAX + 8];
    snprintf(abs, sizeof abs, "%s/f1", fs_base);
    fd = openat(dfd, abs, O_RDONLY);
    EXPECT_OK(fd, "openat ignores dirfd for an absolute path");
    close(fd);
    fd = openat(AT_FDCWD, "d/inner", O_RDONLY);
    EXPECT_OK(fd, "openat(AT_FDCWD, d/inner)");
    char buf[16] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf - 1), 6, "read through openat fd");
    EXPECT_ERR(openat(fd, "x", O_RDONLY), ENOTDIR, "openat with a file as dirfd");
    close(fd);
    EXPECT_ERR(openat(-1, "x", O_RDONLY), EBADF, "openat(-1, relative)");
    EXPECT_ERR(openat(900, "x", O_RDONLY), EBADF, "openat(closed fd, relative)");
    fd = openat(-1, abs, O_RDONLY);
    EXPECT_OK(fd, "openat(-1, absolute) ignores the bad dirfd");
    close(fd);
    close(dfd);

    EXPECT_ERR(open("f1", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file");
    EXPECT_ERR(open("d", O_WRONLY), EISDIR, "open a directory O_WRONLY");
    EXPECT_ERR(open("d", O_RDWR), EISDIR, "open a directory O_RDWR");
    EXPECT_ERR(open("d", O_CREAT | O_RDONLY, 0644), EISDIR, "O_CREAT on an existing directory");
    EXPECT_ERR(open("d", O_RDONLY | O_TRUNC), EISDIR, "O_TRUNC on a directory");
    fd = open("d", O_RDONLY);
    EXPECT_OK(fd, "open a directory O_RDONLY");
    EXPECT_ERR(read(fd, buf, 1), EISDIR, "read on a directory fd");
    close(fd);

    EXPECT_ERR(open("missing", O_RDONLY), ENOENT, "open missing");
    EXPECT_ERR(open("missing/x", O_CREAT | O_WRONLY, 0644), ENOENT, "O_CREAT in a missing dir");
    EXPECT_ERR(open("f1/x", O_RDONLY), ENOTDIR, "a file used as a directory");
    EXPECT_ERR(open("f1/", O_RDONLY), ENOTDIR, "trailing slash on a file");
    EXPECT_ERR(open("new/", O_CREAT | O_WRONLY, 0644), EISDIR, "O_CREAT with a trailing slash");
    EXPECT_EQ(fs_exists("new"), 0, "nothing was created for new/");
    fd = open("d/", O_RDONLY);
    EXPECT_OK(fd, "trailing slash on a directory");
    close(fd);
    fd = open("d/./../d/inner", O_RDONLY);
    EXPECT_OK(fd, "open d/./../d/inner");
    close(fd);
    fd = open("./d//inner", O_RDONLY);
    EXPECT_OK(fd, "open ./d//inner (double slash)");
    close(fd);
}

static void symlinks_and_nofollow(void) {
    EXPECT_OK(symlink("f1", "lnk"), "symlink lnk -> f1");
    int fd = open("lnk", O_RDONLY);
    EXPECT_OK(fd, "open through a symlink");
    char buf[64] = {0};
    EXPECT_EQ(read(fd, buf, sizeof buf - 1), 19, "read through the symlink");
    close(fd);
    EXPECT_ERR(open("lnk", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink");
    EXPECT_OK(symlink("d", "dl"), "symlink dl -> d");
    fd = open("dl/inner", O_RDONLY | O_NOFOLLOW);
    EXPECT_OK(fd, "O_NOFOLLOW only concerns the last component");
    close(fd);
    fd = open("dl", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(fd, "O_DIRECTORY through a symlink to a directory");
    close(fd);
    EXPECT_ERR(open("dl", O_RDONLY | O_DIRECTORY | O_NOFOLLOW), ENOTDIR,
               "O_DIRECTORY|O_NOFOLLOW on a symlink");

    EXPECT_OK(symlink("made_via_link", "dangling"), "symlink dangling -> made_via_link");
    EXPECT_ERR(open("dangling", O_RDONLY), ENOENT, "open a dangling symlink");
    fd = open("dangling", O_CREAT | O_WRONLY, 0600);
    EXPECT_OK(fd, "O_CREAT through a dangling symlink creates its target");
    EXPECT_EQ(write(fd, "via link\n", 9), 9, "write through the dangling symlink");
    close(fd);
    fs_show("made_via_link", "made_via_link");
    fs_show("dangling", "dangling");
    EXPECT_OK(symlink("nowhere", "dangling2"), "symlink dangling2 -> nowhere");
    EXPECT_ERR(open("dangling2", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
               "O_CREAT|O_EXCL on a dangling symlink");
    EXPECT_EQ(fs_exists("nowhere"), 0, "O_EXCL did not follow the symlink");
    EXPECT_ERR(open("lnk", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST,
               "O_CREAT|O_EXCL on a symlink to a file");
}

static void o_path(void) {
    int fd = open("f1", O_PATH);
    EXPECT_OK(fd, "open O_PATH");
    char c;
    EXPECT_ERR(read(fd, &c, 1), EBADF, "read on an O_PATH fd");
    EXPECT_ERR(write(fd, "x", 1), EBADF, "write on an O_PATH fd");
    struct stat st;
    EXPECT_OK(fstat(fd, &st), "fstat on an O_PATH fd");
    EXPECT_STR(fs_type_name(st.st_mode), "file", "O_PATH fd is the file");
    EXPECT_EQ(st.st_size, 19, "O_PATH fstat size");
    int fl = fcntl(fd, F_GETFL);
    EXPECT_EQ((fl & O_PATH) != 0, 1, "F_GETFL shows O_PATH");
    close(fd);

    fd = open("lnk", O_PATH | O_NOFOLLOW);
    EXPECT_OK(fd, "O_PATH|O_NOFOLLOW on a symlink");
    EXPECT_OK(fstat(fd, &st), "fstat the symlink's O_PATH fd");
    EXPECT_STR(fs_type_name(st.st_mode), "symlink", "the fd refers to the symlink itself");
    char target[64] = {0};
    EXPECT_EQ(readlinkat(fd, "", target, sizeof target - 1), 2, "readlinkat(fd, \"\")");
    EXPECT_STR(target, "f1", "readlinkat(fd, \"\") target");
    close(fd);

    int dfd = open("d", O_PATH | O_DIRECTORY);
    EXPECT_OK(dfd, "O_PATH|O_DIRECTORY");
    fd = openat(dfd, "inner", O_RDONLY);
    EXPECT_OK(fd, "openat relative to an O_PATH dirfd");
    close(fd);
    EXPECT_OK(fchdir(dfd), "fchdir to an O_PATH dirfd");
    EXPECT_STR(fs_rel_cwd(), "/d", "cwd after fchdir");
    EXPECT_OK(chdir(fs_base), "chdir back");
    close(dfd);
}

static void o_tmpfile(void) {
    /* Success (a nameless file) or, where the file system cannot, EOPNOTSUPP; old
     * kernels said EISDIR. Nothing else is printed: either is Linux. */
    int fd = open(".", O_TMPFILE | O_RDWR, 0600);
    int ok;
    if (fd >= 0) {
        char buf[8] = {0};
        ok = write(fd, "tmp", 3) == 3 && pread(fd, buf, 3, 0) == 3 && strcmp(buf, "tmp") == 0;
        close(fd);
    } else {
        ok = errno == EOPNOTSUPP || errno == EISDIR;
    }
    CHECK(ok, "O_TMPFILE works or says EOPNOTSUPP/EISDIR");
    EXPECT_ERR(open(".", O_TMPFILE | O_RDONLY, 0600), EINVAL, "O_TMPFILE needs write access");
    EXPECT_ERR(open("f1", O_TMPFILE | O_RDWR, 0600), ENOTDIR, "O_TMPFILE on a file");
}

static int fd_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}

static void closing(void) {
    int fd = open("f1", O_RDONLY);
    EXPECT_OK(fd, "open for close");
    EXPECT_OK(close(fd), "close");
    EXPECT_ERR(close(fd), EBADF, "close twice");
    EXPECT_ERR(close(-1), EBADF, "close(-1)");
    EXPECT_ERR(fcntl(fd, F_GETFD), EBADF, "F_GETFD on a closed fd");

    fd = open("f1", O_RDONLY);
    for (int i = 300; i <= 305; i++)
        dup2(fd, i);
    close(fd);
    EXPECT_OK(syscall(SYS_close_range, 300, 302, 0), "close_range(300, 302)");
    CHECK(!fd_open(300) && !fd_open(301) && !fd_open(302) && fd_open(303),
          "close_range closed exactly 300..302");
    EXPECT_OK(syscall(SYS_close_range, 303, 304, CLOSE_RANGE_CLOEXEC),
              "close_range(303, 304, CLOEXEC)");
    CHECK(fcntl(303, F_GETFD) == FD_CLOEXEC && fcntl(304, F_GETFD) == FD_CLOEXEC &&
              fcntl(305, F_GETFD) == 0,
          "CLOSE_RANGE_CLOEXEC marks only the range");
    EXPECT_OK(syscall(SYS_close_range, 303, ~0U, 0), "close_range(303, ~0)");
    CHECK(!fd_open(303) && !fd_open(304) && !fd_open(305), "close_range to ~0 closed the rest");
    EXPECT_ERR(syscall(SYS_close_range, 10, 5, 0), EINVAL, "close_range with first > last");
    EXPECT_ERR(syscall(SYS_close_range, 3, 5, 0x80), EINVAL, "close_range with a bad flag");
}

static void umask_modes(void) {
    EXPECT_EQ(umask(077), 022, "umask returns the previous mask");
    int fd = open("um077", O_CREAT | O_WRONLY, 0666);
    close(fd);
    EXPECT_EQ(fs_mode("um077"), 0600, "file under umask 077");
    mkdir("umd077", 0777);
    EXPECT_EQ(fs_mode("umd077"), 0700, "dir under umask 077");
    EXPECT_EQ(umask(0), 077, "umask(0) returns 077");
    fd = open("um000", O_CREAT | O_WRONLY, 0666);
    close(fd);
    EXPECT_EQ(fs_mode("um000"), 0666, "file under umask 0");
    mkdir("umd000", 0777);
    EXPECT_EQ(fs_mode("umd000"), 0777, "dir under umask 0");
    fd = creat("um000x", 0777);
    close(fd);
    EXPECT_EQ(fs_mode("um000x"), 0777, "creat 0777 under umask 0");
    umask(027);
    fd = open("um027", O_CREAT | O_WRONLY, 0666);
    close(fd);
    EXPECT_EQ(fs_mode("um027"), 0640, "file under umask 027");
    mkdir("umd027", 0777);
    EXPECT_EQ(fs_mode("umd027"), 0750, "dir under umask 027");
    EXPECT_OK(symlink("um027", "um_link"), "symlink under umask 027");
    EXPECT_EQ(fs_mode("um_link"), 0777, "a symlink's mode is always 0777");
    EXPECT_EQ(umask(022), 027, "umask back to 022");
}

static void long_names_and_loops(void) {
    char name[300];
    memset(name, 'n', 255);
    name[255] = 0;
    int fd = open(name, O_CREAT | O_WRONLY, 0644);
    EXPECT_OK(fd, "create a 255-byte name");
    close(fd);
    EXPECT_OK(unlink(name), "unlink the 255-byte name");
    memset(name, 'n', 256);
    name[256] = 0;
    EXPECT_ERR(open(name, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG, "a 256-byte component");
    EXPECT_ERR(mkdir(name, 0755), ENAMETOOLONG, "mkdir a 256-byte component");
    char *longpath = malloc(PATH_MAX + 16);
    size_t n = 0;
    while (n < PATH_MAX + 2) {
        memcpy(longpath + n, "./", 2);
        n += 2;
    }
    strcpy(longpath + n, "f1");
    struct stat st;
    EXPECT_ERR(stat(longpath, &st), ENAMETOOLONG, "a path longer than PATH_MAX");
    /* PATH_MAX counts the terminating NUL: 4095 bytes are fine. */
    n = 0;
    while (n + 5 < PATH_MAX - 1) {
        memcpy(longpath + n, "./", 2);
        n += 2;
    }
    strcpy(longpath + n, ".//f1");
    EXPECT_EQ((long)strlen(longpath), PATH_MAX - 1, "(the long path is 4095 bytes)");
    EXPECT_OK(stat(longpath, &st), "a 4095-byte path resolves");
    free(longpath);

    EXPECT_OK(symlink("loop_b", "loop_a"), "symlink loop_a -> loop_b");
    EXPECT_OK(symlink("loop_a", "loop_b"), "symlink loop_b -> loop_a");
    EXPECT_ERR(open("loop_a", O_RDONLY), ELOOP, "open a symlink loop");
    EXPECT_ERR(stat("loop_a", &st), ELOOP, "stat a symlink loop");
    EXPECT_OK(lstat("loop_a", &st), "lstat a symlink loop");
    EXPECT_ERR(open("loop_a/x", O_RDONLY), ELOOP, "a loop as a directory component");
    EXPECT_ERR(open("loop_a", O_CREAT | O_WRONLY, 0644), ELOOP, "O_CREAT on a loop");
    EXPECT_OK(symlink("self", "self"), "symlink self -> self");
    EXPECT_ERR(open("self", O_RDONLY), ELOOP, "open a self loop");

    /* ch00 -> ch01 -> ... -> ch40 -> f1: 41 links from ch00, 40 from ch01. */
    EXPECT_OK(mkdir("chain", 0755), "mkdir chain");
    for (int i = 0; i <= 40; i++) {
        char link[32], target[32];
        snprintf(link, sizeof link, "chain/ch%02d", i);
        if (i == 40)
            snprintf(target, sizeof target, "../f1");
        else
            snprintf(target, sizeof target, "ch%02d", i + 1);
        if (symlink(target, link) != 0)
            printf("symlink %s: %s\n", link, fs_errname(errno));
    }
    fd = open("chain/ch01", O_RDONLY);
    EXPECT_OK(fd, "40 nested symlinks resolve");
    close(fd);
    EXPECT_ERR(open("chain/ch00", O_RDONLY), ELOOP, "41 nested symlinks are ELOOP");
    EXPECT_ERR(stat("chain/ch00", &st), ELOOP, "stat through 41 symlinks");
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    creat_flags();
    openat_and_dirs();
    symlinks_and_nofollow();
    o_path();
    o_tmpfile();
    closing();
    umask_modes();
    long_names_and_loops();
    fs_list("scratch", ".", 100);
    return check_summary();
}
