/* Escape attempts from a mount. argv[1] = the mount's guest path (/m), argv[2] = the
 * HOST path of a secret file outside the mount, argv[3] = the HOST path of a directory
 * outside the mount. The harness made, inside the mount:
 *   inside.txt         "inside\n"
 *   sub/               a directory
 *   rel_out            -> ../secret.txt
 *   sub/rel_out2       -> ../../secret.txt
 *   sub/rel_deep       -> ../../../../../../../../../../secret.txt
 *   abs_host           -> <host path of the secret>
 *   abs_inside         -> <guest path of the mount>/inside.txt
 *   abs_etc            -> /etc/passwd
 *   dir_out            -> ..
 *   dir_out_abs        -> <host path of the outside directory>
 *   proc_root          -> /proc/self/root<host path of the secret>
 *   hard               a hard link to outside/hardlinked.txt ("hardlinked\n")
 * Every read must fail or return something other than the secret; symlinks resolve in
 * the guest's namespace. Write attempts through the same paths print nothing: the
 * harness checks on the host that nothing outside the mount changed. */
#include "fs_util.h"

static const char *mnt;
static int leaks;

static int is_secret(const char *buf) {
    return strstr(buf, "TOP-SECRET") != NULL;
}

/* Tries to read `path`; prints "label: ENAME", "label: read \"…\"" or a LEAK line. */
static void try_read(const char *label, const char *path) {
    char buf[256] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: %s\n", label, fs_errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        printf("%s: read %s\n", label, fs_errname(errno));
    } else if (is_secret(buf)) {
        leaks++;
        printf("%s: LEAK: read the secret\n", label);
    } else {
        buf[strcspn(buf, "\n")] = 0;
        printf("%s: read \"%s\"\n", label, buf);
    }
}

static void try_stat(const char *label, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        printf("%s: %s\n", label, fs_errname(errno));
    else
        printf("%s: exists (%s)\n", label, fs_type_name(st.st_mode));
}

