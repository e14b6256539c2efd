/* Dies by a signal, as selected by argv[1]; a shell reports 128 + the signal number. */
#include "hull_test.h"
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int overflow_limit = -1; /* never reached: recursion is unbounded */

static __attribute__((noinline)) int overflow(int n) {
    volatile char pad[256];
    pad[0] = (char)n;
    if (n == overflow_limit)
        return 0;
    return overflow(n + 1) + pad[0];
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    printf("about to die by %s\n", mode);
    fflush(stdout);
    if (strcmp(mode, "segv") == 0) {
        volatile int *p = NULL;
        return *p;
    } else if (strcmp(mode, "trap") == 0) {
        __builtin_trap(); /* ud2 */
    } else if (strcmp(mode, "ud2") == 0) {
        __asm__ volatile("ud2");
    } else if (strcmp(mode, "fpe") == 0) {
        volatile int a = 1, b = 0;
        return a / b;
    } else if (strcmp(mode, "fpe_overflow") == 0) {
        volatile long a = (long)1 << 63, b = -1; /* LONG_MIN / -1 also raises #DE */
        return (int)(a / b);
    } else if (strcmp(mode, "abort") == 0) {
        abort();
    } else if (strcmp(mode, "kill") == 0) {
        raise(SIGKILL);
    } else if (strcmp(mode, "term") == 0) {
        kill(getpid(), SIGTERM);
    } else if (strcmp(mode, "raise_segv") == 0) {
        raise(SIGSEGV);
    } else if (strcmp(mode, "int3") == 0) {
        __asm__ volatile("int3");
    } else if (strcmp(mode, "stack_overflow") == 0) {
        return overflow(0);
    } else if (strcmp(mode, "usr1") == 0) {
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
    } else {
        printf("unknown mode\n");
        return 100;
    }
    printf("survived %s\n", mode);
    return 99;
}
