//! File-system semantics, differential: each `fs_*` program in `tests/programs/` takes a
//! scratch directory, runs natively on a fresh host directory and under hull on another
//! fresh directory mounted with `--mount DIR:/scratch` (or on a path in the guest's
//! `/tmp`, hull's tmpfs), and the outputs as well as the trees left behind must agree
//! (see `hull_tests::files`). Read-only mounts and `--root` are checked against fixed
//! expectations where a native run cannot reproduce the setup.
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN) and a usable /dev/kvm.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use hull_tests::files::{
    FsArg, FsCase, FsDir, copy_tree, diff_snapshots, fs_differential, make_writable, tree_snapshot,
};
use hull_tests::{Case, Run, Toolchain, compile, differential, scratch_dir};

/// The usual two cases: a mounted disk directory, and a fresh path in the guest's /tmp.
fn disk_and_tmpfs(program: &str) -> Vec<FsCase> {
    vec![
        FsCase::scratch("on a --mount"),
        FsCase::with_dirs(
            "in /tmp",
            vec![FsDir::guest_tmp(&format!("/tmp/{program}"))],
        ),
    ]
}

/// open/openat/creat flags, O_PATH, O_TMPFILE, close_range, umask, ENOENT/EEXIST/EISDIR/
/// ENOTDIR/EBADF/ELOOP/ENAMETOOLONG.
#[test]
fn open_flags_and_path_errors() {
    fs_differential("fs_open", &disk_and_tmpfs("fs_open"));
}

/// read/write/pread/pwrite/readv/writev/preadv/pwritev/preadv2, lseek with SEEK_DATA and
/// SEEK_HOLE, offsets past 4 GiB, O_APPEND, truncate, fallocate, fsync, sendfile,
/// copy_file_range, FIONREAD.
#[test]
fn file_io() {
    fs_differential("fs_io", &disk_and_tmpfs("fs_io"));
}

/// stat/lstat/fstat/fstatat/statx, access/faccessat2, chmod family, chown family,
/// utimensat/futimens/utimes, statfs.
#[test]
fn metadata() {
    fs_differential("fs_meta", &disk_and_tmpfs("fs_meta"));
}

/// mkdir/rmdir/unlink/rename(at2)/link/symlink/readlink, getdents64 and seeking in
/// directories, chdir/fchdir/getcwd.
#[test]
fn directories_and_names() {
    fs_differential("fs_dir", &disk_and_tmpfs("fs_dir"));
}

/// File mappings: private and shared, coherent with read/write and across fork and
/// separate mappings, written back on msync/fsync/munmap, SIGBUS past the end, mremap,
/// MADV_DONTNEED, /dev/zero, the EACCES/ENODEV/EBADF/EINVAL/ENOMEM cases, /proc/self/maps.
#[test]
fn file_mappings() {
    fs_differential("fs_mmap", &disk_and_tmpfs("fs_mmap"));
}

/// dup/dup2/dup3, fcntl descriptor and status flags, POSIX, OFD and flock locks.
#[test]
fn descriptors_and_locks() {
    fs_differential("fs_fd", &disk_and_tmpfs("fs_fd"));
}

/// Pipes: capacity, O_NONBLOCK, FIONREAD, EPIPE with SIGPIPE ignored, handled, blocked,
/// and the default action killing the program.
#[test]
fn pipes() {
    fs_differential(
        "fs_pipe",
        &[
            FsCase::scratch("checks"),
            FsCase::scratch("default SIGPIPE")
                .args(vec![FsArg::Dir(0), FsArg::Lit("die".into())])
                .status(141),
        ],
    );
}

/// /tmp, /dev/{null,zero,full,urandom,random,stdin,stdout,stderr,fd}, /proc/self/{fd,exe,
/// maps,status,comm,cmdline}.
#[test]
fn special_files() {
    differential(
        "fs_special",
        &[Case::new("", Run::new().stdin(b"stdin\n".to_vec()))],
    );
}

/// EXDEV for link and rename between two file systems. Natively the two directories are
/// on the disk and on /dev/shm (a tmpfs); under hull they are two --mounts (Linux says
/// EXDEV across mounts even of one file system), or a mount and the guest's /tmp.
#[test]
fn cross_mount_exdev() {
    fs_differential(
        "fs_xdev",
        &[
            FsCase::with_dirs(
                "two mounts",
                vec![
                    FsDir::mount("/scratch"),
                    FsDir::Mount {
                        guest: "/other".into(),
                        native_tmpfs: true,
                    },
                ],
            ),
            FsCase::with_dirs(
                "a mount and /tmp",
                vec![
                    FsDir::mount("/scratch"),
                    FsDir::GuestTmp {
                        guest: "/tmp/xdev".into(),
                        native_tmpfs: true,
                    },
                ],
            ),
        ],
    );
}

