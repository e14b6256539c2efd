/* The fixed parts of the file system every Linux program may count on: /tmp (writable),
 * /dev/null, /dev/zero, /dev/full, /dev/urandom, /dev/random, /dev/stdout and friends,
 * /proc/self/fd, /proc/self/exe, /proc/self/maps and /proc/self/status. Prints only
 * what is the same on any Linux host and in a sandbox. */
#include "fs_util.h"
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>

static void tmp(void) {
    struct stat st;
    EXPECT_OK(stat("/tmp", &st), "stat /tmp");
    EXPECT_STR(fs_type_name(st.st_mode), "dir", "/tmp is a directory");
    EXPECT_EQ(st.st_mode & 01777, 01777, "/tmp is 1777");
    char path[] = "/tmp/hull-fs-special-XXXXXX";
    int fd = mkstemp(path);
    EXPECT_OK(fd, "mkstemp in /tmp");
    EXPECT_EQ(write(fd, "temporary\n", 10), 10, "write the temp file");
    char buf[32] = {0};
    EXPECT_EQ(pread(fd, buf, sizeof buf - 1, 0), 10, "read it back");
    EXPECT_STR(buf, "temporary\n", "temp content");
    EXPECT_EQ(fs_mode(path), 0600, "mkstemp makes 0600");
    close(fd);
    EXPECT_OK(unlink(path), "unlink the temp file");
    char dir[] = "/tmp/hull-fs-special-d-XXXXXX";
    EXPECT_EQ(mkdtemp(dir) != NULL, 1, "mkdtemp in /tmp");
    EXPECT_EQ(fs_mode(dir), 0700, "mkdtemp makes 0700");
    char inner[64];
    snprintf(inner, sizeof inner, "%s/f", dir);
    EXPECT_OK(fs_write_file(inner, "x"), "a file in the temp dir");
    EXPECT_OK(unlink(inner), "unlink it");
    EXPECT_OK(rmdir(dir), "rmdir the temp dir");
    FILE *f = tmpfile();
    EXPECT_EQ(f != NULL, 1, "tmpfile()");
    if (f) {
        fputs("via stdio\n", f);
        rewind(f);
        char line[32] = {0};
        EXPECT_EQ(fgets(line, sizeof line, f) != NULL, 1, "read back the tmpfile");
        EXPECT_STR(line, "via stdio\n", "tmpfile content");
        fclose(f);
    }
}

