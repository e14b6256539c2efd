/* futex(2) directly: WAIT with a wrong value (EAGAIN), with a relative timeout
 * (ETIMEDOUT, not early), WAIT_BITSET with absolute CLOCK_MONOTONIC and CLOCK_REALTIME
 * deadlines, argument errors (EINVAL, EFAULT, ENOSYS); exact wake counts for WAKE,
 * REQUEUE, CMP_REQUEUE (and its EAGAIN), WAKE_OP (the operation and the comparison) and
 * WAKE_BITSET; the private flag (a private wake does not reach another process, a
 * shared one does); robust futexes: the kernel marks a dead owner's word with
 * FUTEX_OWNER_DIED, and pthread robust mutexes report EOWNERDEAD for a dead thread and a
 * dead process.
 *
 * Wake counts are exact because the waiters are counted while they sleep: CMP_REQUEUE
 * with nr_wake 0 moves sleeping waiters from their word to a parking word and returns
 * how many it moved, so the test waits until all N are parked before it wakes any. */
#include "proc_util.h"
#include <limits.h>
#include <pthread.h>
#include <sys/mman.h>

static long futex(volatile int *uaddr, int op, int val, const void *ts_or_val2,
                  volatile int *uaddr2, int val3) {
    return syscall(SYS_futex, uaddr, op, val, ts_or_val2, uaddr2, val3);
}

#define P(op) ((op) | FUTEX_PRIVATE_FLAG)

static void errors_and_timeouts(void) {
    static int w = 0;
    PRINT_RES("WAIT with a wrong value", futex(&w, P(FUTEX_WAIT), 1, NULL, NULL, 0));
    struct timespec rel = {0, 20000000};
    long long t0 = now_ns();
    errno = 0;
    long r = futex(&w, P(FUTEX_WAIT), 0, &rel, NULL, 0);
    int e = errno;
    long long el = now_ns() - t0;
    print_res("WAIT 20 ms", r, e);
    printf("  waited at least 20 ms: %s\n", el >= 20000000 ? "yes" : "no");

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long dl = (long long)now.tv_sec * 1000000000LL + now.tv_nsec + 20000000;
    struct timespec abs_m = {dl / 1000000000LL, dl % 1000000000LL};
    errno = 0;
    r = futex(&w, P(FUTEX_WAIT_BITSET), 0, &abs_m, NULL, (int)FUTEX_BITSET_MATCH_ANY);
    e = errno;
    clock_gettime(CLOCK_MONOTONIC, &now);
    print_res("WAIT_BITSET, CLOCK_MONOTONIC deadline 20 ms ahead", r, e);
    printf("  not before the deadline: %s\n",
           (long long)now.tv_sec * 1000000000LL + now.tv_nsec >= dl ? "yes" : "no");

    clock_gettime(CLOCK_REALTIME, &now);
    dl = (long long)now.tv_sec * 1000000000LL + now.tv_nsec + 20000000;
    struct timespec abs_r = {dl / 1000000000LL, dl % 1000000000LL};
    errno = 0;
    r = futex(&w, P(FUTEX_WAIT_BITSET) | FUTEX_CLOCK_REALTIME, 0, &abs_r, NULL,
              (int)FUTEX_BITSET_MATCH_ANY);
    e = errno;
    clock_gettime(CLOCK_REALTIME, &now);
    print_res("WAIT_BITSET|CLOCK_REALTIME, deadline 20 ms ahead", r, e);
    printf("  not before the deadline: %s\n",
           (long long)now.tv_sec * 1000000000LL + now.tv_nsec >= dl ? "yes" : "no");

    struct timespec past = {1, 0};
    PRINT_RES("WAIT_BITSET with a deadline in the past",
              futex(&w, P(FUTEX_WAIT_BITSET), 0, &past, NULL, (int)FUTEX_BITSET_MATCH_ANY));
    struct timespec bad = {0, 1000000000};
    PRINT_RES("WAIT with tv_nsec 1e9", futex(&w, P(FUTEX_WAIT), 0, &bad, NULL, 0));
    struct timespec neg = {-1, 0};
    PRINT_RES("WAIT with a negative timeout", futex(&w, P(FUTEX_WAIT), 0, &neg, NULL, 0));
    char *bytes = (char *)&w;
    PRINT_RES("WAIT on an unaligned address",
              futex((volatile int *)(bytes + 1), P(FUTEX_WAIT), 0, &rel, NULL, 0));
    PRINT_RES("WAIT on a bad address", futex((volatile int *)16, P(FUTEX_WAIT), 0, &rel, NULL, 0));
    PRINT_RES("WAIT_BITSET with bitset 0", futex(&w, P(FUTEX_WAIT_BITSET), 0, &rel, NULL, 0));
    PRINT_RES("WAKE_BITSET with bitset 0", futex(&w, P(FUTEX_WAKE_BITSET), 1, NULL, NULL, 0));
    PRINT_RES("WAKE without waiters", futex(&w, P(FUTEX_WAKE), 1, NULL, NULL, 0));
    PRINT_RES("unknown op 99", futex(&w, 99, 0, NULL, NULL, 0));
    PRINT_RES("WAKE with FUTEX_CLOCK_REALTIME",
              futex(&w, P(FUTEX_WAKE) | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0));
}

