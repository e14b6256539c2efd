//! The Linux x86_64 signal frame (`struct rt_sigframe`): what the kernel writes on the user
//! stack to run a handler, and reads back in `rt_sigreturn`. Layout, as the kernel ABI
//! defines it:
//!
//! ```text
//! frame+0    pretcode (sa_restorer; the handler's return address)
//! frame+8    struct ucontext: uc_flags, uc_link, uc_stack (24), uc_mcontext (256), uc_sigmask
//! frame+312  struct siginfo (128)
//! ```
//! The FPU state (XSAVE format) lies 64-byte aligned below the frame; `uc_mcontext.fpstate`
//! points at it.
use hull_arch::trapframe::TrapFrame;

/// Bytes of `struct rt_sigframe` without the FPU state.
pub const FRAME_SIZE: u64 = 440;
/// Offset of the ucontext in the frame.
pub const UC_OFFSET: u64 = 8;
/// Offset of the siginfo in the frame.
pub const INFO_OFFSET: u64 = 312;
/// Offset of uc_mcontext in the ucontext.
const MCONTEXT: usize = 40;
/// Offset of uc_sigmask in the ucontext.
const SIGMASK: usize = 296;
/// Bytes of the ucontext.
pub const UC_SIZE: usize = 304;

pub const UC_FP_XSTATE: u64 = 1;
pub const UC_SIGCONTEXT_SS: u64 = 2;
pub const UC_STRICT_RESTORE_SS: u64 = 4;

/// What a handler learns about its signal (the parts of siginfo hull fills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: u32,
    pub code: i32,
    /// si_addr for faults.
    pub addr: u64,
    /// si_pid/si_uid for signals sent by a process.
    pub pid: u32,
    pub uid: u32,
    /// Exception vector and error code, for uc_mcontext.trapno/err.
    pub trapno: u64,
    pub err: u64,
    /// si_status of SIGCHLD (the exit code or signal).
    pub status: i32,
    /// si_value of sigqueue (SI_QUEUE) and POSIX timers.
    pub value: u64,
}

/// Encodes a `siginfo_t` (128 bytes), as a handler or sigtimedwait sees it.
pub fn encode_info(info: &SigInfo) -> [u8; 128] {
    let mut b = [0u8; 128];
    let put = |b: &mut [u8; 128], o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    b[0..4].copy_from_slice(&info.signo.to_le_bytes());
    b[8..12].copy_from_slice(&info.code.to_le_bytes());
    if info.addr != 0 || info.pid == 0 && info.code > 0 {
        put(&mut b, 16, info.addr);
    } else {
        b[16..20].copy_from_slice(&info.pid.to_le_bytes());
        b[20..24].copy_from_slice(&info.uid.to_le_bytes());
        if info.signo == crate::signal::SIGCHLD {
            b[24..28].copy_from_slice(&info.status.to_le_bytes());
        } else if info.value != 0 || info.code == code::SI_QUEUE || info.code == code::SI_TIMER {
            put(&mut b, 24, info.value);
        }
    }
    b
}

/// `si_code` values.
pub mod code {
    pub const SI_USER: i32 = 0;
    pub const SI_KERNEL: i32 = 0x80;
    pub const SI_TKILL: i32 = -6;
    pub const SI_QUEUE: i32 = -1;
    pub const SI_TIMER: i32 = -2;
    pub const SEGV_MAPERR: i32 = 1;
    pub const SEGV_ACCERR: i32 = 2;
    pub const FPE_INTDIV: i32 = 1;
    pub const ILL_ILLOPN: i32 = 2;
    pub const BUS_ADRALN: i32 = 1;
    pub const BUS_ADRERR: i32 = 2;
    pub const TRAP_BRKPT: i32 = 1;
}

/// `stack_t` as saved in uc_stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackT {
    pub sp: u64,
    pub flags: u32,
    pub size: u64,
}

