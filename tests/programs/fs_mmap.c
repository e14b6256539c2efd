/* File mappings: mmap of a descriptor, private and shared, against read/write, fork,
 * msync, munmap, mprotect, mremap, madvise and close; SIGBUS past the end of the file;
 * /dev/zero; the errors (EACCES, ENODEV, EBADF, EINVAL, ENOMEM); /proc/self/maps.
 * argv[1] = scratch directory. */
#define _GNU_SOURCE
#include "fs_util.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PG 4096L

static void make_file(const char *name, long size, int seed) {
    int fd = open(name, O_CREAT | O_RDWR | O_TRUNC, 0644);
    char buf[PG];
    for (long off = 0; off < size; off += PG) {
        long n = size - off < PG ? size - off : PG;
        for (long i = 0; i < n; i++)
            buf[i] = (char)('a' + (off + i + seed) % 26);
        if (pwrite(fd, buf, n, off) != n)
            printf("make_file %s: short write\n", name);
    }
    close(fd);
}

static unsigned long sum(const unsigned char *p, long n) {
    unsigned long s = 0;
    for (long i = 0; i < n; i++)
        s = s * 31 + p[i];
    return s;
}

static sigjmp_buf bus_jmp;
static volatile int bus_code;
static void on_bus(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)ctx;
    bus_code = si->si_code;
    siglongjmp(bus_jmp, 1);
}

static void private_read(void) {
    make_file("data", 3 * PG + 100, 0);
    int fd = open("data", O_RDONLY);
    char *p = mmap(NULL, 5 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
    EXPECT_OK(p == MAP_FAILED ? -1 : 0, "private read mapping");
    char buf[3 * PG + 100];
    pread(fd, buf, sizeof buf, 0);
    EXPECT_EQ(memcmp(p, buf, sizeof buf), 0, "mapping shows the file");
    int zeros = 1;
    for (long i = 3 * PG + 100; i < 4 * PG; i++)
        zeros &= p[i] == 0;
    EXPECT_EQ(zeros, 1, "the last page is zero past the end of the file");
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, &old);
    bus_code = 0;
    if (sigsetjmp(bus_jmp, 1) == 0) {
        volatile char c = p[4 * PG];
        (void)c;
        printf("read past the end of the file: no signal\n");
    } else {
        printf("read past the end of the file: SIGBUS code %d\n", bus_code);
    }
    sigaction(SIGBUS, &old, NULL);
    close(fd);
    EXPECT_EQ(p[5], buf[5], "the mapping outlives close");
    EXPECT_OK(munmap(p, 5 * PG), "munmap");

    /* An offset into the file. */
    fd = open("data", O_RDONLY);
    p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 2 * PG);
    EXPECT_EQ(memcmp(p, buf + 2 * PG, PG), 0, "mapping at offset 2 pages");
    munmap(p, PG);
    close(fd);
}

