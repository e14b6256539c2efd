//! Entry and exit between user mode and the kernel: the SYSCALL entry, the exception and
//! interrupt stubs, the return paths (SYSRET fast path, IRETQ otherwise), the first entry
//! into user mode, and the kernel's boot entry.
//!
//! Every entry from user mode saves a [`TrapFrame`] at the top of the current kernel stack
//! and calls the handler the kernel registered with [`set_handlers`].
use core::arch::{asm, global_asm};

use crate::abi::BootInfo;
use crate::trapframe::{TRAPFRAME_SIZE, TrapFrame};

/// A kernel handler for syscalls or traps.
pub type Handler = fn(&mut TrapFrame);

static HANDLERS: spin::Once<(Handler, Handler)> = spin::Once::new();

/// Registers the syscall handler and the exception/interrupt handler. Call once, before the
/// first entry to user mode.
pub fn set_handlers(syscall: Handler, trap: Handler) {
    HANDLERS.call_once(|| (syscall, trap));
}

extern "C" fn syscall_rust(frame: &mut TrapFrame) {
    match HANDLERS.get() {
        Some((syscall, _)) => syscall(frame),
        None => panic!("syscall before handlers were registered"),
    }
}

extern "C" fn trap_rust(frame: &mut TrapFrame) {
    match HANDLERS.get() {
        Some((_, trap)) => trap(frame),
        None => panic!(
            "trap {} at {:#x} before handlers were registered (cr2 {:#x})",
            frame.vector,
            frame.rip,
            crate::cpu::read_cr2()
        ),
    }
}

// Register push order must match `TrapFrame` (r15 lowest).
global_asm!(
    r#"
.macro PUSH_GPRS
    push rdi
    push rsi
    push rdx
    push rcx
    push rax
    push r8
    push r9
    push r10
    push r11
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
.endm
.macro POP_GPRS
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    pop r11
    pop r10
    pop r9
    pop r8
    pop rax
    pop rcx
    pop rdx
    pop rsi
    pop rdi
.endm

.section .text
.global hull_syscall_entry
hull_syscall_entry:
    swapgs
    mov gs:[8], rsp
    mov rsp, gs:[0]
    push {user_ds}
    push qword ptr gs:[8]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {vec_syscall}
    PUSH_GPRS
    mov rdi, rsp
    call {syscall_rust}
    // SYSRET only when it restores exactly the frame: rcx/r11 equal rip/rflags (true for a
    // plain syscall, not after sigreturn or exec) and rip canonical-low.
    mov rcx, [rsp + 17*8]
    cmp rcx, [rsp + 11*8]
    jne hull_return_to_user
    mov r11, [rsp + 19*8]
    cmp r11, [rsp + 6*8]
    jne hull_return_to_user
    shr rcx, 47
    jnz hull_return_to_user
    POP_GPRS
    add rsp, 16
    mov rcx, [rsp]
    mov r11, [rsp + 16]
    mov rsp, [rsp + 24]
    swapgs
    sysretq

// rsp points at a user TrapFrame.
.global hull_return_to_user
hull_return_to_user:
    cmp byte ptr [rip + hull_pvm_mode], 0
    jne hull_return_to_user_pvm
    POP_GPRS
    add rsp, 16
    swapgs
    iretq

// PVM: SYSCALL arrives here in hardware ring 3 on the user stack; no SWAPGS (the kernel
// does not use GS under PVM), the stack pointers live in the per-CPU block by address.
.global hull_syscall_entry_pvm
hull_syscall_entry_pvm:
    mov qword ptr [rip + {percpu} + 8], rsp
    mov rsp, qword ptr [rip + {percpu}]
    push {user_ds}
    push qword ptr [rip + {percpu} + 8]
    push r11
    push {user_cs}
    push rcx
    push 0
    push {vec_syscall}
    PUSH_GPRS
    mov rdi, rsp
    call {syscall_rust}
    jmp hull_return_to_user_pvm

// PVM: return to user mode through the IRET_FRAME hypercall, whose in-memory frame is
// {{rax, rbx, rdi, rip, cs, rflags, rsp, ss}}: the TrapFrame's rdi/vector/error slots are
// reused for rax/rbx/rdi so the frame's tail is exactly that.
hull_return_to_user_pvm:
    // PVM's IRET_FRAME refuses a non-canonical user RSP, which Linux allows (the program
    // faults when it uses it): take the emulated IRETQ for that rare case.
    mov rax, [rsp + 20*8]
    add rax, [rip + {canon_bias}]
    shr rax, 48
    jnz 2f
    mov rax, [rsp + 10*8]
    mov rbx, [rsp + 5*8]
    mov rdi, [rsp + 14*8]
    mov [rsp + 14*8], rax
    mov [rsp + 15*8], rbx
    mov [rsp + 16*8], rdi
    mov r15, [rsp]
    mov r14, [rsp + 1*8]
    mov r13, [rsp + 2*8]
    mov r12, [rsp + 3*8]
    mov rbp, [rsp + 4*8]
    mov r11, [rsp + 6*8]
    mov r10, [rsp + 7*8]
    mov r9, [rsp + 8*8]
    mov r8, [rsp + 9*8]
    mov rcx, [rsp + 11*8]
    mov rdx, [rsp + 12*8]
    mov rsi, [rsp + 13*8]
    lea rbx, [rsp + 14*8]
    mov eax, {hc_iret_frame}
    int 0x1b
    ud2
2:
    POP_GPRS
    add rsp, 16
    iretq

hull_trap_common:
    test qword ptr [rsp + 24], 3
    jz 1f
    cmp byte ptr [rip + hull_pvm_mode], 0
    jne 1f
    swapgs
1:
    PUSH_GPRS
    mov rdi, rsp
    cld
    call {trap_rust}
    test qword ptr [rsp + 18*8], 3
    jnz hull_return_to_user
    POP_GPRS
    add rsp, 16
    iretq

.macro TRAP_NOERR vec
hull_trap_\vec:
    push 0
    push \vec
    jmp hull_trap_common
.endm
.macro TRAP_ERR vec
hull_trap_\vec:
    push \vec
    jmp hull_trap_common
.endm

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR 8
TRAP_NOERR 9
TRAP_ERR 10
TRAP_ERR 11
TRAP_ERR 12
TRAP_ERR 13
TRAP_ERR 14
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR 17
TRAP_NOERR 18
TRAP_NOERR 19
TRAP_NOERR 20
TRAP_ERR 21
TRAP_NOERR 22
TRAP_NOERR 23
TRAP_NOERR 24
TRAP_NOERR 25
TRAP_NOERR 26
TRAP_NOERR 27
TRAP_NOERR 28
TRAP_ERR 29
TRAP_ERR 30
TRAP_NOERR 31
TRAP_NOERR 32
TRAP_NOERR 255
TRAP_NOERR 64

.section .rodata
.global hull_trap_stubs
.balign 8
hull_trap_stubs:
    .quad hull_trap_0, hull_trap_1, hull_trap_2, hull_trap_3, hull_trap_4, hull_trap_5
    .quad hull_trap_6, hull_trap_7, hull_trap_8, hull_trap_9, hull_trap_10, hull_trap_11
    .quad hull_trap_12, hull_trap_13, hull_trap_14, hull_trap_15, hull_trap_16, hull_trap_17
    .quad hull_trap_18, hull_trap_19, hull_trap_20, hull_trap_21, hull_trap_22, hull_trap_23
    .quad hull_trap_24, hull_trap_25, hull_trap_26, hull_trap_27, hull_trap_28, hull_trap_29
    .quad hull_trap_30, hull_trap_31, hull_trap_32, hull_trap_255, hull_trap_64
.section .text
"#,
    user_ds = const crate::layout::selectors::USER_DATA as u64,
    user_cs = const crate::layout::selectors::USER_CODE as u64,
    vec_syscall = const crate::trapframe::VECTOR_SYSCALL,
    syscall_rust = sym syscall_rust,
    trap_rust = sym trap_rust,
    percpu = sym crate::tables::PERCPU,
    hc_iret_frame = const 0x100d,
    canon_bias = sym CANONICAL_BIAS,
);

