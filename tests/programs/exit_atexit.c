/* Exit paths and what runs on them: atexit handlers (in reverse), destructors,
 * stdio flushing, and _exit which flushes nothing. argv[1] selects the path. */
#include "hull_test.h"
#include <unistd.h>

static void h1(void) { printf("atexit 1\n"); }
static void h2(void) { printf("atexit 2\n"); }
static void h3(void) { printf("atexit 3\n"); }
static void late(void) { printf("atexit registered last runs first\n"); }

__attribute__((constructor)) static void ctor(void) { printf("constructor ran\n"); }
__attribute__((destructor)) static void dtor(void) { printf("destructor ran\n"); }

static __attribute__((noinline)) void deep(int n, int code) {
    if (n < 0)
        return;
    if (n == 0) {
        printf("leaving from depth, code %d", code); /* no newline: must still be flushed */
        exit(code);
    }
    deep(n - 1, code);
    printf("unreachable\n");
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "nested";
    atexit(h1);
    atexit(h2);
    atexit(h3);
    atexit(late);
    /* stdout is a pipe under the tests, so this is buffered, not yet written. */
    printf("main buffered output\n");
    fprintf(stderr, "stderr is unbuffered\n");
    if (strcmp(mode, "nested") == 0)
        deep(5, 3);
    if (strcmp(mode, "_exit") == 0)
        _exit(4); /* buffered stdout and atexit handlers are dropped */
    if (strcmp(mode, "return") == 0)
        return 5;
    return 6;
}
