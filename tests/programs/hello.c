/* The smallest useful program: used by the smoke, strace and limit tests. */
#include <stdio.h>

int main(void) {
    printf("hello, world\n");
    return 0;
}
