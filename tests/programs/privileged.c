/* Ring-3 attempts at ring-0 things, and kernel-memory probes. Natively each faulting
 * instruction ends the program with SIGSEGV (139); inside the sandbox it must do the
 * same and, above all, must not reach the sandbox kernel or the host. argv[1] selects. */
#include "hull_test.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf env;

static void catch_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
    siglongjmp(env, 1);
}

static void install(int sig, void (*h)(int, siginfo_t *, void *)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Reads (or writes) an address under a SIGSEGV handler and says whether it faulted. */
static const char *probe(uintptr_t addr, int write) {
    if (sigsetjmp(env, 1) == 0) {
        volatile unsigned char *p = (volatile unsigned char *)addr;
        if (write)
            *p = 0x90;
        else
            (void)*p;
        return "accessible";
    }
    return "faults";
}

static void probe_all(void) {
    /* Below any static binary's load address, the kernel half, the top page, and
     * non-canonical addresses: all fault natively. A sandbox that leaked its own
     * mappings into user space would show "accessible". */
    static const uintptr_t addrs[] = {
        0x0,
        0x1000,
        0x7000,
        0x8000,
        0x9000,
        0xa0000,
        0xf0000,
        0x100000,
        0x200000,
        0x0000800000000000UL,
        0x7fffffffffffffffUL,
        0xffff800000000000UL,
        0xffff800000100000UL,
        0xffff888000000000UL,
        /* Pages hull's guest kernel itself uses all the time (boot info, hypercall block,
         * boot stack, kernel text): user mode must not reach them either. */
        0xffff888000001000UL,
        0xffff888000002000UL,
        0xffff8880001ff000UL,
        0xffffffff80200000UL,
        0xffffc90000000000UL,
        0xffffffff80000000UL,
        0xffffffff81000000UL,
        0xffffffffff000000UL,
        0xfffffffffffff000UL,
    };
    install(SIGSEGV, catch_segv);
    install(SIGBUS, catch_segv);
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        printf("read  0x%016lx: %s\n", (unsigned long)addrs[i], probe(addrs[i], 0));
        printf("write 0x%016lx: %s\n", (unsigned long)addrs[i], probe(addrs[i], 1));
    }
}

/* The handler sends sigreturn to a non-canonical RIP: the return to user mode must
 * fault in user mode (SIGSEGV), never in the kernel. */
static void to_noncanonical(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)0x0000800000000000UL;
}

/* The handler asks for IOPL 3 through the saved flags; the kernel must refuse. */
static void ask_iopl(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_EFL] |= 0x3000;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "";
    printf("trying %s\n", m);
    fflush(stdout);
    if (strcmp(m, "probe") == 0) {
        probe_all();
        return 0;
    } else if (strcmp(m, "hlt") == 0) {
        __asm__ volatile("hlt");
    } else if (strcmp(m, "cli") == 0) {
        __asm__ volatile("cli");
    } else if (strcmp(m, "sti") == 0) {
        __asm__ volatile("sti");
    } else if (strcmp(m, "outb") == 0) {
        /* Port 0xe9 and the low ports are where a hypervisor may listen. */
        for (unsigned port = 0; port < 0x10000; port += 0x101)
            __asm__ volatile("outb %%al, %%dx" ::"a"(0x41), "d"(port));
    } else if (strcmp(m, "outl") == 0) {
        __asm__ volatile("outl %%eax, %%dx" ::"a"(0), "d"(0xe9));
    } else if (strcmp(m, "inb") == 0) {
        unsigned char v;
        __asm__ volatile("inb %%dx, %%al" : "=a"(v) : "d"(0x60));
    } else if (strcmp(m, "rdmsr") == 0) {
        unsigned lo, hi;
        __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080)); /* EFER */
    } else if (strcmp(m, "wrmsr") == 0) {
        __asm__ volatile("wrmsr" ::"a"(0), "d"(0), "c"(0xc0000082)); /* LSTAR */
    } else if (strcmp(m, "mov_cr3") == 0) {
        __asm__ volatile("mov %0, %%cr3" ::"r"(0UL));
    } else if (strcmp(m, "mov_cr0") == 0) {
        unsigned long v;
        __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    } else if (strcmp(m, "lgdt") == 0) {
        static unsigned char desc[10];
        __asm__ volatile("lgdt %0" ::"m"(desc));
    } else if (strcmp(m, "invlpg") == 0) {
        __asm__ volatile("invlpg (%0)" ::"r"(0UL) : "memory");
    } else if (strcmp(m, "sysret") == 0) {
        __asm__ volatile("sysretq");
    } else if (strcmp(m, "int81") == 0) {
        __asm__ volatile("int $0x81");
    } else if (strcmp(m, "int_pf") == 0) {
        __asm__ volatile("int $14");
    } else if (strcmp(m, "int_df") == 0) {
        __asm__ volatile("int $8");
    } else if (strcmp(m, "vmcall") == 0) {
        __asm__ volatile("vmcall" ::"a"(0));
    } else if (strcmp(m, "vmmcall") == 0) {
        __asm__ volatile("vmmcall" ::"a"(0));
    } else if (strcmp(m, "jmp_kernel") == 0) {
        ((void (*)(void))0xffffffff80000000UL)();
    } else if (strcmp(m, "jmp_noncanonical") == 0) {
        ((void (*)(void))0x0000800000000000UL)();
    } else if (strcmp(m, "popf_iopl_cli") == 0) {
        /* popf cannot raise IOPL from ring 3; cli then still faults. */
        __asm__ volatile("pushfq\n\torq $0x3000, (%%rsp)\n\tpopfq\n\tcli" ::: "memory", "cc");
    } else if (strcmp(m, "sigreturn_iopl_cli") == 0) {
        install(SIGUSR1, ask_iopl);
        raise(SIGUSR1);
        __asm__ volatile("cli");
    } else if (strcmp(m, "sigreturn_noncanonical") == 0) {
        install(SIGUSR1, to_noncanonical);
        raise(SIGUSR1);
    } else if (strcmp(m, "syscall_bad_rsp") == 0) {
        /* The kernel must never use the user stack pointer; these calls work natively. */
        static const unsigned long bad[] = {0, 0xffff800000001000UL, 0x0000800000000000UL, 1};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            long nr = SYS_getppid;
            __asm__ volatile("mov %%rsp, %%r12\n\t"
                             "mov %[bad], %%rsp\n\t"
                             "syscall\n\t"
                             "mov %%r12, %%rsp"
                             : "+a"(nr)
                             : [bad] "r"(bad[i])
                             : "rcx", "r11", "r12", "memory");
            printf("syscall with rsp=%#lx: %s\n", bad[i], nr >= 0 ? "ok" : "FAIL");
        }
        return 0;
    } else if (strcmp(m, "sigframe_bad_rsp") == 0) {
        /* A signal arrives while rsp points nowhere: the frame cannot be written, so the
         * kernel must kill the program with SIGSEGV. */
        install(SIGUSR1, catch_segv);
        long nr = SYS_tgkill;
        long pid = getpid(), tid = syscall(SYS_gettid);
        __asm__ volatile("mov %%rsp, %%r12\n\t"
                         "xor %%esp, %%esp\n\t"
                         "syscall\n\t"
                         "mov %%r12, %%rsp"
                         : "+a"(nr)
                         : "D"(pid), "S"(tid), "d"((long)SIGUSR1)
                         : "rcx", "r11", "r12", "memory");
    } else {
        printf("unknown mode\n");
        return 100;
    }
    printf("survived %s\n", m);
    return 0;
}
