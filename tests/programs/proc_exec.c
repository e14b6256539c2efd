/* execve and friends, on a scratch directory (argv[1]): argv/envp as the new image sees
 * them, the pid kept across exec, /proc/self/exe naming the new image, #! scripts (with
 * and without an interpreter argument, nested, relative), exec errors (ENOENT, EACCES,
 * ENOEXEC, ENOTDIR, ELOOP, EFAULT) with the caller intact, O_CLOEXEC and its variants,
 * signal dispositions across exec (handled -> default, ignored stays ignored, the mask
 * and pending signals kept, the alternate stack dropped), execveat (AT_EMPTY_PATH, a
 * directory fd, AT_SYMLINK_NOFOLLOW), vfork + _exit, vfork + exec, and posix_spawn with
 * file actions and attributes.
 *
 * The program execs copies of itself: when an argument starts with '@' it plays that
 * role (@argv, @fds, @sigs, @exit) instead of running the tests. Paths are printed
 * relative to the scratch directory ($DIR), which the roles get as HULL_T_DIR. */
#include "proc_util.h"
#include <limits.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

extern char **environ;

static const char *dir;
static char self_copy[PATH_MAX];

/* Prints a path with the scratch directory replaced by $DIR. */
static const char *rel(const char *p) {
    static char buf[4][PATH_MAX];
    static int k;
    const char *d = getenv("HULL_T_DIR");
    k = (k + 1) % 4;
    if (d && *d && strncmp(p, d, strlen(d)) == 0)
        snprintf(buf[k], sizeof buf[k], "$DIR%s", p + strlen(d));
    else
        snprintf(buf[k], sizeof buf[k], "%s", p);
    return buf[k];
}

/* ---- roles ------------------------------------------------------------------------ */

static int role_argv(int argc, char **argv) {
    printf("  argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("  argv[%d]=\"%s\"\n", i, rel(argv[i]));
    const char *v = getenv("HULL_T_VAR");
    printf("  HULL_T_VAR=%s\n", v ? v : "(unset)");
    printf("  leads its own process group: %s\n", getpgrp() == getpid() ? "yes" : "no");
    const char *pid = getenv("HULL_T_PID");
    if (pid)
        printf("  pid kept across exec: %s\n", atoi(pid) == getpid() ? "yes" : "NO");
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    printf("  /proc/self/exe basename=%s\n", n > 0 ? base_name(exe) : "(unreadable)");
    return 0;
}

static int role_fds(int argc, char **argv, int first) {
    for (int i = first; i < argc; i++) {
        int fd = atoi(argv[i]);
        errno = 0;
        int r = fcntl(fd, F_GETFD);
        if (r < 0)
            printf("  fd %s: closed (%s)\n", argv[i], proc_errname(errno));
        else
            printf("  fd %s: open, FD_CLOEXEC=%d\n", argv[i], r & FD_CLOEXEC);
    }
    /* fd 3 (opened without O_CLOEXEC by the parent) keeps its file offset. */
    char buf[8] = {0};
    ssize_t n = read(3, buf, 4);
    printf("  read from the inherited fd 3 after exec: %zd \"%s\"\n", n, n > 0 ? buf : "");
    return 0;
}

static const char *disp(int sig) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0)
        return "error";
    if (sa.sa_handler == SIG_DFL)
        return "SIG_DFL";
    if (sa.sa_handler == SIG_IGN)
        return "SIG_IGN";
    return "a handler";
}

static int role_sigs(void) {
    printf("  SIGUSR1 (was handled): %s\n", disp(SIGUSR1));
    printf("  SIGUSR2 (was ignored): %s\n", disp(SIGUSR2));
    printf("  SIGCHLD (was ignored): %s\n", disp(SIGCHLD));
    printf("  SIGTERM (was default): %s\n", disp(SIGTERM));
    printf("  SIGHUP (was handled with SA_ONSTACK): %s\n", disp(SIGHUP));
    sigset_t m, p;
    sigprocmask(SIG_SETMASK, NULL, &m);
    sigpending(&p);
    printf("  mask: SIGINT %d, SIGQUIT %d, SIGUSR1 %d\n", sigismember(&m, SIGINT),
           sigismember(&m, SIGQUIT), sigismember(&m, SIGUSR1));
    printf("  pending: SIGQUIT %d, SIGINT %d\n", sigismember(&p, SIGQUIT), sigismember(&p, SIGINT));
    stack_t ss;
    sigaltstack(NULL, &ss);
    printf("  alternate stack disabled: %s\n", (ss.ss_flags & SS_DISABLE) ? "yes" : "NO");
    return 0;
}

