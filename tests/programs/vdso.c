/* The vDSO: named by AT_SYSINFO_EHDR, an ELF image shown as [vdso] (with [vvar]) in
 * /proc/self/maps, and the time calls libc makes through it agree with the system calls
 * (each vDSO reading falls between two kernel readings of the same clock). */
#include "hull_test.h"
#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long ns_of(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

static long long sys_clock(clockid_t id) {
    struct timespec t;
    syscall(SYS_clock_gettime, id, &t);
    return ns_of(t);
}

static void brackets(clockid_t id, const char *name) {
    int ok = 1;
    for (int i = 0; i < 1000; i++) {
        long long a = sys_clock(id);
        struct timespec t;
        ok &= clock_gettime(id, &t) == 0;
        long long b = sys_clock(id);
        ok &= a <= ns_of(t) && ns_of(t) <= b && t.tv_nsec < 1000000000L;
    }
    char what[96];
    snprintf(what, sizeof what, "clock_gettime(%s) falls between two system calls", name);
    CHECK(ok, what);
}

int main(void) {
    const unsigned char *ehdr = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    CHECK(ehdr != NULL, "AT_SYSINFO_EHDR is set");
    CHECK(ehdr && memcmp(ehdr, ELFMAG, SELFMAG) == 0, "it points at an ELF image");
    CHECK(ehdr && ((const Elf64_Ehdr *)ehdr)->e_type == ET_DYN, "a shared object");

    int fd = open("/proc/self/maps", O_RDONLY);
    static char maps[65536];
    long n = 0, r;
    while ((r = read(fd, maps + n, sizeof maps - 1 - n)) > 0)
        n += r;
    close(fd);
    char want[64];
    snprintf(want, sizeof want, "%lx-", (unsigned long)ehdr);
    char *line = strstr(maps, want);
    CHECK(line && strstr(line, "[vdso]") && strstr(line, "[vdso]") < strchr(line, '\n'),
          "/proc/self/maps shows [vdso] at that address");
    CHECK(strstr(maps, "r-xp") && strstr(maps, "[vvar]"), "and a [vvar] page");

    brackets(CLOCK_REALTIME, "REALTIME");
    brackets(CLOCK_MONOTONIC, "MONOTONIC");
    brackets(CLOCK_BOOTTIME, "BOOTTIME");
    brackets(CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW");

    struct timespec t0, t1;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0) == 0, "CPU-time clocks work");
    CHECK(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1) == 0, "the thread's too");
    errno = 0;
    CHECK(clock_gettime((clockid_t)99, &t0) == -1 && errno == EINVAL, "an unknown clock is EINVAL");
    CHECK(clock_getres(CLOCK_MONOTONIC, &t0) == 0 && t0.tv_sec == 0 && t0.tv_nsec == 1,
          "clock_getres(MONOTONIC) is 1 ns");
    CHECK(clock_getres(CLOCK_MONOTONIC_COARSE, &t0) == 0 && t0.tv_sec == 0 && t0.tv_nsec > 1,
          "clock_getres(MONOTONIC_COARSE) is coarser");
    CHECK(clock_getres(CLOCK_REALTIME, NULL) == 0, "clock_getres with a NULL result");

    long long a = sys_clock(CLOCK_REALTIME);
    struct timeval tv;
    CHECK(gettimeofday(&tv, NULL) == 0, "gettimeofday");
    long long b = sys_clock(CLOCK_REALTIME);
    long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
    CHECK(a / 1000 <= us && us <= b / 1000 && tv.tv_usec < 1000000, "gettimeofday agrees");
    time_t s = time(NULL), s2;
    CHECK(time(&s2) >= s && s2 >= s && s2 - s <= 1, "time() agrees with itself");
    CHECK(s >= a / 1000000000LL && s <= sys_clock(CLOCK_REALTIME) / 1000000000LL, "and with REALTIME");

    /* Sleeping 20 ms moves the vDSO's monotonic clock by at least that. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec d = {0, 20000000};
    nanosleep(&d, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(ns_of(t1) - ns_of(t0) >= 20000000, "a 20 ms sleep shows in the vDSO clock");
    return check_summary();
}
