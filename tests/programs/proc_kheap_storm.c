/* Storms of kernel objects (for hull's hostile tests; it refuses to run unless it is
 * pid 1): empty files in /tmp until creation fails, then pipes holding 64 KiB each in 40
 * processes until each fails, single-page mappings until mmap fails, byte-range locks
 * and POSIX timers. Each storm must end with an error (ENOSPC, ENFILE, EMFILE
 * or ENOMEM), never with the sandbox's end, and what it took comes back when it is
 * released. */
#include "proc_util.h"
#include <sys/mman.h>

int main(void) {
    proc_init();
    if (getpid() != 1) {
        printf("refusing to run outside the sandbox (not pid 1)\n");
        return 2;
    }
    char name[80];
    int n = 0;
    for (;;) {
        snprintf(name, sizeof name, "/tmp/storm-%09d-with-a-long-name-for-the-directory", n);
        int fd = open(name, O_CREAT | O_WRONLY, 0644);
        if (fd < 0) {
            printf("file storm stopped by %s\n", errno == ENOSPC ? "ENOSPC" : proc_errname(errno));
            break;
        }
        close(fd);
        if (++n == 5000000) {
            printf("file storm did not stop\n");
            break;
        }
    }
    printf("files created: %s\n", n > 1000 ? "many" : "few");
    int removed = 0;
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "/tmp/storm-%09d-with-a-long-name-for-the-directory", i);
        removed += unlink(name) == 0;
    }
    CHECK(removed == n, "every file removed");
    int fd = open("/tmp/after-the-storm", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0, "files can be created again");
    close(fd);

    /* Single-page mappings with gaps between them (so none merge), until ENOMEM. */
    char *base = (char *)0x100000000;
    long maps = 0;
    for (;;) {
        void *p = mmap(base + maps * 8192, 4096, PROT_READ,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == MAP_FAILED) {
            printf("mapping storm stopped by %s\n", proc_errname(errno));
            break;
        }
        if (++maps == 1000000) {
            printf("mapping storm did not stop\n");
            break;
        }
    }
    long unmapped = 0;
    for (long i = 0; i < maps; i++)
        unmapped += munmap(base + i * 8192, 4096) == 0;
    CHECK(unmapped == maps, "every mapping unmapped");
    void *again = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(again != MAP_FAILED, "mmap works again");

    /* Byte-range locks on every other byte of a file, until F_SETLK fails; then timers
     * and queued signals, which RLIMIT_SIGPENDING bounds. */
    int lf = open("/tmp/storm-locks", O_CREAT | O_RDWR, 0644);
    long locks = 0;
    for (;;) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = locks * 2,
                           .l_len = 1};
        if (fcntl(lf, F_SETLK, &fl) != 0) {
            printf("lock storm stopped by %s\n", errno == ENOLCK ? "ENOLCK" : proc_errname(errno));
            break;
        }
        if (++locks == 10000000) {
            printf("lock storm did not stop\n");
            break;
        }
    }
    close(lf); /* drops them all */
    struct flock one = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    lf = open("/tmp/storm-locks", O_RDWR);
    CHECK(fcntl(lf, F_SETLK, &one) == 0, "locks work again");
    close(lf);
    long timers = 0;
    for (;;) {
        timer_t id;
        struct sigevent sev = {.sigev_notify = SIGEV_NONE};
        if (timer_create(CLOCK_MONOTONIC, &sev, &id) != 0) {
            printf("timer storm stopped by %s after %ld\n", proc_errname(errno), timers);
            break;
        }
        if (++timers == 10000000)
            break;
    }

    int bad = 0;
    for (int c = 0; c < 40; c++) {
        pid_t p = fork();
        if (p == 0) {
            static char big[65536];
            int fds[2];
            for (;;) {
                if (pipe(fds) != 0)
                    _exit(errno == EMFILE ? 1 : errno == ENFILE ? 2 : 9);
                if (write(fds[1], big, sizeof big) < 0)
                    _exit(errno == ENOMEM ? 3 : 8);
            }
        }
        if (p < 0) {
            /* The storm's own children hold the kernel's memory until they end, so a
             * fork may fail for want of it (as on Linux); one more child must end first. */
            int err = errno, st;
            if ((err == EAGAIN || err == ENOMEM) && wait(&st) > 0) {
                if (!WIFEXITED(st) || WEXITSTATUS(st) > 3)
                    bad++;
                c--;
                continue;
            }
            printf("fork failed: %s\n", proc_errname(err));
            break;
        }
    }
    int st;
    while (wait(&st) > 0)
        if (!WIFEXITED(st) || WEXITSTATUS(st) > 3)
            bad++;
    printf("pipe storm: %d processes ended otherwise than EMFILE/ENFILE/ENOMEM\n", bad);
    int fds[2];
    CHECK(pipe(fds) == 0 && write(fds[1], "ok", 2) == 2, "pipes work again after the storm");
    return check_summary();
}
