//! Hostile file-system tests: a guest that tries to get out of its mounts, races the host,
//! passes absurd lengths, offsets and pointers, or exhausts handles and tmpfs space.
//! Each asserts the refusal and, on the host, that nothing outside the mount was read or
//! written. Most run under hull only, against fixed expectations (a native run is not
//! sandboxed); the bad-argument test is differential because Linux's answers are fixed.
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN) and a usable /dev/kvm.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use hull_tests::files::{
    FsArg, FsCase, TreeEntry, diff_snapshots, fs_differential, make_writable, tree_snapshot,
};
use hull_tests::{Outcome, Run, Toolchain, compile, render_diff, scratch_dir};

const SECRET: &str = "TOP-SECRET-CONTENT\n";

fn fail(what: &str, outcome: &Outcome, problems: &[String]) -> ! {
    panic!(
        "{what}:\n  * {}\n{}",
        problems.join("\n  * "),
        outcome.summary()
    );
}

/// Every entry of the tree at `root` except those below `skip` (a path relative to
/// `root`), with times.
fn snapshot_except(root: &Path, skip: &str) -> Vec<TreeEntry> {
    tree_snapshot(root, true)
        .into_iter()
        .filter(|e| e.path != skip && !e.path.starts_with(&format!("{skip}/")))
        .collect()
}

/// `base/outer/{secret.txt, outside/, mnt/}`: the mount is `mnt`, and everything else
/// (two levels up included) must stay untouched.
struct Layout {
    base: PathBuf,
    mnt: PathBuf,
    secret: PathBuf,
    outside: PathBuf,
}

fn layout(tag: &str) -> Layout {
    let base = scratch_dir(tag);
    let outer = base.join("outer");
    let mnt = outer.join("mnt");
    let outside = outer.join("outside");
    fs::create_dir_all(&mnt).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let secret = outer.join("secret.txt");
    fs::write(&secret, SECRET).unwrap();
    fs::write(base.join("secret.txt"), SECRET).unwrap();
    Layout {
        base,
        mnt,
        secret,
        outside,
    }
}

fn cleanup(l: &Layout) {
    make_writable(&l.base);
    let _ = fs::remove_dir_all(&l.base);
}

fn escape_fixture(l: &Layout) {
    let m = &l.mnt;
    fs::write(m.join("inside.txt"), "inside\n").unwrap();
    fs::create_dir(m.join("sub")).unwrap();
    symlink("../secret.txt", m.join("rel_out")).unwrap();
    symlink("../../secret.txt", m.join("sub/rel_out2")).unwrap();
    symlink(
        format!("{}secret.txt", "../".repeat(10)),
        m.join("sub/rel_deep"),
    )
    .unwrap();
    symlink(&l.secret, m.join("abs_host")).unwrap();
    symlink("/m/inside.txt", m.join("abs_inside")).unwrap();
    symlink("/etc/passwd", m.join("abs_etc")).unwrap();
    symlink("..", m.join("dir_out")).unwrap();
    symlink(&l.outside, m.join("dir_out_abs")).unwrap();
    symlink(
        format!("/proc/self/root{}", l.secret.display()),
        m.join("proc_root"),
    )
    .unwrap();
    fs::write(l.outside.join("hardlinked.txt"), "hardlinked\n").unwrap();
    fs::hard_link(l.outside.join("hardlinked.txt"), m.join("hard")).unwrap();
}

