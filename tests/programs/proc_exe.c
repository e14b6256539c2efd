/* readlink("/proc/self/exe") names the running program. */
#include "hull_test.h"
#include <limits.h>
#include <unistd.h>

int main(void) {
    char buf[PATH_MAX + 1];
    memset(buf, 'Z', sizeof buf);
    ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX);
    CHECK(n > 0, "readlink(/proc/self/exe) succeeds");
    if (n <= 0)
        return check_summary();
    CHECK(buf[n] == 'Z', "readlink does not NUL-terminate");
    buf[n] = 0;
    CHECK(buf[0] == '/', "the link is absolute");
    printf("basename=%s\n", base_name(buf));
    char small[4];
    CHECK(readlink("/proc/self/exe", small, sizeof small) == (ssize_t)sizeof small, "short buffer truncates");
    return check_summary();
}
