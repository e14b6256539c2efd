/* Scheduling calls: sched_yield, sched_getaffinity/sched_setaffinity (a one-CPU mask
 * reads back, children inherit it), getpriority/setpriority/nice (values read back
 * relative to the starting nice value, inherited across fork, set on a child, on a
 * process group), sched_getscheduler/sched_getparam/sched_get_priority_min/max, and
 * their errors. Nothing printed depends on the number of CPUs or the starting nice
 * value. sched_getscheduler/sched_getparam go through syscall(): musl's wrappers return
 * ENOSYS without asking the kernel. */
#include "proc_util.h"
#include <sched.h>
#include <sys/resource.h>

static int clampnice(int n) {
    return n > 19 ? 19 : n;
}

int main(void) {
    proc_init();
    int yields = 0;
    for (int i = 0; i < 1000; i++)
        yields += sched_yield() == 0;
    printf("sched_yield x1000: %d returned 0\n", yields);

    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity(0)");
    int count = CPU_COUNT(&set);
    CHECK(count >= 1, "at least one CPU in the mask");
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &set))
            first = i;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity to one CPU");
    cpu_set_t back;
    CPU_ZERO(&back);
    sched_getaffinity(0, sizeof back, &back);
    CHECK(CPU_COUNT(&back) == 1 && CPU_ISSET(first, &back), "the one-CPU mask reads back");
    pid_t c = xfork();
    if (c == 0) {
        cpu_set_t m;
        CPU_ZERO(&m);
        sched_getaffinity(0, sizeof m, &m);
        _exit(CPU_COUNT(&m) == 1 && CPU_ISSET(first, &m) ? 0 : 1);
    }
    print_status("a child inherits the mask (0)", xwait(c));
    CHECK(sched_setaffinity(0, sizeof set, &set) == 0, "the whole mask restored");
    cpu_set_t empty;
    CPU_ZERO(&empty);
    PRINT_RES("sched_setaffinity(empty mask)", sched_setaffinity(0, sizeof empty, &empty));
    pid_t dead = xfork();
    if (dead == 0)
        _exit(0);
    xwait(dead);
    PRINT_RES("sched_getaffinity(reaped pid)", sched_getaffinity(dead, sizeof set, &set));

    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    CHECK(errno == 0 && base >= -20 && base <= 19, "getpriority(PRIO_PROCESS, 0)");
    CHECK(getpriority(PRIO_PROCESS, getpid()) == base, "getpriority(self) agrees");
    CHECK(setpriority(PRIO_PROCESS, 0, clampnice(base + 2)) == 0, "setpriority(+2)");
    printf("nice now base+2 (capped at 19): %s\n",
           getpriority(PRIO_PROCESS, 0) == clampnice(base + 2) ? "yes" : "no");
    errno = 0;
    int n = nice(1);
    printf("nice(1) returns the new value base+3: %s\n",
           n == clampnice(base + 3) && errno == 0 ? "yes" : "no");
    int rd[2], go[2];
    pipe(rd);
    pipe(go);
    c = xfork();
    if (c == 0) {
        int ok = getpriority(PRIO_PROCESS, 0) == clampnice(base + 3);
        write(rd[1], "r", 1);
        char x;
        read(go[0], &x, 1); /* the parent has changed our value */
        int p = getpriority(PRIO_PROCESS, 0);
        _exit((ok ? 1 : 0) | (p == clampnice(base + 5) ? 2 : 0));
    }
    char r0;
    read(rd[0], &r0, 1);
    CHECK(setpriority(PRIO_PROCESS, c, clampnice(base + 5)) == 0, "setpriority on the child");
    CHECK(getpriority(PRIO_PROCESS, c) == clampnice(base + 5), "the child's value read back");
    write(go[1], "g", 1);
    close(rd[0]);
    close(rd[1]);
    close(go[0]);
    close(go[1]);
    int st = xwait(c);
    printf("child inherited base+3 %d, saw base+5 set by the parent %d\n",
           (WEXITSTATUS(st) & 1) != 0, (WEXITSTATUS(st) & 2) != 0);

    /* A process group of two children; PRIO_PGRP sets both and reads the lowest. */
    int pp[2];
    pipe(pp);
    pid_t g1 = xfork();
    if (g1 == 0) {
        setpgid(0, 0);
        close(pp[1]);
        char x;
        read(pp[0], &x, 1);
        _exit(0);
    }
    setpgid(g1, g1);
    pid_t g2 = xfork();
    if (g2 == 0) {
        close(pp[1]);
        char x;
        read(pp[0], &x, 1);
        _exit(0);
    }
    setpgid(g2, g1);
    CHECK(setpriority(PRIO_PGRP, g1, clampnice(base + 6)) == 0, "setpriority(PRIO_PGRP)");
    printf("both members at base+6: %s\n",
           getpriority(PRIO_PROCESS, g1) == clampnice(base + 6) &&
                   getpriority(PRIO_PROCESS, g2) == clampnice(base + 6)
               ? "yes"
               : "no");
    setpriority(PRIO_PROCESS, g2, clampnice(base + 8));
    printf("getpriority(PRIO_PGRP) is the lowest nice of the group: %s\n",
           getpriority(PRIO_PGRP, g1) == clampnice(base + 6) ? "yes" : "no");
    close(pp[1]);
    close(pp[0]);
    xwait(g1);
    xwait(g2);

    PRINT_RES("getpriority(PRIO_PROCESS, reaped pid)", getpriority(PRIO_PROCESS, dead));
    PRINT_RES("setpriority(PRIO_PROCESS, reaped pid)", setpriority(PRIO_PROCESS, dead, 10));
    PRINT_RES("getpriority(which=9)", getpriority(9, 0));
    PRINT_RES("setpriority(PRIO_PGRP, empty group)", setpriority(PRIO_PGRP, dead, 10));

    printf("sched_getscheduler(0) is SCHED_OTHER: %s\n",
           syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER ? "yes" : "no");
    struct sched_param sp = {.sched_priority = 99};
    CHECK(syscall(SYS_sched_getparam, 0, &sp) == 0 && sp.sched_priority == 0, "sched_getparam: priority 0");
    printf("priority ranges: FIFO %d..%d, RR %d..%d, OTHER %d..%d\n",
           sched_get_priority_min(SCHED_FIFO), sched_get_priority_max(SCHED_FIFO),
           sched_get_priority_min(SCHED_RR), sched_get_priority_max(SCHED_RR),
           sched_get_priority_min(SCHED_OTHER), sched_get_priority_max(SCHED_OTHER));
    PRINT_RES("sched_get_priority_max(77)", sched_get_priority_max(77));
    PRINT_RES("sched_getscheduler(reaped pid)", syscall(SYS_sched_getscheduler, dead));
    struct timespec rr;
    CHECK(sched_rr_get_interval(0, &rr) == 0, "sched_rr_get_interval");
    return check_summary();
}
