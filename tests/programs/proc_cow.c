/* A copy-on-write storm: the parent dirties a 64 MiB heap, then four children each
 * rewrite every page of their copy and check it, while the parent checks that its own
 * copy did not change. Under a small --memory the sandbox may run out: a child killed
 * by SIGKILL (the guest's OOM killer) or the whole run ending with 137 are both
 * acceptable; a kernel panic is not. argv[1] = number of children (default 4). */
#include "proc_util.h"

enum { SIZE = 64 << 20, PAGE = 4096 };

int main(int argc, char **argv) {
    proc_init();
    int kids = argc > 1 ? atoi(argv[1]) : 4;
    unsigned char *heap = malloc(SIZE);
    if (!heap) {
        printf("malloc failed\n");
        return 3;
    }
    for (size_t i = 0; i < SIZE; i += PAGE)
        heap[i] = (unsigned char)(i / PAGE);
    printf("parent dirtied %d MiB\n", SIZE >> 20);
    pid_t pids[16];
    for (int k = 0; k < kids && k < 16; k++) {
        pids[k] = xfork();
        if (pids[k] == 0) {
            for (size_t i = 0; i < SIZE; i += PAGE)
                heap[i] = (unsigned char)(i / PAGE + k + 1);
            for (size_t i = 0; i < SIZE; i += PAGE)
                if (heap[i] != (unsigned char)(i / PAGE + k + 1))
                    _exit(1);
            _exit(0);
        }
    }
    int ok = 0, oom = 0, other = 0;
    for (int k = 0; k < kids && k < 16; k++) {
        int st = xwait(pids[k]);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
        else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
            oom++;
        else
            other++;
    }
    int intact = 1;
    for (size_t i = 0; i < SIZE; i += PAGE)
        if (heap[i] != (unsigned char)(i / PAGE))
            intact = 0;
    printf("children: %d wrote and checked their copy, %d killed by SIGKILL, %d other\n", ok, oom,
           other);
    printf("the parent's copy is intact: %s\n", intact ? "yes" : "no");
    return other == 0 && intact ? 0 : 1;
}
