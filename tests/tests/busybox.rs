//! busybox on real files: single applets (ls, cat, cp, mv, rm, mkdir, find, grep, sort,
//! uniq, wc, head, tail, sed, awk, sha256sum, tar, gzip, du, and more) run natively in a
//! scratch copy of a generated tree and under hull with another copy mounted
//! (`--mount COPY:/w --workdir /w`); stdout, stderr, status and the resulting trees must
//! agree. Then `--root` with a busybox root tree, PROGRAM found through the guest's PATH.
//!
//! Uses Debian's busybox-static (`/bin/busybox`; `apt-get install busybox-static`, which
//! `cargo xtask test` does). Needs the hull binary and a usable /dev/kvm.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use hull_tests::files::{compare_trees, copy_tree, diff_snapshots, tree_snapshot};
use hull_tests::{Outcome, Run, compare, render_diff, scratch_dir};

const BUSYBOX: &str = "/bin/busybox";

/// The fixture's fixed mtime (2020-01-01 00:00:00 UTC), so that gzip output, `touch -r`
/// and anything else that records times is the same in both copies.
const FIXED_MTIME: i64 = 1_577_836_800;

/// Panics loudly when busybox is missing: these tests never skip.
fn busybox() -> &'static Path {
    let path = Path::new(BUSYBOX);
    assert!(
        path.is_file(),
        "{BUSYBOX} is missing: the busybox tests need Debian's busybox-static \
         (`apt-get update && apt-get install -y busybox-static`; `cargo xtask test` \
         installs it)"
    );
    path
}

fn set_mtime(path: &Path, secs: i64) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let ts = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    ];
    // SAFETY: `c` is a NUL-terminated path and `ts` two timespecs, both alive for the call.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "utimensat {}", path.display());
}

/// Sets FIXED_MTIME on everything below `dir`, children before their directory.
fn fix_times(dir: &Path) {
    if fs::symlink_metadata(dir).unwrap().is_dir() {
        for e in fs::read_dir(dir).unwrap().flatten() {
            fix_times(&e.path());
        }
    }
    set_mtime(dir, FIXED_MTIME);
}

fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>, mode: u32) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The generated tree: a few directories, text files with known content, a binary file,
/// symlinks, an empty directory, an executable and a read-only file, all with fixed times.
fn fixture() -> PathBuf {
    let dir = scratch_dir("bb-fixture").join("tree");
    fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        "docs/a.txt",
        "banana\napple\ncherry\napple\nbanana\nbanana\ndate\n",
        0o644,
    );
    write(
        &dir,
        "docs/b.txt",
        "The quick brown fox\njumps over\nthe lazy dog\n",
        0o644,
    );
    write(&dir, "docs/notes/n1.txt", "note one\nTODO: fix\n", 0o644);
    write(
        &dir,
        "docs/notes/n2.md",
        "# title\nTODO: more\nend\n",
        0o640,
    );
    write(
        &dir,
        "src/main.c",
        "#include \"util.h\"\nint main(void) {\n    return answer() - 42;\n}\n",
        0o644,
    );
    write(
        &dir,
        "src/util.h",
        "static inline int answer(void) { return 42; }\n",
        0o644,
    );
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let bin: Vec<u8> = (0..3000)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 7 == 0 { 0 } else { (state >> 24) as u8 }
        })
        .collect();
    write(&dir, "data.bin", &bin, 0o644);
    let mut nums: Vec<u32> = (1..=200).collect();
    for i in (1..nums.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        nums.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let numbers: String = nums.iter().map(|n| format!("{n}\n")).collect();
    write(&dir, "numbers.txt", numbers, 0o644);
    write(
        &dir,
        "table.txt",
        "name age city\nalice 30 paris\nbob 25 berlin\ncarol 35 rome\ndave 25 paris\n",
        0o644,
    );
    write(
        &dir,
        "script.sh",
        "x=1\nwhile [ $x -le 3 ]; do echo \"line $x\"; x=$((x+1)); done\n",
        0o755,
    );
    write(&dir, "readonly.txt", "do not change\n", 0o444);
    fs::create_dir(dir.join("empty")).unwrap();
    symlink("docs/a.txt", dir.join("link_to_a")).unwrap();
    symlink("docs", dir.join("link_to_docs")).unwrap();
    symlink("nowhere", dir.join("dangling")).unwrap();
    fix_times(&dir);
    dir
}

