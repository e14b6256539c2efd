//! Helpers for the file-system tests: scratch directories handed to a program natively and
//! mounted into the guest under hull, byte-for-byte comparison of the trees the two runs
//! leave behind, and running a program natively in a chosen directory.
//!
//! A file-system differential check runs a program twice on two fresh but identical
//! scratch directories: natively with the host path as its argument, and under hull with
//! the directory mounted (`--mount HOST:GUEST`) and the guest path as its argument. The
//! outputs must agree (as in [`crate::differential`]) and so must the trees: names,
//! types, sizes, contents, permission bits (`mode & 0o7777`), link counts of
//! non-directories and symlink targets. Times, inode numbers and owners are not compared.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    Outcome, Run, Toolchain, compare, compile, describe_command, execute, indent, scratch_dir,
};

/// Where a directory argument of a file-system test lives.
#[derive(Clone, Debug)]
pub enum FsDir {
    /// A fresh host directory: natively the program gets its host path; under hull it is
    /// mounted at `guest` and the program gets `guest`. The trees are compared afterwards.
    /// With `native_tmpfs`, both copies are made on the host's tmpfs (`/dev/shm`) instead
    /// of the disk, so that it is a different file system from the disk scratch dirs.
    Mount { guest: String, native_tmpfs: bool },
    /// A path in the guest's own `/tmp` (hull's tmpfs) that the program creates itself.
    /// Natively a fresh, not yet existing path under the host's `/tmp` (or `/dev/shm` with
    /// `native_tmpfs`). Nothing survives the hull run, so no tree is compared.
    GuestTmp { guest: String, native_tmpfs: bool },
}

impl FsDir {
    /// A disk directory mounted at `guest`.
    pub fn mount(guest: &str) -> Self {
        FsDir::Mount {
            guest: guest.into(),
            native_tmpfs: false,
        }
    }

    /// A path in the guest's `/tmp`; natively under the host's `/tmp`.
    pub fn guest_tmp(guest: &str) -> Self {
        FsDir::GuestTmp {
            guest: guest.into(),
            native_tmpfs: false,
        }
    }
}

/// One argument of a file-system test program.
#[derive(Clone, Debug)]
pub enum FsArg {
    /// The path of directory `n` of the case (host path natively, guest path under hull).
    Dir(usize),
    /// A literal argument, the same in both runs.
    Lit(String),
}

/// Fills a fresh scratch directory before a run (called for the native and the hull copy
/// alike, with the directory's index in [`FsCase::dirs`]).
pub type Setup = fn(usize, &Path);

/// One way of running a file-system test program.
#[derive(Clone, Debug)]
pub struct FsCase {
    pub label: String,
    pub dirs: Vec<FsDir>,
    /// The program's arguments; empty means every directory in order.
    pub args: Vec<FsArg>,
    /// stdin, `--env` entries, extra hull flags and the kill timeout. Its `args` are
    /// appended after [`FsCase::args`].
    pub run: Run,
    pub setup: Option<Setup>,
    /// The status the native run must end with.
    pub expect_status: i32,
}

impl FsCase {
    /// A case whose only argument is one disk scratch dir, mounted at `/scratch`.
    pub fn scratch(label: &str) -> Self {
        FsCase {
            label: label.into(),
            dirs: vec![FsDir::mount("/scratch")],
            args: Vec::new(),
            run: Run::new(),
            setup: None,
            expect_status: 0,
        }
    }

    /// A case with the given directories as its arguments.
    pub fn with_dirs(label: &str, dirs: Vec<FsDir>) -> Self {
        FsCase {
            dirs,
            ..FsCase::scratch(label)
        }
    }

    pub fn args(mut self, args: Vec<FsArg>) -> Self {
        self.args = args;
        self
    }

    pub fn run(mut self, run: Run) -> Self {
        self.run = run;
        self
    }

    pub fn setup(mut self, setup: Setup) -> Self {
        self.setup = Some(setup);
        self
    }

    pub fn status(mut self, status: i32) -> Self {
        self.expect_status = status;
        self
    }
}