static void private_write(void) {
    make_file("priv", 2 * PG, 1);
    int fd = open("priv", O_RDWR);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    memcpy(p + 10, "PRIVATE", 7);
    char buf[16] = {0};
    pread(fd, buf, 7, 10);
    EXPECT_EQ(memcmp(buf, "PRIVATE", 7) != 0, 1, "private writes do not reach the file");
    pid_t pid = fork();
    if (pid == 0) {
        int ok = memcmp(p + 10, "PRIVATE", 7) == 0;
        memcpy(p + 10, "CHILD!!", 7);
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    EXPECT_EQ(WEXITSTATUS(st), 0, "a forked child sees the private copy");
    EXPECT_EQ(memcmp(p + 10, "PRIVATE", 7), 0, "the child's writes stay its own");
    /* MADV_DONTNEED drops the private copy: the file's bytes come back. */
    EXPECT_OK(madvise(p, PG, MADV_DONTNEED), "madvise DONTNEED");
    EXPECT_EQ(memcmp(p + 10, buf, 7), 0, "after DONTNEED the file shows again");
    munmap(p, 2 * PG);
    close(fd);
}

static void shared(void) {
    make_file("shared", 3 * PG, 2);
    int fd = open("shared", O_RDWR);
    char *a = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = mmap(NULL, 3 * PG, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT_OK(a == MAP_FAILED || b == MAP_FAILED ? -1 : 0, "two shared mappings");
    memcpy(a + PG + 5, "SHARED", 6);
    EXPECT_EQ(memcmp(b + PG + 5, "SHARED", 6), 0, "the other mapping sees the write");
    char buf[16] = {0};
    pread(fd, buf, 6, PG + 5);
    EXPECT_STR(buf, "SHARED", "read sees the mapping's write");
    EXPECT_OK(msync(a, 3 * PG, MS_SYNC), "msync MS_SYNC");
    pwrite(fd, "WRITTEN", 7, 2 * PG + 1);
    EXPECT_EQ(memcmp(a + 2 * PG + 1, "WRITTEN", 7), 0, "the mapping sees write()");
    EXPECT_EQ(memcmp(b + 2 * PG + 1, "WRITTEN", 7), 0, "so does the other one");
    pid_t pid = fork();
    if (pid == 0) {
        memcpy(a + 100, "FROMCHILD", 9);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    EXPECT_EQ(memcmp(a + 100, "FROMCHILD", 9), 0, "a child's shared write reaches the parent");
    /* A shared page of a file in a new process, mapped afresh after the fork. */
    pid = fork();
    if (pid == 0) {
        int f2 = open("shared", O_RDWR);
        char *c = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0);
        memcpy(c + 200, "NEWMAP", 6);
        munmap(c, PG);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    EXPECT_EQ(memcmp(a + 200, "NEWMAP", 6), 0, "another process's own mapping is shared too");
    EXPECT_OK(munmap(b, 3 * PG), "munmap one");
    memcpy(a + 300, "LAST", 4);
    EXPECT_OK(munmap(a, 3 * PG), "munmap the last");
    close(fd);
    fd = open("shared", O_RDONLY);
    memset(buf, 0, sizeof buf);
    pread(fd, buf, 4, 300);
    EXPECT_STR(buf, "LAST", "munmap writes back");
    memset(buf, 0, sizeof buf);
    pread(fd, buf, 9, 100);
    EXPECT_STR(buf, "FROMCHILD", "the child's write is in the file");
    struct stat s;
    fstat(fd, &s);
    EXPECT_EQ(s.st_size, 3 * PG, "the size is unchanged");
    close(fd);

    /* A mapping longer than the file never grows it; fsync writes back too. */
    make_file("short", 100, 3);
    fd = open("short", O_RDWR);
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(p + 90, "0123456789ABCDEF", 16);
    EXPECT_OK(fsync(fd), "fsync");
    fstat(fd, &s);
    EXPECT_EQ(s.st_size, 100, "writes past the end do not extend the file");
    memset(buf, 0, sizeof buf);
    pread(fd, buf, 16, 90);
    EXPECT_STR(buf, "0123456789", "bytes within the file are written");
    munmap(p, PG);
    close(fd);
}

static void large(void) {
    long size = 4 * 1024 * 1024 + 123;
    make_file("large", size, 4);
    int fd = open("large", O_RDONLY);
    unsigned char *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    static unsigned char buf[4 * 1024 * 1024 + 123];
    long got = 0;
    while (got < size) {
        long n = pread(fd, buf + got, size - got, got);
        if (n <= 0)
            break;
        got += n;
    }
    EXPECT_EQ(sum(p, size), sum(buf, size), "a 4 MiB mapping matches read");
    /* Grow a smaller mapping in place or moved; the new part maps further file bytes. */
    unsigned char *q = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, PG);
    volatile unsigned char c = q[0];
    (void)c;
    unsigned char *r = mremap(q, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
    EXPECT_OK(r == MAP_FAILED ? -1 : 0, "mremap a file mapping");
    EXPECT_EQ(memcmp(r, buf + PG, 8 * PG), 0, "the grown mapping continues the file");
    munmap(r, 8 * PG);
    munmap(p, size);
    close(fd);
}

static void protections(void) {
    make_file("prot", PG, 5);
    int ro = open("prot", O_RDONLY);
    char *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    EXPECT_OK(p == MAP_FAILED ? -1 : 0, "shared read-only mapping of an O_RDONLY file");
    EXPECT_ERR(mprotect(p, PG, PROT_READ | PROT_WRITE), EACCES,
               "mprotect it writable");
    munmap(p, PG);
    p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    EXPECT_OK(p == MAP_FAILED ? -1 : 0, "private writable mapping of an O_RDONLY file");
    p[0] = 'Z';
    EXPECT_EQ(p[0], 'Z', "written privately");
    munmap(p, PG);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), EACCES,
               "shared writable mapping of an O_RDONLY file");
    close(ro);
    int wo = open("prot", O_WRONLY);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wo, 0), EACCES,
               "mapping an O_WRONLY file");
    close(wo);
    int ap = open("prot", O_RDWR | O_APPEND);
    p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ap, 0);
    EXPECT_OK(p == MAP_FAILED ? -1 : 0, "shared writable mapping of an O_APPEND open");
    munmap(p, PG);
    close(ap);
    int rw = open("prot", O_RDWR);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, rw, 100), EINVAL,
               "an unaligned offset");
    close(rw);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, rw, 0), EBADF, "a closed fd");
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dir, 0), ENODEV,
               "mapping a directory");
    close(dir);
    int pfd[2];
    pipe(pfd);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, pfd[0], 0), ENODEV,
               "mapping a pipe");
    close(pfd[0]);
    close(pfd[1]);
    int pth = open("prot", O_PATH);
    EXPECT_ERR((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, pth, 0), EBADF,
               "mapping an O_PATH descriptor");
    close(pth);

    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_ERR(msync(m + 1, PG, MS_SYNC), EINVAL, "msync of an unaligned address");
    EXPECT_ERR(msync(m, PG, MS_SYNC | MS_ASYNC), EINVAL, "msync with both SYNC and ASYNC");
    EXPECT_ERR(msync(m, PG, 0x100), EINVAL, "msync with an unknown flag");
    EXPECT_OK(msync(m, 2 * PG, MS_ASYNC), "msync of anonymous memory");
    munmap(m + PG, PG);
    EXPECT_ERR(msync(m, 2 * PG, MS_SYNC), ENOMEM, "msync over an unmapped page");
    munmap(m, PG);

    int z = open("/dev/zero", O_RDWR);
    char *zp = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, z, 0);
    EXPECT_OK(zp == MAP_FAILED ? -1 : 0, "mapping /dev/zero");
    int zero = zp[0] == 0 && zp[PG + 7] == 0;
    zp[3] = 1;
    EXPECT_EQ(zero && zp[3] == 1, 1, "/dev/zero maps writable zeros");
    munmap(zp, 2 * PG);
    close(z);
}

