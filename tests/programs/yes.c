/* Writes "y" lines until the write fails; a closed reader must end it with SIGPIPE. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    for (;;) {
        if (write(1, "y\n", 2) < 0) {
            perror("write");
            return 3;
        }
    }
}
