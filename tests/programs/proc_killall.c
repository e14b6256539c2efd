/* kill(-1, sig), under hull only: it signals every process the caller may signal except
 * itself and pid 1. The program refuses to run unless it is pid 1 (as it is in the
 * sandbox): natively kill(-1) would reach every process of the user.
 *
 * The root (pid 1) starts three listeners and a sender. The sender's kill(-1, SIGUSR1)
 * reaches the listeners but neither itself nor the root; the root's kill(-1, SIGTERM)
 * then ends every child, the root excluded. */
#include "proc_util.h"
#include <poll.h>

static volatile sig_atomic_t root_usr1;

static void on_usr1(int s) {
    (void)s;
    root_usr1++;
}

int main(void) {
    proc_init();
    if (getpid() != 1) {
        printf("not pid 1: refusing to call kill(-1) outside the sandbox\n");
        return 2;
    }
    set_handler(SIGUSR1, on_usr1, SA_RESTART);
    int ready[2], go[2], rep[2];
    pipe(ready);
    pipe(go);
    pipe(rep);
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = xfork();
        if (kids[i] == 0) {
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, SIGUSR1);
            sigprocmask(SIG_BLOCK, &s, NULL);
            write(ready[1], "r", 1);
            if (i == 3) {
                char c;
                read(go[0], &c, 1);
                int r = kill(-1, SIGUSR1);
                struct timespec zero = {0, 50000000};
                int got = sigtimedwait(&s, NULL, &zero);
                /* 0: the kill worked and did not reach the sender itself */
                _exit(r == 0 && got < 0 ? 0 : 1);
            }
            int sig = sigwaitinfo(&s, NULL);
            if (sig != SIGUSR1)
                _exit(3);
            write(rep[1], "u", 1);
            /* Now wait for the root's kill(-1, SIGTERM). */
            for (;;)
                pause();
        }
    }
    for (int i = 0; i < 4; i++) {
        char c;
        read(ready[0], &c, 1);
    }
    write(go[1], "g", 1);
    print_status("sender (0: kill(-1) succeeded, not delivered to itself)", xwait(kids[3]));
    /* Each listener reports its SIGUSR1 on `rep`; 5 s is plenty. */
    close(rep[1]);
    int reported = 0;
    struct pollfd pf = {.fd = rep[0], .events = POLLIN};
    while (reported < 3 && poll(&pf, 1, 5000) == 1) {
        char c;
        if (read(rep[0], &c, 1) != 1)
            break;
        reported++;
    }
    printf("listeners that got the sender's SIGUSR1: %d\n", reported);
    printf("the root (pid 1) got SIGUSR1 from kill(-1): %d times\n", (int)root_usr1);
    errno = 0;
    int r = kill(-1, SIGTERM);
    printf("kill(-1, SIGTERM) from pid 1 = %d %s\n", r, proc_errname(errno));
    for (int i = 0; i < 3; i++) {
        int st = xwait(kids[i]);
        printf("listener %d: %s\n", i, status_str(st));
    }
    errno = 0;
    r = kill(-1, SIGTERM);
    printf("kill(-1, SIGTERM) with no other process = %d %s\n", r, proc_errname(errno));
    printf("the root survived its own kill(-1)\n");
    return check_summary();
}