/// A directory on the host's tmpfs (`/dev/shm`), unique to this call; panics loudly if
/// there is no such tmpfs (the cross-file-system tests need one).
pub fn tmpfs_scratch_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let shm = Path::new("/dev/shm");
    let disk = crate::cache_dir();
    fs::create_dir_all(&disk).expect("cache dir");
    let same_fs = match (fs::metadata(shm), fs::metadata(&disk)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        (Err(e), _) => panic!(
            "/dev/shm is missing ({e}): the file-system tests need a tmpfs at /dev/shm, on \
             another file system than {}, to compare cross-file-system behaviour natively",
            disk.display()
        ),
        (_, Err(e)) => panic!("cannot stat {}: {e}", disk.display()),
    };
    assert!(
        !same_fs,
        "/dev/shm is on the same file system as {}: the cross-file-system tests need them \
         apart (mount a tmpfs on /dev/shm)",
        disk.display()
    );
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = shm.join(format!("hull-tests-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create tmpfs scratch dir {}: {e}", dir.display()));
    dir
}

/// A path for a directory that does not exist yet, under the host's `/tmp` or
/// `/dev/shm`; its parent is made, the path itself is left to the program.
fn fresh_path(tag: &str, tmpfs: bool) -> PathBuf {
    let parent = if tmpfs {
        tmpfs_scratch_dir(tag)
    } else {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("hull-tests-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
        p
    };
    parent.join("d")
}

/// The directories of one run: the host paths and what to remove afterwards.
struct Prepared {
    host: Vec<PathBuf>,
    cleanup: Vec<PathBuf>,
}

fn prepare(case: &FsCase, tag: &str) -> Prepared {
    let mut host = Vec::new();
    let mut cleanup = Vec::new();
    for (i, dir) in case.dirs.iter().enumerate() {
        let path = match dir {
            FsDir::Mount {
                native_tmpfs: false,
                ..
            } => scratch_dir(tag),
            FsDir::Mount {
                native_tmpfs: true, ..
            } => {
                let d = tmpfs_scratch_dir(tag);
                cleanup.push(d.clone());
                d
            }
            FsDir::GuestTmp { native_tmpfs, .. } => {
                let p = fresh_path(tag, *native_tmpfs);
                cleanup.push(p.parent().expect("fresh path has a parent").to_path_buf());
                p
            }
        };
        if let (Some(setup), FsDir::Mount { .. }) = (case.setup, dir) {
            setup(i, &path);
        }
        host.push(path);
    }
    Prepared { host, cleanup }
}

fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        make_writable(p);
        let _ = fs::remove_dir_all(p);
    }
}

/// Gives the owner rwx on every directory below `root`, so that a tree a test left with
/// restrictive modes can be removed.
pub fn make_writable(root: &Path) {
    let Ok(meta) = fs::symlink_metadata(root) else {
        return;
    };
    if meta.is_dir() {
        let mode = meta.permissions().mode();
        let _ = fs::set_permissions(root, fs::Permissions::from_mode(mode | 0o700));
        if let Ok(entries) = fs::read_dir(root) {
            for e in entries.flatten() {
                make_writable(&e.path());
            }
        }
    }
}

/// Builds `program` with every toolchain and runs each case natively and under hull on
/// fresh scratch directories; outputs and the trees left in mounted directories must
/// agree. All disagreements are reported together in one panic.
pub fn fs_differential(program: &str, cases: &[FsCase]) {
    fs_differential_with(program, &Toolchain::ALL, cases);
}

/// [`fs_differential`] over chosen toolchains.
pub fn fs_differential_with(program: &str, toolchains: &[Toolchain], cases: &[FsCase]) {
    const SHOWN: usize = 6;
    let mut failures = Vec::new();
    for &toolchain in toolchains {
        let bin = compile(program, toolchain);
        for case in cases {
            let name = format!("[{}] {program} {}", toolchain.name(), case.label);
            if let Err(msg) = fs_check(&name, &bin, case) {
                failures.push(msg);
            }
        }
    }
    if !failures.is_empty() {
        let mut msg = format!(
            "{} of {} file-system checks of `{program}` failed:\n\n{}",
            failures.len(),
            toolchains.len() * cases.len(),
            failures[..failures.len().min(SHOWN)].join("\n")
        );
        if failures.len() > SHOWN {
            let _ = writeln!(msg, "\n…and {} more:", failures.len() - SHOWN);
            for f in &failures[SHOWN..] {
                let _ = writeln!(msg, "  {}", f.lines().next().unwrap_or_default());
            }
        }
        panic!("{msg}");
    }
}

