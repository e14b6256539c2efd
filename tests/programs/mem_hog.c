/* Tries to use 1 GiB. argv[1] = "malloc" (1 MiB blocks, each touched) or "mmap" (one
 * 1 GiB mapping, every page touched). On allocation failure it prints ENOMEM and exits
 * 3, which is one of the two acceptable outcomes under a small --memory. */
#include "hull_test.h"
#include <sys/mman.h>

#define TOTAL_MIB 1024

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "malloc";
    if (strcmp(mode, "mmap") == 0) {
        size_t n = (size_t)TOTAL_MIB << 20;
        unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("ENOMEM from mmap\n");
            return 3;
        }
        for (size_t i = 0; i < n; i += 4096)
            p[i] = 1;
        printf("touched %d MiB\n", TOTAL_MIB);
        return 0;
    }
    for (int i = 0; i < TOTAL_MIB; i++) {
        unsigned char *p = malloc(1 << 20);
        if (!p) {
            printf("ENOMEM from malloc after %d MiB\n", i);
            return 3;
        }
        memset(p, i, 1 << 20);
    }
    printf("touched %d MiB\n", TOTAL_MIB);
    return 0;
}