/* ---- sleeping waiters ----------------------------------------------------------- */

struct waiter {
    volatile int *word;
    unsigned bitset;
    pthread_t th;
    volatile int woken;
};

static volatile int go;

static void *wait_loop(void *arg) {
    struct waiter *w = arg;
    while (!__atomic_load_n(&go, __ATOMIC_SEQ_CST)) {
        if (w->bitset)
            futex(w->word, P(FUTEX_WAIT_BITSET), 0, NULL, NULL, (int)w->bitset);
        else
            futex(w->word, P(FUTEX_WAIT), 0, NULL, NULL, 0);
    }
    __atomic_store_n(&w->woken, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void start(struct waiter *ws, int n, volatile int *word, unsigned bitset) {
    for (int i = 0; i < n; i++) {
        ws[i].word = word;
        ws[i].bitset = bitset;
        ws[i].woken = 0;
        int r = pthread_create(&ws[i].th, NULL, wait_loop, &ws[i]);
        if (r != 0) {
            printf("pthread_create failed: %s\n", proc_errname(r));
            exit(1);
        }
    }
}

/* Moves sleepers from `from` (value 0) to `park` until `n` have been moved. */
static int park(volatile int *from, volatile int *park_word, int n) {
    int moved = 0;
    long long deadline = now_ns() + 10000000000LL;
    while (moved < n && now_ns() < deadline) {
        long r = futex(from, P(FUTEX_CMP_REQUEUE), 0, (void *)(long)INT_MAX, park_word, 0);
        if (r > 0)
            moved += (int)r;
        else
            msleep(1);
    }
    return moved;
}

static int count_woken(struct waiter *ws, int n) {
    int c = 0;
    for (int i = 0; i < n; i++)
        c += __atomic_load_n(&ws[i].woken, __ATOMIC_SEQ_CST);
    return c;
}

/* Joins the waiters. Should the wakes under test have missed some (a failure already
 * printed), they still sleep on their own or the parking word: wake both first, so that
 * a failure does not hang the program. */
static void join_all(struct waiter *ws, int n, volatile int *park1, volatile int *park2) {
    __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < n; i++)
        futex(ws[i].word, P(FUTEX_WAKE), INT_MAX, NULL, NULL, 0);
    futex(park1, P(FUTEX_WAKE), INT_MAX, NULL, NULL, 0);
    futex(park2, P(FUTEX_WAKE), INT_MAX, NULL, NULL, 0);
    for (int i = 0; i < n; i++)
        pthread_join(ws[i].th, NULL);
}

static void wake_counts(void) {
    enum { N = 6 };
    static int a, b, c2;
    struct waiter ws[N];
    go = 0;
    start(ws, N, &a, 0);
    printf("parked %d of %d waiters with CMP_REQUEUE\n", park(&a, &b, N), N);
    PRINT_RES("CMP_REQUEUE with a stale value", futex(&b, P(FUTEX_CMP_REQUEUE), 0, (void *)1L, &c2, 1));
    __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
    PRINT_RES("WAKE 2 of 6", futex(&b, P(FUTEX_WAKE), 2, NULL, NULL, 0));
    /* REQUEUE: wake 1, move up to 2 to c2. */
    PRINT_RES("REQUEUE wake 1, requeue 2 (returns woken + requeued)",
              futex(&b, P(FUTEX_REQUEUE), 1, (void *)2L, &c2, 0));
    PRINT_RES("WAKE all on the requeue target", futex(&c2, P(FUTEX_WAKE), INT_MAX, NULL, NULL, 0));
    PRINT_RES("WAKE all that are left", futex(&b, P(FUTEX_WAKE), INT_MAX, NULL, NULL, 0));
    PRINT_RES("WAKE with nobody left", futex(&b, P(FUTEX_WAKE), INT_MAX, NULL, NULL, 0));
    join_all(ws, N, &b, &c2);
}

static void wake_op(void) {
    static int a, b, pa, pb;
    struct waiter wa[2], wb[2];
    go = 0;
    start(wa, 2, &a, 0);
    start(wb, 2, &b, 0);
    int n = park(&a, &pa, 2) + park(&b, &pb, 2);
    printf("WAKE_OP: parked %d waiters, 2 on each word\n", n);
    __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
    /* *pb = 5; wake 1 on pa; if the old *pb == 0, wake 1 on pb too. */
    pb = 0;
    PRINT_RES("  WAKE_OP(SET 5, old == 0)",
              futex(&pa, P(FUTEX_WAKE_OP), 1, (void *)1L, &pb,
                    FUTEX_OP(FUTEX_OP_SET, 5, FUTEX_OP_CMP_EQ, 0)));
    printf("  second word now %d\n", pb);
    PRINT_RES("  WAKE_OP(ADD 1, old > 10)",
              futex(&pa, P(FUTEX_WAKE_OP), 1, (void *)1L, &pb,
                    FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 10)));
    printf("  second word now %d\n", pb);
    PRINT_RES("  WAKE_OP(OR 8, old != 0), nobody left on the first word",
              futex(&pa, P(FUTEX_WAKE_OP), 1, (void *)1L, &pb,
                    FUTEX_OP(FUTEX_OP_OR, 8, FUTEX_OP_CMP_NE, 0)));
    printf("  second word now %d\n", pb);
    join_all(wa, 2, &pa, &pb);
    join_all(wb, 2, &pa, &pb);
    /* The oparg shift flag: 1 << 4. */
    pb = 0;
    PRINT_RES("  WAKE_OP(SET 1<<4 via OPARG_SHIFT), no waiters",
              futex(&pa, P(FUTEX_WAKE_OP), 1, (void *)1L, &pb,
                    FUTEX_OP(FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_EQ, 0)));
    printf("  second word now %d\n", pb);
}

