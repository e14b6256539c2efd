//! Process identity and limits, system information, thread-area setup, randomness, and
//! the single-threaded futex.
use crate::errno::{Errno, SysResult};
use crate::hypercall;
use crate::process::{Kernel, RLIM_NLIMITS, RLIMIT_NOFILE, Rlimit};
use hull_arch::abi::ExitKind;
use hull_arch::layout::USER_END;

pub fn exit_group(_k: &mut Kernel, status: u64) -> SysResult {
    hypercall::exit(ExitKind::Exited, status & 0xff, None, 0, b"")
}

pub fn uname(k: &mut Kernel, buf: u64) -> SysResult {
    let fields: [&[u8]; 6] = [
        b"Linux",
        b"hull",
        b"6.1.0-hull",
        b"#1 SMP PREEMPT_DYNAMIC hull",
        b"x86_64",
        b"(none)",
    ];
    let mut b = [0u8; 6 * 65];
    for (i, f) in fields.iter().enumerate() {
        b[65 * i..65 * i + f.len()].copy_from_slice(f);
    }
    k.copy_out(buf, &b)?;
    Ok(0)
}

fn check_pid(k: &Kernel, pid: i32) -> Result<(), Errno> {
    if pid == 0 || k.process(pid as u32).is_some() {
        Ok(())
    } else if pid < 0 {
        Err(Errno::EINVAL)
    } else {
        Err(Errno::ESRCH)
    }
}

/// The process a sched_* call names (0 = the caller).
fn sched_target(k: &Kernel, pid: i32) -> Result<u32, Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let pid = if pid == 0 { k.proc.pid } else { pid as u32 };
    match k.process(pid) {
        Some(p) if p.state != crate::sched::TaskState::Zombie => Ok(pid),
        _ => Err(Errno::ESRCH),
    }
}

