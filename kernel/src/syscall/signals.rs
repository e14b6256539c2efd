//! Signal syscalls (rt_sigaction, rt_sigprocmask, kill, tgkill, tkill, sigaltstack) and the
//! delivery of pending signals on the way back to user mode.
use hull_arch::abi::ExitKind;
use hull_arch::trapframe::TrapFrame;

use crate::errno::{Errno, SysResult};
use crate::hypercall;
use crate::process::{AltStack, Kernel};
use crate::signal::{self, Delivery, SigAction};

const SIGSET_SIZE: u64 = 8;

pub fn rt_sigaction(k: &mut Kernel, sig: u64, act: u64, oldact: u64, setsize: u64) -> SysResult {
    if setsize != SIGSET_SIZE || !signal::valid(sig as u32) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 {
        let [handler, flags, restorer, mask] = k.read_words::<4>(act)?;
        Some(SigAction { handler, flags, restorer, mask })
    } else {
        None
    };
    let old = k.proc.signals.set_action(sig as u32, new)?;
    if oldact != 0 {
        k.write_words(oldact, &[old.handler, old.flags, old.restorer, old.mask])?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(k: &mut Kernel, how: u64, set: u64, oldset: u64, setsize: u64) -> SysResult {
    if setsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = if set != 0 { Some(k.read_words::<1>(set)?[0]) } else { None };
    if new.is_none() && how > 2 {
        return Err(Errno::EINVAL);
    }
    let old = k.proc.signals.procmask(how, new)?;
    if oldset != 0 {
        k.write_words(oldset, &[old])?;
    }
    Ok(0)
}

fn send(k: &mut Kernel, sig: u64) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    if !signal::valid(sig as u32) {
        return Err(Errno::EINVAL);
    }
    k.proc.signals.raise(sig as u32);
    Ok(0)
}

/// `kill`: the sandbox has one process, reached by its pid, 0 (its group), -1 (every
/// process it may signal) and -pid (its group).
pub fn kill(k: &mut Kernel, pid: i32, sig: u64) -> SysResult {
    if !signal::valid(sig as u32) && sig != 0 {
        return Err(Errno::EINVAL);
    }
    let me = k.proc.pid as i32;
    if pid == me || pid == 0 || pid == -1 || pid == -me {
        send(k, sig)
    } else {
        Err(Errno::ESRCH)
    }
}

/// `tgkill` (with a thread group) and `tkill` (without).
pub fn tgkill(k: &mut Kernel, tgid: Option<i32>, tid: i32, sig: u64) -> SysResult {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) || (!signal::valid(sig as u32) && sig != 0) {
        return Err(Errno::EINVAL);
    }
    let me = k.proc.pid as i32;
    if tid != me || tgid.is_some_and(|g| g != me) {
        return Err(Errno::ESRCH);
    }
    send(k, sig)
}

pub fn sigaltstack(k: &mut Kernel, ss: u64, old: u64, user_rsp: u64) -> SysResult {
    const SS_ONSTACK: u32 = 1;
    const SS_DISABLE: u32 = 2;
    const SS_AUTODISARM: u32 = 1 << 31;
    const MINSIGSTKSZ: u64 = 2048;
    let cur = k.proc.altstack;
    let on_stack = cur.flags & SS_DISABLE == 0 && user_rsp.wrapping_sub(cur.sp) < cur.size;
    if old != 0 {
        let flags = if cur.size == 0 && cur.sp == 0 { SS_DISABLE } else { cur.flags | if on_stack { SS_ONSTACK } else { 0 } };
        k.write_words(old, &[cur.sp, flags as u64, cur.size])?;
    }
    if ss != 0 {
        let [sp, flags, size] = k.read_words::<3>(ss)?;
        let flags = flags as u32;
        if on_stack {
            return Err(Errno::EPERM);
        }
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        k.proc.altstack = if mode == SS_DISABLE {
            AltStack { sp: 0, flags: SS_DISABLE, size: 0 }
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            AltStack { sp, flags: flags & SS_AUTODISARM, size }
        };
    }
    Ok(0)
}

/// Ends the program as killed by `sig` (fault = address and rip of a synchronous fault).
pub fn terminate(sig: u32, fault: Option<(u64, u64)>) -> ! {
    hypercall::exit(ExitKind::Signaled, 0, fault, sig as u64, b"")
}

/// Acts on pending, unblocked signals before returning to user mode.
pub fn deliver_pending(k: &mut Kernel, frame: &mut TrapFrame) {
    deliver(k, frame, None);
}

/// Like [`deliver_pending`], with the fault details of a synchronous signal.
pub fn deliver(k: &mut Kernel, _frame: &mut TrapFrame, fault: Option<(u64, u64)>) {
    while let Some(sig) = k.proc.signals.take_deliverable() {
        match k.proc.signals.delivery(sig) {
            Delivery::Ignore => {}
            Delivery::Kill => terminate(sig, fault),
            Delivery::StopOrContinue => {
                crate::klog!("hull: {} would stop the program; job control is not supported yet, so it is ignored", signal::name(sig));
            }
            Delivery::Handler(_) => {
                // Running user handlers (signal frames, sigreturn) is not implemented yet;
                // say so, then act as the default disposition would.
                crate::klog!("hull: the program has a handler for {}, but hull does not run signal handlers yet; taking the default action", signal::name(sig));
                if signal::default_action(sig) != signal::DefaultAction::Ignore && !matches!(signal::default_action(sig), signal::DefaultAction::Stop | signal::DefaultAction::Continue) {
                    terminate(sig, fault);
                }
            }
        }
    }
}
