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
    if pid == 0 || pid as u32 == k.proc.pid {
        Ok(())
    } else if pid < 0 {
        Err(Errno::EINVAL)
    } else {
        Err(Errno::ESRCH)
    }
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
            } else {
                crate::platform::set_user_gs_base(addr);
            }
            Ok(0)
        }
        ARCH_GET_FS => k
            .write_words(addr, &[crate::platform::fs_base()])
            .map(|_| 0),
        ARCH_GET_GS => k
            .write_words(addr, &[crate::platform::user_gs_base()])
            .map(|_| 0),
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

/// futex with one thread: a wait whose value matches can only end by its timeout (or
/// never, as on Linux), and a wake finds nobody.

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
