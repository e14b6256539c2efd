/* Prints argv and the (sorted) environment exactly as the program received them. */
#include "hull_test.h"

extern char **environ;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_str(const char *label, int i, const char *s) {
    size_t n = strlen(s);
    if (n <= 200)
        printf("%s[%d] len=%zu [%s]\n", label, i, n, s);
    else
        printf("%s[%d] len=%zu fnv=%016llx\n", label, i, n, (unsigned long long)fnv1a(s, n));
}

int main(int argc, char **argv, char **envp) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        print_str("argv", i, argv[i]);
    CHECK(argv[argc] == NULL, "argv NULL-terminated");
    CHECK(envp == environ, "envp == environ");
    /* envp starts right after argv's terminating NULL, as the ELF ABI lays it out. */
    CHECK(envp == argv + argc + 1, "envp follows argv");

    size_t n = 0;
    while (environ[n])
        n++;
    char **sorted = malloc((n + 1) * sizeof *sorted);
    if (!sorted)
        return 2;
    memcpy(sorted, environ, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    printf("envc=%zu\n", n);
    for (size_t i = 0; i < n; i++)
        print_str("env", (int)i, sorted[i]);
    free(sorted);

    const char *path = getenv("PATH");
    printf("getenv(PATH)=%s\n", path ? path : "(null)");
    const char *home = getenv("HOME");
    printf("getenv(HOME)=%s\n", home ? home : "(null)");
    return check_summary();
}
