/* Timers that send signals: alarm (the remaining seconds, rounded as Linux does; shared
 * with ITIMER_REAL), setitimer/getitimer ITIMER_REAL (one-shot, periodic, read back,
 * disarmed, errors), POSIX timers with timer_create(CLOCK_MONOTONIC or CLOCK_REALTIME,
 * SIGEV_SIGNAL) and timer_settime (one-shot, periodic, absolute, read back with
 * timer_gettime, overruns while the signal is blocked, SIGEV_NONE, timer_delete, errors),
 * and what fork does to timers (a child inherits neither alarm nor POSIX timers).
 * Only lower bounds of elapsed times are checked. */
#include "proc_util.h"
#include <sys/time.h>

static volatile sig_atomic_t alrm_hits;

static void on_alrm(int s) {
    (void)s;
    alrm_hits++;
}

/* Sleeps up to 1 ms; a signal ends it early. Loops over it are bounded, so that a
 * timer that never fires fails the test instead of hanging it. */
static void pause_briefly(void) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static long long tv_us(struct timeval tv) {
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void alarms(void) {
    alarm(0);
    printf("alarm(10) = %u\n", alarm(10));
    printf("alarm(5) = %u (the 10 s one, rounded)\n", alarm(5));
    struct itimerval it;
    getitimer(ITIMER_REAL, &it);
    printf("getitimer after alarm(5): value in (4 s, 5 s] %s, no interval %s\n",
           tv_us(it.it_value) > 4000000 && tv_us(it.it_value) <= 5000000 ? "yes" : "no",
           tv_us(it.it_interval) == 0 ? "yes" : "no");
    pid_t c = xfork();
    if (c == 0)
        _exit((int)alarm(0));
    print_status("the child's alarm(0) (not inherited: 0)", xwait(c));
    printf("alarm(0) = %u\n", alarm(0));
    printf("alarm(0) again = %u\n", alarm(0));
    /* A sub-second remainder rounds up: setitimer 1.6 s, then alarm(0) says 2. */
    struct itimerval v = {{0, 0}, {1, 600000}};
    setitimer(ITIMER_REAL, &v, NULL);
    printf("alarm(0) after setitimer(1.6 s) = %u\n", alarm(0));
    v.it_value.tv_sec = 0;
    v.it_value.tv_usec = 300000;
    setitimer(ITIMER_REAL, &v, NULL);
    printf("alarm(0) after setitimer(0.3 s) = %u\n", alarm(0));
}

static void itimers(void) {
    set_handler(SIGALRM, on_alrm, 0);
    struct itimerval it, old;
    getitimer(ITIMER_REAL, &it);
    printf("getitimer with nothing armed: zero %s\n",
           tv_us(it.it_value) == 0 && tv_us(it.it_interval) == 0 ? "yes" : "no");
    /* Periodic: 10 ms, five ticks taken with sigwaitinfo. */
    block_sig(SIGALRM);
    struct itimerval per = {{0, 10000}, {0, 10000}};
    long long t0 = now_ns();
    CHECK(setitimer(ITIMER_REAL, &per, NULL) == 0, "setitimer periodic 10 ms");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    int ticks = 0;
    for (int i = 0; i < 5; i++) {
        siginfo_t si;
        if (sigwaitinfo(&s, &si) == SIGALRM && si.si_code == SI_KERNEL)
            ticks++;
    }
    long long el = now_ns() - t0;
    printf("periodic ITIMER_REAL: %d ticks with si_code SI_KERNEL, at least 50 ms %s\n", ticks,
           el >= 50000000 ? "yes" : "no");
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, &old);
    printf("setitimer's old value: interval 10 ms %s, value in (0, 10 ms] %s\n",
           tv_us(old.it_interval) == 10000 ? "yes" : "no",
           tv_us(old.it_value) > 0 && tv_us(old.it_value) <= 10000 ? "yes" : "no");
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) > 0) {
    }
    unblock_sig(SIGALRM);

    /* One-shot with a handler. */
    alrm_hits = 0;
    struct itimerval one = {{0, 0}, {0, 15000}};
    t0 = now_ns();
    setitimer(ITIMER_REAL, &one, NULL);
    getitimer(ITIMER_REAL, &it);
    printf("armed 15 ms: getitimer value in (0, 15 ms] %s\n",
           tv_us(it.it_value) > 0 && tv_us(it.it_value) <= 15000 ? "yes" : "no");
    for (int i = 0; i < 5000 && !alrm_hits; i++)
        pause_briefly();
    el = now_ns() - t0;
    getitimer(ITIMER_REAL, &it);
    printf("one-shot: handler ran %d, after at least 15 ms %s, disarmed %s\n", (int)alrm_hits,
           el >= 15000000 ? "yes" : "no", tv_us(it.it_value) == 0 ? "yes" : "no");

    struct itimerval bad = {{0, 0}, {0, 1000000}};
    PRINT_RES("setitimer with tv_usec 1000000", setitimer(ITIMER_REAL, &bad, NULL));
    PRINT_RES("setitimer(which=7)", setitimer(7, &one, NULL));
    PRINT_RES("getitimer(which=7)", getitimer(7, &it));
    signal(SIGALRM, SIG_DFL);
}