static int run_role(int argc, char **argv, int at) {
    const char *r = argv[at];
    if (strncmp(r, "@argv", 5) == 0)
        return role_argv(argc, argv);
    if (strcmp(r, "@fds") == 0)
        return role_fds(argc, argv, at + 1);
    if (strcmp(r, "@sigs") == 0)
        return role_sigs();
    if (strcmp(r, "@exit") == 0)
        return at + 1 < argc ? atoi(argv[at + 1]) : 0;
    printf("unknown role %s\n", r);
    return 2;
}

/* ---- helpers ---------------------------------------------------------------------- */

static void write_file(const char *name, const void *data, size_t len, mode_t mode) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, data, len) < 0) {
        printf("cannot write %s: %s\n", name, proc_errname(errno));
        exit(3);
    }
    close(fd);
    chmod(path, mode);
}

static void write_text(const char *name, const char *text, mode_t mode) {
    write_file(name, text, strlen(text), mode);
}

static void copy_self(void) {
    int in = open("/proc/self/exe", O_RDONLY);
    if (in < 0) {
        printf("cannot open /proc/self/exe: %s\n", proc_errname(errno));
        exit(3);
    }
    static char buf[1 << 16];
    snprintf(self_copy, sizeof self_copy, "%s/prog_copy", dir);
    unlink(self_copy);
    int out = open(self_copy, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        write_all(out, buf, (size_t)n);
    close(in);
    close(out);
}

/* A child that sets HULL_T_PID to its own pid and execs `path` with `argv`; the
 * parent waits and prints the status. */
static void exec_and_wait(const char *label, const char *path, char *const argv[]) {
    printf("%s:\n", label);
    pid_t c = xfork();
    if (c == 0) {
        char pidv[32];
        snprintf(pidv, sizeof pidv, "%d", getpid());
        setenv("HULL_T_PID", pidv, 1);
        execve(path, argv, environ);
        printf("  execve failed: %s\n", proc_errname(errno));
        _exit(127);
    }
    print_status("  status", xwait(c));
}

static void exec_error(const char *label, const char *path) {
    char *argv[] = {"x", "@exit", "0", NULL};
    volatile int canary = 1234;
    errno = 0;
    int r = execve(path, argv, environ);
    printf("execve(%s) = %d %s, caller intact: %s\n", label, r, proc_errname(errno),
           canary == 1234 ? "yes" : "no");
}

/* ---- tests ------------------------------------------------------------------------ */

static void exec_basics(void) {
    char *a1[] = {"custom-argv0", "@argv", "", "two words", "last", NULL};
    setenv("HULL_T_VAR", "passed through envp", 1);
    exec_and_wait("exec of /proc/self/exe", "/proc/self/exe", a1);
    exec_and_wait("exec of a copy of the program", self_copy, a1);

    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/link_to_copy", dir);
    unlink(link);
    symlink("prog_copy", link);
    char *a2[] = {"via-link", "@argv", NULL};
    exec_and_wait("exec through a symlink", link, a2);

    /* A custom environment replaces the old one. */
    printf("exec with a new environment:\n");
    pid_t c = xfork();
    if (c == 0) {
        char pidv[40];
        snprintf(pidv, sizeof pidv, "HULL_T_PID=%d", getpid());
        char dirv[PATH_MAX + 16];
        snprintf(dirv, sizeof dirv, "HULL_T_DIR=%s", dir);
        char *env[] = {pidv, dirv, "HULL_T_VAR=fresh", NULL};
        char *a[] = {"env-test", "@argv", NULL};
        execve(self_copy, a, env);
        _exit(127);
    }
    print_status("  status", xwait(c));

    /* Relative paths resolve against the cwd. */
    printf("exec of ./prog_copy after chdir:\n");
    c = xfork();
    if (c == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        char *a[] = {"./prog_copy", "@argv", NULL};
        execve("./prog_copy", a, environ);
        _exit(127);
    }
    print_status("  status", xwait(c));

    char *a3[] = {"exit-role", "@exit", "57", NULL};
    printf("the new image's exit status reaches the parent:\n");
    c = xfork();
    if (c == 0) {
        execve(self_copy, a3, environ);
        _exit(127);
    }
    print_status("  status", xwait(c));
}

static void scripts(void) {
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "#!%s @argv-from-script\nignored body\n", self_copy);
    write_text("script_arg", text, 0755);
    snprintf(text, sizeof text, "#!%s\n", self_copy);
    write_text("script_noarg", text, 0755);
    snprintf(text, sizeof text, "#!  %s   @argv with  spaces  \t\n", self_copy);
    write_text("script_spaces", text, 0755);
    snprintf(text, sizeof text, "#!%s/script_arg nested-arg\n", dir);
    write_text("script_nested", text, 0755);
    snprintf(text, sizeof text, "#!%s @argv\n", self_copy);
    write_text("script_noexec", text, 0644);
    snprintf(text, sizeof text, "#!%s/no_such_interpreter @argv\n", dir);
    write_text("script_badinterp", text, 0755);

    char path[PATH_MAX];
    char *a1[] = {"script-argv0", "first", "second", NULL};
    snprintf(path, sizeof path, "%s/script_arg", dir);
    exec_and_wait("#! with an interpreter argument", path, a1);
    char *a2[] = {"script-argv0", "@argv", "x", NULL};
    snprintf(path, sizeof path, "%s/script_noarg", dir);
    exec_and_wait("#! without an interpreter argument", path, a2);
    snprintf(path, sizeof path, "%s/script_spaces", dir);
    exec_and_wait("#! with spaces: one argument, outer blanks dropped", path, a1);
    snprintf(path, sizeof path, "%s/script_nested", dir);
    exec_and_wait("#! whose interpreter is a script", path, a1);

    printf("#! run by a relative path:\n");
    pid_t c = xfork();
    if (c == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        char *a[] = {"rel", "arg", NULL};
        execve("./script_arg", a, environ);
        _exit(127);
    }
    print_status("  status", xwait(c));

    snprintf(path, sizeof path, "%s/script_noexec", dir);
    exec_error("a script without x permission", path);
    snprintf(path, sizeof path, "%s/script_badinterp", dir);
    exec_error("a script whose interpreter is missing", path);
}