const ESCAPE_EXPECTED: &str = "\
inside.txt: read \"inside\"
mount/../secret.txt: ENOENT
mount/sub/../../secret.txt: ENOENT
mount/../../../../secret.txt: ENOENT
the secret's host path: ENOENT
/proc/self/root + host path: ENOENT
rel_out: ENOENT
sub/rel_out2: ENOENT
sub/rel_deep: ENOENT
abs_host: ENOENT
abs_inside: read \"inside\"
dir_out/secret.txt: ENOENT
dir_out_abs/hardlinked.txt: ENOENT
proc_root: ENOENT
hard (a hard link made by the host): read \"hardlinked\"
stat mount/../secret.txt: ENOENT
stat rel_out: ENOENT
stat the outside dir's host path: ENOENT
stat dir_out_abs: ENOENT
abs_etc: the same as the guest's /etc/passwd: yes
readlink abs_host is the stored host path: yes
readlink rel_out: ok
openat(mount fd, ../secret.txt): ENOENT
openat(sub fd, ../../secret.txt): ENOENT
openat(mount/.. fd, secret.txt): ENOENT
the mount's .. is the guest's /: ok
chdir .. ten times ends at /: ok
secret.txt from /: ENOENT
the guest's / lists secret.txt or outside: no
/proc/self/cwd/../secret.txt: ENOENT
write attempts done
stolen_link: ENOENT
stolen_link3: ENOENT
stolen: ENOENT
leaks: 0
all checks passed
";

/// `..` past the mount root, relative symlinks pointing out (`../secret.txt`,
/// `../../secret.txt`, ten levels up), absolute symlinks (to the secret's host path, to
/// `/etc/passwd`, to `/proc/self/root/<host path>`) and directory symlinks out of the
/// mount: in the guest, `/m/..` is the guest's `/`, and every symlink resolves in the
/// guest's namespace, where none of those host paths exist (ENOENT), while an absolute
/// symlink to `/m/inside.txt` does resolve to the file in the mount. Writes through the
/// same paths (create, truncate, append, mkdir, link, rename, chmod, unlink, utimes) must
/// leave everything outside the mount as it was, two directory levels up included.
///
/// Hard links: `mnt/hard` is a hard link the HOST made beforehand to a file outside the
/// mount. It is the same inode, so it is the same file: whoever put it in the mount gave
/// the sandbox that file, exactly as a bind mount of the directory would on Linux. The
/// test asserts the guest reads it (and that the guest itself cannot make such links:
/// linking `/m/../secret.txt` or a symlink pointing out yields nothing). A `:ro` mount is
/// what keeps such a file from being written (see `files.rs`, `read_only_mount`).
#[test]
fn escapes_via_dotdot_symlinks_and_hard_links() {
    let bin = compile("fs_hostile_escape", Toolchain::GccStatic);
    let l = layout("hostile-escape");
    escape_fixture(&l);
    let before = snapshot_except(&l.base, "outer/mnt");
    let out = Run::new()
        .hull_flag("--mount")
        .hull_flag(&format!("{}:/m", l.mnt.display()))
        .args(["/m".as_ref(), l.secret.as_os_str(), l.outside.as_os_str()])
        .hull(&bin);
    let mut problems = Vec::new();
    if out.stdout_str().contains("LEAK") {
        problems.push("THE GUEST READ THE SECRET".to_string());
    }
    if out.stdout_str() != ESCAPE_EXPECTED || out.status != 0 {
        problems.push(render_diff(
            "stdout (- expected, + hull)",
            ESCAPE_EXPECTED.as_bytes(),
            &out.stdout,
        ));
    }
    if let Err(diff) = diff_snapshots(&before, &snapshot_except(&l.base, "outer/mnt")) {
        problems.push(format!(
            "files outside the mount changed (- before, + after):\n{diff}"
        ));
    }
    if fs::read_to_string(&l.secret).ok().as_deref() != Some(SECRET) {
        problems.push("the secret's content changed".into());
    }
    if !problems.is_empty() {
        fail("escape attempts", &out, &problems);
    }
    cleanup(&l);
}