static volatile sig_atomic_t t_hits, t_value_ok, t_code_ok;

static void on_timer(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)uc;
    t_hits++;
    t_value_ok = si->si_value.sival_int == 77;
    t_code_ok = si->si_code == SI_TIMER;
}

static long long ts_ns(struct timespec t) {
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void posix_timers(clockid_t clk, const char *name) {
    printf("%s:\n", name);
    set_action(SIGUSR1, on_timer, 0);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 77;
    timer_t t;
    CHECK(timer_create(clk, &ev, &t) == 0, "  timer_create");
    struct itimerspec cur;
    timer_gettime(t, &cur);
    printf("  new timer is disarmed: %s\n", ts_ns(cur.it_value) == 0 ? "yes" : "no");

    /* One-shot, relative. */
    t_hits = 0;
    struct itimerspec once = {{0, 0}, {0, 10000000}};
    long long t0 = now_ns();
    timer_settime(t, 0, &once, NULL);
    for (int i = 0; i < 5000 && !t_hits; i++)
        pause_briefly();
    printf("  one-shot 10 ms: handler ran %d, SI_TIMER %d, value 77 %d, at least 10 ms %s\n",
           (int)t_hits, (int)t_code_ok, (int)t_value_ok, now_ns() - t0 >= 10000000 ? "yes" : "no");

    /* Periodic, taken with sigwaitinfo. */
    block_sig(SIGUSR1);
    struct itimerspec per = {{0, 5000000}, {0, 5000000}};
    timer_settime(t, 0, &per, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    int good = 0;
    for (int i = 0; i < 6; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (sigwaitinfo(&s, &si) == SIGUSR1 && si.si_code == SI_TIMER && si.si_value.sival_int == 77)
            good++;
    }
    printf("  periodic 5 ms: %d of 6 signals with SI_TIMER and the value\n", good);
    timer_gettime(t, &cur);
    printf("  timer_gettime: interval 5 ms %s, value in (0, 5 ms] %s\n",
           ts_ns(cur.it_interval) == 5000000 ? "yes" : "no",
           ts_ns(cur.it_value) > 0 && ts_ns(cur.it_value) <= 5000000 ? "yes" : "no");

    /* Overruns: the signal stays blocked for 40 ms, one signal is queued and the rest
     * counted as overruns. */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, NULL, &zero) > 0) {
    }
    msleep(40);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int sig = sigtimedwait(&s, &si, &zero);
    int again = sigtimedwait(&s, NULL, &zero);
    printf("  after 40 ms blocked: one signal %s, a second one %s, si_overrun >= 4 %s\n",
           sig == SIGUSR1 ? "yes" : "no", again > 0 ? "yes" : "no", si.si_overrun >= 4 ? "yes" : "no");
    struct itimerspec stop = {{0, 0}, {0, 0}}, prev;
    timer_settime(t, 0, &stop, &prev);
    printf("  disarmed; the old setting's interval 5 ms %s\n",
           ts_ns(prev.it_interval) == 5000000 ? "yes" : "no");
    while (sigtimedwait(&s, NULL, &zero) > 0) {
    }

    /* Absolute expiry in the past fires at once. */
    struct timespec nowt;
    clock_gettime(clk, &nowt);
    struct itimerspec past = {{0, 0}, {nowt.tv_sec > 1 ? nowt.tv_sec - 1 : 0, 1}};
    timer_settime(t, TIMER_ABSTIME, &past, NULL);
    struct timespec wait100 = {0, 100000000};
    sig = sigtimedwait(&s, &si, &wait100);
    printf("  TIMER_ABSTIME in the past: fires at once %s\n", sig == SIGUSR1 ? "yes" : "no");
    /* Absolute 20 ms ahead. */
    clock_gettime(clk, &nowt);
    long long target = ts_ns(nowt) + 20000000;
    struct itimerspec ahead = {{0, 0}, {target / 1000000000LL, target % 1000000000LL}};
    timer_settime(t, TIMER_ABSTIME, &ahead, NULL);
    sig = sigtimedwait(&s, &si, &wait100);
    clock_gettime(clk, &nowt);
    printf("  TIMER_ABSTIME 20 ms ahead: fired %s, not early %s\n", sig == SIGUSR1 ? "yes" : "no",
           ts_ns(nowt) >= target ? "yes" : "no");

    /* The child does not inherit the timer. */
    pid_t c = xfork();
    if (c == 0) {
        struct itimerspec x;
        errno = 0;
        int r = timer_gettime(t, &x);
        _exit(r == -1 && errno == EINVAL ? 0 : 1);
    }
    print_status("  timer_gettime in a child (EINVAL: 0)", xwait(c));

    CHECK(timer_delete(t) == 0, "  timer_delete");
    PRINT_RES("  timer_settime after timer_delete", timer_settime(t, 0, &once, NULL));
    unblock_sig(SIGUSR1);
    signal(SIGUSR1, SIG_DFL);
}