static void errors(void) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/missing", dir);
    exec_error("$DIR/missing", path);
    write_text("not_exec", "\177ELF but not executable\n", 0644);
    snprintf(path, sizeof path, "%s/not_exec", dir);
    exec_error("a mode 0644 file", path);
    exec_error("a directory", dir);
    unsigned char junk[512];
    uint64_t s = 99;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)xorshift64(&s);
    junk[0] = 'Z';
    write_file("garbage", junk, sizeof junk, 0755);
    snprintf(path, sizeof path, "%s/garbage", dir);
    exec_error("0755 garbage", path);
    write_file("empty", "", 0, 0755);
    snprintf(path, sizeof path, "%s/empty", dir);
    exec_error("an empty 0755 file", path);
    snprintf(path, sizeof path, "%s/prog_copy/sub", dir);
    exec_error("a path through a file", path);
    char loop1[PATH_MAX], loop2[PATH_MAX];
    snprintf(loop1, sizeof loop1, "%s/loop1", dir);
    snprintf(loop2, sizeof loop2, "%s/loop2", dir);
    unlink(loop1);
    unlink(loop2);
    symlink("loop2", loop1);
    symlink("loop1", loop2);
    exec_error("a symlink loop", loop1);
    exec_error("the empty path", "");
    char *argv[] = {"x", NULL};
    errno = 0;
    long r = syscall(SYS_execve, (char *)8, argv, environ);
    printf("execve(bad pointer) = %ld %s\n", r, proc_errname(errno));
}

