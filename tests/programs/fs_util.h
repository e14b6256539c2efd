/*
 * Helpers for the file-system test programs (fs_*.c).
 *
 * A program takes a scratch directory as argv[1] (natively a fresh host directory; under
 * hull the same kind of directory mounted with --mount, or a path in the guest's /tmp),
 * creates it if it is missing, changes into it and works with relative paths. Output is
 * deterministic: errno names, modes, sizes, link counts and contents, never absolute
 * paths, inode numbers, devices or times that differ between runs.
 *
 * EXPECT_OK / EXPECT_ERR / EXPECT_EQ print "name: ok" or "name: FAIL (what happened)" and
 * count failures for check_summary(). They never reset errno, so they may test a value
 * saved from an earlier call: `int fd = open(...); EXPECT_OK(fd, "open");`.
 */
#ifndef HULL_FS_UTIL_H
#define HULL_FS_UTIL_H

#include "hull_test.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* errno names beyond hull_test.h's list (identical under glibc and musl). */
static inline const char *fs_errname(int e) {
    switch (e) {
    case ELOOP: return "ELOOP";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EXDEV: return "EXDEV";
    case EROFS: return "EROFS";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOSPC: return "ENOSPC";
    case EFBIG: return "EFBIG";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EMLINK: return "EMLINK";
    case EBUSY: return "EBUSY";
    case ENXIO: return "ENXIO";
    case ETXTBSY: return "ETXTBSY";
    case EDQUOT: return "EDQUOT";
    case ENODEV: return "ENODEV";
    case ESTALE: return "ESTALE";
    default: return errno_name(e);
    }
}

static inline void fs_fail_line(const char *name, const char *detail) {
    hull_test_failures++;
    printf("%s: FAIL (%s)\n", name, detail);
}

/* `expr` must be >= 0. */
#define EXPECT_OK(expr, name)                                                          \
    do {                                                                               \
        long r_ = (long)(expr);                                                        \
        int e_ = errno;                                                                \
        if (r_ >= 0) {                                                                 \
            printf("%s: ok\n", (name));                                                \
        } else {                                                                       \
            char d_[64];                                                               \
            snprintf(d_, sizeof d_, "= %ld %s", r_, fs_errname(e_));                   \
            fs_fail_line((name), d_);                                                  \
        }                                                                              \
    } while (0)

/* `expr` must be -1 with errno == err. */
#define EXPECT_ERR(expr, err, name)                                                    \
    do {                                                                               \
        long r_ = (long)(expr);                                                        \
        int e_ = errno;                                                                \
        if (r_ == -1 && e_ == (err)) {                                                 \
            printf("%s: ok\n", (name));                                                \
        } else {                                                                       \
            char d_[96];                                                               \
            if (r_ == -1)                                                              \
                snprintf(d_, sizeof d_, "-1 %s, want %s", fs_errname(e_),               \
                         fs_errname(err));                                             \
            else                                                                       \
                snprintf(d_, sizeof d_, "= %ld, want -1 %s", r_, fs_errname(err));      \
            fs_fail_line((name), d_);                                                  \
        }                                                                              \
    } while (0)

/* `expr` must equal `want` (compared as long long). */
#define EXPECT_EQ(expr, want, name)                                                    \
    do {                                                                               \
        long long r_ = (long long)(expr);                                              \
        int e_ = errno;                                                                \
        long long w_ = (long long)(want);                                              \
        if (r_ == w_) {                                                                \
            printf("%s: ok\n", (name));                                                \
        } else {                                                                       \
            char d_[96];                                                               \
            snprintf(d_, sizeof d_, "= %lld (errno %s), want %lld", r_,                 \
                     fs_errname(e_), w_);                                              \
            fs_fail_line((name), d_);                                                  \
        }                                                                              \
    } while (0)

/* `s` (a NUL-terminated string) must equal `want`. */
#define EXPECT_STR(s, want, name)                                                      \
    do {                                                                               \
        const char *s_ = (s);                                                          \
        const char *w_ = (want);                                                       \
        if (s_ && strcmp(s_, w_) == 0) {                                               \
            printf("%s: ok\n", (name));                                                \
        } else {                                                                       \
            char d_[160];                                                              \
            snprintf(d_, sizeof d_, "got \"%.60s\", want \"%.60s\"", s_ ? s_ : "(null)", \
                     w_);                                                              \
            fs_fail_line((name), d_);                                                  \
        }                                                                              \
    } while (0)

/* The scratch directory's absolute path as getcwd(2) spells it, after fs_begin(). */
static char fs_base[PATH_MAX];

/* Line-buffered stdout, umask 022, chdir into argv[1] (made first if missing). Exits 2 with
 * a message if there is no usable argv[1]. */
static inline void fs_begin(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(022);
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        exit(2);
    }
    if (chdir(argv[1]) != 0) {
        if (errno != ENOENT || mkdir(argv[1], 0755) != 0) {
            fprintf(stderr, "cannot create the scratch dir: %s\n", fs_errname(errno));
            exit(2);
        }
    }
    if (chdir(argv[1]) != 0 || !getcwd(fs_base, sizeof fs_base)) {
        fprintf(stderr, "cannot enter the scratch dir: %s\n", fs_errname(errno));
        exit(2);
    }
}

