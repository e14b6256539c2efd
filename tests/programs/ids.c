/* Process identity calls: relations only, never the ids. */
#include "hull_test.h"
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    pid_t pid = getpid();
    CHECK(pid > 0, "getpid > 0");
    CHECK(getpid() == pid, "getpid stable");
    CHECK(syscall(SYS_gettid) == pid, "gettid == getpid");
    pid_t ppid = getppid();
    CHECK(ppid >= 0 && ppid != pid, "getppid sane");
    getuid();
    geteuid();
    getgid();
    getegid();
    printf("getuid/geteuid/getgid/getegid: returned\n");
    uid_t r, e, s;
    CHECK(getresuid(&r, &e, &s) == 0 && r == getuid() && e == geteuid(), "getresuid agrees");
    gid_t gr, ge, gs;
    CHECK(getresgid(&gr, &ge, &gs) == 0 && gr == getgid() && ge == getegid(), "getresgid agrees");
    CHECK(getgroups(0, NULL) >= 0, "getgroups(0) succeeds");
    CHECK(getpgrp() >= 0 && getpgid(0) == getpgrp(), "getpgrp/getpgid agree");
    /* 0 when the session leader lives outside our pid namespace (CI). */
    CHECK(getsid(0) >= 0, "getsid(0) succeeds");
    CHECK(kill(pid, 0) == 0, "kill(self, 0) succeeds");
    CHECK(syscall(SYS_tgkill, pid, pid, 0) == 0, "tgkill(self, self, 0) succeeds");
    return check_summary();
}
