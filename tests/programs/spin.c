/* Never ends by itself. argv[1] = "busy" (pure CPU loop), "syscall" (a loop of
 * getppid), "sleep" (pause() with no signal coming) or "sigblock" (every signal
 * that can be blocked is blocked and the program busy-loops). */
#include "hull_test.h"
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "busy";
    printf("spinning: %s\n", mode);
    fflush(stdout);
    if (strcmp(mode, "sleep") == 0) {
        for (;;)
            pause();
    }
    if (strcmp(mode, "syscall") == 0) {
        for (;;)
            syscall(SYS_getppid);
    }
    if (strcmp(mode, "sigblock") == 0) {
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
