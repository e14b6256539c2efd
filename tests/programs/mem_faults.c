/* Memory faults caught by a SIGSEGV handler: protection, unmapped, NULL, NX, and a
 * JIT-style write-then-execute page. */
#include "hull_test.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096UL

static sigjmp_buf env;
static volatile int got_signo, got_code;
static void *volatile got_addr;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_signo = sig;
    got_code = si->si_code;
    got_addr = si->si_addr;
    siglongjmp(env, 1);
}

/* Returns 1 if the access faulted. */
static int try_read(volatile unsigned char *p) {
    got_signo = 0;
    if (sigsetjmp(env, 1) == 0) {
        (void)*p;
        return 0;
    }
    return 1;
}

static int try_write(volatile unsigned char *p) {
    got_signo = 0;
    if (sigsetjmp(env, 1) == 0) {
        *p = 1;
        return 0;
    }
    return 1;
}

static int try_call(void *fn) {
    got_signo = 0;
    if (sigsetjmp(env, 1) == 0) {
        ((void (*)(void))fn)();
        return 0;
    }
    return 1;
}

static void report(const char *what, int faulted, void *expect_addr, int expect_code) {
    char name[128];
    snprintf(name, sizeof name, "%s faults", what);
    CHECK(faulted, name);
    snprintf(name, sizeof name, "%s is SIGSEGV", what);
    CHECK(got_signo == SIGSEGV, name);
    snprintf(name, sizeof name, "%s si_code", what);
    CHECK(got_code == expect_code, name);
    snprintf(name, sizeof name, "%s si_addr", what);
    CHECK(got_addr == expect_addr, name);
}

static const char rodata_str[] = "constant";

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction SIGSEGV");

    unsigned char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    memset(p, 0x42, 4 * PG);

    mprotect(p + PG, PG, PROT_READ);
    CHECK(!try_read(p + PG + 10), "read of read-only page works");
    report("write to read-only page", try_write(p + PG + 10), p + PG + 10, SEGV_ACCERR);
    mprotect(p + PG, PG, PROT_READ | PROT_WRITE);
    CHECK(!try_write(p + PG + 10), "write after re-enabling write works");

    mprotect(p + 2 * PG, PG, PROT_NONE);
    report("read of PROT_NONE page", try_read(p + 2 * PG + 5), p + 2 * PG + 5, SEGV_ACCERR);
    mprotect(p + 2 * PG, PG, PROT_READ);
    CHECK(!try_read(p + 2 * PG + 5) && p[2 * PG + 5] == 0x42, "PROT_NONE page readable again");

    munmap(p + 3 * PG, PG);
    report("read of unmapped page", try_read(p + 3 * PG + 8), p + 3 * PG + 8, SEGV_MAPERR);
    report("read of NULL", try_read((volatile unsigned char *)0), NULL, SEGV_MAPERR);
    report("write to rodata", try_write((volatile unsigned char *)rodata_str), (void *)rodata_str,
           SEGV_ACCERR);
    report("write to text", try_write((volatile unsigned char *)(void *)main), (void *)main, SEGV_ACCERR);

    /* NX: code in a read-write page must not run. 0xc3 is `ret`. */
    p[0] = 0xc3;
    report("call into non-executable page", try_call(p), p, SEGV_ACCERR);

    /* JIT: write `mov eax, 42; ret`, flip to read+exec, call. */
    static const unsigned char code[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
    memcpy(p, code, sizeof code);
    CHECK(mprotect(p, PG, PROT_READ | PROT_EXEC) == 0, "mprotect read+exec");
    int r = ((int (*)(void))(void *)p)();
    CHECK(r == 42, "generated code returns 42");
    report("write to read+exec page", try_write(p + 100), p + 100, SEGV_ACCERR);

    /* The handler stays installed and the signal mask was restored by siglongjmp. */
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    CHECK(!sigismember(&cur, SIGSEGV), "SIGSEGV not left blocked");
    return check_summary();
}
