//! hull forwards the SIGINT, SIGTERM and SIGHUP it receives to the sandbox (an interrupt
//! the guest answers with the `HostSignals` hypercall), and never lets a guest that does
//! not react keep it alive: a second SIGINT/SIGTERM that the guest has not taken ends hull
//! with 128 + the signal's number, as does a SIGINT/SIGTERM the guest has not taken within
//! 2 s. A program that handles SIGINT gets every one, however quickly they come. A signal
//! hull started with ignored (nohup) stays ignored.
//!
//! These tests signal a running hull, so they drive the process themselves instead of
//! going through the harness's `Run`. Needs the hull binary (`cargo build --release`, or
//! HULL_BIN) and a usable /dev/kvm.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hull_tests::{Outcome, Toolchain, compile, hull_bin, require_kvm, shell_status};

/// How long any run may take before the test kills it (a hang fails the test).
const KILL_TIMEOUT: Duration = Duration::from_secs(20);

fn host_signal() -> PathBuf {
    compile("host_signal", Toolchain::GccStatic)
}

/// A `hull run` in progress.
struct Hull {
    child: Child,
    command: String,
    started: Instant,
    /// stdout so far, when it is being read.
    stdout: Arc<Mutex<Vec<u8>>>,
    /// stdout left unread (the pipe fills up and the guest's writes block).
    unread: Option<ChildStdout>,
    stderr: Option<thread::JoinHandle<Vec<u8>>>,
    out_reader: Option<thread::JoinHandle<()>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stdout {
    Read,
    LeaveUnread,
}

impl Hull {
    /// Starts `hull run PROGRAM ARGS` with `stdout` handling; `ignore_sighup` starts it
    /// with SIGHUP ignored, as `nohup` does.
    fn start(program: &Path, args: &[&str], stdout: Stdout, ignore_sighup: bool) -> Hull {
        require_kvm();
        let hull = hull_bin();
        let mut cmd = Command::new(&hull);
        cmd.arg("run")
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if ignore_sighup {
            // SAFETY: signal(2) is async-signal-safe, as pre_exec requires; it runs in the
            // child between fork and exec and touches no memory of ours.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGHUP, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let command = format!(
            "{} run {} {}{}",
            hull.display(),
            program.display(),
            args.join(" "),
            if ignore_sighup {
                "  [SIGHUP ignored]"
            } else {
                ""
            }
        );
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        let out = child.stdout.take().expect("stdout is piped");
        let collected = Arc::new(Mutex::new(Vec::new()));
        let (unread, out_reader) = match stdout {
            Stdout::LeaveUnread => (Some(out), None),
            Stdout::Read => {
                let sink = Arc::clone(&collected);
                let mut out = out;
                let reader = thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = out.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        sink.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
                (None, Some(reader))
            }
        };
        Hull {
            child,
            command,
            started: Instant::now(),
            stdout: collected,
            unread,
            stderr: Some(stderr),
            out_reader,
        }
    }

    fn stdout_has(&self, needle: &str) -> bool {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).contains(needle)
    }

