//! Signal syscalls (rt_sigaction, rt_sigprocmask, kill, tgkill, tkill, sigaltstack) and the
//! delivery of pending signals on the way back to user mode.
use hull_arch::trapframe::TrapFrame;

use crate::errno::{Errno, SysResult};
use crate::platform::{self, XsaveArea};
use crate::process::{AltStack, Kernel};
use crate::sigframe::{self, SigInfo, StackT, code};
use crate::signal::{self, Delivery, SigAction};

const SIGSET_SIZE: u64 = 8;
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
const MINSIGSTKSZ: u64 = 2048;

pub fn rt_sigaction(k: &mut Kernel, sig: u64, act: u64, oldact: u64, setsize: u64) -> SysResult {
    if setsize != SIGSET_SIZE || !signal::valid(sig as u32) {
        return Err(Errno::EINVAL);
    }
    let new = if act != 0 {
        let [handler, flags, restorer, mask] = k.read_words::<4>(act)?;
        Some(SigAction {
            handler,
            flags,
            restorer,
            mask,
        })
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
    let new = if set != 0 {
        Some(k.read_words::<1>(set)?[0])
    } else {
        None
    };
    if new.is_none() && how > 2 {
        return Err(Errno::EINVAL);
    }
    let old = k.proc.signals.procmask(how, new)?;
    if oldset != 0 {
        k.write_words(oldset, &[old])?;
    }
    Ok(0)
}

/// `rt_sigpending`: the signals raised but blocked.
pub fn rt_sigpending(k: &mut Kernel, set: u64, setsize: u64) -> SysResult {
    if setsize > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let pending = k.proc.signals.pending & k.proc.signals.blocked;
    k.copy_out(set, &pending.to_le_bytes()[..setsize as usize])?;
    Ok(0)
}

/// Raises `sig` on the process itself, as sent by itself (kill, tgkill, SIGPIPE).
pub fn send(k: &mut Kernel, sig: u64, code: i32) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    if !signal::valid(sig as u32) {
        return Err(Errno::EINVAL);
    }
    let info = SigInfo {
        signo: sig as u32,
        code,
        pid: k.proc.pid,
        uid: k.machine.uid,
        ..Default::default()
    };
    k.proc.signals.raise_with(info);
    Ok(0)
}

pub fn sigaltstack(k: &mut Kernel, ss: u64, old: u64, user_rsp: u64) -> SysResult {
    let cur = k.proc.altstack;
    let on_stack = cur.flags & SS_DISABLE == 0 && user_rsp.wrapping_sub(cur.sp) < cur.size;
    if old != 0 {
        let flags = if cur.size == 0 && cur.sp == 0 {
            SS_DISABLE
        } else {
            cur.flags | if on_stack { SS_ONSTACK } else { 0 }
        };
        k.write_words(old, &[cur.sp, flags as u64, cur.size])?;
    }
    if ss != 0 {
        let [sp, flags, size] = k.read_words::<3>(ss)?;
        set_altstack(
            k,
            StackT {
                sp,
                flags: flags as u32,
                size,
            },
            user_rsp,
        )?;
    }
    Ok(0)
}

/// Installs a new alternate signal stack (the setting half of `sigaltstack`).
fn set_altstack(k: &mut Kernel, new: StackT, user_rsp: u64) -> Result<(), Errno> {
    let cur = k.proc.altstack;
    if cur.flags & SS_DISABLE == 0 && user_rsp.wrapping_sub(cur.sp) < cur.size {
        return Err(Errno::EPERM);
    }
    let mode = new.flags & !SS_AUTODISARM;
    if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
        return Err(Errno::EINVAL);
    }
    k.proc.altstack = if mode == SS_DISABLE {
        AltStack {
            sp: 0,
            flags: SS_DISABLE,
            size: 0,
        }
    } else {
        if new.size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        AltStack {
            sp: new.sp,
            flags: new.flags & SS_AUTODISARM,
            size: new.size,
        }
    };
    Ok(())
}