static void bitsets(void) {
    static int w, pw;
    struct waiter w1[2], w2[2];
    go = 0;
    start(w1, 2, &w, 0x1);
    start(w2, 2, &w, 0x2);
    printf("bitsets: parked %d waiters (2 with 0x1, 2 with 0x2)\n", park(&w, &pw, 4));
    __atomic_store_n(&go, 1, __ATOMIC_SEQ_CST);
    PRINT_RES("  WAKE_BITSET 0x4", futex(&pw, P(FUTEX_WAKE_BITSET), INT_MAX, NULL, NULL, 0x4));
    PRINT_RES("  WAKE_BITSET 0x2", futex(&pw, P(FUTEX_WAKE_BITSET), INT_MAX, NULL, NULL, 0x2));
    join_all(w2, 2, &w, &w);
    printf("  the 0x1 waiters are still asleep: %s\n", count_woken(w1, 2) == 0 ? "yes" : "no");
    PRINT_RES("  plain WAKE (any bitset) of 1", futex(&pw, P(FUTEX_WAKE), 1, NULL, NULL, 0));
    PRINT_RES("  WAKE_BITSET 0x3 of the rest", futex(&pw, P(FUTEX_WAKE_BITSET), INT_MAX, NULL, NULL, 0x3));
    join_all(w1, 2, &pw, &pw);
}