/// renameat2(RENAME_EXCHANGE) of two names in one directory: an atomic swap.
fn exchange(dir: &CString, a: &CString, b: &CString) -> bool {
    // SAFETY: renameat2 reads the three NUL-terminated strings, which outlive the call;
    // it touches no other memory of ours.
    let r = unsafe {
        let dfd = libc::open(dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        let r = libc::syscall(
            libc::SYS_renameat2,
            dfd,
            a.as_ptr(),
            dfd,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        );
        libc::close(dfd);
        r
    };
    r == 0
}

/// A host thread swaps `mnt/flip` between a real directory and symlinks to a directory
/// outside the mount (one absolute, one `../outside`) as fast as it can, while the guest
/// opens, reads, stats, creates, truncates, chmods and unlinks through `/m/flip` 10000
/// times. The guest must never see the secret's content or size, and nothing outside the
/// mount may change: a path the guest checked must not lead elsewhere when the host
/// operation runs.
#[test]
fn symlink_swapped_during_opens() {
    let bin = compile("fs_hostile_race", Toolchain::GccStatic);
    let l = layout("hostile-race");
    fs::create_dir(l.mnt.join("flip")).unwrap();
    fs::write(l.mnt.join("flip/file"), "inside\n").unwrap();
    fs::write(l.mnt.join("flip/victim"), "inside victim\n").unwrap();
    fs::write(l.outside.join("file"), SECRET).unwrap();
    fs::write(l.outside.join("victim"), "outside victim\n").unwrap();
    symlink(&l.outside, l.mnt.join("alt_abs")).unwrap();
    symlink("../outside", l.mnt.join("alt_rel")).unwrap();
    let before = snapshot_except(&l.base, "outer/mnt");

    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicU64::new(0));
    let flipper = {
        let stop = Arc::clone(&stop);
        let flips = Arc::clone(&flips);
        let dir = CString::new(l.mnt.as_os_str().as_bytes()).unwrap();
        thread::spawn(move || {
            let flip = CString::new("flip").unwrap();
            let alts = [
                CString::new("alt_abs").unwrap(),
                CString::new("alt_rel").unwrap(),
            ];
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let alt = &alts[(k / 2) % 2];
                if exchange(&dir, &flip, alt) {
                    flips.fetch_add(1, Ordering::Relaxed);
                }
                k += 1;
            }
        })
    };
    let out = Run::new()
        .hull_flag("--mount")
        .hull_flag(&format!("{}:/m", l.mnt.display()))
        .args(["/m", "10000"])
        .kill_timeout(Duration::from_secs(180))
        .hull(&bin);
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("flipper thread");
    let flips = flips.load(Ordering::Relaxed);
    println!("{flips} swaps while the guest ran for {:.2?}", out.elapsed);

    let mut problems = Vec::new();
    let expected = "leaks: 0\ninside reads: some\n\
                    refused opens (flip was a symlink out): some\nother reads: 0\n";
    if out.stdout_str() != expected || out.status != 0 {
        problems.push(render_diff(
            "stdout (- expected, + hull)",
            expected.as_bytes(),
            &out.stdout,
        ));
    }
    if flips < 100 {
        problems.push(format!(
            "the host swapped the symlink only {flips} times: the race did not happen"
        ));
    }
    if let Err(diff) = diff_snapshots(&before, &snapshot_except(&l.base, "outer/mnt")) {
        problems.push(format!(
            "files outside the mount changed (- before, + after):\n{diff}"
        ));
    }
    if !problems.is_empty() {
        fail(
            &format!("symlink swap race ({flips} swaps)"),
            &out,
            &problems,
        );
    }
    cleanup(&l);
}

/// Huge lengths (SIZE_MAX, 2^62, a 1 GiB read into a 4 KiB buffer of a 100-byte file),
/// offsets near 2^63 and negative, bad pointers for paths (NULL, 0x1, kernel,
/// non-canonical, running into an unmapped page) and for buffers and iovecs, and
/// half-mapped buffers: the same results natively and under hull (EFAULT, EINVAL, EFBIG
/// as Linux gives them), and the program keeps running.
#[test]
fn bad_pointers_huge_lengths_and_offsets() {
    fs_differential(
        "fs_hostile_limits",
        &[FsCase::scratch("efault").args(vec![FsArg::Dir(0), FsArg::Lit("efault".into())])],
    );
}

const EMFILE_EXPECTED: &str = "\
RLIMIT_NOFILE: soft 1024, hard 4096
opened at the default limit: 1021, then EMFILE
dup is EMFILE too: ok
pipe is EMFILE too: ok
raise RLIMIT_NOFILE to 4096: ok
after raising: more opened: yes, then EMFILE, total <= 4093: yes
the last one reads: ok
round 2: the same count: yes, then EMFILE
round 3: the same count: yes, then EMFILE
a file opens and reads after it all: ok
all checks passed
";