static void timer_misc(void) {
    /* SIGEV_NONE: no signal, but the countdown runs. */
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    timer_t t;
    CHECK(timer_create(CLOCK_MONOTONIC, &ev, &t) == 0, "timer_create SIGEV_NONE");
    struct itimerspec v = {{0, 0}, {5, 0}}, a, b;
    timer_settime(t, 0, &v, NULL);
    timer_gettime(t, &a);
    msleep(10);
    timer_gettime(t, &b);
    printf("SIGEV_NONE timer counts down: %s\n",
           ts_ns(b.it_value) < ts_ns(a.it_value) && ts_ns(a.it_value) <= 5000000000LL ? "yes" : "no");
    timer_delete(t);

    /* Two timers, two signals, distinct ids. */
    timer_t t1, t2;
    struct sigevent e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    e1.sigev_notify = e2.sigev_notify = SIGEV_SIGNAL;
    e1.sigev_signo = SIGRTMIN;
    e2.sigev_signo = SIGRTMIN + 1;
    e1.sigev_value.sival_int = 1;
    e2.sigev_value.sival_int = 2;
    timer_create(CLOCK_MONOTONIC, &e1, &t1);
    timer_create(CLOCK_MONOTONIC, &e2, &t2);
    printf("two timers have distinct ids: %s\n", t1 != t2 ? "yes" : "no");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    sigaddset(&s, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct itimerspec x1 = {{0, 0}, {0, 5000000}}, x2 = {{0, 0}, {0, 10000000}};
    timer_settime(t2, 0, &x2, NULL);
    timer_settime(t1, 0, &x1, NULL);
    msleep(30);
    siginfo_t si;
    struct timespec zero = {0, 0};
    printf("both fired, taken lowest signal first:");
    int sig;
    while ((sig = sigtimedwait(&s, &si, &zero)) > 0)
        printf(" %s:%d", sig_name(sig), si.si_value.sival_int);
    printf("\n");
    timer_delete(t1);
    timer_delete(t2);
    sigprocmask(SIG_UNBLOCK, &s, NULL);

    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    PRINT_RES("timer_create with a bad clock", timer_create((clockid_t)77, &ev, &t));
    ev.sigev_signo = 0;
    ev.sigev_notify = 1234;
    PRINT_RES("timer_create with a bad sigev_notify", timer_create(CLOCK_MONOTONIC, &ev, &t));
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 99;
    PRINT_RES("timer_create with signal 99", timer_create(CLOCK_MONOTONIC, &ev, &t));
    ev.sigev_signo = SIGUSR2;
    timer_create(CLOCK_MONOTONIC, &ev, &t);
    struct itimerspec badv = {{0, 0}, {0, 1000000000}};
    PRINT_RES("timer_settime with tv_nsec 1e9", timer_settime(t, 0, &badv, NULL));
    timer_delete(t);
}

int main(void) {
    proc_init();
    alarms();
    itimers();
    posix_timers(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
    posix_timers(CLOCK_REALTIME, "CLOCK_REALTIME");
    timer_misc();
    return check_summary();
}
