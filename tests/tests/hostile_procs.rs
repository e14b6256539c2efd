//! Hostile process workloads (issue 4), under hull: fork bombs and thread storms against
//! `--pids`, runaway processes against `--timeout`, a signal storm, a copy-on-write storm
//! against `--memory`, and `kill(-1)` from pid 1. hull must end each one with the
//! documented status, never hang, never panic, and never report a guest-kernel failure
//! (status 124).
//!
//! The fork bomb and `kill(-1)` programs refuse to run unless they are pid 1, so they
//! cannot hurt the host if run natively by mistake.
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN) and a usable /dev/kvm.

use std::time::Duration;

use hull_tests::procs::assert_sane;
use hull_tests::{Case, Outcome, Run, Toolchain, compile, differential};

/// The kill timeout for runs that should end quickly on their own.
const QUICK: Duration = Duration::from_secs(60);

/// The toolchains the hull-only tests use: one glibc, one musl.
const TOOLCHAINS: [Toolchain; 2] = [Toolchain::GccStatic, Toolchain::MuslStatic];

fn fail(what: &str, out: &Outcome) -> ! {
    panic!("{what}\n{}", out.summary());
}

/// The number after `prefix` on the stdout line that starts with it.
fn number_after(out: &Outcome, prefix: &str) -> Option<u64> {
    out.stdout_str().lines().find_map(|l| {
        l.strip_prefix(prefix)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

fn forkbomb(mode: &str, flags: &[&str], toolchain: Toolchain) -> Outcome {
    let bin = compile("proc_forkbomb", toolchain);
    let mut run = Run::new().arg(mode).kill_timeout(QUICK);
    for f in flags {
        run = run.hull_flag(f);
    }
    run.hull(&bin)
}

/// `--pids 64`: a process forking until fork fails must see EAGAIN after at most 63
/// children (it is the 64th task), reap them all, fork again, and exit 0; hull exits with
/// that status.
#[test]
fn fork_until_eagain_under_pids_limit() {
    for tc in TOOLCHAINS {
        let out = forkbomb("count", &["--pids", "64"], tc);
        let what = format!("[{}] proc_forkbomb count under --pids 64", tc.name());
        assert_sane(&what, &out);
        let Some(n) = number_after(&out, "fork failed with EAGAIN after ") else {
            fail(&format!("{what}: fork never failed with EAGAIN"), &out);
        };
        if !(1..=63).contains(&n) {
            fail(
                &format!("{what}: {n} children, expected 1..=63 under --pids 64"),
                &out,
            );
        }
        let want_tail = format!("reaped {n} children that exited 0\nfork works again: yes\n");
        if out.status != 0 || !out.stdout_str().ends_with(&want_tail) {
            fail(
                &format!("{what}: expected status 0 and a tail of {want_tail:?}"),
                &out,
            );
        }
    }
}

/// `--pids 64` counts threads too: pthread_create until it fails must fail with EAGAIN
/// after at most 63 threads, and the program joins them and exits 0.
#[test]
fn thread_storm_under_pids_limit() {
    for tc in TOOLCHAINS {
        let out = forkbomb("threads", &["--pids", "64"], tc);
        let what = format!("[{}] proc_forkbomb threads under --pids 64", tc.name());
        assert_sane(&what, &out);
        let Some(n) = number_after(&out, "pthread_create failed with EAGAIN after ") else {
            fail(
                &format!("{what}: pthread_create never failed with EAGAIN"),
                &out,
            );
        };
        if !(1..=63).contains(&n) {
            fail(
                &format!("{what}: {n} threads, expected 1..=63 under --pids 64"),
                &out,
            );
        }
        let want_tail = format!("joined {n} threads\npthread_create works again: yes\n");
        if out.status != 0 || !out.stdout_str().ends_with(&want_tail) {
            fail(
                &format!("{what}: expected status 0 and a tail of {want_tail:?}"),
                &out,
            );
        }
    }
}

/// A classic fork bomb (every process forks forever) under `--pids 64 --timeout 3s`:
/// ended with 137 within a few seconds of the timeout, the sandbox still responsive.
#[test]
fn fork_bomb_ends_at_timeout() {
    let out = forkbomb(
        "bomb",
        &["--pids", "64", "--timeout", "3s"],
        Toolchain::GccStatic,
    );
    let what = "proc_forkbomb bomb under --pids 64 --timeout 3s";
    assert_sane(what, &out);
    if out.status != 137 {
        fail(&format!("{what}: expected status 137"), &out);
    }
    if out.elapsed < Duration::from_millis(2900) || out.elapsed > Duration::from_secs(15) {
        fail(
            &format!("{what}: ended after {:.1?}, not about 3 s", out.elapsed),
            &out,
        );
    }
    if !out.stdout_str().starts_with("bombing\n") {
        fail(&format!("{what}: the first line was lost"), &out);
    }
}

/// Five processes that never end (busy, syscall loop, pause, every signal blocked and
/// ignored, and the root itself) under `--timeout 2s`: status 137 within a few seconds,
/// the output written before the timeout kept, a `hull: ` line on stderr.
#[test]
fn runaway_processes_end_at_timeout() {
    for tc in TOOLCHAINS {
        let bin = compile("proc_spinners", tc);
        let out = Run::new()
            .hull_flag("--timeout")
            .hull_flag("2s")
            .kill_timeout(QUICK)
            .hull(&bin);
        let what = format!("[{}] proc_spinners under --timeout 2s", tc.name());
        assert_sane(&what, &out);
        if out.status != 137 {
            fail(&format!("{what}: expected status 137"), &out);
        }
        if out.elapsed < Duration::from_millis(1900) || out.elapsed > Duration::from_secs(10) {
            fail(
                &format!("{what}: ended after {:.1?}, not about 2 s", out.elapsed),
                &out,
            );
        }
        if out.stdout_str() != "4 children spinning\n" {
            fail(
                &format!("{what}: output written before the timeout was lost"),
                &out,
            );
        }
        if out.hull_lines().is_empty() {
            fail(&format!("{what}: no `hull: ` line on stderr"), &out);
        }
    }
}

/// A child sends 20000 signals to its parent while the parent computes and reads a pipe;
/// the parent finishes with the right checksum and exits 0 (differential: the result
/// is the same natively).
#[test]
fn signal_storm() {
    differential("sig2_storm", &[Case::new("", Run::new())]);
}

/// A 64 MiB dirty heap forked into four children that each rewrite every page, with the
/// default memory: every child succeeds and the parent's copy is intact.
#[test]
fn cow_storm_default_memory() {
    for tc in TOOLCHAINS {
        let bin = compile("proc_cow", tc);
        let out = Run::new().kill_timeout(QUICK).hull(&bin);
        let what = format!("[{}] proc_cow with the default --memory", tc.name());
        assert_sane(&what, &out);
        let want = "parent dirtied 64 MiB\nchildren: 4 wrote and checked their copy, 0 killed by \
                    SIGKILL, 0 other\nthe parent's copy is intact: yes\n";
        if out.status != 0 || out.stdout_str() != want {
            fail(
                &format!("{what}: expected status 0 and every child to succeed"),
                &out,
            );
        }
    }
}

/// The same storm in `--memory 128M` (the copies need about 320 MiB): either it fits, or
/// the out-of-memory ends it, as a child killed by SIGKILL or the whole run with 137.
/// Never a guest-kernel failure (124), a hang or a panic, and never a corrupted copy.
#[test]
fn cow_storm_small_memory() {
    for tc in TOOLCHAINS {
        let bin = compile("proc_cow", tc);
        let out = Run::new()
            .hull_flag("--memory")
            .hull_flag("128M")
            .kill_timeout(QUICK)
            .hull(&bin);
        let what = format!("[{}] proc_cow under --memory 128M", tc.name());
        assert_sane(&what, &out);
        match out.status {
            137 => {}
            0 => {
                let text = out.stdout_str();
                if !text.contains(" 0 other\n")
                    || !text.ends_with("the parent's copy is intact: yes\n")
                {
                    fail(
                        &format!("{what}: status 0 but a child failed otherwise than by SIGKILL"),
                        &out,
                    );
                }
            }
            _ => fail(
                &format!("{what}: expected status 0 (children OOM-killed at worst) or 137"),
                &out,
            ),
        }
    }
}

/// kill(-1, sig) as Linux defines it, from pid 1 (the sandbox's first process) and from
/// another process: every process but the sender and pid 1. Checked against fixed
/// output, as kill(-1) cannot be run natively.
#[test]
fn kill_minus_one_from_pid_1() {
    let want = "sender (0: kill(-1) succeeded, not delivered to itself): exited 0\n\
                listeners that got the sender's SIGUSR1: 3\n\
                the root (pid 1) got SIGUSR1 from kill(-1): 0 times\n\
                kill(-1, SIGTERM) from pid 1 = 0 0\n\
                listener 0: killed SIGTERM\n\
                listener 1: killed SIGTERM\n\
                listener 2: killed SIGTERM\n\
                kill(-1, SIGTERM) with no other process = -1 ESRCH\n\
                the root survived its own kill(-1)\n\
                all checks passed\n";
    for tc in Toolchain::ALL {
        let bin = compile("proc_killall", tc);
        let out = Run::new().kill_timeout(QUICK).hull(&bin);
        let what = format!("[{}] proc_killall", tc.name());
        assert_sane(&what, &out);
        if out.status != 0 || out.stdout_str() != want {
            panic!(
                "{what}: expected status 0 and the stdout below\n{}\n{}",
                hull_tests::render_diff(
                    "stdout (- expected, + hull)",
                    want.as_bytes(),
                    &out.stdout
                ),
                out.summary()
            );
        }
    }
}

/// Storms of kernel objects cannot end the sandbox: empty files in /tmp until creation
/// fails (ENOSPC), which are then removed, single-page mappings until mmap fails
/// (ENOMEM, past the map count or the kernel heap), byte-range locks (ENOLCK), POSIX
/// timers (EAGAIN at RLIMIT_SIGPENDING), then pipes holding 64 KiB each in 40 processes
/// until each fails (ENFILE, EMFILE or ENOMEM); the program then carries on and exits 0.
#[test]
fn kernel_object_storms_end_in_errors() {
    for tc in TOOLCHAINS {
        // A small sandbox: a 2 MiB kernel heap, so the storms are short.
        let out = Run::new()
            .kill_timeout(Duration::from_secs(120))
            .hull_flag("--memory")
            .hull_flag("64M")
            .hull_flag("--timeout")
            .hull_flag("100s")
            .hull(&compile("proc_kheap_storm", tc));
        let what = format!("[{}] proc_kheap_storm", tc.name());
        assert_sane(&what, &out);
        let want = "file storm stopped by ENOSPC\nfiles created: many\n\
                    every file removed: ok\nfiles can be created again: ok\n\
                    mapping storm stopped by ENOMEM\nevery mapping unmapped: ok\n\
                    mmap works again: ok\n\
                    lock storm stopped by ENOLCK\nlocks work again: ok\n\
                    timer storm stopped by EAGAIN after 4096\n\
                    pipe storm: 0 processes ended otherwise than EMFILE/ENFILE/ENOMEM\n\
                    pipes work again after the storm: ok\nall checks passed\n";
        if out.status != 0 || out.stdout_str() != want {
            fail(&format!("{what}: expected status 0 and {want:?}"), &out);
        }
    }
}
