//! Clocks and sleeping, all served in the guest from the calibrated TSC. Sleeping halts
//! the vCPU with the APIC timer armed, so it costs the host nothing.
use crate::errno::{Errno, SysResult};
use crate::platform;
use crate::process::Kernel;

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
pub const CLOCK_MONOTONIC_RAW: i32 = 4;
pub const CLOCK_REALTIME_COARSE: i32 = 5;
pub const CLOCK_MONOTONIC_COARSE: i32 = 6;
pub const CLOCK_BOOTTIME: i32 = 7;
pub const CLOCK_TAI: i32 = 11;

const NS: u64 = 1_000_000_000;

/// The value of clock `id` in ns.
pub fn clock_ns(k: &Kernel, id: i32) -> Result<u64, Errno> {
    Ok(match id {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => k.clock.realtime(),
        CLOCK_TAI => k.clock.realtime() + 37 * NS,
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            k.clock.monotonic()
        }
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => k.cpu_time_ns(),
        _ => return Err(Errno::EINVAL),
    })
}

fn put_timespec(k: &mut Kernel, va: u64, ns: u64) -> Result<(), Errno> {
    k.write_words(va, &[ns / NS, ns % NS])
}

fn get_timespec(k: &mut Kernel, va: u64) -> Result<u64, Errno> {
    let [s, n] = k.read_words::<2>(va)?;
    if (s as i64) < 0 || n >= NS {
        return Err(Errno::EINVAL);
    }
    Ok(s.saturating_mul(NS).saturating_add(n))
}

pub fn clock_gettime(k: &mut Kernel, id: i32, tp: u64) -> SysResult {
    let ns = clock_ns(k, id)?;
    put_timespec(k, tp, ns)?;
    Ok(0)
}

pub fn clock_getres(k: &mut Kernel, id: i32, res: u64) -> SysResult {
    clock_ns(k, id)?;
    let r = if matches!(id, CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE) {
        4_000_000
    } else {
        1
    };
    if res != 0 {
        put_timespec(k, res, r)?;
    }
    Ok(0)
}

pub fn gettimeofday(k: &mut Kernel, tv: u64, tz: u64) -> SysResult {
    let ns = k.clock.realtime();
    if tv != 0 {
        k.write_words(tv, &[ns / NS, (ns % NS) / 1000])?;
    }
    if tz != 0 {
        k.copy_out(tz, &[0u8; 8])?;
    }
    Ok(0)
}

pub fn time(k: &mut Kernel, tloc: u64) -> SysResult {
    let s = k.clock.realtime() / NS;
    if tloc != 0 {
        k.write_words(tloc, &[s])?;
    }
    Ok(s)
}

/// Raises SIGALRM on every process whose ITIMER_REAL expired, and rearms periodic ones.
pub fn check_timers(k: &mut Kernel) {
    let now = k.clock.monotonic();
    let due: alloc::vec::Vec<u32> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| p.itimer.deadline != 0 && now >= p.itimer.deadline)
        .map(|p| p.pid)
        .collect();
    let with_timers: alloc::vec::Vec<u32> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| {
            p.timers
                .iter()
                .any(|t| t.deadline != 0 && now >= t.deadline)
        })
        .map(|p| p.pid)
        .collect();
    for pid in with_timers {
        super::timers::expire(k, pid);
    }
    for pid in due {
        let Some(p) = k.process_mut(pid) else {
            continue;
        };
        let t = p.itimer;
        // Skip periods that were missed entirely, as Linux does.
        p.itimer.deadline = if t.interval == 0 {
            0
        } else {
            t.deadline + t.interval * ((now - t.deadline) / t.interval + 1)
        };
        let info = crate::sigframe::SigInfo {
            signo: crate::signal::SIGALRM,
            code: crate::sigframe::code::SI_KERNEL,
            ..Default::default()
        };
        super::task::signal_process(k, pid, info);
    }
}

/// Arms the APIC timer for the ITIMER_REAL deadline while user code runs (or disarms
/// it), writing the deadline MSR only when it changes.
pub fn arm_user_timer(k: &mut Kernel) {
    // The earliest of: any interval timer or timed wait, and the end of this slice when
    // another task is waiting to run.
    let mut due = k.next_deadline();
    if !k.sched.queue.is_empty() {
        due = if due == 0 {
            k.sched.slice_end
        } else {
            due.min(k.sched.slice_end)
        };
    }
    if due == 0 || !k.machine.tsc_deadline {
        // Nothing due. A deadline still armed is left to fire: its interrupt finds nothing
        // to do and arms nothing, which costs less than a disarming write on every switch
        // (each write is an exit under PVM).
        return;
    }
    let now_tsc = platform::rdtsc();
    let now = k.clock.monotonic_at(now_tsc);
    let want = k.clock.tsc_after(now_tsc, due.saturating_sub(now)).max(1);
    // An armed deadline that is still ahead and not later than wanted is kept: at worst it
    // fires a little early and the interrupt arms the right one. Time slices restart at
    // every switch, so this spares a write per switch.
    let armed = k.machine.armed_tsc;
    if armed != 0 && armed != u64::MAX && armed > now_tsc && armed <= want {
        return;
    }
    platform::set_timer_deadline(want);
    k.machine.armed_tsc = want;
}

