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

/// Halts until CLOCK_MONOTONIC reaches `deadline_ns`.
pub fn sleep_until(k: &mut Kernel, deadline_ns: u64) {
    let now_tsc = platform::rdtsc();
    let now = k.clock.monotonic_at(now_tsc);
    if deadline_ns <= now {
        return;
    }
    let deadline_tsc = k.clock.tsc_after(now_tsc, deadline_ns - now);
    loop {
        let t = platform::rdtsc();
        if t >= deadline_tsc {
            break;
        }
        if k.machine.tsc_deadline {
            platform::set_timer_deadline(deadline_tsc);
            platform::halt_until_interrupt();
        } else {
            core::hint::spin_loop();
        }
        k.machine.idle_ns += k.clock.monotonic_at(platform::rdtsc()) - k.clock.monotonic_at(t);
    }
    platform::set_timer_deadline(0);
}

pub fn nanosleep(k: &mut Kernel, req: u64, _rem: u64) -> SysResult {
    let ns = get_timespec(k, req)?;
    let deadline = k.clock.monotonic().saturating_add(ns);
    sleep_until(k, deadline);
    Ok(0)
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
    sleep_until(k, deadline);
    Ok(0)
}
