/*
 * hull's vDSO: the time calls a libc makes through the vDSO (AT_SYSINFO_EHDR), answered
 * in user mode from the TSC and the guest kernel's clock anchor in the [vvar] page, so
 * reading the time costs no kernel entry (each one is a host world switch under
 * kvm_pvm). Anything else falls back to the real system call. Built by kernel/build.rs
 * into a relocation-free shared object; `kernel/src/vdso.rs` maps it into every process.
 * The arithmetic must match `kernel/src/time.rs` and `kernel/src/syscall/time.rs`.
 */
#include <stdint.h>

/* Written by the guest kernel (`vdso::Vvar`), read-only here. */
struct hull_vvar {
    uint64_t tsc0;  /* TSC at the anchor */
    uint64_t mono0; /* CLOCK_MONOTONIC at the anchor, ns */
    uint64_t real0; /* CLOCK_REALTIME at the anchor, ns */
    uint64_t mult;  /* ns per TSC tick, 32.32 fixed point */
};

/* The page just below the vDSO's first byte (vdso.lds). */
extern const struct hull_vvar hull_vvar __attribute__((visibility("hidden")));

struct kernel_timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};
struct kernel_timeval {
    int64_t tv_sec;
    int64_t tv_usec;
};

#define NS 1000000000ULL

static inline uint64_t rdtsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline long sys2(long nr, long a, long b) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

static inline uint64_t ns_since_anchor(void) {
    const volatile struct hull_vvar *v = &hull_vvar;
    uint64_t tsc = rdtsc(), t0 = v->tsc0;
    uint64_t ticks = tsc > t0 ? tsc - t0 : 0;
    return (uint64_t)(((unsigned __int128)ticks * v->mult) >> 32);
}

static inline uint64_t realtime_ns(void) { return hull_vvar.real0 + ns_since_anchor(); }
static inline uint64_t monotonic_ns(void) { return hull_vvar.mono0 + ns_since_anchor(); }

/* The clock's value in ns, or -1 for clocks the kernel must answer. */
static inline int64_t clock_value(long id) {
    switch (id) {
    case 0: /* REALTIME */
    case 5: /* REALTIME_COARSE */
        return (int64_t)realtime_ns();
    case 11: /* TAI */
        return (int64_t)(realtime_ns() + 37 * NS);
    case 1: /* MONOTONIC */
    case 4: /* MONOTONIC_RAW */
    case 6: /* MONOTONIC_COARSE */
    case 7: /* BOOTTIME */
        return (int64_t)monotonic_ns();
    default:
        return -1;
    }
}

int __vdso_clock_gettime(long id, struct kernel_timespec *ts) {
    int64_t ns = clock_value(id);
    if (ns < 0)
        return (int)sys2(228, id, (long)ts);
    ts->tv_sec = ns / NS;
    ts->tv_nsec = ns % NS;
    return 0;
}

int __vdso_clock_getres(long id, struct kernel_timespec *res) {
    if (clock_value(id) < 0)
        return (int)sys2(229, id, (long)res);
    if (res) {
        res->tv_sec = 0;
        res->tv_nsec = (id == 5 || id == 6) ? 4000000 : 1;
    }
    return 0;
}

int __vdso_gettimeofday(struct kernel_timeval *tv, void *tz) {
    if (tv) {
        uint64_t ns = realtime_ns();
        tv->tv_sec = ns / NS;
        tv->tv_usec = (ns % NS) / 1000;
    }
    if (tz)
        *(uint64_t *)tz = 0;
    return 0;
}

long __vdso_time(long *t) {
    long s = (long)(realtime_ns() / NS);
    if (t)
        *t = s;
    return s;
}

/* One CPU, one node. */
long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache) {
    (void)cache;
    if (cpu)
        *cpu = 0;
    if (node)
        *node = 0;
    return 0;
}

int clock_gettime(long, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int clock_getres(long, struct kernel_timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
int gettimeofday(struct kernel_timeval *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
