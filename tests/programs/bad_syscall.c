/* System call numbers that do not exist (or that a sandbox leaves unimplemented)
 * return -1 with ENOSYS. argv[1] = "all" adds acct(2), which on a real host needs
 * privilege, so only the sandbox run uses it. */
#include "hull_test.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    errno = 0;
    long r = syscall(1000);
    print_result("syscall(1000)", r, errno);
    errno = 0;
    r = syscall(-1L);
    print_result("syscall(-1)", r, errno);
    errno = 0;
    r = syscall(100000, 1, 2, 3, 4, 5, 6);
    print_result("syscall(100000)", r, errno);
    if (argc > 1 && strcmp(argv[1], "all") == 0) {
        errno = 0;
        r = syscall(SYS_acct, NULL);
        print_result("syscall(SYS_acct)", r, errno);
    }
    /* Still alive and able to make ordinary calls. */
    r = syscall(SYS_getpid);
    printf("getpid after: %s\n", r > 0 ? "ok" : "FAIL");
    return 0;
}
