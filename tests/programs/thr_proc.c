/* /proc for threaded processes: Threads: in status and num_threads in stat, the
 * /proc/self/task directory (one entry per thread, each with its own status, stat and
 * comm), /proc/thread-self, /proc/TID of a non-leader thread, /proc/self/fd read from a
 * thread other than the main one, and SigIgn/SigCgt, nice and priority as set. */
#include "proc_util.h"
#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>

#define WORKERS 3

static pthread_barrier_t started;
static int park[2];
static pid_t tids[WORKERS];

static void *worker(void *arg) {
    int i = (int)(intptr_t)arg;
    tids[i] = sys_gettid();
    char name[16];
    snprintf(name, sizeof name, "worker-%d", i);
    pthread_setname_np(pthread_self(), name);
    pthread_barrier_wait(&started);
    char b;
    while (read(park[0], &b, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* The value after "Key:\t" in a /proc status file, or -1. */
static long status_field(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 0);
            break;
        }
    }
    fclose(f);
    return v;
}

/* A hex mask after "Key:\t". */
static unsigned long long status_mask(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            v = strtoull(line + n + 1, NULL, 16);
            break;
        }
    }
    if (f)
        fclose(f);
    return v;
}

/* Field `want` (1-based) of a stat file, or -1. */
static long stat_field(const char *path, int want) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    if (want == 1)
        return strtol(buf, NULL, 10);
    char *p = strrchr(buf, ')'); /* the comm may contain spaces */
    if (!p)
        return -1;
    int field = 2;
    p++;
    while (*p && field < want) {
        if (*p == ' ')
            field++;
        p++;
    }
    return field == want ? strtol(p, NULL, 10) : -1;
}

static int count_dir(const char *path, pid_t *want, int nwant, int *found) {
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    *found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        for (int i = 0; i < nwant; i++)
            if (atoi(e->d_name) == want[i])
                (*found)++;
    }
    closedir(d);
    return n;
}

static int pipe_fd_seen;

static void *list_fds(void *arg) {
    (void)arg;
    char want[64];
    snprintf(want, sizeof want, "%d", park[1]);
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, want) == 0)
            pipe_fd_seen = 1;
    if (d)
        closedir(d);
    char link[64], target[64] = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", park[1]);
    if (readlink(link, target, sizeof target - 1) <= 0 || strncmp(target, "pipe:[", 6) != 0)
        pipe_fd_seen = 0;
    return NULL;
}

static void on_usr2(int s) { (void)s; }

static char thread_self[64];

static void *read_thread_self(void *arg) {
    (void)arg;
    ssize_t n = readlink("/proc/thread-self", thread_self, sizeof thread_self - 1);
    if (n > 0)
        thread_self[n] = 0;
    return (void *)(intptr_t)sys_gettid();
}

int main(void) {
    proc_init();
    pid_t me = getpid();
    CHECK(pipe(park) == 0, "pipe");
    pthread_barrier_init(&started, NULL, WORKERS + 1);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    pthread_barrier_wait(&started);

    CHECK(status_field("/proc/self/status", "Threads") == WORKERS + 1,
          "status: Threads counts every thread");
    CHECK(stat_field("/proc/self/stat", 20) == WORKERS + 1, "stat: num_threads");

    pid_t all[WORKERS + 1] = {me, tids[0], tids[1], tids[2]};
    int found = 0;
    CHECK(count_dir("/proc/self/task", all, WORKERS + 1, &found) == WORKERS + 1 &&
              found == WORKERS + 1,
          "/proc/self/task lists each thread once");

    char path[128];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tids[1]);
    CHECK(status_field(path, "Pid") == tids[1], "task/TID/status: Pid is the thread's");
    CHECK(status_field(path, "Tgid") == me, "task/TID/status: Tgid is the process's");
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tids[1]);
    CHECK(stat_field(path, 1) == tids[1], "task/TID/stat starts with the thread's id");
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", tids[2]);
    char comm[32] = {0};
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
    }
    CHECK(strcmp(comm, "worker-2\n") == 0, "task/TID/comm is the thread's name");
    snprintf(path, sizeof path, "/proc/%d/status", tids[0]);
    CHECK(status_field(path, "Pid") == tids[0], "/proc/TID of a thread opens");

    pthread_t r;
    void *tid = NULL;
    pthread_create(&r, NULL, read_thread_self, NULL);
    pthread_join(r, &tid);
    char want[64];
    snprintf(want, sizeof want, "%d/task/%d", me, (int)(intptr_t)tid);
    CHECK(strcmp(thread_self, want) == 0, "/proc/thread-self names the calling thread");

    pthread_create(&r, NULL, list_fds, NULL);
    pthread_join(r, NULL);
    CHECK(pipe_fd_seen, "/proc/self/fd from another thread shows the process's descriptors");

    signal(SIGUSR1, SIG_IGN);
    set_handler(SIGUSR2, on_usr2, 0);
    unsigned long long ign = status_mask("SigIgn"), cgt = status_mask("SigCgt");
    CHECK((ign >> (SIGUSR1 - 1)) & 1, "SigIgn shows an ignored signal");
    CHECK((cgt >> (SIGUSR2 - 1)) & 1 && !((ign >> (SIGUSR2 - 1)) & 1),
          "SigCgt shows a caught signal");

    CHECK(setpriority(PRIO_PROCESS, 0, 5) == 0, "setpriority 5");
    CHECK(stat_field("/proc/self/stat", 19) == 5, "stat: nice");
    CHECK(stat_field("/proc/self/stat", 18) == 25, "stat: priority");

    close(park[1]);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    CHECK(status_field("/proc/self/status", "Threads") == 1, "one thread again after joins");
    return check_summary();
}