/// The arguments of `case` for one side: directory paths (`host` natively, the guest
/// paths under hull) and literals.
fn case_args(case: &FsCase, dir_paths: &[String]) -> Vec<String> {
    if case.args.is_empty() {
        return dir_paths.to_vec();
    }
    case.args
        .iter()
        .map(|a| match a {
            FsArg::Dir(i) => dir_paths[*i].clone(),
            FsArg::Lit(s) => s.clone(),
        })
        .collect()
}

fn run_with_args(base: &Run, args: Vec<String>) -> Run {
    let mut run = base.clone();
    let extra = std::mem::take(&mut run.args);
    run.args = args.into_iter().map(Into::into).collect();
    run.args.extend(extra);
    run
}

/// One native run and one hull run of `case`; the error describes every disagreement.
fn fs_check(name: &str, bin: &Path, case: &FsCase) -> Result<(), String> {
    let tag = bin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Native.
    let native_dirs = prepare(case, &tag);
    let native_paths: Vec<String> = native_dirs
        .host
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let native_run = run_with_args(&case.run, case_args(case, &native_paths));
    let native = native_run.native(bin);
    if native.status != case.expect_status || native.timed_out {
        let msg = format!(
            "{name}: the NATIVE run ended with status {} instead of {}: the test program or \
             the host is broken, not hull\n{}\n",
            native.status,
            case.expect_status,
            indent(&native.summary())
        );
        remove_all(&native_dirs.cleanup);
        return Err(msg);
    }
    // hull.
    let hull_dirs = prepare(case, &tag);
    let mut hull_run = case.run.clone();
    let mut guest_paths = Vec::new();
    let mut mount_flags = Vec::new();
    for (dir, host) in case.dirs.iter().zip(&hull_dirs.host) {
        match dir {
            FsDir::Mount { guest, .. } => {
                mount_flags.push(format!("{}:{guest}", host.display()));
                guest_paths.push(guest.clone());
            }
            FsDir::GuestTmp { guest, .. } => guest_paths.push(guest.clone()),
        }
    }
    let mut flags = Vec::new();
    for m in mount_flags {
        flags.push("--mount".to_string());
        flags.push(m);
    }
    flags.append(&mut hull_run.hull_flags);
    hull_run.hull_flags = flags;
    let hull_run = run_with_args(&hull_run, case_args(case, &guest_paths));
    let hull = hull_run.hull(bin);

    let mut problems = Vec::new();
    if let Err(msg) = compare(name, &native, &hull) {
        problems.push(msg);
    }
    for (i, dir) in case.dirs.iter().enumerate() {
        if let FsDir::Mount { guest, .. } = dir
            && let Err(diff) = compare_trees(&native_dirs.host[i], &hull_dirs.host[i], false)
        {
            problems.push(format!(
                "{name}: the trees left in {guest} differ (native {}, hull {}):\n{}",
                native_dirs.host[i].display(),
                hull_dirs.host[i].display(),
                indent(&diff)
            ));
        }
    }
    remove_all(&native_dirs.cleanup);
    remove_all(&hull_dirs.cleanup);
    if problems.is_empty() {
        // Disk scratch dirs are kept on failure for inspection, removed on success.
        remove_all(&native_dirs.host);
        remove_all(&hull_dirs.host);
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

// ---------------------------------------------------------------------------------------
// Trees
// ---------------------------------------------------------------------------------------

/// One entry of a directory tree, as far as the file-system tests compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// Relative to the tree's root, `.` for the root itself.
    pub path: String,
    pub kind: &'static str,
    /// `mode & 0o7777`.
    pub mode: u32,
    /// Size of files and symlinks (0 for directories, whose size depends on the fs).
    pub size: u64,
    /// Link count of non-directories (0 for directories).
    pub nlink: u64,
    /// FNV-1a of a file's bytes, the target of a symlink, or why it could not be read.
    pub content: String,
    /// `(mtime seconds, nanoseconds)`, only in snapshots taken with times.
    pub mtime: Option<(i64, i64)>,
}

fn kind_of(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "chr"
    } else if ft.is_block_device() {
        "blk"
    } else {
        "?"
    }
}

fn hash_file(path: &Path) -> String {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("unreadable: {e}"),
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for &b in &buf[..n] {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
            }
            Err(e) => return format!("unreadable: {e}"),
        }
    }
    format!("fnv1a {h:016x}")
}

