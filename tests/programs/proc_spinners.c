/* Several processes that never end, for --timeout: the root forks four children (a busy
 * loop, a getppid loop, pause() forever, and a busy loop with every signal blocked and
 * ignored), prints one line, and busy-loops itself. Only --timeout ends it. */
#include "proc_util.h"

static void spin(int kind) {
    if (kind == 1)
        for (;;)
            syscall(SYS_getppid);
    if (kind == 2)
        for (;;)
            pause();
    if (kind == 3) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, NULL);
        for (int s = 1; s < 32; s++)
            signal(s, SIG_IGN);
    }
    volatile unsigned long n = 0;
    for (;;)
        n++;
}

int main(void) {
    proc_init();
    for (int k = 0; k < 4; k++) {
        pid_t c = fork();
        if (c < 0) {
            printf("fork failed: %s\n", proc_errname(errno));
            return 1;
        }
        if (c == 0)
            spin(k);
    }
    printf("4 children spinning\n");
    fflush(stdout);
    spin(0);
}