/// Ends the current process as killed by `sig` (fault = address and rip of a synchronous
/// fault, for the host's note when it is the sandbox's first process).
pub fn terminate(k: &mut Kernel, sig: u32, fault: Option<(u64, u64)>) {
    let core = matches!(signal::default_action(sig), signal::DefaultAction::CoreDump);
    let _ = core; // no core files are written, so the core flag stays clear
    super::task::exit_current(k, sig, fault);
}

/// Syscalls that SA_RESTART restarts after a handler (Linux's -ERESTARTSYS ones); the
/// others (sleeps, poll, pause, sigsuspend) return EINTR.
fn restartable(nr: u64) -> bool {
    matches!(
        nr,
        0 | 1
            | 16
            | 17
            | 18
            | 19
            | 20
            | 61
            | 72
            | 73
            | 202
            | 247
            | 295
            | 296
            | 327
            | 328
            | 40
            | 326
    )
}

/// Acts on pending, unblocked signals before returning to user mode.
pub fn deliver_pending(k: &mut Kernel, frame: &mut TrapFrame) {
    deliver(k, frame, None);
}

/// Like [`deliver_pending`], with the fault details of a synchronous signal.
pub fn deliver(k: &mut Kernel, frame: &mut TrapFrame, fault: Option<(u64, u64)>) {
    while let Some(info) = k.proc.signals.take_deliverable() {
        let sig = info.signo;
        match k.proc.signals.delivery(sig) {
            Delivery::Ignore => {}
            Delivery::Kill => {
                terminate(k, sig, fault);
                return;
            }
            Delivery::StopOrContinue => {
                if signal::default_action(sig) == signal::DefaultAction::Stop {
                    if k.proc.pid == 1 {
                        // Nothing could continue the sandbox's init: as Linux's init, it
                        // does not stop.
                        continue;
                    }
                    super::task::stop_current(k, sig);
                    return;
                }
            }
            Delivery::Handler(action) => {
                // A syscall the task blocked in either restarts after the handler
                // (SA_RESTART) or fails with EINTR.
                if let Some(nr) = k.proc.in_syscall.take() {
                    let progress = core::mem::take(&mut k.proc.io_progress);
                    if progress > 0 {
                        // A write interrupted after some progress returns what it wrote.
                        frame.rip += 2;
                        frame.rax = progress;
                    } else if action.flags & signal::SA_RESTART == 0 || !restartable(nr) {
                        frame.rip += 2;
                        frame.rax = (-(Errno::EINTR.0 as i64)) as u64;
                    }
                    super::time::interrupted_sleep(k);
                    k.proc.restart_deadline = None;
                    k.proc.host_wait.clear();
                }
                if setup_frame(k, frame, &info, &action).is_err() {
                    // No room for the frame (bad stack): Linux kills with SIGSEGV.
                    terminate(k, signal::SIGSEGV, fault);
                }
                // One handler frame at a time; the rest are delivered when it returns.
                return;
            }
        }
    }
}

