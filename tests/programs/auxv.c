/* The auxiliary vector and the facts a libc reads at start-up. */
#include "hull_test.h"
#include <elf.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
    (void)argc;
    CHECK(sysconf(_SC_PAGESIZE) == 4096, "sysconf(_SC_PAGESIZE) == 4096");
    CHECK(getauxval(AT_PAGESZ) == 4096, "AT_PAGESZ == 4096");
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    CHECK(rnd != NULL, "AT_RANDOM non-null");
    if (rnd) {
        int nonzero = 0;
        for (int i = 0; i < 16; i++)
            nonzero |= rnd[i];
        CHECK(nonzero, "AT_RANDOM bytes not all zero");
    }
    CHECK(getauxval(AT_HWCAP) != 0, "AT_HWCAP non-zero");
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    CHECK(execfn != NULL, "AT_EXECFN non-null");
    CHECK(execfn && strcmp(base_name(execfn), base_name(argv[0])) == 0, "AT_EXECFN names the program");
    CHECK(getauxval(AT_PHDR) != 0 && getauxval(AT_PHENT) == sizeof(Elf64_Phdr) && getauxval(AT_PHNUM) > 0,
          "AT_PHDR/AT_PHENT/AT_PHNUM");
    CHECK(getauxval(AT_ENTRY) != 0, "AT_ENTRY non-zero");
    CHECK(getauxval(AT_SECURE) == 0, "AT_SECURE == 0");
    CHECK(getauxval(AT_CLKTCK) == 100, "AT_CLKTCK == 100");
    CHECK(getauxval(AT_UID) == getuid() && getauxval(AT_GID) == getgid(), "AT_UID/AT_GID match");
    CHECK(sysconf(_SC_CLK_TCK) == 100, "sysconf(_SC_CLK_TCK) == 100");
    CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 1, "at least one online cpu");

    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
    CHECK(CPU_COUNT(&set) >= 1, "affinity has at least one cpu");

    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_STACK, &rl) == 0, "getrlimit(RLIMIT_STACK)");
    CHECK(rl.rlim_cur >= (1u << 20) && (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur <= rl.rlim_max),
          "RLIMIT_STACK sane");
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64, "RLIMIT_NOFILE sane");
    return check_summary();
}