static void cloexec(void) {
    write_text("data.txt", "0123456789abcdef", 0644);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/data.txt", dir);
    int plain = open(path, O_RDONLY);
    char buf[4];
    read(plain, buf, 3); /* the exec'd image continues from offset 3 */
    if (plain != 3) {
        dup2(plain, 3);
        close(plain);
    }
    int oc = open(path, O_RDONLY | O_CLOEXEC);
    int via_fcntl = open(path, O_RDONLY);
    fcntl(via_fcntl, F_SETFD, FD_CLOEXEC);
    int dup_of_oc = dup(oc); /* dup clears FD_CLOEXEC */
    int d3 = dup3(3, 40, O_CLOEXEC);
    int pp[2];
    pipe2(pp, O_CLOEXEC);
    int fdc = fcntl(3, F_DUPFD_CLOEXEC, 50);
    int cleared = open(path, O_RDONLY | O_CLOEXEC);
    fcntl(cleared, F_SETFD, 0);
    char nums[10][12];
    int fds[] = {3, oc, via_fcntl, dup_of_oc, d3, pp[0], pp[1], fdc, cleared};
    const char *what[] = {"plain open", "O_CLOEXEC", "F_SETFD FD_CLOEXEC", "dup of O_CLOEXEC",
                          "dup3 O_CLOEXEC", "pipe2 read end", "pipe2 write end",
                          "F_DUPFD_CLOEXEC", "O_CLOEXEC cleared by F_SETFD"};
    char *argv[16] = {"fds", "@fds"};
    int n = 2;
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        snprintf(nums[i], sizeof nums[i], "%d", fds[i]);
        argv[n++] = nums[i];
    }
    argv[n] = NULL;
    /* fd numbers differ between runs only if the program's own fds do; print a legend. */
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        printf("fd for %s is %s\n", what[i], fds[i] >= 0 ? "valid" : "MISSING");
    printf("close-on-exec across execve (fd 3 plain, 40 dup3, 50+ F_DUPFD_CLOEXEC):\n");
    pid_t c = xfork();
    if (c == 0) {
        execve(self_copy, argv, environ);
        _exit(127);
    }
    print_status("  status", xwait(c));
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
}

static void on_sig(int s) {
    (void)s;
}

static void dispositions(void) {
    printf("signal dispositions across execve:\n");
    pid_t c = xfork();
    if (c == 0) {
        set_handler(SIGUSR1, on_sig, 0);
        signal(SIGUSR2, SIG_IGN);
        signal(SIGCHLD, SIG_IGN);
        static char alt[1 << 16];
        stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        set_handler(SIGHUP, on_sig, SA_ONSTACK);
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGINT);
        sigaddset(&m, SIGQUIT);
        sigprocmask(SIG_BLOCK, &m, NULL);
        kill(getpid(), SIGQUIT); /* stays pending across exec */
        char *argv[] = {"sigs", "@sigs", NULL};
        execve(self_copy, argv, environ);
        _exit(127);
    }
    print_status("  status", xwait(c));
}

static void execveat_tests(void) {
    printf("execveat(fd, \"\", AT_EMPTY_PATH):\n");
    pid_t c = xfork();
    if (c == 0) {
        int fd = open(self_copy, O_RDONLY);
        char *argv[] = {"fexec", "@argv", NULL};
        syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
        printf("  execveat failed: %s\n", proc_errname(errno));
        _exit(127);
    }
    print_status("  status", xwait(c));

    printf("execveat(dirfd, \"prog_copy\", 0):\n");
    c = xfork();
    if (c == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        char *argv[] = {"at", "@argv", NULL};
        syscall(SYS_execveat, dfd, "prog_copy", argv, environ, 0);
        printf("  execveat failed: %s\n", proc_errname(errno));
        _exit(127);
    }
    print_status("  status", xwait(c));

    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char *argv[] = {"x", "@exit", "0", NULL};
    errno = 0;
    long r = syscall(SYS_execveat, dfd, "link_to_copy", argv, environ, AT_SYMLINK_NOFOLLOW);
    print_res("execveat(symlink, AT_SYMLINK_NOFOLLOW)", r, errno);
    errno = 0;
    r = syscall(SYS_execveat, dfd, "prog_copy", argv, environ, 0x40000000);
    print_res("execveat with an unknown flag", r, errno);
    errno = 0;
    r = syscall(SYS_execveat, 9999, "prog_copy", argv, environ, 0);
    print_res("execveat with a bad dirfd", r, errno);
    close(dfd);
}

