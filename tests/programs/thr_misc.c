/* Threads and processes together: clone() with thread flags (CLONE_PARENT_SETTID,
 * CLONE_CHILD_CLEARTID + a futex wait for the tid to clear), clone(CLONE_VM) as a process
 * sharing memory, clone3 (fork-like, CLONE_PARENT_SETTID, argument errors), flag
 * combinations clone refuses; signals and threads (tgkill reaches the named thread, a
 * process-directed signal goes to the one thread not blocking it, sigwait in a
 * dedicated thread); exit_group from a thread ends every thread, a crash in one thread
 * kills the process (pthread_exit in main is left out: musl's can hang natively); fork
 * in a threaded process copies only the calling thread; execve from a non-main thread
 * (the new image keeps the pid and is single-threaded).
 *
 * Roles for the exec test: `thr_misc @exec PID` checks its pid and tid. */
#include "proc_util.h"
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* pthread_create, or print why not and exit (a child exits 90). */
static void xcreate(pthread_t *t, void *(*fn)(void *), void *arg) {
    int r = pthread_create(t, NULL, fn, arg);
    if (r != 0) {
        printf("pthread_create failed: %s\n", proc_errname(r));
        fflush(stdout);
        _exit(90);
    }
}

static volatile int shared_counter;
static volatile pid_t ptid_slot, ctid_slot;
static volatile pid_t seen_tid;

/* Runs on its own stack without libc's thread setup: touches only plain memory. */
static int raw_thread(void *arg) {
    seen_tid = (pid_t)syscall(SYS_gettid);
    __atomic_fetch_add(&shared_counter, (int)(intptr_t)arg, __ATOMIC_SEQ_CST);
    return 0;
}

static int raw_process(void *arg) {
    __atomic_fetch_add(&shared_counter, (int)(intptr_t)arg, __ATOMIC_SEQ_CST);
    return 42; /* the exit status */
}

static void clones(void) {
    size_t sz = 256 * 1024;
    char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    shared_counter = 0;
    ctid_slot = -1;
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    int tid = clone(raw_thread, stack + sz, flags, (void *)7, &ptid_slot, NULL, &ctid_slot);
    CHECK(tid > 0, "clone(CLONE_THREAD...)");
    /* CLONE_CHILD_CLEARTID: the kernel zeroes ctid_slot at the thread's exit and wakes
     * a futex waiter on it. */
    while (tid > 0) {
        int v = ctid_slot;
        if (v == 0)
            break;
        syscall(SYS_futex, &ctid_slot, FUTEX_WAIT, v, NULL, NULL, 0);
    }
    printf("clone thread: counter %d, CLONE_PARENT_SETTID wrote its tid %s, gettid agreed %s, "
           "tid cleared at exit %s, tid differs from pid %s\n",
           shared_counter, ptid_slot == tid ? "yes" : "no", seen_tid == tid ? "yes" : "no",
           ctid_slot == 0 ? "yes" : "no", tid != getpid() ? "yes" : "no");

    /* CLONE_VM without CLONE_THREAD: a process sharing our memory, reaped with wait. */
    shared_counter = 0;
    fflush(stdout);
    int pid = clone(raw_process, stack + sz, CLONE_VM | SIGCHLD, (void *)5);
    int st = pid > 0 ? xwait(pid) : 0;
    printf("clone(CLONE_VM|SIGCHLD): %s, its store is visible: %s\n", status_str(st),
           shared_counter == 5 ? "yes" : "no");

    PRINT_RES("clone(CLONE_THREAD without CLONE_SIGHAND)",
              clone(raw_thread, stack + sz, CLONE_VM | CLONE_THREAD, NULL));
    PRINT_RES("clone(CLONE_SIGHAND without CLONE_VM)",
              clone(raw_thread, stack + sz, CLONE_SIGHAND, NULL));
    munmap(stack, sz);

    /* clone3, fork-like. */
    struct clone_args_v0 ca;
    memset(&ca, 0, sizeof ca);
    pid_t ptid = 0;
    ca.flags = CLONE_PARENT_SETTID;
    ca.parent_tid = (uint64_t)(uintptr_t)&ptid;
    ca.exit_signal = SIGCHLD;
    fflush(stdout);
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0)
        syscall(SYS_exit_group, 9);
    if (r > 0) {
        st = xwait((pid_t)r);
        printf("clone3 fork-like: %s, parent_tid written %s\n", status_str(st),
               ptid == r ? "yes" : "no");
    } else {
        printf("clone3 failed: %s\n", proc_errname(errno));
        hull_test_failures++;
    }
    PRINT_RES("clone3 with size 32", syscall(SYS_clone3, &ca, 32));
    ca.flags = 1ULL << 40;
    PRINT_RES("clone3 with an unknown flag", syscall(SYS_clone3, &ca, sizeof ca));
    ca.flags = 0;
    ca.exit_signal = 200;
    PRINT_RES("clone3 with exit_signal 200", syscall(SYS_clone3, &ca, sizeof ca));
    ca.exit_signal = SIGCHLD;
    ca.flags = CLONE_THREAD;
    PRINT_RES("clone3 CLONE_THREAD without CLONE_SIGHAND/VM", syscall(SYS_clone3, &ca, sizeof ca));
}

