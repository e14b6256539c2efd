/* The namespace: mkdir(at), rmdir, unlink(at), rename(at)/renameat2 (NOREPLACE,
 * EXCHANGE), link(at), symlink(at), readlink(at), getdents64 (sorted names and d_type,
 * many entries, seeking), chdir/fchdir/getcwd (relative to the scratch dir), and their
 * errors: ENOENT, EEXIST, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL, EPERM, ERANGE.
 * argv[1] = scratch directory. */
#include "fs_util.h"
#include <stdio.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static long renameat2_(int od, const char *o, int nd, const char *n, unsigned flags) {
    return syscall(SYS_renameat2, od, o, nd, n, flags);
}

static void making_and_removing(void) {
    EXPECT_OK(mkdir("a", 0755), "mkdir a");
    EXPECT_ERR(mkdir("a", 0755), EEXIST, "mkdir existing");
    EXPECT_OK(mkdir("a/b", 0700), "mkdir a/b");
    EXPECT_OK(mkdir("a/b/c/", 0755), "mkdir with a trailing slash");
    EXPECT_ERR(mkdir("x/y", 0755), ENOENT, "mkdir in a missing dir");
    fs_write_file("file", "content\n");
    EXPECT_ERR(mkdir("file", 0755), EEXIST, "mkdir over a file");
    EXPECT_ERR(mkdir("file/sub", 0755), ENOTDIR, "mkdir below a file");
    symlink("nowhere", "dangle");
    EXPECT_ERR(mkdir("dangle", 0755), EEXIST, "mkdir over a dangling symlink");
    EXPECT_EQ(fs_exists("nowhere"), 0, "mkdir did not follow the symlink");
    int dfd = open("a", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(mkdirat(dfd, "m", 0750), "mkdirat");
    fs_show("a/m", "a/m");
    fs_show("a", "a");

    EXPECT_ERR(rmdir("a"), ENOTEMPTY, "rmdir a non-empty dir");
    EXPECT_ERR(rmdir("file"), ENOTDIR, "rmdir a file");
    EXPECT_ERR(rmdir("missing"), ENOENT, "rmdir missing");
    EXPECT_ERR(rmdir("a/m/."), EINVAL, "rmdir with a final .");
    EXPECT_ERR(rmdir("a/m/.."), ENOTEMPTY, "rmdir with a final ..");
    EXPECT_OK(unlinkat(dfd, "m", AT_REMOVEDIR), "unlinkat AT_REMOVEDIR");
    EXPECT_ERR(unlinkat(dfd, "b", AT_REMOVEDIR), ENOTEMPTY, "unlinkat AT_REMOVEDIR non-empty");
    EXPECT_ERR(unlinkat(dfd, "b", 0x1), EINVAL, "unlinkat with a bad flag");
    EXPECT_OK(rmdir("a/b/c/"), "rmdir with a trailing slash");

    fs_write_file("a/f", "x");
    EXPECT_OK(unlinkat(dfd, "f", 0), "unlinkat a file");
    EXPECT_ERR(unlink("a"), EISDIR, "unlink a directory");
    EXPECT_ERR(unlinkat(dfd, "b", 0), EISDIR, "unlinkat a directory without AT_REMOVEDIR");
    EXPECT_ERR(unlink("missing"), ENOENT, "unlink missing");
    EXPECT_ERR(unlink("file/"), ENOTDIR, "unlink file/");
    EXPECT_ERR(unlink("file/x"), ENOTDIR, "unlink below a file");
    symlink("a", "la");
    EXPECT_ERR(rmdir("la"), ENOTDIR, "rmdir a symlink to a dir");
    EXPECT_OK(unlink("la"), "unlink a symlink to a dir");
    EXPECT_EQ(fs_exists("a"), 1, "the dir survived");
    close(dfd);
}

static void renaming(void) {
    fs_write_file("r1", "one");
    fs_write_file("r2", "two");
    EXPECT_OK(rename("r1", "r3"), "rename to a new name");
    EXPECT_EQ(fs_exists("r1"), 0, "old name gone");
    EXPECT_STR(fs_content("r3"), "one", "new name has the content");
    EXPECT_OK(rename("r3", "r2"), "rename over an existing file");
    EXPECT_STR(fs_content("r2"), "one", "the target was replaced");
    EXPECT_OK(rename("r2", "r2"), "rename to itself");
    EXPECT_STR(fs_content("r2"), "one", "rename to itself changes nothing");
    EXPECT_OK(link("r2", "r2h"), "link r2 r2h");
    EXPECT_OK(rename("r2", "r2h"), "rename between two links of one file");
    CHECK(fs_exists("r2") && fs_exists("r2h"), "both links remain (Linux does nothing)");
    unlink("r2h");

    mkdir("da", 0755);
    mkdir("da/inner", 0755);
    mkdir("db", 0755);
    fs_write_file("db/x", "x");
    mkdir("dc", 0755);
    EXPECT_ERR(rename("da", "da/inner/moved"), EINVAL, "rename a dir into itself");
    EXPECT_ERR(rename("da", "da/moved"), EINVAL, "rename a dir into its own child");
    EXPECT_ERR(rename("da", "db"), ENOTEMPTY, "rename a dir over a non-empty dir");
    EXPECT_OK(rename("da", "dc"), "rename a dir over an empty dir");
    fs_show("dc/inner", "dc/inner");
    EXPECT_ERR(rename("r2", "dc"), EISDIR, "rename a file over a dir");
    EXPECT_ERR(rename("dc", "r2"), ENOTDIR, "rename a dir over a file");
    EXPECT_ERR(rename("missing", "x"), ENOENT, "rename missing");
    EXPECT_ERR(rename("r2", "nodir/x"), ENOENT, "rename into a missing dir");
    EXPECT_ERR(rename("r2", "r2/x"), ENOTDIR, "rename below a file");
    EXPECT_ERR(rename("r2/", "r9"), ENOTDIR, "rename file/ (trailing slash)");
    EXPECT_OK(rename("dc/", "dd/"), "rename dir/ to new/ (trailing slashes)");
    EXPECT_ERR(rename(".", "x"), EBUSY, "rename .");

    int dfd = open("dd", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(renameat(AT_FDCWD, "r2", dfd, "r2moved"), "renameat into a dirfd");
    EXPECT_STR(fs_content("dd/r2moved"), "one", "renameat moved the file");
    fs_write_file("n1", "n1");
    fs_write_file("n2", "n2");
    EXPECT_ERR(renameat2_(AT_FDCWD, "n1", AT_FDCWD, "n2", RENAME_NOREPLACE), EEXIST,
               "RENAME_NOREPLACE onto an existing file");
    EXPECT_STR(fs_content("n2"), "n2", "NOREPLACE kept the target");
    EXPECT_OK(renameat2_(AT_FDCWD, "n1", dfd, "n1", RENAME_NOREPLACE), "RENAME_NOREPLACE to a free name");
    EXPECT_OK(renameat2_(AT_FDCWD, "n2", dfd, "n1", RENAME_EXCHANGE), "RENAME_EXCHANGE");
    EXPECT_STR(fs_content("n2"), "n1", "exchange: n2 has n1's content");
    EXPECT_STR(fs_content("dd/n1"), "n2", "exchange: dd/n1 has n2's content");
    EXPECT_OK(renameat2_(AT_FDCWD, "n2", AT_FDCWD, "db", RENAME_EXCHANGE), "exchange a file and a dir");
    fs_show("n2 (was the dir)", "n2");
    fs_show("db (was the file)", "db");
    EXPECT_ERR(renameat2_(AT_FDCWD, "db", AT_FDCWD, "nothere", RENAME_EXCHANGE), ENOENT,
               "RENAME_EXCHANGE with a missing target");
    EXPECT_ERR(renameat2_(AT_FDCWD, "db", AT_FDCWD, "n2", RENAME_EXCHANGE | RENAME_NOREPLACE),
               EINVAL, "EXCHANGE|NOREPLACE");
    EXPECT_ERR(renameat2_(AT_FDCWD, "db", AT_FDCWD, "n2", 0x100), EINVAL, "renameat2 bad flag");
    close(dfd);

    /* rename of a symlink moves the link, not its target. */
    symlink("n2", "sl");
    EXPECT_OK(rename("sl", "sl2"), "rename a symlink");
    char t[32] = {0};
    EXPECT_EQ(readlink("sl2", t, sizeof t - 1), 2, "readlink the renamed symlink");
    EXPECT_STR(t, "n2", "the link's target is unchanged");
    /* An open fd follows the file through a rename. */
    int fd = open("db", O_RDONLY);
    rename("db", "db2");
    char buf[8] = {0};
    EXPECT_EQ(read(fd, buf, 7), 2, "read through an fd after rename");
    close(fd);
}

static void links(void) {
    fs_write_file("orig", "original\n");
    EXPECT_OK(link("orig", "hard"), "link");
    struct stat a, b;
    stat("orig", &a);
    stat("hard", &b);
    CHECK(a.st_ino == b.st_ino, "the hard link is the same inode");
    EXPECT_EQ(b.st_nlink, 2, "nlink 2");
    fs_write_file("hard", "changed\n");
    EXPECT_STR(fs_content("orig"), "changed\n", "a write through one name shows in the other");
    EXPECT_ERR(link("orig", "hard"), EEXIST, "link onto an existing name");
    EXPECT_ERR(link("missing", "x"), ENOENT, "link missing");
    EXPECT_ERR(link("a", "alink"), EPERM, "link a directory");
    EXPECT_ERR(link("orig", "nodir/x"), ENOENT, "link into a missing dir");
    symlink("orig", "sym");
    EXPECT_OK(link("sym", "sym_hard"), "link a symlink (not followed)");
    struct stat st;
    lstat("sym_hard", &st);
    EXPECT_STR(fs_type_name(st.st_mode), "symlink", "link() linked the symlink itself");
    EXPECT_OK(linkat(AT_FDCWD, "sym", AT_FDCWD, "sym_follow", AT_SYMLINK_FOLLOW),
              "linkat AT_SYMLINK_FOLLOW");
    lstat("sym_follow", &st);
    EXPECT_STR(fs_type_name(st.st_mode), "file", "AT_SYMLINK_FOLLOW linked the target");
    EXPECT_EQ(st.st_nlink, 3, "orig now has 3 links");
    int dfd = open("a", O_RDONLY | O_DIRECTORY);
    EXPECT_OK(linkat(AT_FDCWD, "orig", dfd, "orig_in_a", 0), "linkat into a dirfd");
    EXPECT_ERR(linkat(AT_FDCWD, "orig", dfd, "x", 0x2), EINVAL, "linkat with a bad flag");

    EXPECT_OK(symlinkat("../orig", dfd, "up"), "symlinkat relative to a dirfd");
    EXPECT_STR(fs_content("a/up"), "changed\n", "a relative symlink resolves from its dir");
    EXPECT_ERR(symlink("x", "orig"), EEXIST, "symlink onto an existing name");
    EXPECT_ERR(symlink("", "empty"), ENOENT, "symlink with an empty target");
    EXPECT_ERR(symlink("x", "nodir/l"), ENOENT, "symlink into a missing dir");
    char abs[PATH_MAX + 16];
    snprintf(abs, sizeof abs, "%s/orig", fs_base);
    EXPECT_OK(symlink(abs, "absl"), "symlink with an absolute target");
    EXPECT_STR(fs_content("absl"), "changed\n", "an absolute symlink resolves");
    unlink("absl"); /* its target is an absolute host path: not part of the tree */

    char t[64];
    memset(t, 'Z', sizeof t);
    EXPECT_EQ(readlink("sym", t, sizeof t), 4, "readlink length");
    CHECK(memcmp(t, "origZ", 5) == 0, "readlink does not NUL-terminate");
    EXPECT_EQ(readlink("sym", t, 2), 2, "readlink truncates to the buffer");
    EXPECT_EQ(readlinkat(dfd, "up", t, sizeof t), 7, "readlinkat");
    EXPECT_ERR(readlink("orig", t, sizeof t), EINVAL, "readlink a file");
    EXPECT_ERR(readlink("missing", t, sizeof t), ENOENT, "readlink missing");
    EXPECT_ERR(syscall(SYS_readlink, "sym", t, 0), EINVAL, "readlink with a 0 buffer");
    EXPECT_ERR(readlink("sym/", t, sizeof t), ENOTDIR, "readlink sym/ (follows, not a dir)");
    close(dfd);
}

static void listing(void) {
    mkdir("many", 0755);
    for (int i = 0; i < 300; i++) {
        char name[64];
        snprintf(name, sizeof name, "many/entry-%03d-with-a-longer-name", i);
        fs_write_file(name, "");
    }
    mkdir("many/subdir", 0755);
    symlink("entry-000-with-a-longer-name", "many/link");
    fs_list("many", "many", 10);
    fs_list("a", "a", 20);
    fs_list("empty dir", "a/b", 20);

    /* Every name exactly once, across getdents64 calls with a small buffer. */
    DIR *d = opendir("many");
    int seen[300] = {0}, dups = 0, others = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int i;
        if (sscanf(e->d_name, "entry-%d-", &i) == 1 && i >= 0 && i < 300) {
            if (seen[i]++)
                dups++;
        } else {
            others++;
        }
    }
    int missing = 0;
    for (int i = 0; i < 300; i++)
        missing += !seen[i];
    CHECK(dups == 0 && missing == 0 && others == 4, "readdir saw every entry once");
    /* telldir/seekdir come back to the same entry; rewinddir starts over. */
    rewinddir(d);
    for (int i = 0; i < 100; i++)
        readdir(d);
    long pos = telldir(d);
    char name[300];
    e = readdir(d);
    snprintf(name, sizeof name, "%s", e ? e->d_name : "(end)");
    for (int i = 0; i < 50; i++)
        readdir(d);
    seekdir(d, pos);
    e = readdir(d);
    EXPECT_STR(e ? e->d_name : "(end)", name, "seekdir returns to the same entry");
    rewinddir(d);
    int count = 0;
    while (readdir(d))
        count++;
    EXPECT_EQ(count, 304, "rewinddir and read all again");
    closedir(d);

    int fd = open("many", O_RDONLY | O_DIRECTORY);
    char buf[4096];
    EXPECT_ERR(syscall(SYS_getdents64, fd, buf, 10), EINVAL, "getdents64 with a tiny buffer");
    close(fd);
    fd = open("orig", O_RDONLY);
    EXPECT_ERR(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR, "getdents64 on a file");
    close(fd);
    EXPECT_ERR(syscall(SYS_getdents64, -1, buf, sizeof buf), EBADF, "getdents64 on a bad fd");

    /* Entries removed while a directory is open no longer show up after a rewind. */
    fd = open("many", O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 300; i += 2) {
        char n[64];
        snprintf(n, sizeof n, "many/entry-%03d-with-a-longer-name", i);
        unlink(n);
    }
    lseek(fd, 0, SEEK_SET);
    count = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (r <= 0)
            break;
        for (long off = 0; off < r; off += ((struct fs_dirent64 *)(buf + off))->d_reclen)
            count++;
    }
    EXPECT_EQ(count, 154, "after removing half, a rewound listing has the rest");
    close(fd);
}