static void maps_line(void) {
    make_file("mapped-name", PG, 6);
    int fd = open("mapped-name", O_RDWR);
    char *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    char *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    int maps = open("/proc/self/maps", O_RDONLY);
    static char text[65536];
    long n = 0, r;
    while ((r = read(maps, text + n, sizeof text - 1 - n)) > 0)
        n += r;
    text[n] = 0;
    close(maps);
    char want_p[64], want_q[64];
    snprintf(want_p, sizeof want_p, "%lx-%lx r--s 00000000", (long)p, (long)p + PG);
    snprintf(want_q, sizeof want_q, "%lx-%lx rw-p 00000000", (long)q, (long)q + PG);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, want_p, strlen(want_p)) == 0 ||
            strncmp(line, want_q, strlen(want_q)) == 0) {
            char *slash = strrchr(line, '/');
            printf("maps: %.4s %s\n", strchr(line, ' ') + 1, slash ? slash + 1 : "(no name)");
        }
    }
    munmap(p, PG);
    munmap(q, PG);
    close(fd);
}

/* Edges: a 1 TiB shared mapping of a small file (grown further by mremap), truncation
 * under it, msync of all of it, children that write and unmap parts, mprotect to exec
 * of a read-only shared mapping, thousands of mappings of one file. */
static void edges(void) {
    struct sigaction sa = {0}, old_bus, old_segv;
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGSEGV, &sa, &old_segv);
    int fd = open("edges", O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, 3 * PG);
    char *p = mmap(NULL, 1UL << 40, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_OK(p == MAP_FAILED ? -1 : 0, "a 1 TiB shared mapping of a 3-page file");
    p[0] = 1;
    p[2 * PG] = 2;
    ftruncate(fd, 0);
    bus_code = 0;
    if (sigsetjmp(bus_jmp, 1) == 0) {
        p[PG] = 3;
        printf("an untouched page after truncation: no signal\n");
    } else {
        printf("an untouched page after truncation: SIGBUS code %d\n", bus_code);
    }
    ftruncate(fd, 2 * PG);
    p[PG] = 4;
    EXPECT_EQ(p[PG], 4, "the page is back once the file grows");
    EXPECT_OK(msync(p, 1UL << 40, MS_SYNC), "msync of the whole 1 TiB");
    char *q = mremap(p, 1UL << 40, 1UL << 41, MREMAP_MAYMOVE);
    EXPECT_OK(q == MAP_FAILED ? -1 : 0, "mremap to 2 TiB");
    if (q != MAP_FAILED)
        p = q;
    for (int i = 0; i < 20; i++) {
        pid_t c = fork();
        if (c == 0) {
            p[i] = (char)i;
            munmap(p + PG, PG);
            _exit(0);
        }
        waitpid(c, NULL, 0);
    }
    EXPECT_EQ(p[7], 7, "children's writes through the shared mapping");
    EXPECT_EQ(p[PG], 4, "a child's munmap leaves the parent's page");
    munmap(p + 2 * PG, 1UL << 30);
    EXPECT_OK(msync(p, 2 * PG, MS_SYNC), "msync after a partial munmap");
    munmap(p, 1UL << 41);
    int ro = open("edges", O_RDONLY);
    char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    close(ro);
    EXPECT_OK(mprotect(r, PG, PROT_READ | PROT_EXEC), "mprotect to exec a read-only shared mapping");
    munmap(r, PG);
    int made = 0;
    for (int i = 0; i < 20000; i++) {
        if (mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
            break;
        made++;
    }
    EXPECT_EQ(made, 20000, "20000 mappings of one file");
    close(fd);
    sigaction(SIGBUS, &old_bus, NULL);
    sigaction(SIGSEGV, &old_segv, NULL);
}

/* A shared mapping still there at exit: its writes must reach the file (the tree left
 * behind is compared with the native one). */
static void left_mapped(void) {
    make_file("at-exit", 2 * PG, 7);
    int fd = open("at-exit", O_RDWR);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(p + PG + 1, "WRITTEN THROUGH A MAPPING LEFT AT EXIT", 38);
    close(fd);
}

/* Whether reading `at` raises SIGBUS (the handler is on_bus). */
static const char *read_at(volatile char *at) {
    bus_code = 0;
    if (sigsetjmp(bus_jmp, 1) == 0) {
        volatile char c = *at;
        (void)c;
        return "reads";
    }
    return bus_code == BUS_ADRERR ? "SIGBUS (BUS_ADRERR)" : "SIGBUS (other code)";
}

/* Truncation under mappings that have their pages: shared and private (written, so
 * copied, and only read), through ftruncate, truncate and O_TRUNC. Pages wholly past
 * the new end go from every mapping (SIGBUS there); the shared mapping's last page reads
 * zeros past the end; once the file grows again the pages read zeros, and in another
 * process too. */
static void truncation(void) {
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, &old);
    for (int how = 0; how < 3; how++) {
        const char *name = how == 0 ? "ftruncate" : how == 1 ? "truncate" : "O_TRUNC";
        make_file("shrinks", 4 * PG, 7);
        int fd = open("shrinks", O_RDWR);
        char *sh = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        char *pw = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        char *pr = mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
        volatile long sum = 0;
        for (int i = 0; i < 4; i++) {
            sh[i * PG + 1] = 'S';
            pw[i * PG + 2] = 'P';
            sum += pr[i * PG];
        }
        int ready[2], go[2];
        pipe(ready);
        pipe(go);
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            /* Another address space with its own mapping of the file: it loses the
             * pages too. */
            char *c = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
            sum += c[3 * PG];
            char b;
            write(ready[1], "r", 1);
            read(go[0], &b, 1);
            printf("%s: another process's page past the end: %s\n",
                   how == 0 ? "ftruncate" : how == 1 ? "truncate" : "O_TRUNC",
                   read_at(c + 3 * PG));
            fflush(stdout);
            _exit(0);
        }
        char b;
        read(ready[0], &b, 1);
        long size = how == 2 ? 0 : PG + PG / 2;
        if (how == 0)
            EXPECT_OK(ftruncate(fd, size), "ftruncate under mappings");
        else if (how == 1)
            EXPECT_OK(truncate("shrinks", size), "truncate under mappings");
        else
            close(open("shrinks", O_RDWR | O_TRUNC));
        write(go[1], "g", 1);
        waitpid(child, NULL, 0);
        printf("%s: shared page past the end: %s\n", name, read_at(sh + 3 * PG));
        printf("%s: written private page past the end: %s\n", name, read_at(pw + 2 * PG + 2));
        printf("%s: read private page past the end: %s\n", name, read_at(pr + 2 * PG));
        if (size) {
            printf("%s: shared last page past the end: %d\n", name, sh[PG + PG / 2 + 1]);
            printf("%s: written private page before the end: %c\n", name, pw[2]);
        }
        EXPECT_OK(ftruncate(fd, 4 * PG), "growing the file again");
        printf("%s: regrown page, shared %d private %d %d\n", name, sh[3 * PG + 1],
               pw[2 * PG + 2], pr[2 * PG]);
        char buf[2];
        pread(fd, buf, 2, 3 * PG);
        printf("%s: regrown page through read: %d %d\n", name, buf[0], buf[1]);
        for (int i = 0; i < 2; i++) {
            close(ready[i]);
            close(go[i]);
        }
        munmap(sh, 4 * PG);
        munmap(pw, 4 * PG);
        munmap(pr, 4 * PG);
        close(fd);
    }
    sigaction(SIGBUS, &old, NULL);
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    private_read();
    private_write();
    shared();
    large();
    protections();
    maps_line();
    edges();
    truncation();
    left_mapped();
    return check_summary();
}