    /// Waits until stdout shows `needle`; panics (after killing hull) if it never does.
    fn wait_for(mut self, needle: &str) -> Self {
        let deadline = Instant::now() + KILL_TIMEOUT;
        while !self.stdout_has(needle) {
            if Instant::now() > deadline || self.child.try_wait().unwrap().is_some() {
                let out = self.finish();
                panic!("the program never printed {needle:?}\n{}", out.summary());
            }
            thread::sleep(Duration::from_millis(10));
        }
        self
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends `sig` to hull (not to its process group: as `kill PID` does).
    fn signal(&mut self, sig: i32) {
        if self.running() {
            // SAFETY: kill(2) touches no memory; the child has not been reaped (try_wait
            // above saw it running), so its pid is still its own.
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        }
    }

    /// Waits for hull to end (killing it after the kill timeout) and collects the run.
    fn finish(mut self) -> Outcome {
        let deadline = self.started + KILL_TIMEOUT;
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                timed_out = true;
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = self.started.elapsed();
        drop(self.unread.take());
        if let Some(r) = self.out_reader.take() {
            r.join().expect("stdout reader");
        }
        let stderr = self.stderr.take().unwrap().join().expect("stderr reader");
        let stdout = self.stdout.lock().unwrap().clone();
        Outcome {
            stdout,
            stderr,
            status: shell_status(status),
            signal: status.signal(),
            timed_out,
            elapsed,
            command: self.command,
        }
    }
}

fn fail(what: &str, outcome: &Outcome) -> ! {
    panic!("{what}\n{}", outcome.summary());
}

fn assert_sane(what: &str, out: &Outcome) {
    if out.timed_out {
        fail(&format!("{what}: hull did not end"), out);
    }
    if out.panicked() {
        fail(&format!("{what}: hull panicked"), out);
    }
}

/// A sleeping program, then `sig` twice 300 ms apart: whatever the guest does with the
/// first (the program dies of it, or the guest ignores it, or never takes it), hull ends
/// with 128 + sig by the second at the latest.
fn twice(sig: i32) {
    let bin = host_signal();
    let mut hull = Hull::start(&bin, &["sleep", "30000"], Stdout::Read, false).wait_for("ready");
    let first = Instant::now();
    hull.signal(sig);
    thread::sleep(Duration::from_millis(300));
    hull.signal(sig);
    let out = hull.finish();
    let what = format!("two {} to a sleeping program", hull_tests::signal_name(sig));
    assert_sane(&what, &out);
    if out.status != 128 + sig {
        fail(&format!("{what}: expected status {}", 128 + sig), &out);
    }
    if out.signal.is_some() {
        fail(
            &format!("{what}: hull died of the signal instead of handling it"),
            &out,
        );
    }
    if first.elapsed() > Duration::from_secs(2) {
        fail(
            &format!("{what}: the second signal did not end hull at once"),
            &out,
        );
    }
    if out.stdout_str() != "ready\n" {
        fail(&format!("{what}: unexpected output"), &out);
    }
}

#[test]
fn two_sigterms_end_hull() {
    twice(libc::SIGTERM);
}

#[test]
fn two_sigints_end_hull() {
    twice(libc::SIGINT);
}

/// A program that handles SIGINT gets each one, as natively (a shell or a REPL takes many
/// Ctrl-Cs): three in quick succession, each sent once the previous was handled.
#[test]
fn a_program_that_handles_sigint_gets_every_one() {
    let bin = host_signal();
    let mut hull = Hull::start(&bin, &["count", "3"], Stdout::Read, false).wait_for("ready");
    for n in 1..=3 {
        hull.signal(libc::SIGINT);
        hull = hull.wait_for(&format!("SIGINT {n}"));
    }
    let out = hull.finish();
    let what = "three SIGINTs to a program that handles them";
    assert_sane(what, &out);
    if out.status != 0 || out.stdout_str() != "ready\nSIGINT 1\nSIGINT 2\nSIGINT 3\n" {
        fail(&format!("{what}: expected three handled and exit 0"), &out);
    }
}

/// A program blocked writing to a full pipe: the guest cannot take the interrupt while
/// hull waits in the host's write, so a single SIGTERM ends hull after the grace period
/// (or at once, if the guest takes it).
#[test]
fn a_sigterm_the_guest_cannot_take_ends_hull_after_the_grace_period() {
    let bin = compile("yes", Toolchain::GccStatic);
    let mut hull = Hull::start(&bin, &[], Stdout::LeaveUnread, false);
    // Let the 64 KiB pipe fill.
    thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    hull.signal(libc::SIGTERM);
    let out = hull.finish();
    let what = "one SIGTERM to a program blocked on a full stdout pipe";
    assert_sane(what, &out);
    if out.status != 128 + libc::SIGTERM || out.signal.is_some() {
        fail(&format!("{what}: expected exit status 143"), &out);
    }
    if sent.elapsed() > Duration::from_secs(5) {
        fail(&format!("{what}: took far longer than the 2 s grace"), &out);
    }
    if out.hull_lines().is_empty() {
        fail(&format!("{what}: no `hull: ` line says why"), &out);
    }
}

/// hull's signal dispositions, from /proc: (caught, ignored) masks, bit N-1 for signal N.
fn dispositions(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    (field("SigCgt:"), field("SigIgn:"))
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// hull catches the three signals once the sandbox runs; under `nohup` SIGHUP stays
/// ignored (and so is not forwarded).
fn check_dispositions(ignore_sighup: bool) {
    let bin = host_signal();
    let mut hull = Hull::start(&bin, &["handle"], Stdout::Read, ignore_sighup).wait_for("ready");
    let (caught, ignored) = dispositions(hull.child.id());
    hull.signal(libc::SIGTERM);
    thread::sleep(Duration::from_millis(300));
    hull.signal(libc::SIGTERM);
    let out = hull.finish();
    let what = if ignore_sighup {
        "hull started with SIGHUP ignored"
    } else {
        "hull"
    };
    assert_sane(what, &out);
    let forwarded = bit(libc::SIGINT) | bit(libc::SIGTERM);
    if caught & forwarded != forwarded {
        fail(
            &format!("{what}: SIGINT and SIGTERM are not caught (SigCgt {caught:#x})"),
            &out,
        );
    }
    let hup = (
        caught & bit(libc::SIGHUP) != 0,
        ignored & bit(libc::SIGHUP) != 0,
    );
    if hup != (!ignore_sighup, ignore_sighup) {
        fail(
            &format!(
                "{what}: SIGHUP caught/ignored is {hup:?} (SigCgt {caught:#x}, SigIgn {ignored:#x})"
            ),
            &out,
        );
    }
}

#[test]
fn the_three_signals_are_caught() {
    check_dispositions(false);
}

/// `nohup hull run …`: SIGHUP stays ignored.
#[test]
fn sighup_ignored_at_start_stays_ignored() {
    check_dispositions(true);
}

/// The whole path: hull receives the signal, the guest takes the interrupt, asks with
/// `HostSignals` and delivers the signal to init, whose handler runs.
fn reaches_the_handler(sig: i32) {
    let bin = host_signal();
    let mut hull = Hull::start(&bin, &["handle"], Stdout::Read, false).wait_for("ready");
    hull.signal(sig);
    let out = hull.finish();
    let name = hull_tests::signal_name(sig);
    let what = format!("{name} to a program that handles it");
    assert_sane(&what, &out);
    if out.status != 0 || out.stdout_str() != format!("ready\ngot {name}\n") {
        fail(&format!("{what}: the handler did not run"), &out);
    }
    if out.elapsed > Duration::from_secs(2) {
        fail(&format!("{what}: took too long"), &out);
    }
}

#[test]

fn sigterm_reaches_the_programs_handler() {
    reaches_the_handler(libc::SIGTERM);
}

#[test]

fn sigint_reaches_the_programs_handler() {
    reaches_the_handler(libc::SIGINT);
}

#[test]

fn sighup_reaches_the_programs_handler() {
    reaches_the_handler(libc::SIGHUP);
}

#[test]
fn run_help_describes_the_signals() {
    let out = hull_tests::hull_raw(&["run", "--help"], Duration::from_secs(10));
    let help = out.stdout_str();
    for word in ["SIGINT", "SIGTERM", "SIGHUP"] {
        if !help.contains(word) {
            fail(&format!("`hull run --help` does not mention {word}"), &out);
        }
    }
}