static void cwd(void) {
    EXPECT_STR(fs_rel_cwd(), "", "start in the scratch dir");
    mkdir("w", 0755);
    mkdir("w/x", 0755);
    mkdir("w/x/y", 0755);
    EXPECT_OK(chdir("w/x/y"), "chdir w/x/y");
    EXPECT_STR(fs_rel_cwd(), "/w/x/y", "getcwd");
    EXPECT_OK(chdir(".."), "chdir ..");
    EXPECT_STR(fs_rel_cwd(), "/w/x", "getcwd after ..");
    fs_write_file("here", "relative\n");
    EXPECT_STR(fs_content("../x/here"), "relative\n", "relative paths start at the cwd");
    EXPECT_OK(chdir("../../"), "chdir ../../");
    EXPECT_STR(fs_rel_cwd(), "", "back at the scratch dir");
    symlink("w/x", "wx");
    EXPECT_OK(chdir("wx"), "chdir through a symlink");
    EXPECT_STR(fs_rel_cwd(), "/w/x", "getcwd names the real directory");
    EXPECT_OK(chdir(".."), "chdir .. after a symlink");
    EXPECT_STR(fs_rel_cwd(), "/w", "physical .. (not back to the symlink's dir)");
    int fd = open(fs_base, O_RDONLY | O_DIRECTORY);
    EXPECT_OK(fchdir(fd), "fchdir");
    EXPECT_STR(fs_rel_cwd(), "", "getcwd after fchdir");
    EXPECT_ERR(chdir("orig"), ENOTDIR, "chdir to a file");
    EXPECT_ERR(chdir("missing"), ENOENT, "chdir missing");
    EXPECT_ERR(chdir(""), ENOENT, "chdir empty");
    int ffd = open("orig", O_RDONLY);
    EXPECT_ERR(fchdir(ffd), ENOTDIR, "fchdir to a file");
    close(ffd);
    EXPECT_ERR(fchdir(-1), EBADF, "fchdir bad fd");
    EXPECT_STR(fs_rel_cwd(), "", "failed chdirs kept the cwd");
    char small[2];
    errno = 0;
    CHECK(syscall(SYS_getcwd, small, sizeof small) == -1 && errno == ERANGE,
          "getcwd with a small buffer is ERANGE");

    /* The cwd can be removed; getcwd then fails and relative lookups find nothing. */
    mkdir("gone", 0755);
    chdir("gone");
    char abs[PATH_MAX + 8];
    snprintf(abs, sizeof abs, "%s/gone", fs_base);
    EXPECT_OK(rmdir(abs), "rmdir the cwd");
    char cwdbuf[PATH_MAX];
    errno = 0;
    CHECK(syscall(SYS_getcwd, cwdbuf, sizeof cwdbuf) == -1 && errno == ENOENT,
          "getcwd in a removed dir is ENOENT");
    EXPECT_ERR(open("newfile", O_CREAT | O_WRONLY, 0644), ENOENT, "create in a removed cwd");
    struct stat st;
    EXPECT_OK(stat(".", &st), "stat . in a removed dir");
    EXPECT_EQ(st.st_nlink, 0, "a removed dir has nlink 0");
    EXPECT_OK(fchdir(fd), "fchdir out of it");
    close(fd);
    EXPECT_STR(fs_rel_cwd(), "", "back again");
}

int main(int argc, char **argv) {
    fs_begin(argc, argv);
    making_and_removing();
    renaming();
    links();
    listing();
    cwd();
    fs_list("scratch", ".", 100);
    return check_summary();
}
