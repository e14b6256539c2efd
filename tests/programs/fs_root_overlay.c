/* Writes over a root tree. argv[1] = the prefix of the tree: "" under
 * `hull run --root TREE` (the tree is the guest's /, read-only on the host with an
 * in-memory overlay on top), or the path of a scratch copy of TREE natively. The guest
 * must see an ordinary writable file system: copy-up keeps content, removed entries stay
 * removed, a recreated directory is empty, directories rename with their contents.
 * TREE holds etc/{passwd,group,hostname,motd,profile}, usr/share/doc/{a,b},
 * usr/share/dir2/{x,sub/y} and tmp/. */
#include "fs_util.h"
#include <sys/statfs.h>

static const char *prefix;

static const char *P(const char *path) {
    static char bufs[8][PATH_MAX];
    static int k;
    char *out = bufs[k++ % 8];
    snprintf(out, PATH_MAX, "%s%s", prefix, path);
    return out;
}

/* mv(1)'s fallback for usr/share/dir2 = {x, sub/y}: copy, then remove. */
static int move_by_copy(void) {
    char x[64], y[64];
    snprintf(x, sizeof x, "%s", fs_content(P("/usr/share/dir2/x")));
    snprintf(y, sizeof y, "%s", fs_content(P("/usr/share/dir2/sub/y")));
    if (mkdir(P("/usr/share/dir3"), 0755) || mkdir(P("/usr/share/dir3/sub"), 0755) ||
        fs_write_file(P("/usr/share/dir3/x"), x) || fs_write_file(P("/usr/share/dir3/sub/y"), y) ||
        unlink(P("/usr/share/dir2/sub/y")) || unlink(P("/usr/share/dir2/x")) ||
        rmdir(P("/usr/share/dir2/sub")) || rmdir(P("/usr/share/dir2")))
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(022);
    if (argc < 2) {
        fprintf(stderr, "usage: %s ROOT_PREFIX\n", argv[0]);
        return 2;
    }
    prefix = argv[1];
    EXPECT_STR(fs_content(P("/etc/motd")), "welcome\n", "read a file of the tree");
    fs_list("/etc", P("/etc"), 30);

    int fd = open(P("/etc/motd"), O_WRONLY | O_TRUNC);
    EXPECT_OK(fd, "open a tree file for writing");
    EXPECT_EQ(write(fd, "changed\n", 8), 8, "write it");
    close(fd);
    EXPECT_STR(fs_content(P("/etc/motd")), "changed\n", "read back the change");

    char before[4096];
    snprintf(before, sizeof before, "%s", fs_content(P("/etc/passwd")));
    fd = open(P("/etc/passwd"), O_WRONLY | O_APPEND);
    EXPECT_EQ(write(fd, "extra:x:1:1::/:/bin/sh\n", 23), 23, "append to a tree file");
    close(fd);
    char want[4200];
    snprintf(want, sizeof want, "%sextra:x:1:1::/:/bin/sh\n", before);
    EXPECT_STR(fs_content(P("/etc/passwd")), want, "the append kept the old content");

    fd = open(P("/etc/profile"), O_RDWR);
    char head[4] = {0};
    EXPECT_EQ(pread(fd, head, 3, 0), 3, "pread a tree file opened O_RDWR");
    EXPECT_EQ(pwrite(fd, "X", 1, 1), 1, "pwrite in the middle");
    close(fd);
    EXPECT_OK(truncate(P("/etc/profile"), 3), "truncate a tree file");
    char want3[4] = {head[0], 'X', head[2], 0};
    EXPECT_STR(fs_content(P("/etc/profile")), want3, "pwrite and truncate");

    EXPECT_OK(mkdir(P("/newdir"), 0755), "mkdir at the root");
    EXPECT_OK(fs_write_file(P("/newdir/f"), "new\n"), "create a file in it");
    fs_list("/newdir", P("/newdir"), 10);

    EXPECT_OK(unlink(P("/etc/hostname")), "unlink a tree file");
    struct stat st;
    EXPECT_ERR(stat(P("/etc/hostname"), &st), ENOENT, "it is gone");
    EXPECT_OK(fs_write_file(P("/etc/hostname"), "new-host\n"), "create it again");
    EXPECT_STR(fs_content(P("/etc/hostname")), "new-host\n", "the new content");
    EXPECT_OK(rename(P("/etc/group"), P("/etc/group.bak")), "rename a tree file");
    EXPECT_ERR(stat(P("/etc/group"), &st), ENOENT, "the old name is gone");
    EXPECT_OK(symlink("motd", P("/etc/link")), "symlink in a tree dir");
    EXPECT_STR(fs_content(P("/etc/link")), "changed\n", "read through it");
    EXPECT_OK(chmod(P("/etc/motd"), 0600), "chmod a tree file");
    EXPECT_EQ(fs_mode(P("/etc/motd")), 0600, "mode 0600");
    EXPECT_OK(link(P("/etc/motd"), P("/etc/motd.hard")), "hard link to a tree file");
    stat(P("/etc/motd"), &st);
    EXPECT_EQ(st.st_nlink, 2, "nlink 2");
    fs_write_file(P("/etc/motd.hard"), "through the link\n");
    EXPECT_STR(fs_content(P("/etc/motd")), "through the link\n", "one file, two names");
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 0}};
    EXPECT_OK(utimensat(AT_FDCWD, P("/etc/passwd"), ts, 0), "utimensat a tree file");
    stat(P("/etc/passwd"), &st);
    EXPECT_EQ(st.st_mtim.tv_sec, 1234567890, "mtime set");
    fs_list("/etc afterwards", P("/etc"), 30);

    /* A directory emptied, removed and made again is empty. */
    fs_list("/usr/share/doc", P("/usr/share/doc"), 10);
    EXPECT_ERR(rmdir(P("/usr/share/doc")), ENOTEMPTY, "rmdir a non-empty tree dir");
    EXPECT_OK(unlink(P("/usr/share/doc/a")), "unlink doc/a");
    EXPECT_OK(unlink(P("/usr/share/doc/b")), "unlink doc/b");
    EXPECT_OK(rmdir(P("/usr/share/doc")), "rmdir the emptied dir");
    EXPECT_ERR(stat(P("/usr/share/doc"), &st), ENOENT, "the dir is gone");
    EXPECT_OK(mkdir(P("/usr/share/doc"), 0700), "mkdir it again");
    fs_list("/usr/share/doc again", P("/usr/share/doc"), 10);
    EXPECT_EQ(fs_mode(P("/usr/share/doc")), 0700, "with the new mode");

    /* A directory renames with its contents; an overlay may instead say EXDEV, as
     * Linux's overlayfs does for a lower directory without redirect_dir, and then the
     * program moves it by copying, as mv(1) would. */
    int r = rename(P("/usr/share/dir2"), P("/usr/share/dir3"));
    if (r != 0 && errno == EXDEV)
        r = move_by_copy();
    EXPECT_OK(r, "rename a tree dir (or EXDEV and a copy)");
    EXPECT_STR(fs_content(P("/usr/share/dir3/sub/y")), "y\n", "its contents moved along");
    EXPECT_ERR(stat(P("/usr/share/dir2/x"), &st), ENOENT, "nothing left at the old name");
    fs_list("/usr/share", P("/usr/share"), 10);
    EXPECT_OK(fs_write_file(P("/usr/share/dir3/x"), "rewritten\n"), "write in the moved dir");
    EXPECT_STR(fs_content(P("/usr/share/dir3/x")), "rewritten\n", "read it back");

    struct statfs sfs;
    EXPECT_OK(statfs(P("/"), &sfs), "statfs /");
    EXPECT_OK(fs_write_file(P("/tmp/t"), "tmp\n"), "write in /tmp");
    EXPECT_OK(unlink(P("/tmp/t")), "unlink in /tmp");
    fs_list("/", P("/"), 30);
    return check_summary();
}
