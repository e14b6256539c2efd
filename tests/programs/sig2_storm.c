/* A signal storm: a child sends 20000 SIGUSR1 (and some SIGUSR2) to its parent while the
 * parent computes and makes system calls; the parent must finish its work with the
 * right result, its blocking reads restarted (SA_RESTART), and exit normally. Standard
 * signals merge, so only bounds on the handler counts are checked. */
#include "proc_util.h"

enum { SIGNALS = 20000 };

static volatile sig_atomic_t usr1, usr2;

static void on_usr1(int s) {
    (void)s;
    usr1++;
}

static void on_usr2(int s) {
    (void)s;
    usr2++;
}

int main(void) {
    proc_init();
    set_handler(SIGUSR1, on_usr1, SA_RESTART);
    set_handler(SIGUSR2, on_usr2, SA_RESTART);
    int data[2];
    pipe(data);
    pid_t parent = getpid();
    pid_t c = xfork();
    if (c == 0) {
        close(data[0]);
        int failed = 0;
        for (int i = 0; i < SIGNALS; i++) {
            if (kill(parent, (i % 100) == 99 ? SIGUSR2 : SIGUSR1) != 0)
                failed++;
            if (i % 1000 == 0)
                write_all(data[1], &i, sizeof i);
        }
        int end = -1;
        write_all(data[1], &end, sizeof end);
        _exit(failed ? 1 : 0);
    }
    close(data[1]);
    /* Work: a checksum over 20 M steps, interleaved with blocking reads of the pipe. */
    uint64_t s = 0x9e3779b97f4a7c15ULL, acc = 0;
    int marks = 0, v = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 100000; i++)
            acc += xorshift64(&s) >> 7;
        if (v != -1) {
            ssize_t n = read_full(data[0], &v, sizeof v);
            if (n == (ssize_t)sizeof v && v != -1)
                marks++;
        }
    }
    while (v != -1 && read_full(data[0], &v, sizeof v) == (ssize_t)sizeof v)
        if (v != -1)
            marks++;
    int st = xwait(c);
    printf("checksum %016llx\n", (unsigned long long)acc);
    printf("progress marks read: %d\n", marks);
    print_status("sender", st);
    printf("SIGUSR1 handled at least once, at most %d times: %s\n", SIGNALS,
           usr1 >= 1 && usr1 <= SIGNALS ? "yes" : "no");
    printf("SIGUSR2 handled at least once: %s\n", usr2 >= 1 ? "yes" : "no");
    return check_summary();
}
