/* pthreads: 16 threads adding to a counter under a mutex and with atomics, a bounded
 * queue with condition variables (4 producers, 4 consumers), barriers over many rounds
 * (exactly one PTHREAD_BARRIER_SERIAL_THREAD per round), a rwlock invariant, semaphores
 * and detached threads, pthread_once, thread-local storage (initialised __thread data,
 * per-thread addresses, pthread_key destructors), pthread_join return values and
 * pthread_exit, mutex types (trylock EBUSY, errorcheck EDEADLK/EPERM, recursive),
 * timed waits (ETIMEDOUT), small thread stacks, and thread identity (one pid, distinct
 * tids). Output is sums and counts only. */
#include "proc_util.h"
#include <pthread.h>
#include <semaphore.h>

enum { NT = 16, ADDS = 100000 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static long atomic_counter;

static void *adder(void *arg) {
    (void)arg;
    for (int i = 0; i < ADDS; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
        __atomic_fetch_add(&atomic_counter, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void counters(void) {
    pthread_t t[NT];
    int created = 0;
    for (int i = 0; i < NT; i++)
        created += pthread_create(&t[i], NULL, adder, NULL) == 0;
    printf("threads created: %d\n", created);
    if (created != NT) {
        hull_test_failures++;
        exit(check_summary());
    }
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    printf("mutex counter: %ld (want %d), atomic counter: %ld\n", counter, NT * ADDS,
           atomic_counter);
}

/* ---- bounded queue -------------------------------------------------------------- */

enum { QCAP = 8, PRODUCERS = 4, CONSUMERS = 4, ITEMS = 5000 };
static int queue[QCAP], qhead, qlen;
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long consumed_sum, consumed_count;

static void qput(int v) {
    pthread_mutex_lock(&qmu);
    while (qlen == QCAP)
        pthread_cond_wait(&not_full, &qmu);
    queue[(qhead + qlen) % QCAP] = v;
    qlen++;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&qmu);
}

static int qget(void) {
    pthread_mutex_lock(&qmu);
    while (qlen == 0)
        pthread_cond_wait(&not_empty, &qmu);
    int v = queue[qhead];
    qhead = (qhead + 1) % QCAP;
    qlen--;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&qmu);
    return v;
}

static void *producer(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 1; i <= ITEMS; i++)
        qput(id * 100000 + i);
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    long sum = 0, n = 0;
    for (;;) {
        int v = qget();
        if (v < 0)
            break;
        sum += v;
        n++;
    }
    pthread_mutex_lock(&qmu);
    consumed_sum += sum;
    consumed_count += n;
    pthread_mutex_unlock(&qmu);
    return NULL;
}

static void condvars(void) {
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        qput(-1);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);
    long want = 0;
    for (int id = 1; id <= PRODUCERS; id++)
        want += (long)id * 100000 * ITEMS + (long)ITEMS * (ITEMS + 1) / 2;
    printf("queue: consumed %ld items, sum %ld (want %ld)\n", consumed_count, consumed_sum, want);

}

static int bc_go, bc_woke, bc_waiting;
static pthread_cond_t bc_cond = PTHREAD_COND_INITIALIZER;

static void *bc_waiter(void *arg) {
    (void)arg;
    pthread_mutex_lock(&qmu);
    bc_waiting++;
    pthread_cond_signal(&not_empty);
    while (!bc_go)
        pthread_cond_wait(&bc_cond, &qmu);
    bc_woke++;
    pthread_mutex_unlock(&qmu);
    return NULL;
}

static void broadcast(void) {
    pthread_t w[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&w[i], NULL, bc_waiter, NULL);
    pthread_mutex_lock(&qmu);
    while (bc_waiting < NT)
        pthread_cond_wait(&not_empty, &qmu);
    bc_go = 1;
    pthread_cond_broadcast(&bc_cond);
    pthread_mutex_unlock(&qmu);
    for (int i = 0; i < NT; i++)
        pthread_join(w[i], NULL);
    printf("broadcast woke %d of %d waiters\n", bc_woke, NT);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&qmu);
    int r = pthread_cond_timedwait(&bc_cond, &qmu, &ts);
    pthread_mutex_unlock(&qmu);
    printf("pthread_cond_timedwait 20 ms: %s\n", proc_errname(r));
}

/* ---- barriers ------------------------------------------------------------------- */

enum { ROUNDS = 50 };
static pthread_barrier_t bar;
static int slots[NT];
static int serial_count, bad_rounds;

