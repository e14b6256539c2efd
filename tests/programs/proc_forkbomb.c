/* Fork until fork fails, under hull only (it refuses to run unless it is pid 1).
 *   `proc_forkbomb count`: the root forks children that wait on a pipe, until fork
 *       fails; prints the errno and how many children it got, lets them all exit, reaps
 *       them, checks that fork works again, and exits 0.
 *   `proc_forkbomb threads`: the same with pthread_create (64 KiB stacks).
 *   `proc_forkbomb bomb`: every process forks forever (a classic fork bomb); only
 *       --timeout ends it. */
#include "proc_util.h"
#include <pthread.h>

enum { CAP = 100000 };

static int release_fd = -1;

static void *parked(void *arg) {
    (void)arg;
    char c;
    read(release_fd, &c, 1);
    return NULL;
}

int main(int argc, char **argv) {
    proc_init();
    const char *mode = argc > 1 ? argv[1] : "count";
    if (getpid() != 1) {
        printf("not pid 1: refusing to fork-bomb outside the sandbox\n");
        return 2;
    }
    if (strcmp(mode, "bomb") == 0) {
        printf("bombing\n");
        fflush(stdout);
        for (;;)
            fork();
    }
    int p[2];
    pipe(p);
    release_fd = p[0];
    int n = 0, err = 0;
    static pid_t kids[CAP];
    static pthread_t threads[CAP];
    if (strcmp(mode, "threads") == 0) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 64 * 1024);
        while (n < CAP) {
            int r = pthread_create(&threads[n], &at, parked, NULL);
            if (r != 0) {
                err = r;
                break;
            }
            n++;
        }
        printf("pthread_create failed with %s after %d threads\n", proc_errname(err), n);
        close(p[1]);
        for (int i = 0; i < n; i++)
            pthread_join(threads[i], NULL);
        printf("joined %d threads\n", n);
        pthread_t again;
        int r = pthread_create(&again, &at, parked, NULL);
        printf("pthread_create works again: %s\n", r == 0 ? "yes" : proc_errname(r));
        if (r == 0)
            pthread_join(again, NULL);
    } else {
        while (n < CAP) {
            pid_t c = fork();
            if (c < 0) {
                err = errno;
                break;
            }
            if (c == 0) {
                close(p[1]);
                char x;
                read(p[0], &x, 1);
                _exit(0);
            }
            kids[n++] = c;
        }
        printf("fork failed with %s after %d children\n", proc_errname(err), n);
        close(p[1]);
        int ok = 0;
        for (int i = 0; i < n; i++) {
            int st;
            if (waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0)
                ok++;
        }
        printf("reaped %d children that exited 0\n", ok);
        pid_t c = fork();
        if (c == 0)
            _exit(7);
        int st = 0;
        if (c > 0)
            waitpid(c, &st, 0);
        printf("fork works again: %s\n", c > 0 && WEXITSTATUS(st) == 7 ? "yes" : "no");
    }
    return err == EAGAIN ? 0 : 1;
}
