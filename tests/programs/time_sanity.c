/* Clocks and sleeps: sanity relations only, never the values themselves. */
#include "hull_test.h"
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

static int valid(const struct timespec *t) { return t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000L; }

int main(void) {
    struct timespec rt, mono, a, b, res;
    CHECK(clock_gettime(CLOCK_REALTIME, &rt) == 0 && valid(&rt), "clock_gettime(REALTIME)");
    time_t now = time(NULL);
    CHECK(rt.tv_sec >= 1704067200, "REALTIME after 2024-01-01");
    /* time() may read a coarser clock that lags by up to a tick, so allow one second
     * either way. */
    CHECK(now - rt.tv_sec >= -1 && now - rt.tv_sec <= 1, "time() agrees with REALTIME");
    struct timeval tv;
    CHECK(gettimeofday(&tv, NULL) == 0, "gettimeofday");
    CHECK(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday usec in range");
    long long d = (tv.tv_sec * 1000000LL + tv.tv_usec) - ns(&rt) / 1000;
    CHECK(d > -1000000 && d < 1000000, "gettimeofday agrees with REALTIME");

    CHECK(clock_gettime(CLOCK_MONOTONIC, &mono) == 0 && valid(&mono), "clock_gettime(MONOTONIC)");
    int monotonic = 1;
    a = mono;
    for (int i = 0; i < 10000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (ns(&b) < ns(&a) || !valid(&b))
            monotonic = 0;
        a = b;
    }
    CHECK(monotonic, "MONOTONIC never goes backwards");

    static const struct {
        clockid_t id;
        const char *name;
    } clocks[] = {
        {CLOCK_REALTIME, "REALTIME"},
        {CLOCK_MONOTONIC, "MONOTONIC"},
        {CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW"},
        {CLOCK_BOOTTIME, "BOOTTIME"},
        {CLOCK_REALTIME_COARSE, "REALTIME_COARSE"},
        {CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE"},
        {CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID"},
        {CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME_ID"},
    };
    for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        char name[80];
        struct timespec t;
        snprintf(name, sizeof name, "clock_gettime(%s)", clocks[i].name);
        CHECK(clock_gettime(clocks[i].id, &t) == 0 && valid(&t), name);
    }
    CHECK(clock_getres(CLOCK_REALTIME, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0 &&
              res.tv_nsec <= 10000000,
          "clock_getres(REALTIME) in (0, 10ms]");
    CHECK(clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0 &&
              res.tv_nsec <= 10000000,
          "clock_getres(MONOTONIC) in (0, 10ms]");
    errno = 0;
    CHECK(clock_gettime((clockid_t)12345, &a) == -1 && errno == EINVAL, "unknown clock EINVAL");

    /* nanosleep 50 ms: at least 50 ms, well under a second. */
    struct timespec req = {0, 50 * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK(nanosleep(&req, NULL) == 0, "nanosleep 50ms returns 0");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long slept = ns(&b) - ns(&a);
    CHECK(slept >= 50000000LL, "nanosleep slept at least 50ms");
    CHECK(slept < 1000000000LL, "nanosleep slept less than 1s");

    /* clock_nanosleep to an absolute MONOTONIC deadline 30 ms ahead. */
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec deadline = a;
    deadline.tv_nsec += 30000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    CHECK(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == 0, "clock_nanosleep ABSTIME");
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(ns(&b) >= ns(&deadline) && ns(&b) - ns(&deadline) < 1000000000LL, "woke after the deadline");

    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK(usleep(10000) == 0, "usleep 10ms");
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(ns(&b) - ns(&a) >= 10000000LL, "usleep slept at least 10ms");

    struct timespec badreq = {0, 1000000000L};
    errno = 0;
    CHECK(nanosleep(&badreq, NULL) == -1 && errno == EINVAL, "nanosleep tv_nsec=1e9 EINVAL");
    struct timespec zero = {0, 0};
    CHECK(nanosleep(&zero, NULL) == 0, "nanosleep 0 returns 0");

    /* REALTIME advanced by at least the time slept. */
    struct timespec rt2;
    clock_gettime(CLOCK_REALTIME, &rt2);
    CHECK(ns(&rt2) - ns(&rt) >= 90000000LL, "REALTIME advanced across the sleeps");
    return check_summary();
}