static void *barrier_worker(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        slots[id] = r * 100 + id;
        int s = pthread_barrier_wait(&bar);
        if (s == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serial_count, 1, __ATOMIC_RELAXED);
        for (int j = 0; j < NT; j++)
            if (slots[j] != r * 100 + j)
                __atomic_fetch_add(&bad_rounds, 1, __ATOMIC_RELAXED);
        s = pthread_barrier_wait(&bar);
        if (s == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serial_count, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void barriers(void) {
    pthread_barrier_init(&bar, NULL, NT);
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, barrier_worker, (void *)(intptr_t)i);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    printf("barrier: %d rounds, %d serial threads (one per wait), %d inconsistent views\n",
           ROUNDS, serial_count, bad_rounds);
}

/* ---- rwlock --------------------------------------------------------------------- */

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long rw_a, rw_b;
static int rw_violations;

static void *rw_reader(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        pthread_rwlock_rdlock(&rw);
        if (rw_a + rw_b != 0)
            __atomic_fetch_add(&rw_violations, 1, __ATOMIC_RELAXED);
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

static void *rw_writer(void *arg) {
    (void)arg;
    for (int i = 0; i < 5000; i++) {
        pthread_rwlock_wrlock(&rw);
        rw_a++;
        sched_yield();
        rw_b--;
        pthread_rwlock_unlock(&rw);
    }
    return NULL;
}

static void rwlocks(void) {
    pthread_t t[10];
    for (int i = 0; i < 10; i++)
        pthread_create(&t[i], NULL, i < 2 ? rw_writer : rw_reader, NULL);
    for (int i = 0; i < 10; i++)
        pthread_join(t[i], NULL);
    printf("rwlock: a=%ld b=%ld, %d readers saw a torn update\n", rw_a, rw_b, rw_violations);
}

/* ---- semaphores and detached threads -------------------------------------------- */

static sem_t done_sem;
static int detached_runs;

static void *detached(void *arg) {
    (void)arg;
    __atomic_fetch_add(&detached_runs, 1, __ATOMIC_RELAXED);
    sem_post(&done_sem);
    return NULL;
}

static void semaphores(void) {
    sem_init(&done_sem, 0, 0);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        pthread_create(&t, &at, detached, NULL);
    }
    pthread_attr_destroy(&at);
    for (int i = 0; i < 8; i++)
        sem_wait(&done_sem);
    printf("detached threads ran: %d\n", detached_runs);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    errno = 0;
    int r = sem_timedwait(&done_sem, &ts);
    printf("sem_timedwait on an empty semaphore: %d %s\n", r, proc_errname(errno));
    errno = 0;
    r = sem_trywait(&done_sem);
    printf("sem_trywait: %d %s\n", r, proc_errname(errno));
    sem_destroy(&done_sem);
}

/* ---- once, TLS, keys, join values ----------------------------------------------- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;
static __thread int tls_val = 5;
static __thread char tls_buf[256] = "initial";
static __thread long tls_bss;
static pthread_key_t key;
static int dtor_runs;
static uintptr_t tls_addrs[NT];

static void once_init(void) {
    once_runs++;
}

static void dtor(void *p) {
    __atomic_fetch_add(&dtor_runs, 1, __ATOMIC_RELAXED);
    free(p);
}

static void nested_exit(int i) {
    pthread_exit((void *)(intptr_t)(i * i));
}

static void *tls_worker(void *arg) {
    int i = (int)(intptr_t)arg;
    pthread_once(&once, once_init);
    int ok = tls_val == 5 && strcmp(tls_buf, "initial") == 0 && tls_bss == 0;
    tls_val += i;
    tls_bss = i * 3;
    snprintf(tls_buf, sizeof tls_buf, "thread %d", i);
    tls_addrs[i] = (uintptr_t)&tls_val;
    pthread_setspecific(key, malloc(16));
    for (int k = 0; k < 1000; k++)
        sched_yield();
    char want[32];
    snprintf(want, sizeof want, "thread %d", i);
    ok = ok && tls_val == 5 + i && tls_bss == i * 3 && strcmp(tls_buf, want) == 0;
    if (!ok)
        return (void *)(intptr_t)-1;
    if (i % 2)
        nested_exit(i);
    return (void *)(intptr_t)(i * i);
}

static void tls_and_join(void) {
    pthread_key_create(&key, dtor);
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, tls_worker, (void *)(intptr_t)i);
    long sum = 0;
    int bad = 0;
    for (int i = 0; i < NT; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if ((intptr_t)ret != i * i)
            bad++;
        sum += (intptr_t)ret;
    }
    int distinct = 1;
    for (int i = 0; i < NT; i++)
        for (int j = i + 1; j < NT; j++)
            if (tls_addrs[i] == tls_addrs[j])
                distinct = 0;
    printf("join values: sum %ld, %d wrong; pthread_once ran %d; key destructors ran %d\n", sum,
           bad, once_runs, dtor_runs);
    printf("main thread's TLS untouched: %s; per-thread TLS addresses distinct: %s\n",
           tls_val == 5 && strcmp(tls_buf, "initial") == 0 ? "yes" : "no",
           distinct ? "yes" : "no");
    pthread_key_delete(key);
}

/* ---- mutex kinds ---------------------------------------------------------------- */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void *try_lock(void *arg) {
    return (void *)(intptr_t)pthread_mutex_trylock((pthread_mutex_t *)arg);
}

static void *unlock_foreign(void *arg) {
    return (void *)(intptr_t)pthread_mutex_unlock((pthread_mutex_t *)arg);
}

static void mutex_kinds(void) {
    pthread_mutex_lock(&held);
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, try_lock, &held);
    pthread_join(t, &r);
    printf("trylock of a held mutex from another thread: %s\n", proc_errname((int)(intptr_t)r));
    pthread_mutex_unlock(&held);

    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t ec;
    pthread_mutex_init(&ec, &a);
    pthread_mutex_lock(&ec);
    printf("errorcheck relock: %s\n", proc_errname(pthread_mutex_lock(&ec)));
    pthread_create(&t, NULL, unlock_foreign, &ec);
    pthread_join(t, &r);
    printf("errorcheck unlock by another thread: %s\n", proc_errname((int)(intptr_t)r));
    pthread_mutex_unlock(&ec);
    pthread_mutex_destroy(&ec);

    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_t rec;
    pthread_mutex_init(&rec, &a);
    int ok = 1;
    for (int i = 0; i < 5; i++)
        ok &= pthread_mutex_lock(&rec) == 0;
    pthread_create(&t, NULL, try_lock, &rec);
    pthread_join(t, &r);
    int other = (int)(intptr_t)r;
    for (int i = 0; i < 5; i++)
        ok &= pthread_mutex_unlock(&rec) == 0;
    printf("recursive mutex locked 5 times and unlocked 5 times: %s, trylock from another "
           "thread meanwhile: %s\n",
           ok ? "yes" : "no", proc_errname(other));
    pthread_mutex_destroy(&rec);
    pthread_mutexattr_destroy(&a);

}