static volatile int vfork_shared;

static void vforks(void) {
    vfork_shared = 0;
    fflush(stdout);
    pid_t c = vfork();
    if (c == 0) {
        vfork_shared = 42; /* the child borrows the parent's memory */
        _exit(5);
    }
    int st = xwait(c);
    CHECK(c > 0, "vfork");
    printf("vfork + _exit: %s, the child's store is visible: %s\n", status_str(st),
           vfork_shared == 42 ? "yes" : "no");

    vfork_shared = 0;
    char *argv[] = {"vexec", "@exit", "23", NULL};
    fflush(stdout);
    c = vfork();
    if (c == 0) {
        vfork_shared = 1;
        execve(self_copy, argv, environ);
        _exit(127);
    }
    /* The parent resumes only once the child has exec'd. */
    int seen = vfork_shared;
    st = xwait(c);
    printf("vfork + execve: %s, parent resumed after the child's store: %s\n", status_str(st),
           seen == 1 ? "yes" : "no");

    /* vfork + a failing exec + _exit. */
    fflush(stdout);
    c = vfork();
    if (c == 0) {
        char *a[] = {"x", NULL};
        execve("/nonexistent/prog", a, environ);
        vfork_shared = errno;
        _exit(127);
    }
    st = xwait(c);
    printf("vfork + failing execve: %s, errno seen by the parent: %s\n", status_str(st),
           proc_errname(vfork_shared));
}

static void spawns(void) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/spawn_out.txt", dir);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGINT);
    posix_spawnattr_setsigmask(&at, &m);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"spawned", "@argv", "spawn-arg", NULL};
    pid_t pid = 0;
    int r = posix_spawn(&pid, self_copy, &fa, &at, argv, environ);
    printf("posix_spawn = %s\n", proc_errname(r));
    if (r == 0) {
        /* Its own group (POSIX_SPAWN_SETPGROUP with 0). */
        int st = xwait(pid);
        print_status("spawned child", st);
        int fd = open(out, O_RDONLY);
        char buf[1024] = {0};
        read(fd, buf, sizeof buf - 1);
        close(fd);
        printf("its stdout, redirected by a file action:\n%s", buf);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);

    pid = 0;
    char *a2[] = {"x", NULL};
    r = posix_spawn(&pid, "/nonexistent/program", NULL, NULL, a2, environ);
    if (r == 0) {
        /* glibc and musl report the exec error; older ones exit 127. */
        int st = xwait(pid);
        printf("posix_spawn of a missing program: child %s\n", status_str(st));
    } else {
        printf("posix_spawn of a missing program = %s\n", proc_errname(r));
    }
}

int main(int argc, char **argv) {
    proc_init();
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '@')
            return run_role(argc, argv, i);
    if (argc < 2) {
        printf("usage: proc_exec DIR\n");
        return 2;
    }
    dir = argv[1];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        printf("mkdir %s: %s\n", dir, proc_errname(errno));
        return 3;
    }
    setenv("HULL_T_DIR", dir, 1);
    copy_self();
    exec_basics();
    scripts();
    errors();
    cloexec();
    dispositions();
    execveat_tests();
    vforks();
    spawns();
    /* The scripts name the directory in their #! lines, which differs between a native
     * run and the sandbox: remove them so that the trees left behind compare equal. */
    static const char *scripts[] = {"script_arg", "script_noarg", "script_spaces",
                                    "script_nested", "script_noexec", "script_badinterp"};
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, scripts[i]);
        unlink(path);
    }
    return check_summary();
}
