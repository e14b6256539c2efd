/* What threads share beyond memory: the file-system context (cwd and umask, CLONE_FS) and
 * the process group and session, which belong to the whole thread group.
 *
 * - chdir and umask in a thread are seen by the others, and by relative opens; a forked
 *   child's are its own; clone(CLONE_VM | CLONE_FS) shares them with a separate process,
 *   clone(CLONE_VM) without CLONE_FS does not.
 * - setpgid(0, 0) and setsid() from a non-main thread act on the thread group: every
 *   thread reports the new group and session; setpgid on a non-leader thread's tid is
 *   EINVAL; getpgid/getsid of a thread's tid give its group's. */
#include "proc_util.h"
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>

static char scratch[64];

static int cwd_is(const char *want) {
    char buf[4096];
    return getcwd(buf, sizeof buf) != NULL && strcmp(buf, want) == 0;
}

/* Threads never print (the order of lines would depend on scheduling). */
static void *chdir_and_umask(void *arg) {
    long ok = chdir((const char *)arg) == 0;
    umask(027);
    return (void *)ok;
}

static void threads_share_cwd_and_umask(void) {
    CHECK(chdir("/") == 0, "chdir /");
    umask(022);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, chdir_and_umask, scratch) == 0, "pthread_create");
    void *ok = NULL;
    pthread_join(t, &ok);
    CHECK(ok != NULL, "chdir in a thread");
    CHECK(cwd_is(scratch), "the main thread sees the thread's cwd");
    CHECK(umask(022) == 027, "the main thread sees the thread's umask");
    int fd = open("made-by-main", O_CREAT | O_WRONLY, 0666);
    CHECK(fd >= 0, "relative create after the thread's chdir");
    close(fd);
    char path[128];
    snprintf(path, sizeof path, "%s/made-by-main", scratch);
    struct stat st;
    CHECK(stat(path, &st) == 0, "it is in the thread's directory");
    CHECK((st.st_mode & 0777) == 0644, "made with the shared umask");
    unlink(path);
}

static void fork_has_its_own(void) {
    CHECK(chdir(scratch) == 0, "chdir scratch");
    pid_t c = xfork();
    if (c == 0) {
        int ok = chdir("/") == 0 && cwd_is("/");
        umask(077);
        _exit(ok ? 0 : 1);
    }
    CHECK(xwait(c) == 0, "the child changed its own cwd");
    CHECK(cwd_is(scratch), "the parent's cwd is unchanged after fork");
    CHECK(umask(022) == 022, "the parent's umask is unchanged after fork");
}

static int clone_child(void *arg) {
    (void)arg;
    /* Raw syscalls: no libc thread setup in this child. */
    if (syscall(SYS_chdir, "/") != 0)
        return 1;
    syscall(SYS_umask, 0077);
    return 0;
}

static void clone_fs_processes(void) {
    size_t sz = 256 * 1024;
    char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(stack != MAP_FAILED, "mmap a stack");

    CHECK(chdir(scratch) == 0, "chdir scratch");
    pid_t c = clone(clone_child, stack + sz, CLONE_VM | CLONE_FS | SIGCHLD, NULL);
    CHECK(c > 0, "clone(CLONE_VM | CLONE_FS)");
    CHECK(xwait(c) == 0, "the CLONE_FS child ran");
    CHECK(cwd_is("/"), "CLONE_FS: the child's chdir is the parent's");
    CHECK(umask(022) == 077, "CLONE_FS: the child's umask is the parent's");

    CHECK(chdir(scratch) == 0, "chdir scratch again");
    c = clone(clone_child, stack + sz, CLONE_VM | SIGCHLD, NULL);
    CHECK(c > 0, "clone(CLONE_VM)");
    CHECK(xwait(c) == 0, "the child without CLONE_FS ran");
    CHECK(cwd_is(scratch), "without CLONE_FS the parent's cwd is its own");
    CHECK(umask(022) == 022, "without CLONE_FS the parent's umask is its own");
    munmap(stack, sz);
}

/* A thread that lives until told to go, so its tid can be asked about. */
static int park_pipe[2];
static volatile pid_t parked_tid;

static void *parked(void *arg) {
    (void)arg;
    parked_tid = sys_gettid();
    char b;
    while (read(park_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* Starts the parked thread; returns once its tid is known. */
static void start_parked(void) {
    pthread_t p;
    CHECK(pipe(park_pipe) == 0, "pipe");
    parked_tid = 0;
    CHECK(pthread_create(&p, NULL, parked, NULL) == 0, "start a parked thread");
    while (parked_tid == 0)
        sched_yield();
}

/* Runs `fn(&result)` in a new thread and returns the result. */
static long in_thread(void *(*fn)(void *)) {
    long r = -2;
    pthread_t t;
    pthread_create(&t, NULL, fn, &r);
    pthread_join(t, NULL);
    return r;
}

static void *do_setpgid(void *arg) {
    *(long *)arg = setpgid(0, 0);
    return NULL;
}

static void *do_setsid(void *arg) {
    *(long *)arg = syscall(SYS_setsid);
    return NULL;
}

/* In a child (so that neither call depends on how the test was started). */
static int groups_child(void) {
    pid_t me = getpid();
    start_parked();
    CHECK(in_thread(do_setpgid) == 0, "setpgid(0, 0) from a thread");
    CHECK(getpgrp() == me, "the process group is the thread group's pid");
    CHECK(getpgid(parked_tid) == me, "another thread's tid reports the group");

    errno = 0;
    CHECK(setpgid(parked_tid, 0) == -1 && errno == EINVAL, "setpgid on a thread's tid: EINVAL");

    CHECK(in_thread(do_setsid) == -1, "setsid from a thread while leading a group: EPERM");
    return 0;
}

static int session_child(void) {
    pid_t me = getpid();
    start_parked();
    CHECK(in_thread(do_setsid) == me, "setsid from a thread returns the thread group's pid");
    CHECK(getsid(0) == me, "the main thread is in the new session");
    CHECK(getpgrp() == me, "and leads the new group");
    CHECK(getsid(parked_tid) == me, "another thread's tid reports the session");
    errno = 0;
    CHECK(setpgid(0, 0) == -1 && errno == EPERM, "a session leader cannot setpgid");
    return 0;
}

static void groups_and_sessions(void) {
    pid_t c = xfork();
    if (c == 0) {
        groups_child();
        fflush(stdout);
        _exit(hull_test_failures ? 1 : 0);
    }
    CHECK(xwait(c) == 0, "groups child");
    c = xfork();
    if (c == 0) {
        session_child();
        fflush(stdout);
        _exit(hull_test_failures ? 1 : 0);
    }
    CHECK(xwait(c) == 0, "session child");
}

int main(void) {
    proc_init();
    snprintf(scratch, sizeof scratch, "/tmp/thr_fs.%d", (int)getpid());
    mkdir(scratch, 0755);
    threads_share_cwd_and_umask();
    fork_has_its_own();
    clone_fs_processes();
    groups_and_sessions();
    chdir("/");
    rmdir(scratch);
    return check_summary();
}
