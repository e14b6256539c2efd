/* A program finds itself at its own path: stat and read it there, cannot write it while
 * it runs (ETXTBSY), finds its name in its directory, and execs itself by the absolute
 * path and by a path relative to its directory. (Under hull the program is placed at its
 * host path in the sandbox's tree.) Roles: `proc_self_path child` prints and exits 4. */
#include "proc_util.h"
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>

static int run(const char *path) {
    pid_t c = xfork();
    if (c == 0) {
        execl(path, "proc_self_path", "child", (char *)NULL);
        _exit(100 + errno);
    }
    int st = xwait(c);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    proc_init();
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("child ran\n");
        return 4;
    }
    char self[4096] = {0};
    CHECK(readlink("/proc/self/exe", self, sizeof self - 1) > 0, "readlink /proc/self/exe");
    struct stat a, b;
    CHECK(stat(self, &a) == 0, "stat of its own path");
    CHECK(stat("/proc/self/exe", &b) == 0 && a.st_size == b.st_size && S_ISREG(a.st_mode),
          "the same size as /proc/self/exe");
    errno = 0;
    CHECK(open(self, O_WRONLY) < 0 && errno == ETXTBSY, "opening it for writing: ETXTBSY");
    int fd = open(self, O_RDONLY);
    char magic[4] = {0};
    CHECK(fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "\x7f" "ELF", 4) == 0,
          "reading it gives the ELF magic");
    close(fd);
    char copy1[4096], copy2[4096];
    strcpy(copy1, self);
    strcpy(copy2, self);
    const char *dir = dirname(copy1), *name = basename(copy2);
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, name) == 0)
            found = 1;
    if (d)
        closedir(d);
    CHECK(found, "its directory lists it");
    CHECK(run(self) == 4, "exec by its absolute path");
    CHECK(chdir(dir) == 0, "chdir to its directory");
    char rel[4200];
    snprintf(rel, sizeof rel, "./%s", name);
    CHECK(run(rel) == 4, "exec by a relative path");
    return check_summary();
}
