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

/// Raises SIGALRM if the ITIMER_REAL timer expired, and rearms a periodic one.
pub fn check_timers(k: &mut Kernel) {
    let t = k.proc.itimer;
    if t.deadline != 0 && k.clock.monotonic() >= t.deadline {
        let next = if t.interval == 0 {
            0
        } else {
            // Skip periods that were missed entirely, as Linux does.
            let now = k.clock.monotonic();
            t.deadline + t.interval * ((now - t.deadline) / t.interval + 1)
        };
        k.proc.itimer.deadline = next;
        k.proc.signals.raise_with(crate::sigframe::SigInfo {
            signo: crate::signal::SIGALRM,
            code: crate::sigframe::code::SI_KERNEL,
            ..Default::default()
        });
    }
}

/// Arms the APIC timer for the ITIMER_REAL deadline while user code runs (or disarms
/// it), writing the deadline MSR only when it changes.
pub fn arm_user_timer(k: &mut Kernel) {
    let want = match k.proc.itimer.deadline {
        0 => 0,
        d => {
            let now_tsc = platform::rdtsc();
            let now = k.clock.monotonic_at(now_tsc);
            k.clock.tsc_after(now_tsc, d.saturating_sub(now)).max(1)
        }
    };
    if want != k.machine.armed_tsc && k.machine.tsc_deadline {
        platform::set_timer_deadline(want);
        k.machine.armed_tsc = want;
    }
}

/// Halts until CLOCK_MONOTONIC reaches `deadline_ns`, or until a signal is pending that
/// would interrupt the sleep (then returns true, and the caller answers EINTR).
pub fn sleep_until(k: &mut Kernel, deadline_ns: u64) -> bool {
    loop {
        check_timers(k);
        if k.proc.signals.pending & !k.proc.signals.blocked != 0 {
            return true;
        }
        let now_tsc = platform::rdtsc();
        let now = k.clock.monotonic_at(now_tsc);
        if now >= deadline_ns {
            return false;
        }
        let wake = match k.proc.itimer.deadline {
            0 => deadline_ns,
            d => d.min(deadline_ns),
        };
        let wake_tsc = k.clock.tsc_after(now_tsc, wake.saturating_sub(now));
        if k.machine.tsc_deadline {
            if wake != u64::MAX {
                platform::set_timer_deadline(wake_tsc.max(1));
            }
            k.machine.armed_tsc = u64::MAX; // unknown: rearm before returning to user
            platform::halt_until_interrupt();
        } else {
            core::hint::spin_loop();
        }
        k.machine.idle_ns += k.clock.monotonic_at(platform::rdtsc()).saturating_sub(now);
    }
}

fn put_remaining(k: &mut Kernel, rem: u64, deadline: u64) -> Result<(), Errno> {
    if rem != 0 {
        let left = deadline.saturating_sub(k.clock.monotonic());
        put_timespec(k, rem, left)?;
    }
    Ok(())
}

pub fn nanosleep(k: &mut Kernel, req: u64, rem: u64) -> SysResult {
    let ns = get_timespec(k, req)?;
    let deadline = k.clock.monotonic().saturating_add(ns);
    if sleep_until(k, deadline) {
        put_remaining(k, rem, deadline)?;
        return Err(Errno::EINTR);
    }
    Ok(0)
}

/// `pause`: sleeps until a signal arrives.
pub fn pause(k: &mut Kernel) -> SysResult {
    while !sleep_until(k, u64::MAX) {}
    Err(Errno::EINTR)
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
    let ns = get_timespec(k, req)?;
    let now = clock_ns(k, id)?;
    let wait = if flags & TIMER_ABSTIME != 0 {
        ns.saturating_sub(now)
    } else {
        ns
    };
    let deadline = k.clock.monotonic().saturating_add(wait);
    if sleep_until(k, deadline) {
        if flags & TIMER_ABSTIME == 0 {
            put_remaining(k, _rem, deadline)?;
        }
        return Err(Errno::EINTR);
    }
    Ok(0)
}