/// Writes the FPU state and the rt_sigframe on the user (or alternate) stack and points
/// the registers at the handler, as Linux's setup_rt_frame does.
fn setup_frame(
    k: &mut Kernel,
    frame: &mut TrapFrame,
    info: &SigInfo,
    action: &SigAction,
) -> Result<(), Errno> {
    let alt = k.proc.altstack;
    let on_alt = alt.flags & 2 == 0 && alt.size > 0 && frame.rsp.wrapping_sub(alt.sp) < alt.size;
    let mut sp = if action.flags & signal::SA_ONSTACK != 0
        && alt.flags & 2 == 0
        && alt.size > 0
        && !on_alt
    {
        alt.sp + alt.size
    } else {
        frame.rsp.wrapping_sub(128) // the red zone
    };
    // FPU state, 64-byte aligned, with the software-reserved bytes and trailing magic
    // that Linux writes so user code can find the extended state.
    let (xcr0, xsize) = (k.machine.xcr0, k.machine.xsave_size.max(512) as u64);
    let mut area = XsaveArea::default();
    platform::xsave(&mut area, xcr0);
    if xcr0 != 0 {
        let sw = 464;
        area.0[sw..sw + 4].copy_from_slice(&0x4650_5853u32.to_le_bytes());
        area.0[sw + 4..sw + 8].copy_from_slice(&((xsize + 4) as u32).to_le_bytes());
        area.0[sw + 8..sw + 16].copy_from_slice(&xcr0.to_le_bytes());
        area.0[sw + 16..sw + 20].copy_from_slice(&(xsize as u32).to_le_bytes());
    }
    sp = (sp.wrapping_sub(xsize + 4)) & !63;
    let fpstate = sp;
    k.copy_out(fpstate, &area.0[..xsize as usize])?;
    if xcr0 != 0 {
        k.copy_out(fpstate + xsize, &0x4650_5845u32.to_le_bytes())?;
    }
    let frame_at = ((sp.wrapping_sub(sigframe::FRAME_SIZE)) & !15).wrapping_sub(8);
    let stack = StackT {
        sp: alt.sp,
        flags: if alt.size == 0 {
            2
        } else {
            alt.flags | if on_alt { 1 } else { 0 }
        },
        size: alt.size,
    };
    let restorer = if action.flags & signal::SA_RESTORER != 0 {
        action.restorer
    } else {
        0
    };
    // After sigsuspend the handler returns to the mask from before it.
    let saved_mask = k.proc.saved_mask.take().unwrap_or(k.proc.signals.blocked);
    let bytes = sigframe::encode(
        frame,
        info,
        restorer,
        saved_mask,
        stack,
        fpstate,
        if info.trapno == 14 { info.addr } else { 0 },
    );
    k.copy_out(frame_at, &bytes)?;

    let mut blocked = k.proc.signals.blocked | action.mask;
    if action.flags & signal::SA_NODEFER == 0 {
        blocked |= 1 << (info.signo - 1);
    }
    k.proc.signals.procmask(2, Some(blocked))?;
    if action.flags & signal::SA_RESETHAND != 0 {
        k.proc.signals.reset(info.signo);
    }
    // The handler starts with a clean FPU state (MXCSR and FCW at their defaults).
    let mut init = XsaveArea::default();
    init.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    init.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    platform::xrstor(&init, xcr0);

    frame.rip = action.handler;
    frame.rsp = frame_at;
    frame.rdi = info.signo as u64;
    frame.rsi = frame_at + sigframe::INFO_OFFSET;
    frame.rdx = frame_at + sigframe::UC_OFFSET;
    frame.rax = 0;
    frame.rflags &= !(0x400 | 0x100 | 0x10000); // DF, TF, RF
    Ok(())
}

/// `rt_sigreturn`: restores the context saved by [`setup_frame`].
pub fn rt_sigreturn(k: &mut Kernel, frame: &mut TrapFrame) -> SysResult {
    let uc_at = frame.rsp; // the handler's `ret` popped pretcode
    let mut uc = [0u8; sigframe::UC_SIZE];
    let fail = |k: &mut Kernel, frame: &mut TrapFrame| -> SysResult {
        k.proc.signals.force(SigInfo {
            signo: signal::SIGSEGV,
            code: code::SI_KERNEL,
            ..Default::default()
        });
        Ok(frame.rax)
    };
    if k.copy_in(uc_at, &mut uc).is_err() {
        return fail(k, frame);
    }
    let r = sigframe::decode(&uc, frame);
    if r.regs.rip >= hull_arch::layout::USER_END {
        // IRET to a non-canonical address would fault in the kernel; Linux sends SIGSEGV.
        return fail(k, frame);
    }
    let (xcr0, xsize) = (k.machine.xcr0, k.machine.xsave_size.max(512) as usize);
    let mut area = XsaveArea::default();
    if r.fpstate != 0 {
        if k.copy_in(r.fpstate, &mut area.0[..xsize]).is_err() || !fpstate_valid(&area, xcr0) {
            return fail(k, frame);
        }
    } else {
        area.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        area.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    }
    platform::xrstor(&area, xcr0);
    k.proc.signals.procmask(2, Some(r.blocked))?;
    *frame = r.regs;
    // Like Linux's restore_altstack: the saved stack_t is applied; only EFAULT would be an
    // error, and the values were already read, so other refusals are ignored.
    let _ = set_altstack(k, r.stack, frame.rsp);
    Ok(frame.rax)
}

