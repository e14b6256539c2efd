/* The README's example: a plain static C program, run unmodified inside hull. */
#include <stdio.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("hello, %s, from pid %d on %s %s (%s)\n", argc > 1 ? argv[1] : "world", getpid(), u.sysname, u.release, u.machine);
    return 0;
}