fn ro_fixture(dir: &Path) {
    fs::create_dir_all(dir.join("dir")).unwrap();
    fs::create_dir_all(dir.join("empty_dir")).unwrap();
    fs::write(dir.join("file"), "read only\n").unwrap();
    fs::set_permissions(dir.join("file"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(dir.join("dir/inner"), "inner\n").unwrap();
    symlink("file", dir.join("link")).unwrap();
}

/// What `fs_rofs` prints on Linux on a read-only bind mount (checked with
/// `mount -o remount,bind,ro`; a chmod 0555 directory gives EACCES instead, and nothing
/// for root, so this is not a differential test).
const ROFS_EXPECTED: &str = include_str!("files_rofs.expected");

/// A `:ro` mount: reads work; every write-side call fails as on a read-only Linux mount
/// (mostly EROFS); the host directory is unchanged afterwards, times included.
#[test]
fn read_only_mount() {
    let mut failures = Vec::new();
    for toolchain in Toolchain::ALL {
        let bin = compile("fs_rofs", toolchain);
        let dir = scratch_dir("fs_rofs");
        ro_fixture(&dir);
        let before = tree_snapshot(&dir, true);
        let out = Run::new()
            .hull_flag("--mount")
            .hull_flag(&format!("{}:/ro:ro", dir.display()))
            .arg("/ro")
            .hull(&bin);
        let mut problems = Vec::new();
        if out.stdout_str() != ROFS_EXPECTED || out.status != 0 {
            problems.push(format!(
                "output differs from Linux's on a read-only mount:\n{}\n{}",
                hull_tests::render_diff("stdout", ROFS_EXPECTED.as_bytes(), &out.stdout),
                out.summary()
            ));
        }
        if let Err(diff) = diff_snapshots(&before, &tree_snapshot(&dir, true)) {
            problems.push(format!("the host directory changed:\n{diff}"));
        }
        if problems.is_empty() {
            make_writable(&dir);
            let _ = fs::remove_dir_all(&dir);
        } else {
            failures.push(format!("[{}] {}", toolchain.name(), problems.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A root tree for `--root`: etc/, usr/share/, tmp/, dev/, proc/ and bin/ holding the
/// test program.
fn root_tree(program: &Path) -> std::path::PathBuf {
    let root = scratch_dir("root-tree");
    for d in [
        "bin",
        "etc",
        "usr/share/doc",
        "usr/share/dir2/sub",
        "tmp",
        "dev",
        "proc",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    for (path, content) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
        ("etc/hostname", "hull-test\n"),
        ("etc/motd", "welcome\n"),
        ("etc/profile", "export PATH=/bin\n"),
        ("usr/share/doc/a", "a\n"),
        ("usr/share/doc/b", "b\n"),
        ("usr/share/dir2/x", "x\n"),
        ("usr/share/dir2/sub/y", "y\n"),
    ] {
        fs::write(root.join(path), content).unwrap();
        fs::set_permissions(root.join(path), fs::Permissions::from_mode(0o644)).unwrap();
    }
    fs::copy(program, root.join("bin/fs_root_overlay")).unwrap();
    fs::set_permissions(
        root.join("bin/fs_root_overlay"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    root
}

/// `--root TREE`: the guest writes, removes, renames and recreates over the tree and sees
/// what a native run on a copy of the tree sees, while the tree on the host stays as it
/// was (the overlay is in memory). PROGRAM is found through the guest's PATH.
#[test]
fn root_overlay_writes_stay_in_memory() {
    let mut failures = Vec::new();
    for toolchain in Toolchain::ALL {
        let bin = compile("fs_root_overlay", toolchain);
        let tree = root_tree(&bin);
        let copy = scratch_dir("root-copy").join("root");
        copy_tree(&tree, &copy);
        let native = Run::new().arg(copy.as_os_str()).native(&bin);
        if native.status != 0 {
            failures.push(format!(
                "[{}] the NATIVE run failed: the test is broken\n{}",
                toolchain.name(),
                native.summary()
            ));
            continue;
        }
        let before = tree_snapshot(&tree, true);
        let hull = Run::new()
            .hull_flag("--root")
            .hull_flag(&tree.to_string_lossy())
            .arg("")
            .hull(Path::new("fs_root_overlay"));
        let mut problems = Vec::new();
        if let Err(msg) = hull_tests::compare("fs_root_overlay", &native, &hull) {
            problems.push(msg);
        }
        if let Err(diff) = diff_snapshots(&before, &tree_snapshot(&tree, true)) {
            problems.push(format!("the --root tree on the host changed:\n{diff}"));
        }
        if problems.is_empty() {
            let _ = fs::remove_dir_all(&tree);
            let _ = fs::remove_dir_all(copy.parent().unwrap());
        } else {
            failures.push(format!("[{}] {}", toolchain.name(), problems.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
