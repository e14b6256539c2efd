//! POSIX timers (timer_create and friends) on CLOCK_REALTIME, CLOCK_MONOTONIC and
//! CLOCK_BOOTTIME, notifying with a signal (SIGEV_SIGNAL, SIGEV_THREAD_ID) or not at all
//! (SIGEV_NONE). An expiry while the previous signal is still pending counts as an
//! overrun, as Linux counts it.
use crate::errno::{Errno, SysResult};
use crate::process::Kernel;
use crate::sigframe::{SigInfo, code};

const NS: u64 = 1_000_000_000;
const SIGEV_SIGNAL: u32 = 0;
const SIGEV_NONE: u32 = 1;
const SIGEV_THREAD_ID: u32 = 4;
const TIMER_ABSTIME: u64 = 1;

/// One timer of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PosixTimer {
    pub id: u32,
    pub clock: i32,
    pub signo: u32,
    pub value: u64,
    pub notify: u32,
    /// Next expiry (CLOCK_MONOTONIC ns; 0 = disarmed) and period.
    pub deadline: u64,
    pub interval: u64,
    /// Expiries that found the previous signal still pending.
    pub overrun: u32,
}

fn find(k: &mut Kernel, id: i32) -> Result<usize, Errno> {
    k.proc
        .timers
        .iter()
        .position(|t| t.id as i32 == id)
        .ok_or(Errno::EINVAL)
}

fn read_ts(k: &mut Kernel, va: u64) -> Result<u64, Errno> {
    let [s, n] = k.read_words::<2>(va)?;
    if (s as i64) < 0 || n >= NS {
        return Err(Errno::EINVAL);
    }
    Ok(s.saturating_mul(NS).saturating_add(n))
}

/// RLIMIT_SIGPENDING's index.
const RLIMIT_SIGPENDING: usize = 11;

pub fn timer_create(k: &mut Kernel, clock: i32, sevp: u64, timerid: u64) -> SysResult {
    if !matches!(clock, 0 | 1 | 7) {
        return Err(if clock == 2 || clock == 3 {
            Errno::ENOTSUP
        } else {
            Errno::EINVAL
        });
    }
    // Linux charges each timer a queued signal: at most RLIMIT_SIGPENDING of them.
    if k.proc.timers.len() as u64 >= k.proc.rlimits[RLIMIT_SIGPENDING].cur {
        return Err(Errno::EAGAIN);
    }
    crate::fd::kernel_memory_left().map_err(|_| Errno::EAGAIN)?;
    let id = k.proc.timers.iter().map(|t| t.id + 1).max().unwrap_or(0);
    let (value, signo, notify) = if sevp == 0 {
        (id as u64, crate::signal::SIGALRM, SIGEV_SIGNAL)
    } else {
        let [value, w1] = k.read_words::<2>(sevp)?;
        (value, w1 as u32, (w1 >> 32) as u32)
    };
    match notify {
        SIGEV_SIGNAL | SIGEV_THREAD_ID => {
            if !crate::signal::valid(signo) {
                return Err(Errno::EINVAL);
            }
        }
        SIGEV_NONE => {}
        _ => return Err(Errno::EINVAL),
    }
    k.copy_out(timerid, &id.to_le_bytes())?;
    k.proc.timers.push(PosixTimer {
        id,
        clock,
        signo,
        value,
        notify: if notify == SIGEV_NONE {
            SIGEV_NONE
        } else {
            SIGEV_SIGNAL
        },
        ..Default::default()
    });
    Ok(0)
}

/// The current setting: (interval, time left).
fn current(k: &Kernel, t: &PosixTimer) -> [u64; 4] {
    let left = if t.deadline == 0 {
        0
    } else {
        t.deadline.saturating_sub(k.clock.monotonic()).max(1)
    };
    [t.interval / NS, t.interval % NS, left / NS, left % NS]
}

pub fn timer_settime(k: &mut Kernel, id: i32, flags: u64, new: u64, old: u64) -> SysResult {
    let i = find(k, id)?;
    if flags & !TIMER_ABSTIME != 0 {
        return Err(Errno::EINVAL);
    }
    let interval = read_ts(k, new)?;
    let value = read_ts(k, new + 16)?;
    if old != 0 {
        let t = k.proc.timers[i];
        let w = current(k, &t);
        k.write_words(old, &w)?;
    }
    let now = k.clock.monotonic();
    let deadline = if value == 0 {
        0
    } else if flags & TIMER_ABSTIME != 0 {
        let clock_now = if k.proc.timers[i].clock == 0 {
            k.clock.realtime()
        } else {
            now
        };
        now.saturating_add(value.saturating_sub(clock_now)).max(1)
    } else {
        now.saturating_add(value)
    };
    let t = &mut k.proc.timers[i];
    t.deadline = deadline;
    t.interval = interval;
    t.overrun = 0;
    Ok(0)
}

pub fn timer_gettime(k: &mut Kernel, id: i32, cur: u64) -> SysResult {
    let i = find(k, id)?;
    let t = k.proc.timers[i];
    let w = current(k, &t);
    k.write_words(cur, &w)?;
    Ok(0)
}

pub fn timer_getoverrun(k: &mut Kernel, id: i32) -> SysResult {
    let i = find(k, id)?;
    Ok(k.proc.timers[i].overrun as u64)
}

pub fn timer_delete(k: &mut Kernel, id: i32) -> SysResult {
    let i = find(k, id)?;
    k.proc.timers.remove(i);
    Ok(0)
}

/// Fires the expired timers of process `pid` (from the timer check of all processes).
pub fn expire(k: &mut Kernel, pid: u32) {
    let now = k.clock.monotonic();
    let Some(p) = k.process_mut(pid) else {
        return;
    };
    let mut fire = alloc::vec::Vec::new();
    for t in p.timers.iter_mut() {
        if t.deadline == 0 || now < t.deadline {
            continue;
        }
        let missed = (now - t.deadline).checked_div(t.interval).unwrap_or(0);
        t.deadline = if t.interval == 0 {
            0
        } else {
            t.deadline + t.interval * (missed + 1)
        };
        if t.notify == SIGEV_SIGNAL {
            fire.push((t.id, t.signo, t.value, missed as u32));
        }
    }
    for (id, signo, value, missed) in fire {
        let Some(p) = k.process_mut(pid) else {
            return;
        };
        // Still pending from an earlier expiry: count the overrun on it instead.
        if p.signals.bump_timer_overrun(signo, id, missed + 1) {
            if let Some(t) = p.timers.iter_mut().find(|t| t.id == id) {
                t.overrun = t.overrun.saturating_add(missed + 1);
            }
            continue;
        }
        if let Some(t) = p.timers.iter_mut().find(|t| t.id == id) {
            t.overrun = missed;
        }
        let info = SigInfo {
            signo,
            code: code::SI_TIMER,
            pid: id,
            uid: missed,
            value,
            ..Default::default()
        };
        super::task::signal_process(k, pid, info);
    }
}

/// The earliest armed timer of any process (0 = none).
pub fn next_deadline(k: &Kernel) -> u64 {
    core::iter::once(&k.proc)
        .chain(k.others.values())
        .flat_map(|p| p.timers.iter().map(|t| t.deadline))
        .filter(|&d| d != 0)
        .min()
        .unwrap_or(0)
}