/* The current directory relative to the scratch dir: "" for the scratch dir itself,
 * "/a/b" below it, "(outside)" elsewhere, "(error ENAME)" if getcwd fails. */
static inline const char *fs_rel_cwd(void) {
    static char out[PATH_MAX + 32];
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        snprintf(out, sizeof out, "(error %s)", fs_errname(errno));
        return out;
    }
    size_t n = strlen(fs_base);
    if (strncmp(cwd, fs_base, n) == 0 && (cwd[n] == 0 || cwd[n] == '/'))
        snprintf(out, sizeof out, "%s", cwd + n);
    else
        snprintf(out, sizeof out, "(outside)");
    return out;
}

/* Writes `len` bytes to `path` (created 0644 or truncated). 0 or -1. */
static inline int fs_write_bytes(const char *path, const void *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    const char *p = (const char *)data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd);
}

static inline int fs_write_file(const char *path, const char *text) {
    return fs_write_bytes(path, text, strlen(text));
}

/* Reads up to cap-1 bytes of `path` into buf, NUL-terminates; the length or -1. */
static inline long fs_read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = 0;
    close(fd);
    return (long)got;
}

/* The file's content as a string (static buffer), or "(error ENAME)". */
static inline const char *fs_content(const char *path) {
    static char buf[8192];
    if (fs_read_file(path, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "(error %s)", fs_errname(errno));
    return buf;
}

static inline const char *fs_type_name(mode_t m) {
    switch (m & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFSOCK: return "socket";
    default: return "?";
    }
}

/* One line describing a stat result: type and permission bits, and the link count and
 * size of files and symlinks (a directory's size and link count depend on the file
 * system: btrfs, for one, keeps a directory's nlink at 1). */
static inline const char *fs_describe(const struct stat *st) {
    static char out[128];
    if (S_ISDIR(st->st_mode))
        snprintf(out, sizeof out, "dir mode=%04o", (unsigned)(st->st_mode & 07777));
    else
        snprintf(out, sizeof out, "%s mode=%04o nlink=%lu size=%lld", fs_type_name(st->st_mode),
                 (unsigned)(st->st_mode & 07777), (unsigned long)st->st_nlink,
                 (long long)st->st_size);
    return out;
}

/* Prints "label: <lstat description>" or "label: lstat -1 ENAME". */
static inline void fs_show(const char *label, const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0)
        printf("%s: lstat -1 %s\n", label, fs_errname(errno));
    else
        printf("%s: %s\n", label, fs_describe(&st));
}

/* The permission bits of `path` (lstat), or -1. */
static inline int fs_mode(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0)
        return -1;
    return (int)(st.st_mode & 07777);
}

/* The size of `path` (stat), or -1. */
static inline long long fs_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

static inline int fs_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* getdents64 through the raw system call. */
struct fs_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static inline const char *fs_dtype_name(unsigned char t) {
    switch (t) {
    case DT_REG: return "file";
    case DT_DIR: return "dir";
    case DT_LNK: return "symlink";
    case DT_FIFO: return "fifo";
    case DT_CHR: return "chr";
    case DT_BLK: return "blk";
    case DT_SOCK: return "socket";
    case DT_UNKNOWN: return "unknown";
    default: return "?";
    }
}

static int fs_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists `path` with getdents64 (a small buffer, so it takes several calls for big
 * directories) and prints "label: name(type) name(type) ..." sorted by name, "." and ".."
 * included; "label: N entries" instead when there are more than `show` entries. */
static inline void fs_list(const char *label, const char *path, int show) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        printf("%s: open -1 %s\n", label, fs_errname(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    char buf[512];
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (r < 0) {
            printf("%s: getdents64 -1 %s\n", label, fs_errname(errno));
            break;
        }
        if (r == 0)
            break;
        for (long off = 0; off < r;) {
            struct fs_dirent64 *d = (struct fs_dirent64 *)(buf + off);
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                names = realloc(names, cap * sizeof *names);
            }
            size_t len = strlen(d->d_name) + 16;
            names[n] = malloc(len);
            snprintf(names[n], len, "%s(%s)", d->d_name, fs_dtype_name(d->d_type));
            n++;
            off += d->d_reclen;
        }
    }
    close(fd);
    qsort(names, n, sizeof *names, fs_cmp_str);
    if ((int)n > show) {
        printf("%s: %zu entries\n", label, n);
    } else {
        printf("%s:", label);
        for (size_t i = 0; i < n; i++)
            printf(" %s", names[i]);
        printf("\n");
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* statx through the raw system call (musl 1.2.3 has no wrapper). */
struct fs_statx_timestamp {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};
struct fs_statx {
    uint32_t stx_mask;
    uint32_t stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink;
    uint32_t stx_uid;
    uint32_t stx_gid;
    uint16_t stx_mode;
    uint16_t spare0;
    uint64_t stx_ino;
    uint64_t stx_size;
    uint64_t stx_blocks;
    uint64_t stx_attributes_mask;
    struct fs_statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t spare2[14];
};
#define FS_STATX_BASIC_STATS 0x7ffU

static inline long fs_statx(int dirfd, const char *path, int flags, unsigned mask,
                            struct fs_statx *out) {
    return syscall(SYS_statx, dirfd, path, flags, mask, out);
}

#endif