/// Every entry below `root` (the root included), sorted by path. Symlinks are not
/// followed. With `with_times`, each entry carries its mtime.
pub fn tree_snapshot(root: &Path, with_times: bool) -> Vec<TreeEntry> {
    let mut out = Vec::new();
    walk(root, ".", with_times, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(path: &Path, rel: &str, with_times: bool, out: &mut Vec<TreeEntry>) {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            out.push(TreeEntry {
                path: rel.into(),
                kind: "?",
                mode: 0,
                size: 0,
                nlink: 0,
                content: format!("lstat failed: {e}"),
                mtime: None,
            });
            return;
        }
    };
    let kind = kind_of(meta.file_type());
    let content = match kind {
        "file" => hash_file(path),
        "symlink" => match fs::read_link(path) {
            Ok(t) => format!("-> {}", t.display()),
            Err(e) => format!("readlink failed: {e}"),
        },
        _ => String::new(),
    };
    out.push(TreeEntry {
        path: rel.into(),
        kind,
        mode: meta.mode() & 0o7777,
        size: if kind == "dir" { 0 } else { meta.size() },
        nlink: if kind == "dir" { 0 } else { meta.nlink() },
        content,
        mtime: with_times.then(|| (meta.mtime(), meta.mtime_nsec())),
    });
    if kind == "dir" {
        let entries = match fs::read_dir(path) {
            Ok(e) => e,
            Err(e) => {
                out.push(TreeEntry {
                    path: format!("{rel}/"),
                    kind: "?",
                    mode: 0,
                    size: 0,
                    nlink: 0,
                    content: format!("read_dir failed: {e}"),
                    mtime: None,
                });
                return;
            }
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let child_rel = if rel == "." {
                String::from_utf8_lossy(name.as_bytes()).into_owned()
            } else {
                format!("{rel}/{}", String::from_utf8_lossy(name.as_bytes()))
            };
            walk(&path.join(&name), &child_rel, with_times, out);
        }
    }
}

fn describe_entry(e: &TreeEntry) -> String {
    let mut s = format!("{} {} mode={:04o}", e.path, e.kind, e.mode);
    if e.kind != "dir" {
        let _ = write!(s, " size={} nlink={}", e.size, e.nlink);
    }
    if !e.content.is_empty() {
        let _ = write!(s, " {}", e.content);
    }
    if let Some((sec, nsec)) = e.mtime {
        let _ = write!(s, " mtime={sec}.{nsec:09}");
    }
    s
}

/// Compares two snapshots; the error lists every difference (`-` first, `+` second).
pub fn diff_snapshots(a: &[TreeEntry], b: &[TreeEntry]) -> Result<(), String> {
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.path == y.path => {
                if x != y {
                    let _ = writeln!(out, "- {}\n+ {}", describe_entry(x), describe_entry(y));
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.path < y.path => {
                let _ = writeln!(out, "- {} (only in the first)", describe_entry(x));
                i += 1;
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                let _ = writeln!(out, "+ {} (only in the second)", describe_entry(y));
                j += 1;
            }
            (Some(x), None) => {
                let _ = writeln!(out, "- {} (only in the first)", describe_entry(x));
                i += 1;
            }
            (None, None) => break,
        }
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

/// Compares the trees at `a` and `b` byte for byte (see [`TreeEntry`]); `-` lines are
/// `a`'s, `+` lines `b`'s.
pub fn compare_trees(a: &Path, b: &Path, with_times: bool) -> Result<(), String> {
    diff_snapshots(&tree_snapshot(a, with_times), &tree_snapshot(b, with_times))
}

/// Copies the tree at `from` into `to` (created), preserving modes, symlinks and mtimes.
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .unwrap_or_else(|e| panic!("cannot run cp -a: {e}"));
    assert!(
        status.success(),
        "cp -a {} {} failed: {status}",
        from.display(),
        to.display()
    );
}

// ---------------------------------------------------------------------------------------
// Running in a directory
// ---------------------------------------------------------------------------------------

impl Run {
    /// Runs `program` natively like [`Run::native`], with `cwd` as its working directory.
    pub fn native_in(&self, program: &Path, cwd: &Path) -> Outcome {
        let mut cmd = Command::new(program);
        cmd.args(&self.args).env_clear().current_dir(cwd);
        for (k, v) in self.guest_env() {
            cmd.env(k, v);
        }
        let desc = format!(
            "(cd {} && {})",
            cwd.display(),
            describe_command(&[program.as_os_str()], &self.args)
        );
        execute(cmd, &self.stdin, self.kill_timeout, desc)
    }
}
