/* For the host-signal tests: hull forwards the SIGINT, SIGTERM and SIGHUP it receives to
 * the sandbox's init (this program). Prints "ready" once set up, then:
 *   handle      handlers for the three signals; waits for one and prints "got NAME"
 *   sleep MS    default dispositions; sleeps MS milliseconds (restarting after EINTR),
 *               then prints "slept"
 *   count N     a SIGINT handler; prints "SIGINT 1", "SIGINT 2"... as they come, and
 *               exits 0 after the Nth */
#include "hull_test.h"
#include <signal.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int s) { got = s; }

static volatile sig_atomic_t ints;

static void on_int(int s) {
    (void)s;
    ints++;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "handle";
    if (strcmp(mode, "sleep") == 0) {
        long ms = argc > 2 ? atol(argv[2]) : 1000;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        printf("ready\n");
        fflush(stdout);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        printf("slept\n");
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (strcmp(mode, "count") == 0) {
        int want = argc > 2 ? atoi(argv[2]) : 3, seen = 0;
        sa.sa_handler = on_int;
        sigaction(SIGINT, &sa, NULL);
        printf("ready\n");
        fflush(stdout);
        while (seen < want) {
            while (ints == seen)
                pause();
            seen++;
            printf("SIGINT %d\n", seen);
            fflush(stdout);
        }
        return 0;
    }
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    while (!got)
        pause();
    printf("got %s\n", got == SIGINT ? "SIGINT" : got == SIGTERM ? "SIGTERM" : "SIGHUP");
    return 0;
}
