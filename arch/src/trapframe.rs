//! The register frame saved on the kernel stack on every entry from user mode (syscall,
//! exception or interrupt). Its tail is the hardware `iretq` frame.

/// Saved user registers, in push order reversed (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// Exception vector, or [`VECTOR_SYSCALL`].
    pub vector: u64,
    /// Hardware error code (0 where the exception has none).
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// `TrapFrame::vector` for an entry through `SYSCALL`.
pub const VECTOR_SYSCALL: u64 = 0x100;

/// Byte size of [`TrapFrame`] (the assembly relies on it).
pub const TRAPFRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(TRAPFRAME_SIZE == 22 * 8);

impl TrapFrame {
    /// The syscall number and six arguments, per the x86_64 Linux convention.
    pub fn syscall_args(&self) -> (u64, [u64; 6]) {
        (
            self.rax,
            [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9],
        )
    }
}