static char *join(const char *a, const char *b) {
    static char bufs[8][PATH_MAX];
    static int k;
    char *out = bufs[k++ % 8];
    snprintf(out, PATH_MAX, "%s%s", a, b);
    return out;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 4) {
        fprintf(stderr, "usage: %s MOUNT SECRET_HOST_PATH OUTSIDE_HOST_DIR\n", argv[0]);
        return 2;
    }
    mnt = argv[1];
    const char *secret = argv[2], *outside = argv[3];

    try_read("inside.txt", join(mnt, "/inside.txt"));
    try_read("mount/../secret.txt", join(mnt, "/../secret.txt"));
    try_read("mount/sub/../../secret.txt", join(mnt, "/sub/../../secret.txt"));
    try_read("mount/../../../../secret.txt", join(mnt, "/../../../../secret.txt"));
    try_read("the secret's host path", secret);
    try_read("/proc/self/root + host path", join("/proc/self/root", secret));
    try_read("rel_out", join(mnt, "/rel_out"));
    try_read("sub/rel_out2", join(mnt, "/sub/rel_out2"));
    try_read("sub/rel_deep", join(mnt, "/sub/rel_deep"));
    try_read("abs_host", join(mnt, "/abs_host"));
    try_read("abs_inside", join(mnt, "/abs_inside"));
    try_read("dir_out/secret.txt", join(mnt, "/dir_out/secret.txt"));
    try_read("dir_out_abs/hardlinked.txt", join(mnt, "/dir_out_abs/hardlinked.txt"));
    try_read("proc_root", join(mnt, "/proc_root"));
    try_read("hard (a hard link made by the host)", join(mnt, "/hard"));
    try_stat("stat mount/../secret.txt", join(mnt, "/../secret.txt"));
    try_stat("stat rel_out", join(mnt, "/rel_out"));
    try_stat("stat the outside dir's host path", outside);
    try_stat("stat dir_out_abs", join(mnt, "/dir_out_abs"));

    /* /etc/passwd through an absolute symlink is the guest's, never the host's. */
    char host_passwd[4096] = {0}, via_link[4096] = {0};
    long hn = fs_read_file("/etc/passwd", host_passwd, sizeof host_passwd);
    (void)hn;
    long vn = fs_read_file(join(mnt, "/abs_etc"), via_link, sizeof via_link);
    (void)vn;
    printf("abs_etc: the same as the guest's /etc/passwd: %s\n",
           strcmp(host_passwd, via_link) == 0 ? "yes" : "no");

    /* Symlink targets come back verbatim. */
    char t[PATH_MAX] = {0};
    readlink(join(mnt, "/abs_host"), t, sizeof t - 1);
    printf("readlink abs_host is the stored host path: %s\n", strcmp(t, secret) == 0 ? "yes" : "no");
    memset(t, 0, sizeof t);
    readlink(join(mnt, "/rel_out"), t, sizeof t - 1);
    EXPECT_STR(t, "../secret.txt", "readlink rel_out");

    /* Through file descriptors. */
    int m = open(mnt, O_RDONLY | O_DIRECTORY);
    int fd = openat(m, "../secret.txt", O_RDONLY);
    printf("openat(mount fd, ../secret.txt): %s\n", fd < 0 ? fs_errname(errno) : "OPENED");
    if (fd >= 0)
        close(fd);
    int sub = openat(m, "sub", O_RDONLY | O_DIRECTORY);
    fd = openat(sub, "../../secret.txt", O_RDONLY);
    printf("openat(sub fd, ../../secret.txt): %s\n", fd < 0 ? fs_errname(errno) : "OPENED");
    if (fd >= 0)
        close(fd);
    int up = openat(m, "..", O_RDONLY | O_DIRECTORY);
    fd = openat(up, "secret.txt", O_RDONLY);
    printf("openat(mount/.. fd, secret.txt): %s\n", fd < 0 ? fs_errname(errno) : "OPENED");
    if (fd >= 0)
        close(fd);
    struct stat st_up, st_root;
    fstat(up, &st_up);
    stat("/", &st_root);
    CHECK(st_up.st_ino == st_root.st_ino && st_up.st_dev == st_root.st_dev,
          "the mount's .. is the guest's /");
    close(up);

    /* Climbing with chdir ends at the guest's root. */
    chdir(mnt);
    for (int i = 0; i < 10; i++)
        chdir("..");
    char cwd[PATH_MAX] = {0};
    getcwd(cwd, sizeof cwd);
    EXPECT_STR(cwd, "/", "chdir .. ten times ends at /");
    try_read("secret.txt from /", "secret.txt");
    DIR *d = opendir("/");
    int host_entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, "secret.txt") == 0 || strcmp(e->d_name, "outside") == 0)
            host_entries++;
    if (d)
        closedir(d);
    printf("the guest's / lists secret.txt or outside: %s\n", host_entries ? "yes" : "no");
    chdir(mnt);
    try_read("/proc/self/cwd/../secret.txt", "/proc/self/cwd/../secret.txt");

    /* Write attempts: results are not printed; the host checks that nothing outside the
     * mount changed. */
    int w;
    w = open(join(mnt, "/../escape1"), O_CREAT | O_WRONLY, 0644);
    if (w >= 0) close(w);
    w = open(join(mnt, "/dir_out/escape2"), O_CREAT | O_WRONLY, 0644);
    if (w >= 0) close(w);
    w = open(join(mnt, "/dir_out_abs/escape3"), O_CREAT | O_WRONLY, 0644);
    if (w >= 0) close(w);
    w = open(join(mnt, "/rel_out"), O_WRONLY | O_TRUNC);
    if (w >= 0) { write(w, "overwritten", 11); close(w); }
    w = open(join(mnt, "/abs_host"), O_WRONLY | O_TRUNC);
    if (w >= 0) { write(w, "overwritten", 11); close(w); }
    w = open(join(mnt, "/sub/rel_out2"), O_WRONLY | O_APPEND);
    if (w >= 0) { write(w, "appended", 8); close(w); }
    mkdir(join(mnt, "/dir_out/escape_dir"), 0755);
    mkdir(join(mnt, "/dir_out_abs/escape_dir"), 0755);
    symlink("x", join(mnt, "/dir_out/escape_link"));
    link(join(mnt, "/inside.txt"), join(mnt, "/dir_out/escape_hard"));
    link(join(mnt, "/inside.txt"), join(mnt, "/dir_out_abs/escape_hard"));
    link(join(mnt, "/../secret.txt"), join(mnt, "/stolen_link"));
    link(join(mnt, "/rel_out"), join(mnt, "/stolen_link2"));
    linkat(AT_FDCWD, join(mnt, "/rel_out"), AT_FDCWD, join(mnt, "/stolen_link3"),
           AT_SYMLINK_FOLLOW);
    rename(join(mnt, "/dir_out/secret.txt"), join(mnt, "/stolen"));
    rename(join(mnt, "/rel_out"), join(mnt, "/../renamed_out"));
    rename(join(mnt, "/inside.txt"), join(mnt, "/dir_out/moved_out"));
    truncate(join(mnt, "/rel_out"), 0);
    truncate(join(mnt, "/abs_host"), 0);
    chmod(join(mnt, "/rel_out"), 0777);
    chmod(join(mnt, "/dir_out_abs"), 0777);
    unlink(join(mnt, "/dir_out/secret.txt"));
    unlink(join(mnt, "/dir_out_abs/hardlinked.txt"));
    rmdir(join(mnt, "/dir_out_abs"));
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    utimensat(AT_FDCWD, join(mnt, "/rel_out"), ts, 0);
    utimensat(AT_FDCWD, join(mnt, "/dir_out_abs"), ts, 0);
    printf("write attempts done\n");

    /* Reading again after the writes: still no secret through the mount. */
    try_read("stolen_link", join(mnt, "/stolen_link"));
    try_read("stolen_link3", join(mnt, "/stolen_link3"));
    try_read("stolen", join(mnt, "/stolen"));
    printf("leaks: %d\n", leaks);
    return check_summary() || leaks;
}
