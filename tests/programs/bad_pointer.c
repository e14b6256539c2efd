/* System calls given pointers the program does not own fail with EFAULT; the program
 * keeps running. stdin should carry a few bytes so a read has data to copy. */
#include "hull_test.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    errno = 0;
    long r = syscall(SYS_write, 1, (void *)1, 10);
    print_result("write(1, 0x1, 10)", r, errno);
    errno = 0;
    r = syscall(SYS_write, 1, (void *)0xffff800000000000UL, 10);
    print_result("write(1, kernel address, 10)", r, errno);
    errno = 0;
    r = syscall(SYS_write, 1, (void *)0xffffffffff600000UL, 10);
    print_result("write(1, top page, 10)", r, errno);
    errno = 0;
    r = syscall(SYS_write, 1, (void *)0x0000800000000000UL, 10);
    print_result("write(1, non-canonical, 10)", r, errno);
    errno = 0;
    r = syscall(SYS_read, 0, (void *)0xffff800000000000UL, 10);
    print_result("read(0, kernel address, 10)", r, errno);
    errno = 0;
    r = syscall(SYS_read, 0, NULL, 10);
    print_result("read(0, NULL, 10)", r, errno);
    /* Raw syscalls throughout: libc wrappers may check arguments themselves or use the
     * vDSO and fault in user space instead. */
    errno = 0;
    r = syscall(SYS_clock_gettime, 0, (void *)1);
    print_result("clock_gettime(REALTIME, 0x1)", r, errno);
    errno = 0;
    r = syscall(SYS_uname, (void *)0xffff800000001000UL);
    print_result("uname(kernel address)", r, errno);
    errno = 0;
    r = syscall(SYS_writev, 1, (void *)8, 1);
    print_result("writev(1, 0x8, 1)", r, errno);
    errno = 0;
    r = syscall(SYS_getrandom, (void *)0xfffffffffffff000UL, 16, 0);
    print_result("getrandom(top of address space)", r, errno);
    /* Length that wraps around the address space. */
    static char buf[16];
    errno = 0;
    r = syscall(SYS_write, 1, buf, (size_t)-1);
    print_result("write(1, buf, SIZE_MAX)", r, errno);
    char ok[16] = {0};
    r = read(0, ok, 5);
    printf("read(0, buf, 5) = %ld [%.5s]\n", r, ok);
    printf("still running\n");
    return 0;
}