/// Priority range of a policy: SCHED_FIFO and SCHED_RR 1..99, the others 0..0.
fn prio_range(policy: i32) -> Result<(u64, u64), Errno> {
    match policy {
        1 | 2 => Ok((1, 99)),
        0 | 3 | 5 => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

pub fn sched_get_priority(policy: i32, max: bool) -> SysResult {
    let (lo, hi) = prio_range(policy)?;
    Ok(if max { hi } else { lo })
}

pub fn sched_getscheduler(k: &mut Kernel, pid: i32) -> SysResult {
    let pid = sched_target(k, pid)?;
    Ok(k.process(pid).map_or(0, |p| p.sched_policy.0) as u64)
}

pub fn sched_getparam(k: &mut Kernel, pid: i32, param: u64) -> SysResult {
    let pid = sched_target(k, pid)?;
    let prio = k.process(pid).map_or(0, |p| p.sched_policy.1);
    k.copy_out(param, &prio.to_le_bytes())?;
    Ok(0)
}

/// sched_setscheduler (and sched_setparam, `policy` None): recorded; real-time policies
/// need root, as on Linux.
pub fn sched_setscheduler(k: &mut Kernel, pid: i32, policy: Option<i32>, param: u64) -> SysResult {
    let pid = sched_target(k, pid)?;
    let mut b = [0u8; 4];
    k.copy_in(param, &mut b)?;
    let prio = u32::from_le_bytes(b);
    let policy = match policy {
        Some(p) => p & !0x4000_0000, // SCHED_RESET_ON_FORK
        None => k.process(pid).map_or(0, |p| p.sched_policy.0) as i32,
    };
    let (lo, hi) = prio_range(policy)?;
    if (prio as u64) < lo || prio as u64 > hi {
        return Err(Errno::EINVAL);
    }
    if hi > 0 && k.machine.uid != 0 {
        return Err(Errno::EPERM);
    }
    if let Some(p) = k.process_mut(pid) {
        p.sched_policy = (policy as u32, prio);
    }
    Ok(0)
}

/// sched_rr_get_interval: the time slice.
pub fn sched_rr_get_interval(k: &mut Kernel, pid: i32, ts: u64) -> SysResult {
    sched_target(k, pid)?;
    let slice = crate::sched::SLICE_NS;
    k.write_words(ts, &[slice / 1_000_000_000, slice % 1_000_000_000])?;
    Ok(0)
}

/// sched_setaffinity: the sandbox has CPU 0 only, so the mask must include it.
pub fn sched_setaffinity(k: &mut Kernel, pid: i32, len: u64, mask: u64) -> SysResult {
    check_pid(k, pid)?;
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let mut first = [0u8; 1];
    k.copy_in(mask, &mut first)?;
    if first[0] & 1 == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

/// The target of getpriority/setpriority (PRIO_PROCESS only; groups and users are the
/// sandbox's processes too).
fn prio_targets(k: &Kernel, which: i32, who: i32) -> Result<alloc::vec::Vec<u32>, Errno> {
    const PRIO_PROCESS: i32 = 0;
    const PRIO_PGRP: i32 = 1;
    const PRIO_USER: i32 = 2;
    let all = core::iter::once(&k.proc).chain(k.others.values());
    let v: alloc::vec::Vec<u32> = match which {
        PRIO_PROCESS => {
            let pid = if who == 0 { k.proc.pid } else { who as u32 };
            all.filter(|p| p.pid == pid).map(|p| p.pid).collect()
        }
        PRIO_PGRP => {
            let g = if who == 0 { k.proc.pgid } else { who as u32 };
            all.filter(|p| p.pgid == g).map(|p| p.pid).collect()
        }
        PRIO_USER => all.map(|p| p.pid).collect(),
        _ => return Err(Errno::EINVAL),
    };
    if v.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(v)
}

/// getpriority: 20 - nice of the most favoured target, as the raw syscall returns.
pub fn getpriority(k: &mut Kernel, which: i32, who: i32) -> SysResult {
    let t = prio_targets(k, which, who)?;
    let best = t
        .iter()
        .filter_map(|&p| k.process(p).map(|p| p.nice))
        .min()
        .unwrap_or(0);
    Ok((20 - best) as u64)
}

/// setpriority: recorded; raising priority (lowering nice) needs root, as on Linux.
pub fn setpriority(k: &mut Kernel, which: i32, who: i32, nice: i32) -> SysResult {
    let t = prio_targets(k, which, who)?;
    let nice = nice.clamp(-20, 19);
    for pid in t {
        let uid = k.machine.uid;
        if let Some(p) = k.process_mut(pid) {
            if nice < p.nice && uid != 0 {
                return Err(Errno::EACCES);
            }
            p.nice = nice;
        }
    }
    Ok(0)
}

pub fn prlimit(k: &mut Kernel, pid: i32, resource: u64, new: u64, old: u64) -> SysResult {
    check_pid(k, pid)?;
    let r = usize::try_from(resource)
        .ok()
        .filter(|&r| r < RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)?;
    let current = k.proc.rlimits[r];
    let wanted = if new != 0 {
        let [cur, max] = k.read_words::<2>(new)?;
        if cur > max {
            return Err(Errno::EINVAL);
        }
        if max > current.max && k.machine.uid != 0 {
            return Err(Errno::EPERM);
        }
        if r == RLIMIT_NOFILE && max > 1 << 20 {
            return Err(Errno::EPERM);
        }
        Some(Rlimit { cur, max })
    } else {
        None
    };
    if old != 0 {
        k.write_words(old, &[current.cur, current.max])?;
    }
    if let Some(w) = wanted {
        k.proc.rlimits[r] = w;
        if r == RLIMIT_NOFILE {
            k.proc.fds.limit = w.cur.min(1 << 20) as usize;
        }
    }
    Ok(0)
}

/// The sandbox's process has no supplementary groups.
pub fn getgroups(size: i32) -> SysResult {
    if size < 0 { Err(Errno::EINVAL) } else { Ok(0) }
}

/// `getpgid`/`getsid`: the one process leads its own group and session.
pub fn getpgid(k: &mut Kernel, pid: i32) -> SysResult {
    check_pid(k, pid)?;
    Ok(k.proc.pid as u64)
}

pub fn getres_ids(k: &mut Kernel, ptrs: [u64; 3], id: u32) -> SysResult {
    for p in ptrs {
        k.copy_out(p, &id.to_le_bytes())?;
    }
    Ok(0)
}

pub fn sysinfo(k: &mut Kernel, buf: u64) -> SysResult {
    let mut b = [0u8; 112];
    let mut put = |o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    put(0, k.clock.monotonic() / 1_000_000_000);
    put(32, k.machine.ram_size);
    put(40, k.frames.available() * crate::mm::PAGE_SIZE);
    b[80..82].copy_from_slice(&1u16.to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    k.copy_out(buf, &b)?;
    Ok(0)
}

pub fn arch_prctl(k: &mut Kernel, code: u64, addr: u64) -> SysResult {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= USER_END {
                return Err(Errno::EPERM);
            }
            if code == ARCH_SET_FS {
                crate::platform::set_fs_base(addr);
                k.proc.fs_base = addr;
            } else {
                crate::platform::set_user_gs_base(addr);
                k.proc.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS => k.write_words(addr, &[k.proc.fs_base]).map(|_| 0),
        ARCH_GET_GS => k.write_words(addr, &[k.proc.gs_base]).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

pub fn set_robust_list(k: &mut Kernel, head: u64, len: u64) -> SysResult {
    if len != 24 {
        return Err(Errno::EINVAL);
    }
    k.proc.robust_list = (head, len);
    Ok(0)
}

pub fn sched_getaffinity(k: &mut Kernel, pid: i32, len: u64, mask: u64) -> SysResult {
    check_pid(k, pid)?;
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    // The sandbox has one vCPU: CPU 0.
    k.write_words(mask, &[1])?;
    Ok(8)
}

pub fn getrandom(k: &mut Kernel, buf: u64, len: u64, flags: u64) -> SysResult {
    if flags & !7 != 0 || flags & 6 == 6 {
        return Err(Errno::EINVAL);
    }
    let len = len.min(32 << 20);
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(256) as usize;
        k.rng.fill(&mut chunk[..n]);
        if let Err(e) = k.copy_out(buf + done, &chunk[..n]) {
            return if done == 0 { Err(e) } else { Ok(done) };
        }
        done += n as u64;
    }
    Ok(len)
}

/// prctl: the thread name (PR_SET_NAME / PR_GET_NAME); other options are EINVAL.
pub fn prctl(k: &mut Kernel, option: u64, arg: u64) -> SysResult {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match option {
        PR_SET_NAME => {
            let mut name = [0u8; 16];
            k.copy_in(arg, &mut name[..15])?;
            let len = name.iter().position(|&b| b == 0).unwrap_or(15);
            k.proc.comm = name[..len].to_vec();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            let comm = crate::syscall::procfs::comm(k);
            let n = comm.len().min(15);
            name[..n].copy_from_slice(&comm[..n]);
            k.copy_out(arg, &name)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