/// Opening one host file without closing: EMFILE once fds 3..1023 are taken (the guest's
/// default RLIMIT_NOFILE is 1024), more after raising the limit to 4096, until the limit
/// or the host's handle cap says EMFILE; closing everything gives the handles back (two
/// more rounds reach the same count) and the run ends cleanly.
#[test]
fn exhausting_file_handles() {
    let bin = compile("fs_hostile_limits", Toolchain::GccStatic);
    let dir = scratch_dir("hostile-emfile");
    let out = Run::new()
        .hull_flag("--mount")
        .hull_flag(&format!("{}:/scratch", dir.display()))
        .args(["/scratch", "emfile"])
        .kill_timeout(Duration::from_secs(120))
        .hull(&bin);
    if out.stdout_str() != EMFILE_EXPECTED || out.status != 0 || out.panicked() {
        fail(
            "handle exhaustion",
            &out,
            &[render_diff(
                "stdout (- expected, + hull)",
                EMFILE_EXPECTED.as_bytes(),
                &out.stdout,
            )],
        );
    }
    let _ = fs::remove_dir_all(&dir);
}

/// `--tmpfs-size 1M`: filling /tmp ends with ENOSPC after at most 1 MiB (checked against
/// a 1 MiB Linux tmpfs), and unlinking gives the space back.
#[test]
fn tmpfs_size_limit() {
    let bin = compile("fs_hostile_limits", Toolchain::GccStatic);
    let expected = "\
create /tmp/fill: ok
filling a 1 MiB /tmp ends with: ENOSPC
wrote more than 0 and at most 1 MiB: yes
unlink the big file: ok
the space came back: ok
all checks passed
";
    let out = Run::new()
        .hull_flag("--tmpfs-size")
        .hull_flag("1M")
        .args(["/tmp/x", "tmpfs"])
        .hull(&bin);
    if out.stdout_str() != expected || out.status != 0 {
        fail(
            "tmpfs size limit",
            &out,
            &[render_diff(
                "stdout (- expected, + hull)",
                expected.as_bytes(),
                &out.stdout,
            )],
        );
    }
}

/// The same refusals on a read-only mount of the escape fixture: nothing through the
/// mount may be written, the hard link to an outside file included.
#[test]
fn read_only_mount_with_outside_hard_link() {
    let bin = compile("fs_rofs", Toolchain::GccStatic);
    let l = layout("hostile-ro");
    let m = &l.mnt;
    fs::create_dir_all(m.join("dir")).unwrap();
    fs::create_dir_all(m.join("empty_dir")).unwrap();
    fs::write(l.outside.join("file"), "read only\n").unwrap();
    fs::set_permissions(l.outside.join("file"), fs::Permissions::from_mode(0o644)).unwrap();
    // The mount's `file` is a hard link to a file outside it.
    fs::hard_link(l.outside.join("file"), m.join("file")).unwrap();
    fs::write(m.join("dir/inner"), "inner\n").unwrap();
    symlink("file", m.join("link")).unwrap();
    let before = tree_snapshot(&l.base, true);
    let out = Run::new()
        .hull_flag("--mount")
        .hull_flag(&format!("{}:/ro:ro", m.display()))
        .arg("/ro")
        .hull(&bin);
    let expected = include_str!("files_rofs.expected");
    let mut problems = Vec::new();
    if out.stdout_str() != expected || out.status != 0 {
        problems.push(render_diff(
            "stdout (- expected, + hull)",
            expected.as_bytes(),
            &out.stdout,
        ));
    }
    if let Err(diff) = diff_snapshots(&before, &tree_snapshot(&l.base, true)) {
        problems.push(format!(
            "the host tree changed (- before, + after):\n{diff}"
        ));
    }
    if !problems.is_empty() {
        fail("read-only mount with a hard link", &out, &problems);
    }
    cleanup(&l);
}