/// How a step's stdout is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Post {
    /// Byte for byte.
    Exact,
    /// As a sorted list of lines (readdir order is the file system's business).
    Sorted,
    /// `ls -l` lines reduced to mode, link count, size and name (owners and dates are
    /// the host's; `total` depends on block allocation).
    LsLong,
}

struct Step {
    args: Vec<String>,
    stdin: Vec<u8>,
    post: Post,
}

fn step(args: &[&str]) -> Step {
    Step {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: Vec::new(),
        post: Post::Exact,
    }
}

fn sorted(args: &[&str]) -> Step {
    Step {
        post: Post::Sorted,
        ..step(args)
    }
}

fn ls_long(args: &[&str]) -> Step {
    Step {
        post: Post::LsLong,
        ..step(args)
    }
}

fn with_stdin(args: &[&str], stdin: &str) -> Step {
    Step {
        stdin: stdin.as_bytes().to_vec(),
        ..step(args)
    }
}

fn reduce_ls_long(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    let mut kept = String::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.first() == Some(&"total") {
            continue;
        }
        if t.len() >= 9 {
            kept.push_str(&format!(
                "{} {} {} {}\n",
                t[0],
                t[1],
                t[4],
                t[8..].join(" ")
            ));
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept.into_bytes()
}

fn post_process(o: &mut Outcome, post: Post) {
    match post {
        Post::Exact => {}
        Post::Sorted => {
            let mut lines: Vec<&[u8]> = o.stdout.split_inclusive(|&b| b == b'\n').collect();
            lines.sort();
            o.stdout = lines.concat();
        }
        Post::LsLong => o.stdout = reduce_ls_long(&o.stdout),
    }
}

/// Runs `steps` (busybox applets with their arguments) one after another in a fresh copy
/// of the fixture, natively (cwd = the copy) and under hull (`--mount COPY:/w --workdir
/// /w`); compares every step and the trees at the end. Returns the problems found.
fn busybox_case(fixture: &Path, label: &str, steps: &[Step]) -> Vec<String> {
    let bb = busybox();
    let native_dir = scratch_dir("bb-native").join("w");
    let hull_dir = scratch_dir("bb-hull").join("w");
    copy_tree(fixture, &native_dir);
    copy_tree(fixture, &hull_dir);
    let mut problems = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let name = format!("busybox {label}, step {}: {}", i + 1, s.args.join(" "));
        let run = Run::new().args(&s.args).stdin(s.stdin.clone());
        let mut native = run.native_in(bb, &native_dir);
        let mut hull = run
            .clone()
            .hull_flag("--mount")
            .hull_flag(&format!("{}:/w", hull_dir.display()))
            .hull_flag("--workdir")
            .hull_flag("/w")
            .hull(bb);
        post_process(&mut native, s.post);
        post_process(&mut hull, s.post);
        if let Err(msg) = compare(&name, &native, &hull) {
            problems.push(msg);
        }
    }
    if let Err(diff) = compare_trees(&native_dir, &hull_dir, false) {
        problems.push(format!(
            "busybox {label}: the trees differ afterwards (- native {}, + hull {}):\n{diff}",
            native_dir.display(),
            hull_dir.display()
        ));
    }
    if problems.is_empty() {
        let _ = fs::remove_dir_all(native_dir.parent().unwrap());
        let _ = fs::remove_dir_all(hull_dir.parent().unwrap());
    }
    problems
}