fn put(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Encodes the frame (without the FPU state).
pub fn encode(
    regs: &TrapFrame,
    info: &SigInfo,
    restorer: u64,
    blocked: u64,
    stack: StackT,
    fpstate: u64,
    cr2: u64,
) -> [u8; FRAME_SIZE as usize] {
    let mut b = [0u8; FRAME_SIZE as usize];
    put(&mut b, 0, restorer);
    let uc = UC_OFFSET as usize;
    put(
        &mut b,
        uc,
        UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | if fpstate != 0 { UC_FP_XSTATE } else { 0 },
    );
    put(&mut b, uc + 16, stack.sp);
    put(&mut b, uc + 24, stack.flags as u64);
    put(&mut b, uc + 32, stack.size);
    let m = uc + MCONTEXT;
    let gprs = [
        regs.r8,
        regs.r9,
        regs.r10,
        regs.r11,
        regs.r12,
        regs.r13,
        regs.r14,
        regs.r15,
        regs.rdi,
        regs.rsi,
        regs.rbp,
        regs.rbx,
        regs.rdx,
        regs.rax,
        regs.rcx,
        regs.rsp,
        regs.rip,
        regs.rflags,
    ];
    for (i, v) in gprs.iter().enumerate() {
        put(&mut b, m + 8 * i, *v);
    }
    // cs, gs, fs, ss as four u16s.
    let segs = (regs.cs & 0xffff) | ((regs.ss & 0xffff) << 48);
    put(&mut b, m + 144, segs);
    put(&mut b, m + 152, info.err);
    put(&mut b, m + 160, info.trapno);
    put(&mut b, m + 168, blocked);
    put(&mut b, m + 176, cr2);
    put(&mut b, m + 184, fpstate);
    put(&mut b, uc + SIGMASK, blocked);
    let si = INFO_OFFSET as usize;
    b[si..si + 128].copy_from_slice(&encode_info(info));
    b
}

/// What `rt_sigreturn` restores from a ucontext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    pub regs: TrapFrame,
    pub blocked: u64,
    pub fpstate: u64,
    pub stack: StackT,
}

/// Decodes a ucontext (`UC_SIZE` bytes), applying Linux's rules: only the arithmetic and
/// a few control flags of RFLAGS come from user memory; segments are the user's.
pub fn decode(uc: &[u8], current: &TrapFrame) -> Restored {
    const FIX_EFLAGS: u64 =
        0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;
    let m = MCONTEXT;
    let r = |i: usize| get(uc, m + 8 * i);
    let mut regs = *current;
    regs.r8 = r(0);
    regs.r9 = r(1);
    regs.r10 = r(2);
    regs.r11 = r(3);
    regs.r12 = r(4);
    regs.r13 = r(5);
    regs.r14 = r(6);
    regs.r15 = r(7);
    regs.rdi = r(8);
    regs.rsi = r(9);
    regs.rbp = r(10);
    regs.rbx = r(11);
    regs.rdx = r(12);
    regs.rax = r(13);
    regs.rcx = r(14);
    regs.rsp = r(15);
    regs.rip = r(16);
    regs.rflags = (current.rflags & !FIX_EFLAGS) | (r(17) & FIX_EFLAGS) | 0x202;
    let stack = StackT {
        sp: get(uc, 16),
        flags: get(uc, 24) as u32,
        size: get(uc, 32),
    };
    Restored {
        regs,
        blocked: get(uc, SIGMASK),
        fpstate: get(uc, m + 184),
        stack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_registers_and_mask() {
        let regs = TrapFrame {
            rax: 1,
            rbx: 2,
            rcx: 3,
            rdx: 4,
            rsi: 5,
            rdi: 6,
            rbp: 7,
            r8: 8,
            r15: 15,
            rip: 0x401000,
            rsp: 0x7fff_0000,
            rflags: 0x246,
            cs: 0x23,
            ss: 0x1b,
            ..Default::default()
        };
        let info = SigInfo {
            signo: 11,
            code: code::SEGV_MAPERR,
            addr: 0xdead,
            ..Default::default()
        };
        let b = encode(
            &regs,
            &info,
            0x402000,
            0x55,
            StackT::default(),
            0x7000,
            0xdead,
        );
        assert_eq!(get(&b, 0), 0x402000);
        assert_eq!(u32::from_le_bytes(b[312..316].try_into().unwrap()), 11);
        assert_eq!(get(&b, 312 + 16), 0xdead, "si_addr");
        assert_eq!(get(&b, 8 + 40 + 16 * 8), 0x401000, "uc_mcontext.rip");
        let uc = &b[8..8 + UC_SIZE];
        let r = decode(
            uc,
            &TrapFrame {
                rflags: 0x202,
                cs: 0x23,
                ss: 0x1b,
                ..Default::default()
            },
        );
        assert_eq!(
            r.regs,
            TrapFrame {
                rflags: 0x246,
                ..regs
            }
        );
        assert_eq!(r.blocked, 0x55);
        assert_eq!(r.fpstate, 0x7000);
    }

    #[test]
    fn sigreturn_cannot_raise_privilege_through_rflags() {
        let regs = TrapFrame {
            rflags: 0x3000 | 0x200 | 0x4000 | 0x20000,
            cs: 0x23,
            ss: 0x1b,
            ..Default::default()
        };
        let b = encode(&regs, &SigInfo::default(), 0, 0, StackT::default(), 0, 0);
        let r = decode(
            &b[8..8 + UC_SIZE],
            &TrapFrame {
                rflags: 0x202,
                ..Default::default()
            },
        );
        assert_eq!(
            r.regs.rflags & (0x3000 | 0x4000 | 0x20000),
            0,
            "IOPL, NT and VM never come from user memory"
        );
        assert_eq!(r.regs.rflags & 0x200, 0x200);
    }
}