static void private_vs_shared(void) {
    volatile int *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh[0] = 0;
    sh[1] = 0;
    /* A shared wait in a child, woken from the parent. */
    pid_t c = xfork();
    if (c == 0) {
        struct timespec to = {5, 0};
        long r = futex(&sh[0], FUTEX_WAIT, 0, &to, NULL, 0);
        _exit(r == 0 ? 0 : 1);
    }
    int moved = 0;
    long long deadline = now_ns() + 10000000000LL;
    while (moved < 1 && now_ns() < deadline) {
        long r = futex(&sh[0], FUTEX_CMP_REQUEUE, 0, (void *)(long)INT_MAX, &sh[1], 0);
        if (r > 0)
            moved += (int)r;
        else
            msleep(1);
    }
    printf("shared futex: the child's waiter was found from the parent: %s\n", moved == 1 ? "yes" : "no");
    PRINT_RES("  shared WAKE from the parent", futex(&sh[1], FUTEX_WAKE, 1, NULL, NULL, 0));
    print_status("  child (0: woken)", xwait(c));

    /* A private wait in a child is not reached by the parent's private wake. */
    c = xfork();
    if (c == 0) {
        struct timespec to = {0, 150000000};
        errno = 0;
        long r = futex(&sh[0], P(FUTEX_WAIT), 0, &to, NULL, 0);
        _exit(r == -1 && errno == ETIMEDOUT ? 0 : 1);
    }
    msleep(20);
    PRINT_RES("private WAKE from the parent", futex(&sh[0], P(FUTEX_WAKE), 1, NULL, NULL, 0));
    print_status("  child (0: its private wait timed out)", xwait(c));
    munmap((void *)sh, 4096);
}

/* ---- robust futexes -------------------------------------------------------------- */

struct robust_list {
    struct robust_list *next;
};
struct robust_list_head {
    struct robust_list list;
    long futex_offset;
    struct robust_list *list_op_pending;
};

static void robust_raw(void) {
    volatile int *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh[0] = 0;
    struct robust_list_head *h = NULL;
    size_t len = 0;
    CHECK(syscall(SYS_get_robust_list, 0, &h, &len) == 0 && len == sizeof(struct robust_list_head),
          "get_robust_list(0): the registered head's size");
    static struct robust_list_head head;
    PRINT_RES("set_robust_list with a wrong size", syscall(SYS_set_robust_list, &head, 8));
    pid_t c = xfork();
    if (c == 0) {
        static struct robust_list entry;
        head.list.next = &entry;
        entry.next = &head.list;
        head.futex_offset = (long)((char *)&sh[0] - (char *)&entry);
        head.list_op_pending = NULL;
        if (syscall(SYS_set_robust_list, &head, sizeof head) != 0)
            _exit(2);
        struct robust_list_head *got = NULL;
        size_t l = 0;
        syscall(SYS_get_robust_list, 0, &got, &l);
        if (got != &head)
            _exit(3);
        sh[0] = (int)sys_gettid(); /* "locked" by us */
        _exit(0);                  /* dies holding it */
    }
    int st = xwait(c);
    int v = sh[0];
    printf("raw robust list: child %s; the word has FUTEX_OWNER_DIED %d and owner tid cleared %d\n",
           status_str(st), (v & (int)FUTEX_OWNER_DIED) != 0, (v & FUTEX_TID_MASK) == 0);
    munmap((void *)sh, 4096);
}

static pthread_mutex_t rmu;

static void *die_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&rmu);
    return NULL; /* exits with the mutex held */
}

static void robust_pthread(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&rmu, &a);
    pthread_t t;
    if (pthread_create(&t, NULL, die_holding, NULL) != 0) {
        printf("pthread_create failed\n");
        exit(1);
    }
    pthread_join(t, NULL);
    int r = pthread_mutex_lock(&rmu);
    printf("robust mutex after its owner thread died: %s\n", proc_errname(r));
    if (r == EOWNERDEAD) {
        CHECK(pthread_mutex_consistent(&rmu) == 0, "pthread_mutex_consistent");
        pthread_mutex_unlock(&rmu);
        CHECK(pthread_mutex_lock(&rmu) == 0, "locks normally afterwards");
    }
    pthread_mutex_unlock(&rmu);
    pthread_mutex_destroy(&rmu);

    /* Process-shared: the owner is a child process. */
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_t *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutex_init(pm, &a);
    pid_t c = xfork();
    if (c == 0) {
        pthread_mutex_lock(pm);
        _exit(0);
    }
    xwait(c);
    r = pthread_mutex_lock(pm);
    printf("shared robust mutex after its owner process died: %s\n", proc_errname(r));
    if (r == EOWNERDEAD) {
        pthread_mutex_unlock(pm); /* without consistent: not recoverable */
        printf("  and after unlocking it without pthread_mutex_consistent: %s\n",
               proc_errname(pthread_mutex_lock(pm)));
    }
    munmap(pm, 4096);
    pthread_mutexattr_destroy(&a);
}

int main(void) {
    proc_init();
    errors_and_timeouts();
    wake_counts();
    wake_op();
    bitsets();
    private_vs_shared();
    robust_raw();
    robust_pthread();
    return check_summary();
}
