/* Exit status in several ways. argv[1] = how (exit, return, _exit, exit_group),
 * argv[2] = the value, which may be out of 0..255. */
#include "hull_test.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: exit_code HOW VALUE\n");
        return 100;
    }
    int v = atoi(argv[2]);
    printf("exiting via %s with %d\n", argv[1], v);
    fflush(stdout);
    if (strcmp(argv[1], "exit") == 0)
        exit(v);
    if (strcmp(argv[1], "_exit") == 0)
        _exit(v);
    if (strcmp(argv[1], "exit_group") == 0)
        syscall(SYS_exit_group, v);
    if (strcmp(argv[1], "exit_thread") == 0)
        syscall(SYS_exit, v); /* the only thread exiting ends the process */
    return v;
}
