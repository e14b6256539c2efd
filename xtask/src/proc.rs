//! Running measured processes (with a watchdog) and reading `/proc`.

use std::collections::HashMap;
use std::fs;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::Result;

/// One finished run of a program.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    /// Wall time from just before `spawn` to just after the child was reaped.
    pub wall: Duration,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The watchdog killed the process tree.
    pub timed_out: bool,
}

/// Runs `cmd` to completion with stdin from /dev/null. With `capture`, stdout
/// and stderr are collected; without, both go to /dev/null (the cheapest, and
/// the same for every runner). The process tree is killed after `timeout`.
pub fn run(cmd: &mut Command, capture: bool, timeout: Duration) -> Result<Run> {
    cmd.stdin(Stdio::null());
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
    }

    // The watchdog thread exists before the clock starts, so starting it is
    // not part of the measurement.
    let (pid_tx, pid_rx) = mpsc::channel::<u32>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        let Ok(pid) = pid_rx.recv() else {
            return false;
        };
        match done_rx.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => {
                let pids = kill_tree(pid);
                wait_gone(&pids, Duration::from_secs(10));
                true
            }
            _ => false,
        }
    });

    let t0 = Instant::now();
    let child = cmd.spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            drop(pid_tx);
            let _ = watchdog.join();
            return Err(format!("cannot start {:?}: {e}", cmd.get_program()));
        }
    };
    let _ = pid_tx.send(child.id());
    let out = child.wait_with_output();
    let wall = t0.elapsed();
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let out = out.map_err(|e| format!("waiting for {:?}: {e}", cmd.get_program()))?;
    Ok(Run {
        status: out.status,
        wall,
        stdout: out.stdout,
        stderr: out.stderr,
        timed_out,
    })
}

/// All descendants of `pid` (children, grandchildren, …), from one scan of
/// `/proc`. Sandboxes such as runsc put their helpers in new sessions, so
/// process groups do not find them; parent links do.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_of(p) {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        if let Some(kids) = children.get(&p) {
            out.extend_from_slice(kids);
            todo.extend_from_slice(kids);
        }
    }
    out
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …"; comm may contain spaces and parentheses.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

/// SIGKILLs `pid` and every descendant it has now, and returns those pids.
/// Only ever called on trees that this xtask started.
pub fn kill_tree(pid: u32) -> Vec<u32> {
    let mut pids = descendants(pid);
    pids.push(pid);
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    pids
}

/// Waits (at most `timeout`) until none of `pids` is still running. A killed
/// sandbox can take a moment to tear down its address spaces; measuring the
/// next case meanwhile would measure that too.
pub fn wait_gone(pids: &[u32], timeout: Duration) -> bool {
    let t0 = Instant::now();
    loop {
        let alive = pids.iter().any(|p| {
            fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                // Zombies are done; only their parent's wait is missing.
                let state = stat
                    .rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().next());
                state != Some("Z") && state != Some("X")
            })
        });
        if !alive {
            return true;
        }
        if t0.elapsed() >= timeout {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Memory of a process tree at one instant, summed over its processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemSample {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Proportional set size: shared pages divided among their sharers, so
    /// a sum over processes counts them once. `None` if unreadable.
    pub pss_kib: Option<u64>,
    pub procs: usize,
}

/// Samples `pid` and all its descendants. Fails if `pid` itself is gone.
pub fn sample_tree(pid: u32) -> Result<MemSample> {
    let mut pids = vec![pid];
    pids.extend(descendants(pid));
    let mut s = MemSample {
        pss_kib: Some(0),
        ..MemSample::default()
    };
    for (i, p) in pids.into_iter().enumerate() {
        let Ok(status) = fs::read_to_string(format!("/proc/{p}/status")) else {
            if i == 0 {
                return Err(format!("process {pid} is gone"));
            }
            continue; // a helper that exited meanwhile
        };
        // A kernel thread or zombie has no VmRSS line.
        let Some(rss) = kib_field(&status, "VmRSS:") else {
            if i == 0 {
                return Err(format!("process {pid} has no memory (exited?)"));
            }
            continue;
        };
        s.rss_kib += rss;
        s.hwm_kib += kib_field(&status, "VmHWM:").unwrap_or(rss);
        let pss = fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
            .ok()
            .and_then(|r| kib_field(&r, "Pss:"));
        s.pss_kib = s.pss_kib.zip(pss).map(|(a, b)| a + b);
        s.procs += 1;
    }
    Ok(s)
}

/// The value of a "Name:   123 kB" line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kib_fields() {
        let status = "Name:\tx\nVmHWM:\t    1234 kB\nVmRSS:\t     987 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(987));
        assert_eq!(kib_field(status, "VmHWM:"), Some(1234));
        assert_eq!(kib_field(status, "VmSwap:"), None);
    }

    #[test]
    fn finds_own_children_and_samples_self() {
        let me = std::process::id();
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        assert!(descendants(me).contains(&child.id()));
        assert_eq!(parent_of(child.id()), Some(me));
        let s = sample_tree(child.id()).unwrap();
        assert!(s.rss_kib > 0 && s.procs == 1);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn watchdog_kills_a_hung_program() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let r = run(&mut cmd, true, Duration::from_millis(200)).unwrap();
        assert!(r.timed_out);
        assert!(!r.status.success());
        assert!(r.wall < Duration::from_secs(10));
    }
}