static void *timed_locker(void *arg) {
    struct timespec *ts = arg;
    return (void *)(intptr_t)pthread_mutex_timedlock(&held, ts);
}

static void timed_lock(void) {
    pthread_mutex_lock(&held);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, timed_locker, &ts);
    pthread_join(t, &r);
    printf("pthread_mutex_timedlock on a held mutex: %s\n", proc_errname((int)(intptr_t)r));
    pthread_mutex_unlock(&held);
}

/* ---- identity and small stacks -------------------------------------------------- */

static pid_t tids[NT];

static void *ident(void *arg) {
    int i = (int)(intptr_t)arg;
    tids[i] = sys_gettid();
    volatile char big[32 * 1024];
    memset((char *)big, i, sizeof big);
    return (void *)(intptr_t)(big[100] + getpid());
}

static void identity(void) {
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_t t[NT];
    for (int i = 0; i < NT; i++)
        pthread_create(&t[i], &at, ident, (void *)(intptr_t)i);
    int pid_ok = 1;
    for (int i = 0; i < NT; i++) {
        void *r;
        pthread_join(t[i], &r);
        pid_ok &= (intptr_t)r == i + getpid();
    }
    pthread_attr_destroy(&at);
    int distinct = 1, not_pid = 1;
    for (int i = 0; i < NT; i++) {
        not_pid &= tids[i] != getpid() && tids[i] > 0;
        for (int j = i + 1; j < NT; j++)
            distinct &= tids[i] != tids[j];
    }
    printf("threads on 64 KiB stacks: getpid is the process's %s, tids distinct %s, "
           "no tid equals the pid %s, main's tid is the pid %s\n",
           pid_ok ? "yes" : "no", distinct ? "yes" : "no", not_pid ? "yes" : "no",
           sys_gettid() == getpid() ? "yes" : "no");
}

int main(void) {
    proc_init();
    counters();
    condvars();
    broadcast();
    barriers();
    rwlocks();
    semaphores();
    tls_and_join();
    mutex_kinds();
    timed_lock();
    identity();
    return check_summary();
}
