/* Thread-local storage of the main thread: initialised, zero-initialised, large and
 * over-aligned variables, errno, and the %fs self pointer. */
#include "hull_test.h"
#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003
#endif
#include <sys/syscall.h>
#include <unistd.h>

__thread int t_init = 42;
__thread long t_zero;
__thread char t_str[] = "hello tls";
__thread _Alignas(64) int t_aligned64 = 7;
__thread _Alignas(4096) char t_page_aligned[16] = {1};
__thread unsigned char t_big_zero[1 << 20];
__thread unsigned char t_big_init[64 * 1024] = {1, 2, 3, [64 * 1024 - 1] = 0xee};

static __attribute__((noinline)) int *addr_of_init(void) { return &t_init; }

int main(void) {
    CHECK(t_init == 42, "initialised __thread int");
    CHECK(t_zero == 0, "zero-initialised __thread long");
    CHECK(strcmp(t_str, "hello tls") == 0, "initialised __thread string");
    CHECK(t_aligned64 == 7, "aligned __thread value");
    CHECK(((uintptr_t)&t_aligned64 & 63) == 0, "__thread _Alignas(64) honoured");
    CHECK(((uintptr_t)t_page_aligned & 4095) == 0 && t_page_aligned[0] == 1,
          "__thread _Alignas(4096) honoured");
    int zero = 1;
    for (size_t i = 0; i < sizeof t_big_zero; i++)
        if (t_big_zero[i])
            zero = 0;
    CHECK(zero, "1 MiB __thread array is zero");
    CHECK(t_big_init[0] == 1 && t_big_init[2] == 3 && t_big_init[3] == 0 &&
              t_big_init[sizeof t_big_init - 1] == 0xee,
          "64 KiB initialised __thread array");
    for (size_t i = 0; i < sizeof t_big_zero; i++)
        t_big_zero[i] = (unsigned char)(i * 13);
    uint64_t h = fnv1a(t_big_zero, sizeof t_big_zero);
    printf("big tls fnv=%016llx\n", (unsigned long long)h);
    t_init++;
    t_zero = -5;
    CHECK(*addr_of_init() == 43 && t_zero == -5, "__thread writes stick");

    /* The thread pointer: %fs:0 holds the TCB's own address (x86_64 TLS ABI), ARCH_GET_FS
     * agrees, and the TLS block sits below it (variant II). */
    uintptr_t self = 0, fsbase = 0;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self));
    CHECK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fsbase) == 0, "arch_prctl(ARCH_GET_FS)");
    CHECK(self == fsbase && fsbase != 0, "%fs:0 is the thread pointer");
    CHECK((uintptr_t)&t_init < fsbase && (uintptr_t)t_big_zero < fsbase, "TLS below the thread pointer");

    /* errno lives in TLS. */
    errno = 0;
    CHECK(write(-1, "x", 1) == -1 && errno == EBADF, "errno set through TLS");
    return check_summary();
}