static void devices(void) {
    struct stat st;
    EXPECT_OK(stat("/dev/null", &st), "stat /dev/null");
    EXPECT_STR(fs_type_name(st.st_mode), "chr", "/dev/null is a character device");
    CHECK(major(st.st_rdev) == 1 && minor(st.st_rdev) == 3, "/dev/null is 1,3");
    EXPECT_EQ(st.st_mode & 0777, 0666, "/dev/null is 0666");
    int fd = open("/dev/null", O_RDWR);
    EXPECT_OK(fd, "open /dev/null");
    EXPECT_EQ(write(fd, "discard", 7), 7, "write /dev/null");
    char buf[64];
    EXPECT_EQ(read(fd, buf, sizeof buf), 0, "read /dev/null is EOF");
    EXPECT_EQ(lseek(fd, 100, SEEK_SET), 0, "lseek /dev/null is 0");
    close(fd);

    fd = open("/dev/zero", O_RDONLY);
    EXPECT_OK(fd, "open /dev/zero");
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(read(fd, buf, sizeof buf), 64, "read /dev/zero");
    int zeros = 1;
    for (size_t i = 0; i < sizeof buf; i++)
        zeros &= buf[i] == 0;
    CHECK(zeros, "/dev/zero gives zeros");
    close(fd);
    fd = open("/dev/zero", O_WRONLY);
    EXPECT_EQ(write(fd, "x", 1), 1, "write /dev/zero");
    close(fd);

    fd = open("/dev/full", O_RDWR);
    EXPECT_OK(fd, "open /dev/full");
    EXPECT_ERR(write(fd, "x", 1), ENOSPC, "write /dev/full is ENOSPC");
    memset(buf, 'x', sizeof buf);
    EXPECT_EQ(read(fd, buf, 16), 16, "read /dev/full");
    CHECK(buf[0] == 0 && buf[15] == 0, "/dev/full reads zeros");
    close(fd);

    static const char *const rnd[] = {"/dev/urandom", "/dev/random"};
    for (int k = 0; k < 2; k++) {
        char label[64];
        fd = open(rnd[k], O_RDONLY);
        snprintf(label, sizeof label, "open %s", rnd[k]);
        EXPECT_OK(fd, label);
        unsigned char r1[32] = {0}, r2[32] = {0};
        snprintf(label, sizeof label, "read 32 bytes of %s twice", rnd[k]);
        CHECK(read(fd, r1, 32) == 32 && read(fd, r2, 32) == 32, label);
        snprintf(label, sizeof label, "%s gives different bytes", rnd[k]);
        CHECK(memcmp(r1, r2, 32) != 0, label);
        fstat(fd, &st);
        snprintf(label, sizeof label, "%s is a character device", rnd[k]);
        EXPECT_STR(fs_type_name(st.st_mode), "chr", label);
        close(fd);
    }

    char target[64] = {0};
    EXPECT_EQ(readlink("/dev/stdout", target, sizeof target - 1), 15, "readlink /dev/stdout");
    EXPECT_STR(target, "/proc/self/fd/1", "/dev/stdout -> /proc/self/fd/1");
    memset(target, 0, sizeof target);
    readlink("/dev/stderr", target, sizeof target - 1);
    EXPECT_STR(target, "/proc/self/fd/2", "/dev/stderr -> /proc/self/fd/2");
    memset(target, 0, sizeof target);
    readlink("/dev/stdin", target, sizeof target - 1);
    EXPECT_STR(target, "/proc/self/fd/0", "/dev/stdin -> /proc/self/fd/0");
    memset(target, 0, sizeof target);
    readlink("/dev/fd", target, sizeof target - 1);
    EXPECT_STR(target, "/proc/self/fd", "/dev/fd -> /proc/self/fd");
    fflush(stdout);
    fd = open("/dev/stdout", O_WRONLY);
    EXPECT_OK(fd, "open /dev/stdout");
    EXPECT_EQ(write(fd, "written via /dev/stdout\n", 24), 24, "write /dev/stdout");
    close(fd);
    fd = open("/dev/stderr", O_WRONLY);
    EXPECT_EQ(write(fd, "written via /dev/stderr\n", 24), 24, "write /dev/stderr");
    close(fd);
    fd = open("/dev/stdin", O_RDONLY);
    char in[32] = {0};
    EXPECT_EQ(read(fd, in, sizeof in - 1), 6, "read /dev/stdin");
    EXPECT_STR(in, "stdin\n", "stdin content through /dev/stdin");
    close(fd);
    EXPECT_ERR(open("/dev/does-not-exist", O_RDONLY), ENOENT, "open a missing device");
    EXPECT_OK(stat("/dev", &st), "stat /dev");
    EXPECT_STR(fs_type_name(st.st_mode), "dir", "/dev is a directory");
}

/* Whether `line` of /proc/self/maps covers address `a`. */
static int maps_line_covers(const char *line, uintptr_t a) {
    unsigned long lo, hi;
    return sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi;
}

