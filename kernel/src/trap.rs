//! Exceptions and interrupts. A user fault is resolved (demand paging, W^X phase flips) or
//! becomes the signal Linux would send; a kernel fault is a kernel bug and is reported to
//! the host with the registers.
use core::sync::atomic::{AtomicU64, Ordering};

use hull_arch::abi::ExitKind;
use hull_arch::trapframe::TrapFrame;

use crate::mm::aspace::{Access, Fault};
use crate::process::KERNEL;
use crate::sigframe::{SigInfo, code};
use crate::signal::{SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGTRAP};
use crate::syscall::signals;
use crate::{hypercall, platform};

const PF_WRITE: u64 = 1 << 1;
const PF_INSTR: u64 = 1 << 4;
/// The APIC timer and spurious vectors (see hull_arch::apic).
const TIMER_VECTOR: u64 = 0x20;
const SPURIOUS_VECTOR: u64 = 0xff;

/// Signals hull received and the guest has fetched but not yet raised.
static HOST_PENDING: AtomicU64 = AtomicU64::new(0);

/// Raises the signals hull forwarded (SIGINT, SIGTERM, SIGHUP) on the sandbox's init, as
/// sent by the kernel (si_code SI_KERNEL).
pub fn deliver_host_signals(k: &mut crate::process::Kernel) {
    let mask = HOST_PENDING.swap(0, Ordering::Relaxed);
    for sig in 1..=64u32 {
        if mask & (1 << (sig - 1)) != 0 {
            let info = SigInfo {
                signo: sig,
                code: code::SI_KERNEL,
                ..Default::default()
            };
            crate::syscall::task::signal_process(k, 1, info);
        }
    }
}

/// A host call returned EINTR: hull received a signal to forward; fetch it now.
pub fn host_interrupted(k: &mut crate::process::Kernel) {
    HOST_PENDING.fetch_or(hypercall::host_signals(), Ordering::Relaxed);
    deliver_host_signals(k);
}

/// The signal a user-mode exception raises, per Linux's trap handlers.
pub fn signal_for(vector: u64) -> Option<u32> {
    Some(match vector {
        0 | 16 | 19 => SIGFPE,      // #DE, #MF, #XM
        1 | 3 => SIGTRAP,           // #DB, #BP
        4 | 5 | 10 | 13 => SIGSEGV, // #OF, #BR, #TS, #GP
        6 => SIGILL,                // #UD
        11 | 12 | 17 => SIGBUS,     // #NP, #SS, #AC
        _ => return None,
    })
}

/// The exception/interrupt entry's handler.
pub fn handle(frame: &mut TrapFrame) {
    match frame.vector {
        TIMER_VECTOR => {
            crate::stats::TIMER_INTERRUPTS.add();
            platform::apic_eoi();
            if frame.cs & 3 != 0 {
                // A timer or the end of a time slice while user code ran.
                let mut guard = KERNEL.lock();
                let k = guard.as_mut().expect("timer before the kernel booted");
                k.machine.armed_tsc = 0;
                crate::syscall::finish(k, frame);
            }
            return;
        }
        v if v == hull_arch::abi::HOST_SIGNAL_VECTOR as u64 => {
            platform::apic_eoi();
            // Kernel mode means the idle loop's halt, which holds the kernel lock and
            // collects the signals itself after the halt; no hypercall is in progress
            // there, so asking the host now is safe.
            HOST_PENDING.fetch_or(hypercall::host_signals(), Ordering::Relaxed);
            if frame.cs & 3 != 0 {
                let mut guard = KERNEL.lock();
                let k = guard.as_mut().expect("interrupt before the kernel booted");
                deliver_host_signals(k);
                crate::syscall::finish(k, frame);
            }
            return;
        }
        SPURIOUS_VECTOR => return,
        _ => {}
    }
    if frame.cs & 3 == 0 {
        kernel_fault(frame);
    }
    let mut guard = KERNEL.lock();
    let k = guard.as_mut().expect("user trap before the kernel booted");
    let (info, addr) = if frame.vector == 14 {
        crate::stats::PAGE_FAULTS.add();
        let addr = platform::read_cr2();
        let access = if frame.error_code & PF_INSTR != 0 {
            Access::Exec
        } else if frame.error_code & PF_WRITE != 0 {
            Access::Write
        } else {
            Access::Read
        };
        match k.proc.aspace.fault(addr, access, &mut k.frames) {
            Ok(()) => return,
            Err(Fault::OutOfMemory) if k.proc.pid == 1 => {
                let msg = b"out of memory: the program used all of the sandbox's memory (raise --memory); killed as by the OOM killer";
                hypercall::exit(ExitKind::OutOfMemory, 0, Some((addr, frame.rip)), 9, msg)
            }
            Err(Fault::OutOfMemory) => {
                // Another process: the OOM killer's SIGKILL ends it, the sandbox goes on.
                signals::terminate(k, crate::signal::SIGKILL, None);
                crate::syscall::finish(k, frame);
                return;
            }
            Err(f) => {
                let (signo, code) = match f {
                    Fault::Unmapped => (SIGSEGV, code::SEGV_MAPERR),
                    Fault::PastEnd => (crate::signal::SIGBUS, code::BUS_ADRERR),
                    _ => (SIGSEGV, code::SEGV_ACCERR),
                };
                (
                    SigInfo {
                        signo,
                        code,
                        addr,
                        trapno: 14,
                        err: frame.error_code,
                        ..Default::default()
                    },
                    addr,
                )
            }
        }
    } else {
        let Some(signo) = signal_for(frame.vector) else {
            kernel_fault(frame)
        };
        let (code, addr) = match frame.vector {
            0 => (code::FPE_INTDIV, frame.rip),
            6 => (code::ILL_ILLOPN, frame.rip),
            17 => (code::BUS_ADRALN, frame.rip),
            3 | 1 => (code::TRAP_BRKPT, frame.rip),
            _ => (code::SI_KERNEL, 0),
        };
        (
            SigInfo {
                signo,
                code,
                addr,
                trapno: frame.vector,
                err: frame.error_code,
                ..Default::default()
            },
            addr,
        )
    };
    k.proc.signals.force(info);
    signals::deliver(k, frame, Some((addr, frame.rip)));
    crate::syscall::finish(k, frame);
}

fn kernel_fault(frame: &TrapFrame) -> ! {
    let cr2 = platform::read_cr2();
    let guard = crate::boot::KERNEL_STACK_BASE;
    if (guard..guard + crate::mm::PAGE_SIZE).contains(&cr2) {
        panic!(
            "kernel stack overflow (a fault on the guard page at {cr2:#x}, rip {:#x})",
            frame.rip
        );
    }
    panic!(
        "kernel exception {} (error {:#x}) at rip {:#x}, rsp {:#x}, cr2 {:#x}; rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x}",
        frame.vector,
        frame.error_code,
        frame.rip,
        frame.rsp,
        platform::read_cr2(),
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_map_to_linux_signals() {
        assert_eq!(signal_for(0), Some(SIGFPE));
        assert_eq!(signal_for(6), Some(SIGILL));
        assert_eq!(signal_for(13), Some(SIGSEGV));
        assert_eq!(signal_for(17), Some(SIGBUS));
        assert_eq!(signal_for(8), None, "a double fault is never a user signal");
    }
}