/// Halts the vCPU until CLOCK_MONOTONIC reaches `deadline_ns` (`u64::MAX`: no deadline)
/// or an interrupt arrives, whichever is first.
pub fn halt_until(k: &mut Kernel, deadline_ns: u64) {
    let now_tsc = platform::rdtsc();
    let now = k.clock.monotonic_at(now_tsc);
    if now >= deadline_ns {
        return;
    }
    if k.machine.tsc_deadline {
        if deadline_ns != u64::MAX {
            let wake_tsc = k.clock.tsc_after(now_tsc, deadline_ns - now);
            platform::set_timer_deadline(wake_tsc.max(1));
        }
        k.machine.armed_tsc = u64::MAX; // unknown: rearm before returning to user
        platform::halt_until_interrupt();
    } else {
        core::hint::spin_loop();
    }
}

fn put_remaining(k: &mut Kernel, rem: u64, deadline: u64) -> Result<(), Errno> {
    if rem != 0 {
        let left = deadline.saturating_sub(k.clock.monotonic());
        put_timespec(k, rem, left)?;
    }
    Ok(())
}

/// Sleeps until the CLOCK_MONOTONIC `deadline` (kept across the restarts of the wait).
/// A signal handler ends the sleep with EINTR (and `rem`, if given, the time left).
fn sleep(k: &mut Kernel, deadline: u64, rem: u64) -> SysResult {
    let deadline = *k.proc.restart_deadline.get_or_insert(deadline);
    if k.clock.monotonic() >= deadline {
        return Ok(0);
    }
    k.proc.sleep_rem = (rem != 0).then_some((rem, deadline));
    Err(k.block(crate::sched::Wait::Sleep, deadline))
}

pub fn nanosleep(k: &mut Kernel, req: u64, rem: u64) -> SysResult {
    let deadline = match k.proc.restart_deadline {
        Some(d) => d,
        None => {
            let ns = get_timespec(k, req)?;
            k.clock.monotonic().saturating_add(ns)
        }
    };
    sleep(k, deadline, rem)
}

/// Writes the time a sleep had left when a signal interrupted it.
pub fn interrupted_sleep(k: &mut Kernel) {
    if let Some((rem, deadline)) = k.proc.sleep_rem.take() {
        let _ = put_remaining(k, rem, deadline);
    }
}

/// `pause`: sleeps until a signal arrives.
pub fn pause(k: &mut Kernel) -> SysResult {
    Err(k.block(crate::sched::Wait::Signal, 0))
}

/// `setitimer`/`getitimer` for ITIMER_REAL (the profiling timers are not kept).
pub fn setitimer(k: &mut Kernel, which: u64, new: u64, old: u64) -> SysResult {
    if which != 0 {
        return Err(if which <= 2 {
            Errno::ENOSYS
        } else {
            Errno::EINVAL
        });
    }
    let cur = k.proc.itimer;
    if old != 0 {
        let left = if cur.deadline == 0 {
            0
        } else {
            cur.deadline.saturating_sub(k.clock.monotonic()).max(1000)
        };
        k.write_words(
            old,
            &[
                cur.interval / NS,
                (cur.interval % NS) / 1000,
                left / NS,
                (left % NS) / 1000,
            ],
        )?;
    }
    if new != 0 {
        let [is, iu, vs, vu] = k.read_words::<4>(new)?;
        if (is as i64) < 0 || (vs as i64) < 0 || iu >= 1_000_000 || vu >= 1_000_000 {
            return Err(Errno::EINVAL);
        }
        let interval = is.saturating_mul(NS).saturating_add(iu * 1000);
        let value = vs.saturating_mul(NS).saturating_add(vu * 1000);
        k.proc.itimer = crate::process::ITimer {
            deadline: if value == 0 {
                0
            } else {
                k.clock.monotonic().saturating_add(value)
            },
            interval,
        };
    }
    Ok(0)
}

/// `alarm`: ITIMER_REAL in whole seconds; returns the seconds that were left.
pub fn alarm(k: &mut Kernel, secs: u64) -> SysResult {
    let cur = k.proc.itimer.deadline;
    let left = if cur == 0 {
        0
    } else {
        cur.saturating_sub(k.clock.monotonic()).div_ceil(NS).max(1)
    };
    let secs = secs as u32 as u64;
    k.proc.itimer = crate::process::ITimer {
        deadline: if secs == 0 {
            0
        } else {
            k.clock.monotonic() + secs * NS
        },
        interval: 0,
    };
    Ok(left)
}

pub fn clock_nanosleep(k: &mut Kernel, id: i32, flags: u64, req: u64, _rem: u64) -> SysResult {
    const TIMER_ABSTIME: u64 = 1;
    match id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_TAI => {}
        CLOCK_THREAD_CPUTIME_ID => return Err(Errno::EINVAL),
        CLOCK_PROCESS_CPUTIME_ID => return Err(Errno::ENOTSUP),
        _ => return Err(Errno::EINVAL),
    }
    let deadline = match k.proc.restart_deadline {
        Some(d) => d,
        None => {
            let ns = get_timespec(k, req)?;
            let now = clock_ns(k, id)?;
            let wait = if flags & TIMER_ABSTIME != 0 {
                ns.saturating_sub(now)
            } else {
                ns
            };
            k.clock.monotonic().saturating_add(wait)
        }
    };
    sleep(
        k,
        deadline,
        if flags & TIMER_ABSTIME == 0 { _rem } else { 0 },
    )
}