static void proc(const char *argv0) {
    struct stat st;
    EXPECT_OK(stat("/proc/self/fd", &st), "stat /proc/self/fd");
    EXPECT_STR(fs_type_name(st.st_mode), "dir", "/proc/self/fd is a directory");
    int fd = open("/dev/null", O_RDONLY);
    char path[64], target[256] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    EXPECT_OK(lstat(path, &st), "lstat /proc/self/fd/N");
    EXPECT_STR(fs_type_name(st.st_mode), "symlink", "/proc/self/fd/N is a symlink");
    EXPECT_EQ(readlink(path, target, sizeof target - 1), 9, "readlink /proc/self/fd/N");
    EXPECT_STR(target, "/dev/null", "it names the open file");
    int seen0 = 0, seen1 = 0, seen2 = 0, seen_fd = 0;
    DIR *d = opendir("/proc/self/fd");
    EXPECT_EQ(d != NULL, 1, "opendir /proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, "0") == 0)
            seen0 = 1;
        if (strcmp(e->d_name, "1") == 0)
            seen1 = 1;
        if (strcmp(e->d_name, "2") == 0)
            seen2 = 1;
        if (atoi(e->d_name) == fd && e->d_name[0] != '.')
            seen_fd = 1;
    }
    if (d)
        closedir(d);
    CHECK(seen0 && seen1 && seen2 && seen_fd, "/proc/self/fd lists 0, 1, 2 and the new fd");
    close(fd);
    EXPECT_ERR(lstat(path, &st), ENOENT, "a closed fd leaves /proc/self/fd");

    EXPECT_OK(stat("/proc/self/exe", &st), "stat /proc/self/exe");
    EXPECT_STR(fs_type_name(st.st_mode), "file", "/proc/self/exe is the program file");
    fd = open("/proc/self/exe", O_RDONLY);
    EXPECT_OK(fd, "open /proc/self/exe");
    char magic[4] = {0};
    EXPECT_EQ(read(fd, magic, 4), 4, "read the program's first bytes");
    CHECK(memcmp(magic, "\177ELF", 4) == 0, "it is an ELF file");
    close(fd);
    memset(target, 0, sizeof target);
    readlink("/proc/self/exe", target, sizeof target - 1);
    EXPECT_STR(base_name(target), base_name(argv0), "/proc/self/exe names the program");

    static char maps[1 << 16];
    long n = fs_read_file("/proc/self/maps", maps, sizeof maps);
    CHECK(n > 0, "/proc/self/maps is readable and not empty");
    int local = 0, stack_ok = 0;
    for (char *line = strtok(n > 0 ? maps : NULL, "\n"); line; line = strtok(NULL, "\n"))
        if (maps_line_covers(line, (uintptr_t)&local))
            stack_ok = strstr(line, "[stack]") != NULL;
    CHECK(stack_ok, "/proc/self/maps: the line covering a local variable is [stack]");

    static char status[8192];
    n = fs_read_file("/proc/self/status", status, sizeof status);
    CHECK(n > 0, "/proc/self/status is readable");
    char comm[32] = {0};
    prctl(PR_GET_NAME, comm);
    char want[64];
    snprintf(want, sizeof want, "Name:\t%s\n", comm);
    CHECK(strstr(status, want) != NULL, "/proc/self/status Name: is the comm");
    snprintf(want, sizeof want, "\nPid:\t%d\n", (int)getpid());
    CHECK(strstr(status, want) != NULL, "/proc/self/status Pid: is getpid()");
    snprintf(want, sizeof want, "\nPPid:\t%d\n", (int)getppid());
    CHECK(strstr(status, want) != NULL, "/proc/self/status PPid: is getppid()");
    snprintf(want, sizeof want, "\nUid:\t%u\t%u\t", (unsigned)getuid(), (unsigned)geteuid());
    CHECK(strstr(status, want) != NULL, "/proc/self/status Uid: is getuid() geteuid()");
    CHECK(strstr(status, "\nState:\t") != NULL, "/proc/self/status has State:");
    CHECK(strstr(status, "\nVmRSS:\t") != NULL, "/proc/self/status has VmRSS:");

    char comm_file[64] = {0};
    fs_read_file("/proc/self/comm", comm_file, sizeof comm_file);
    snprintf(want, sizeof want, "%s\n", comm);
    EXPECT_STR(comm_file, want, "/proc/self/comm is the comm");
    static char cmdline[4096];
    n = fs_read_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    CHECK(n > 0 && strcmp(cmdline, argv0) == 0, "/proc/self/cmdline starts with argv[0]");
    char self[64] = {0};
    EXPECT_OK(readlink("/proc/self", self, sizeof self - 1), "readlink /proc/self");
    EXPECT_EQ(atoi(self), getpid(), "/proc/self -> the pid");
    snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
    EXPECT_OK(stat(path, &st), "/proc/<pid>/status exists");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    (void)argc;
    tmp();
    devices();
    proc(argv[0]);
    return check_summary();
}
