/* uname: only sysname and machine are printed; the rest is checked for sanity. */
#include "hull_test.h"
#include <sys/utsname.h>

int main(void) {
    struct utsname u;
    memset(&u, 0xff, sizeof u);
    CHECK(uname(&u) == 0, "uname");
    printf("sysname=%s\n", u.sysname);
    printf("machine=%s\n", u.machine);
    CHECK(memchr(u.release, 0, sizeof u.release) && u.release[0] >= '1' && u.release[0] <= '9',
          "release is a NUL-terminated version");
    CHECK(memchr(u.version, 0, sizeof u.version) != NULL, "version NUL-terminated");
    CHECK(memchr(u.nodename, 0, sizeof u.nodename) != NULL, "nodename NUL-terminated");
    return check_summary();
}
