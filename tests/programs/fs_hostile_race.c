/* Symlink races. argv[1] = the mount's guest path; argv[2] = iterations. While this
 * runs, a host thread keeps swapping <mount>/flip between a real directory (holding
 * file = "inside\n" and victim) and symlinks to a directory outside the mount (holding
 * file = "TOP-SECRET…" and victim). Through <mount>/flip the guest reads, stats, creates
 * and unlinks; it must never see the secret (by content or by size), and the harness
 * checks that nothing outside the mount changed. */
#include "fs_util.h"

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: %s MOUNT ITERATIONS\n", argv[0]);
        return 2;
    }
    int iterations = atoi(argv[2]);
    char file[PATH_MAX], victim[PATH_MAX], created[PATH_MAX];
    snprintf(file, sizeof file, "%s/flip/file", argv[1]);
    snprintf(victim, sizeof victim, "%s/flip/victim", argv[1]);
    int leaks = 0, inside = 0, refused = 0, other = 0;
    for (int i = 0; i < iterations; i++) {
        char buf[64] = {0};
        int fd = open(file, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size != 7)
                leaks++;
            close(fd);
            if (n > 0 && strstr(buf, "TOP-SECRET"))
                leaks++;
            else if (n == 7 && strcmp(buf, "inside\n") == 0)
                inside++;
            else
                other++;
        } else {
            refused++;
        }
        struct stat st;
        if (stat(file, &st) == 0 && st.st_size != 7)
            leaks++;
        if (i % 10 == 0) {
            snprintf(created, sizeof created, "%s/flip/w%d", argv[1], i);
            fd = open(created, O_CREAT | O_WRONLY | O_EXCL, 0644);
            if (fd >= 0) {
                write(fd, "guest\n", 6);
                close(fd);
            }
        }
        if (i % 10 == 5) {
            unlink(victim);
            fd = open(victim, O_CREAT | O_WRONLY | O_EXCL, 0644);
            if (fd >= 0) {
                write(fd, "guest victim\n", 13);
                close(fd);
            }
            truncate(victim, 0);
            chmod(victim, 0600);
        }
    }
    printf("leaks: %d\n", leaks);
    printf("inside reads: %s\n", inside > 0 ? "some" : "none");
    printf("refused opens (flip was a symlink out): %s\n", refused > 0 ? "some" : "none");
    printf("other reads: %d\n", other);
    return leaks ? 1 : 0;
}