/// Adding this to an address maps both canonical halves to [0, 2^48).
static CANONICAL_BIAS: u64 = 1 << 47;

/// Enters user mode with the registers of `frame`, on the current task's kernel stack
/// (see [`crate::tables::set_kernel_stack`]). Does not return: the next entry from user
/// mode starts afresh at the top of that stack.
pub fn enter_user(frame: &TrapFrame) -> ! {
    let mut f = *frame;
    f.cs = crate::layout::selectors::USER_CODE as u64;
    f.ss = crate::layout::selectors::USER_DATA as u64;
    // IF on, IOPL 0, no TF/NT/VM/AC; bit 1 is reserved-one.
    f.rflags = (f.rflags & 0xcd5) | 0x202;
    let top = crate::tables::kernel_stack();
    assert!(top != 0, "enter_user without a kernel stack");
    let dst = top - TRAPFRAME_SIZE as u64;
    // SAFETY: [dst, top) is the top of the kernel stack, reserved for the user frame; the frames of this call chain lie below it (or on another stack), so writing it clobbers nothing live. We then abandon this call chain and IRET to user mode.
    unsafe {
        core::ptr::write(dst as *mut TrapFrame, f);
        asm!("mov rsp, {0}", "jmp hull_return_to_user", in(reg) dst, options(noreturn));
    }
}

/// The kernel's boot entry: the loader starts the vCPU here in long mode on the boot stack,
/// with the direct-map address of the boot-info block in RDI. Generated by
/// [`entry_point!`](crate::entry_point) so the kernel crate needs no `unsafe`.
pub fn start(boot_info_va: u64, main: fn(BootInfo) -> !) -> ! {
    assert!(
        boot_info_va == crate::layout::phys_to_virt(crate::layout::BOOT_INFO_GPA),
        "boot-info pointer is not where the ABI puts it"
    );
    let info_ptr = boot_info_va as *const BootInfo;
    // SAFETY: the loader wrote a BootInfo at BOOT_INFO_GPA, which the boot page tables map through the direct map; one field is read.
    let flags = unsafe { core::ptr::read_volatile(&raw const (*info_ptr).flags) };
    if flags & crate::abi::BOOT_FLAG_PVM != 0 {
        // Until this, kvm_pvm emulates every instruction (about 1 us each): go native
        // before anything else (measured: 120-180 us of boot went to emulation before).
        crate::pvm::enable();
    }
    // SAFETY: as above; we copy it out once and the kernel validates the copy.
    let info = unsafe { core::ptr::read_volatile(info_ptr) };
    main(info)
}

/// Defines the kernel's `_start`, calling `$main(BootInfo) -> !`.
#[macro_export]
macro_rules! entry_point {
    ($main:path) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn _start(boot_info_va: u64) -> ! {
            $crate::entry::start(boot_info_va, $main)
        }
    };
}