/* ---- signals and threads -------------------------------------------------------- */

static volatile pid_t handler_tid;
static volatile sig_atomic_t handler_hits;

static void on_usr1(int s) {
    (void)s;
    handler_tid = sys_gettid();
    handler_hits++;
}

static pthread_barrier_t bar;
static volatile int stop_threads;
static pid_t worker_tids[3];

struct wk {
    int idx;
    int block_usr1;
};

static void *worker(void *arg) {
    struct wk *w = arg;
    if (w->block_usr1)
        block_sig(SIGUSR1);
    else
        unblock_sig(SIGUSR1);
    worker_tids[w->idx] = sys_gettid();
    pthread_barrier_wait(&bar);
    while (!__atomic_load_n(&stop_threads, __ATOMIC_SEQ_CST)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void thread_signals(void) {
    set_handler(SIGUSR1, on_usr1, SA_RESTART);
    /* Main blocks SIGUSR1; workers 0 and 2 block it too; worker 1 does not. */
    block_sig(SIGUSR1);
    pthread_barrier_init(&bar, NULL, 4);
    pthread_t t[3];
    struct wk w[3] = {{0, 1}, {1, 0}, {2, 1}};
    stop_threads = 0;
    for (int i = 0; i < 3; i++)
        xcreate(&t[i], worker, &w[i]);
    pthread_barrier_wait(&bar);

    handler_hits = 0;
    kill(getpid(), SIGUSR1);
    for (int i = 0; i < 5000 && !handler_hits; i++)
        msleep(1);
    printf("process-directed SIGUSR1 handled by the one thread not blocking it: %s\n",
           handler_hits == 1 && handler_tid == worker_tids[1] ? "yes" : "no");

    /* tgkill to a thread that blocks it: stays pending on that thread until unblocked;
     * tgkill to worker 1 runs there. */
    handler_hits = 0;
    syscall(SYS_tgkill, getpid(), worker_tids[1], SIGUSR1);
    for (int i = 0; i < 5000 && !handler_hits; i++)
        msleep(1);
    printf("tgkill(worker 1): handled in worker 1: %s\n",
           handler_hits == 1 && handler_tid == worker_tids[1] ? "yes" : "no");
    handler_hits = 0;
    syscall(SYS_tgkill, getpid(), sys_gettid(), SIGUSR1);
    sigset_t p;
    sigpending(&p);
    printf("tgkill(main, blocked there): pending for main %d, handled meanwhile %d\n",
           sigismember(&p, SIGUSR1), (int)handler_hits);
    unblock_sig(SIGUSR1);
    printf("after main unblocks it: handled in main %s\n",
           handler_hits == 1 && handler_tid == getpid() ? "yes" : "no");
    PRINT_RES("tgkill(wrong tgid, worker)", syscall(SYS_tgkill, getpid() + 100000, worker_tids[0], 0));
    __atomic_store_n(&stop_threads, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    signal(SIGUSR1, SIG_DFL);
}

static sigset_t waitset;

static void *sig_waiter(void *arg) {
    (void)arg;
    int sig = 0;
    sigwait(&waitset, &sig);
    return (void *)(intptr_t)sig;
}

static void sigwait_thread(void) {
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGUSR2);
    sigprocmask(SIG_BLOCK, &waitset, NULL); /* inherited by the new thread */
    pthread_t t;
    xcreate(&t, sig_waiter, NULL);
    msleep(5);
    kill(getpid(), SIGUSR2);
    void *r;
    pthread_join(t, &r);
    printf("sigwait in a dedicated thread got %s\n", sig_name((int)(intptr_t)r));
    sigprocmask(SIG_UNBLOCK, &waitset, NULL);
}

/* ---- ends of threaded processes -------------------------------------------------- */

static void *spinner(void *arg) {
    (void)arg;
    for (;;) {
        __atomic_fetch_add(&shared_counter, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

static void *exiter(void *arg) {
    msleep(10);
    exit((int)(intptr_t)arg);
}

static void *crasher(void *arg) {
    (void)arg;
    msleep(10);
    volatile int *volatile p = NULL;
    *p = 1;
    return NULL;
}

static void ends(void) {
    pid_t c = xfork();
    if (c == 0) {
        pthread_t t;
        for (int i = 0; i < 3; i++)
            xcreate(&t, spinner, NULL);
        xcreate(&t, exiter, (void *)(intptr_t)3);
        for (;;)
            pause();
    }
    print_status("exit(3) from one of five threads ends the process", xwait(c));

    c = xfork();
    if (c == 0) {
        pthread_t t;
        for (int i = 0; i < 2; i++)
            xcreate(&t, spinner, NULL);
        xcreate(&t, crasher, NULL);
        for (;;)
            pause();
    }
    print_status("a NULL store in one thread kills the process", xwait(c));

    /* fork in a threaded process: the child has only the forking thread. */
    shared_counter = 0;
    pthread_t sp;
    xcreate(&sp, spinner, NULL);
    while (__atomic_load_n(&shared_counter, __ATOMIC_RELAXED) < 10)
        sched_yield();
    c = xfork();
    if (c == 0) {
        int before = __atomic_load_n(&shared_counter, __ATOMIC_RELAXED);
        msleep(20);
        int after = __atomic_load_n(&shared_counter, __ATOMIC_RELAXED);
        _exit(before == after ? 0 : 1);
    }
    print_status("the forked child's copy of the counter stays still (0)", xwait(c));
    /* The spinner never ends: the process exits through exit() at the end of main. */
}

static void *exec_from_thread(void *arg) {
    char *pidarg = arg;
    char *argv[] = {"thr_misc", "@exec", pidarg, NULL};
    exec_self(argv);
    return NULL;
}

static void exec_in_thread(void) {
    pid_t c = xfork();
    if (c == 0) {
        static char pidarg[32];
        snprintf(pidarg, sizeof pidarg, "%d", getpid());
        pthread_t t;
        for (int i = 0; i < 2; i++)
            xcreate(&t, spinner, NULL);
        xcreate(&t, exec_from_thread, pidarg);
        for (;;)
            pause();
    }
    print_status("execve from a non-main thread (0: same pid, tid == pid)", xwait(c));
}

int main(int argc, char **argv) {
    proc_init();
    if (argc > 2 && strcmp(argv[1], "@exec") == 0) {
        int ok = atoi(argv[2]) == getpid() && sys_gettid() == getpid();
        printf("  the new image: pid kept %s, tid == pid %s\n", atoi(argv[2]) == getpid() ? "yes" : "no",
               sys_gettid() == getpid() ? "yes" : "no");
        return ok ? 0 : 1;
    }
    clones();
    thread_signals();
    sigwait_thread();
    ends();
    exec_in_thread();
    int r = check_summary();
    exit(r);
}