/// Checks what XRSTOR would refuse with #GP: reserved MXCSR bits, components not enabled,
/// the compacted format, and a non-zero reserved header.
pub fn fpstate_valid(area: &XsaveArea, xcr0: u64) -> bool {
    let mxcsr = u32::from_le_bytes(area.0[24..28].try_into().expect("4 bytes"));
    if mxcsr & 0xffff_0000 != 0 {
        return false;
    }
    if xcr0 == 0 {
        return true;
    }
    let header = &area.0[512..576];
    let xstate_bv = u64::from_le_bytes(header[0..8].try_into().expect("8 bytes"));
    let xcomp_bv = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    xstate_bv & !xcr0 == 0 && xcomp_bv == 0 && header[16..].iter().all(|&b| b == 0)
}

/// `rt_sigsuspend`: waits for a signal with `mask` in place; the handler returns to the
/// old mask, and the call fails with EINTR.
pub fn rt_sigsuspend(k: &mut Kernel, mask: u64, size: u64) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let [m] = k.read_words::<1>(mask)?;
    if k.proc.saved_mask.is_none() {
        k.proc.saved_mask = Some(k.proc.signals.blocked);
    }
    k.proc.signals.blocked = m & !signal::UNBLOCKABLE;
    Err(k.block(crate::sched::Wait::Signal, 0))
}

/// `rt_sigtimedwait`: takes a pending signal of `set`, waiting up to the timeout.
pub fn rt_sigtimedwait(k: &mut Kernel, set: u64, info: u64, timeout: u64, size: u64) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let [s] = k.read_words::<1>(set)?;
    let s = s & !signal::UNBLOCKABLE;
    if let Some(got) = k.proc.signals.take_from(s) {
        k.proc.signals.waiting_for = 0;
        if info != 0 {
            k.copy_out(info, &sigframe::encode_info(&got))?;
        }
        return Ok(got.signo as u64);
    }
    let deadline = match k.proc.restart_deadline {
        Some(d) => d,
        None => {
            let d = if timeout == 0 {
                u64::MAX
            } else {
                let [sec, ns] = k.read_words::<2>(timeout)?;
                if (sec as i64) < 0 || ns >= 1_000_000_000 {
                    return Err(Errno::EINVAL);
                }
                k.clock
                    .monotonic()
                    .saturating_add(sec.saturating_mul(1_000_000_000).saturating_add(ns))
            };
            k.proc.restart_deadline = Some(d);
            d
        }
    };
    if k.clock.monotonic() >= deadline {
        k.proc.signals.waiting_for = 0;
        return Err(Errno::EAGAIN);
    }
    k.proc.signals.waiting_for = s;
    let wake = if deadline == u64::MAX { 0 } else { deadline };
    Err(k.block(crate::sched::Wait::Signal, wake))
}

/// `rt_sigqueueinfo` (`tid` None) and `rt_tgsigqueueinfo`: a signal with the caller's
/// siginfo. Only the process itself may claim a kernel or kill() origin.
pub fn rt_sigqueueinfo(
    k: &mut Kernel,
    tgid: i32,
    tid: Option<i32>,
    sig: u64,
    uinfo: u64,
) -> SysResult {
    if !signal::valid(sig as u32) {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; 128];
    k.copy_in(uinfo, &mut raw)?;
    let code = i32::from_le_bytes(raw[8..12].try_into().expect("4 bytes"));
    let target = tid.unwrap_or(tgid);
    if target <= 0 || tid.is_some() && tgid <= 0 {
        return Err(Errno::EINVAL);
    }
    let me = k.proc.pid;
    if (code >= 0 || code == code::SI_TKILL) && target as u32 != me {
        return Err(Errno::EPERM);
    }
    if !k
        .process(target as u32)
        .is_some_and(|p| p.state != crate::sched::TaskState::Zombie)
    {
        return Err(Errno::ESRCH);
    }
    let info = SigInfo {
        signo: sig as u32,
        code,
        pid: u32::from_le_bytes(raw[16..20].try_into().expect("4 bytes")),
        uid: u32::from_le_bytes(raw[20..24].try_into().expect("4 bytes")),
        value: u64::from_le_bytes(raw[24..32].try_into().expect("8 bytes")),
        ..Default::default()
    };
    super::task::queue_to(k, target as u32, info)
}