fn check(label: &str, steps: &[Step]) {
    let fixture = fixture();
    let problems = busybox_case(&fixture, label, steps);
    let _ = fs::remove_dir_all(fixture.parent().unwrap());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn ls() {
    check(
        "ls",
        &[
            step(&["ls", "-1"]),
            step(&["ls", "-1a"]),
            step(&["ls", "-1R"]),
            step(&["ls", "-1p", "docs", "src", "empty"]),
            step(&["ls", "-1L", "link_to_docs"]),
            ls_long(&["ls", "-ln", "docs", "src"]),
            ls_long(&["ls", "-lan", "docs"]),
            ls_long(&[
                "ls",
                "-ln",
                "link_to_a",
                "dangling",
                "script.sh",
                "readonly.txt",
            ]),
            step(&["ls", "-1", "missing"]),
        ],
    );
}

#[test]
fn cat_head_tail_wc() {
    check(
        "cat/head/tail/wc",
        &[
            step(&["cat", "docs/a.txt", "docs/b.txt"]),
            step(&["cat", "-n", "docs/b.txt"]),
            step(&["cat", "data.bin"]),
            step(&["cat", "link_to_a"]),
            step(&["cat", "missing"]),
            step(&["cat", "docs"]),
            step(&["head", "-n", "3", "numbers.txt"]),
            step(&["head", "-c", "100", "data.bin"]),
            step(&["tail", "-n", "3", "numbers.txt"]),
            step(&["tail", "-n", "+195", "numbers.txt"]),
            step(&["tail", "-c", "50", "data.bin"]),
            step(&["wc", "docs/a.txt"]),
            step(&["wc", "-l", "docs/a.txt", "docs/b.txt", "numbers.txt"]),
            step(&["wc", "-c", "data.bin"]),
            with_stdin(&["wc", "-w"], "one two three\nfour\n"),
            step(&["tac", "docs/b.txt"]),
            step(&["nl", "docs/b.txt"]),
            step(&["rev", "docs/b.txt"]),
        ],
    );
}

#[test]
fn cp_mv_rm_mkdir() {
    check(
        "cp/mv/rm/mkdir",
        &[
            step(&["cp", "-r", "docs", "docs_copy"]),
            step(&["ls", "-1R", "docs_copy"]),
            step(&["cp", "-p", "script.sh", "s2.sh"]),
            step(&["cp", "data.bin", "empty/"]),
            step(&["cp", "-a", "src", "src2"]),
            step(&["cp", "-P", "link_to_a", "link_copy"]),
            step(&["cp", "readonly.txt", "ro_copy.txt"]),
            step(&["cp", "missing", "x"]),
            step(&["mv", "docs/a.txt", "a_moved.txt"]),
            step(&["mv", "src", "empty/src"]),
            step(&["mv", "numbers.txt", "docs/notes/"]),
            step(&["mv", "s2.sh", "docs_copy/b.txt"]),
            step(&["rm", "docs/b.txt"]),
            step(&["rm", "-r", "src2"]),
            step(&["rm", "-rf", "docs_copy/notes"]),
            step(&["rm", "missing"]),
            step(&["rm", "-f", "missing"]),
            step(&["rm", "empty"]),
            step(&["rm", "dangling"]),
            step(&["mkdir", "-p", "x/y/z"]),
            step(&["mkdir", "-m", "700", "priv"]),
            step(&["mkdir", "docs"]),
            step(&["rmdir", "x/y/z"]),
            step(&["rmdir", "x"]),
            step(&["ln", "-s", "docs/notes", "ln_notes"]),
            step(&["ln", "a_moved.txt", "a_hard.txt"]),
            step(&["readlink", "ln_notes"]),
            step(&["unlink", "link_to_docs"]),
            ls_long(&["ls", "-ln", "a_moved.txt", "a_hard.txt", "priv"]),
        ],
    );
}

#[test]
fn find_and_grep() {
    check(
        "find/grep",
        &[
            sorted(&["find", ".", "-type", "f"]),
            sorted(&["find", ".", "-name", "*.txt"]),
            sorted(&["find", "docs", "-type", "d"]),
            sorted(&["find", ".", "-type", "l"]),
            sorted(&["find", ".", "-size", "+1k"]),
            sorted(&["find", ".", "-empty"]),
            sorted(&["find", ".", "-perm", "-u+x", "-type", "f"]),
            sorted(&["find", "-L", ".", "-name", "a.txt"]),
            sorted(&["find", ".", "-maxdepth", "1"]),
            sorted(&["grep", "-rn", "TODO", "."]),
            step(&["grep", "-c", "apple", "docs/a.txt"]),
            step(&["grep", "-v", "banana", "docs/a.txt"]),
            sorted(&["grep", "-rl", "the", "docs"]),
            step(&["grep", "-i", "THE", "docs/b.txt"]),
            step(&["grep", "-E", "^(apple|date)$", "docs/a.txt"]),
            step(&["grep", "nomatch", "docs/a.txt"]),
            step(&["grep", "x", "missing"]),
            step(&["grep", "-q", "fox", "docs/b.txt"]),
        ],
    );
}

#[test]
fn sort_uniq_sed_awk() {
    check(
        "sort/uniq/sed/awk",
        &[
            step(&["sort", "docs/a.txt"]),
            step(&["sort", "-n", "numbers.txt"]),
            step(&["sort", "-rn", "numbers.txt"]),
            step(&["sort", "-u", "docs/a.txt"]),
            step(&["sort", "-k2,2n", "-k1,1", "table.txt"]),
            step(&["sort", "-o", "sorted.txt", "docs/a.txt"]),
            step(&["uniq", "sorted.txt"]),
            step(&["uniq", "-c", "sorted.txt"]),
            step(&["uniq", "-d", "sorted.txt"]),
            step(&["sed", "s/apple/APPLE/g", "docs/a.txt"]),
            step(&["sed", "-n", "2,4p", "numbers.txt"]),
            step(&["sed", "-i", "s/fox/cat/", "docs/b.txt"]),
            step(&["cat", "docs/b.txt"]),
            step(&["sed", "-i.bak", "1d", "table.txt"]),
            step(&["cat", "table.txt", "table.txt.bak"]),
            step(&["awk", "{print $1}", "table.txt"]),
            step(&["awk", "{s += $2} END {print s, NR}", "table.txt"]),
            step(&["awk", "{print > (\"city_\" $3 \".txt\")}", "table.txt"]),
            step(&["cut", "-d", " ", "-f", "2,3", "table.txt"]),
            with_stdin(&["tr", "a-z", "A-Z"], "hello, world\n"),
            with_stdin(&["tee", "teed.txt"], "through tee\n"),
        ],
    );
}

#[test]
fn checksums_and_binary_tools() {
    check(
        "sha256sum/md5sum/od/...",
        &[
            step(&["sha256sum", "docs/a.txt", "data.bin", "src/main.c"]),
            step(&["md5sum", "data.bin", "numbers.txt"]),
            step(&["sha1sum", "data.bin"]),
            step(&["od", "-A", "x", "-t", "x1z", "-N", "64", "data.bin"]),
            step(&["hexdump", "-C", "-n", "64", "data.bin"]),
            step(&["xxd", "-l", "32", "data.bin"]),
            step(&["base64", "data.bin"]),
            step(&["cmp", "docs/a.txt", "docs/b.txt"]),
            step(&["cmp", "data.bin", "data.bin"]),
            step(&["diff", "docs/a.txt", "docs/b.txt"]),
            step(&[
                "dd",
                "if=data.bin",
                "of=part.bin",
                "bs=100",
                "count=5",
                "skip=2",
                "status=none",
            ]),
            step(&["cmp", "part.bin", "data.bin"]),
            step(&["truncate", "-s", "10", "docs/b.txt"]),
            step(&["truncate", "-s", "5000", "sparse.bin"]),
            step(&["wc", "-c", "docs/b.txt", "sparse.bin"]),
        ],
    );
}

#[test]
fn tar_gzip_du() {
    check(
        "tar/gzip/du",
        &[
            step(&["tar", "cf", "arch.tar", "docs", "src", "link_to_a"]),
            sorted(&["tar", "tf", "arch.tar"]),
            step(&["mkdir", "out"]),
            step(&["tar", "xf", "arch.tar", "-C", "out"]),
            step(&["ls", "-1R", "out"]),
            // The archive records owner names and readdir order: not compared as bytes.
            step(&["rm", "arch.tar"]),
            step(&["gzip", "-k", "docs/b.txt"]),
            step(&["gzip", "-9", "data.bin"]),
            step(&["gzip", "-t", "data.bin.gz"]),
            step(&["gunzip", "-c", "docs/b.txt.gz"]),
            step(&["gzip", "-d", "data.bin.gz"]),
            // `zcat` runs the decompressor in a forked child.
            step(&["zcat", "docs/b.txt.gz"]),
            step(&["du", "-b", "docs/a.txt", "data.bin", "numbers.txt"]),
            step(&["du", "-bc", "docs/a.txt", "docs/b.txt"]),
        ],
    );
}

#[test]
fn metadata_applets() {
    check(
        "stat/touch/chmod",
        &[
            step(&[
                "stat",
                "-c",
                "%n %s %a %F %h",
                "docs/a.txt",
                "link_to_a",
                "empty",
                "script.sh",
                "readonly.txt",
            ]),
            step(&["stat", "-L", "-c", "%n %s %F", "link_to_a"]),
            step(&["touch", "-r", "docs/a.txt", "t_ref"]),
            step(&["stat", "-c", "%n %Y %s", "t_ref"]),
            step(&["touch", "-d", "@1609459200", "docs/a.txt"]),
            step(&["stat", "-c", "%n %Y", "docs/a.txt"]),
            step(&["touch", "new_file"]),
            step(&["chmod", "600", "docs/a.txt"]),
            step(&["chmod", "-R", "go-rwx", "docs"]),
            step(&["chmod", "u+x", "readonly.txt"]),
            step(&[
                "stat",
                "-c",
                "%n %a",
                "docs/a.txt",
                "docs/notes",
                "readonly.txt",
            ]),
            step(&["test", "-x", "script.sh"]),
            step(&["test", "-d", "link_to_docs"]),
            step(&["test", "-e", "dangling"]),
            step(&["test", "-L", "dangling"]),
            step(&["sh", "script.sh"]),
            step(&[
                "sh",
                "-c",
                "echo $((6 * 7)); read line < docs/a.txt; echo \"first: $line\"; \
                 echo written > sh_out.txt; cd docs && echo \"in docs\"",
            ]),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// --root
// ---------------------------------------------------------------------------------------

/// A root tree as `busybox --install -s /bin` would make inside it: bin/busybox and a
/// symlink `/bin/APPLET -> /bin/busybox` for every applet (absolute: it must resolve in
/// the guest's namespace; busybox's own --install would write the host path), plus etc/,
/// tmp/, dev/, proc/ and root/.
fn busybox_root() -> PathBuf {
    let bb = busybox();
    let root = scratch_dir("bb-root").join("root");
    for d in ["bin", "etc", "tmp", "dev", "proc", "root", "usr/bin"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy(bb, root.join("bin/busybox")).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    let list = Run::new().arg("--list").native(bb);
    assert_eq!(list.status, 0, "busybox --list failed:\n{}", list.summary());
    for applet in list.stdout_str().lines() {
        if applet != "busybox" && !applet.contains('/') {
            symlink("/bin/busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    write(
        &root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
    );
    write(&root, "etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644);
    write(&root, "etc/hostname", "hull-root\n", 0o644);
    write(
        &root,
        "etc/motd",
        "a busybox root for hull's tests\n",
        0o644,
    );
    write(&root, "etc/shells", "/bin/sh\n/bin/ash\n", 0o644);
    root
}

fn hull_in_root(root: &Path, extra: &[&str], program_and_args: &[&str]) -> Outcome {
    let mut run = Run::new()
        .hull_flag("--root")
        .hull_flag(&root.to_string_lossy());
    for f in extra {
        run = run.hull_flag(f);
    }
    run.args(&program_and_args[1..])
        .hull(Path::new(program_and_args[0]))
}

fn expect(what: &str, out: &Outcome, want_stdout: &[u8], want_status: i32) -> Option<String> {
    if out.stdout == want_stdout && out.status == want_status && !out.timed_out {
        return None;
    }
    Some(format!(
        "{what}: expected status {want_status} and the stdout below\n{}\n{}",
        render_diff("stdout (- expected, + hull)", want_stdout, &out.stdout),
        out.summary()
    ))
}

/// `hull run --root TREE ls -la /etc` (ls found through the guest's PATH, /bin/ls a
/// symlink to /bin/busybox inside the tree) lists the tree's /etc as a native
/// `busybox ls -la TREE/etc` does (owners, dates and the `..` line aside); `cat
/// /etc/passwd` is the tree's file, not the host's; `--workdir` starts in a tree
/// directory; an unknown PROGRAM is 127; and the run leaves the tree unchanged.
#[test]
fn root_tree_programs_via_guest_path() {
    let root = busybox_root();
    let before = tree_snapshot(&root, true);
    let mut problems = Vec::new();

    let native = Run::new()
        .args(["ls", "-la"])
        .arg(root.join("etc").as_os_str())
        .native(busybox());
    let drop_dotdot = |b: &[u8]| -> Vec<u8> {
        let reduced = reduce_ls_long(b);
        String::from_utf8_lossy(&reduced)
            .lines()
            .filter(|l| !l.ends_with(" .."))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .into_bytes()
    };
    let out = hull_in_root(&root, &[], &["ls", "-la", "/etc"]);
    problems.extend(expect(
        "ls -la /etc",
        &Outcome {
            stdout: drop_dotdot(&out.stdout),
            ..out.clone()
        },
        &drop_dotdot(&native.stdout),
        0,
    ));

    let passwd = fs::read(root.join("etc/passwd")).unwrap();
    let out = hull_in_root(&root, &[], &["cat", "/etc/passwd"]);
    problems.extend(expect("cat /etc/passwd", &out, &passwd, 0));

    let out = hull_in_root(&root, &["--workdir", "/etc"], &["cat", "hostname", "motd"]);
    problems.extend(expect(
        "--workdir /etc cat hostname motd",
        &out,
        b"hull-root\na busybox root for hull's tests\n",
        0,
    ));

    let out = hull_in_root(&root, &[], &["which", "ls"]);
    problems.extend(expect("which ls", &out, b"/bin/ls\n", 0));

    let out = hull_in_root(&root, &[], &["readlink", "/bin/ls"]);
    problems.extend(expect("readlink /bin/ls", &out, b"/bin/busybox\n", 0));

    let out = hull_in_root(&root, &[], &["/bin/busybox", "echo", "by absolute path"]);
    problems.extend(expect("/bin/busybox echo", &out, b"by absolute path\n", 0));

    let applets = fs::read_dir(root.join("bin")).unwrap().count();
    let out = hull_in_root(&root, &[], &["find", "/bin", "-type", "l"]);
    let links = out.stdout_str().lines().count();
    if links != applets - 1 || out.status != 0 {
        problems.push(format!(
            "find /bin -type l: {links} lines, expected {}\n{}",
            applets - 1,
            out.summary()
        ));
    }

    let out = hull_in_root(&root, &[], &["no-such-program"]);
    if out.status != 127 {
        problems.push(format!(
            "an unknown PROGRAM should end with 127\n{}",
            out.summary()
        ));
    }

    let out = hull_in_root(
        &root,
        &[],
        &[
            "sh",
            "-c",
            "echo $((1+2)) > /tmp/x; read v < /tmp/x; echo \"v=$v\"; echo new > /etc/motd; read m < /etc/motd; echo \"$m\"",
        ],
    );
    problems.extend(expect(
        "sh builtins writing /tmp and /etc (no fork)",
        &out,
        b"v=3\nnew\n",
        0,
    ));

    if let Err(diff) = diff_snapshots(&before, &tree_snapshot(&root, true)) {
        problems.push(format!("the --root tree on the host changed:\n{diff}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    let _ = fs::remove_dir_all(root.parent().unwrap());
}

/// `sh -c 'ls /bin | wc -l'` in a busybox root: the shell forks and execs for the
/// pipeline.
#[test]
fn root_shell_pipeline_needs_fork() {
    let root = busybox_root();
    let entries = fs::read_dir(root.join("bin")).unwrap().count();
    let out = hull_in_root(&root, &[], &["sh", "-c", "ls /bin | wc -l"]);
    let want = format!("{entries}\n");
    if let Some(problem) = expect("sh -c 'ls /bin | wc -l'", &out, want.as_bytes(), 0) {
        panic!("{problem}");
    }
    let _ = fs::remove_dir_all(root.parent().unwrap());
}

/// The whole of /proc walked recursively while threads and processes exist: every
/// directory ends (a thread's `task/TID` has no `task` of its own), and `find` sees each
/// process's and each thread's status once. Under hull only (the host's /proc differs).
#[test]
fn proc_tree_walks_to_the_end() {
    let script = "sleep 5 & ls -laR /proc >/dev/null 2>/tmp/err; echo ls=$?; \
                  find /proc -name status | sort; kill $!";
    let out = hull_tests::hull_raw(
        &[
            "run",
            busybox().to_str().expect("a UTF-8 path"),
            "sh",
            "-c",
            script,
        ],
        std::time::Duration::from_secs(30),
    );
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    // Each process (sh, sleep, find, sort) once, and its one thread under task/.
    let processes: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("/proc/")?.strip_suffix("/status"))
        .filter(|p| !p.contains('/'))
        .collect();
    let ok = out.status == 0
        && lines.first() == Some(&"ls=0")
        && processes.len() >= 2
        && processes.contains(&"1")
        && processes
            .iter()
            .all(|p| lines.contains(&format!("/proc/{p}/task/{p}/status").as_str()))
        && lines.len() == 1 + 2 * processes.len()
        && !text.contains("/task/1/task");
    assert!(ok, "walking /proc under hull\n{}", out.summary());
}
