/* /proc/PID/exe opens each process's own program: after a child execs another program,
 * the parent's /proc/self/exe is still the parent's file and /proc/CHILD/exe the child's.
 * Usage: proc_exe_images SELF OTHER (OTHER is run as `OTHER sleep 300`). */
#include "proc_util.h"
#include <sys/stat.h>

/* Bytes readable through `path` (-1 if it cannot be opened). */
static long readable(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += n;
    close(fd);
    return total;
}

int main(int argc, char **argv) {
    proc_init();
    if (argc < 3) {
        printf("usage: proc_exe_images SELF OTHER\n");
        return 2;
    }
    struct stat self, other;
    CHECK(stat(argv[1], &self) == 0 && stat(argv[2], &other) == 0, "stat both programs");
    CHECK(self.st_size != other.st_size, "the two programs differ in size");
    pid_t c = xfork();
    if (c == 0) {
        char *args[] = {argv[2], "sleep", "300", NULL};
        execv(argv[2], args);
        _exit(127);
    }
    msleep(100); /* the child has exec'd by now */
    CHECK(readable("/proc/self/exe") == self.st_size, "/proc/self/exe is still this program");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)c);
    CHECK(readable(path) == other.st_size, "/proc/CHILD/exe is the child's program");
    struct stat via;
    CHECK(stat("/proc/self/exe", &via) == 0 && via.st_size == self.st_size,
          "stat of /proc/self/exe gives this program's size");
    kill(c, SIGTERM);
    xwait(c);
    return check_summary();
}
