//! The kernel's own descriptor tables: GDT with TSS (IST stacks for the faults that must
//! not run on a possibly broken stack), the IDT covering every exception plus the timer
//! and spurious vectors, the per-CPU block reached through GS, and the SYSCALL MSRs.
use core::mem::size_of;

use x86_64::instructions::tables::{lgdt, lidt, load_tss};
use x86_64::registers::model_specific::{
    Efer, EferFlags, GsBase, KernelGsBase, LStar, SFMask, Star,
};
use x86_64::registers::rflags::RFlags;
use x86_64::registers::segmentation::{DS, ES, Segment};
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::SegmentSelector;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

use crate::layout::selectors;

/// IST index (1-based, as in the gate) for double fault, NMI and machine check.
const IST_CRITICAL: u8 = 1;
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack([u8; IST_STACK_SIZE]);

static mut IST_STACK: Stack = Stack([0; IST_STACK_SIZE]);
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static mut GDT: [u64; 7] = [0; 7];
static mut IDT: [[u64; 2]; 256] = [[0; 2]; 256];

/// The per-CPU block, at GS base while in the kernel. The entry assembly uses fixed offsets.
#[repr(C)]
pub struct PerCpu {
    /// Top of the current task's kernel stack (offset 0).
    pub kernel_rsp: u64,
    /// Scratch slot for the user RSP during SYSCALL entry (offset 8).
    pub user_rsp: u64,
}

pub(crate) static mut PERCPU: PerCpu = PerCpu {
    kernel_rsp: 0,
    user_rsp: 0,
};

unsafe extern "C" {
    static hull_trap_stubs: [u64; 35];
    fn hull_syscall_entry();
    fn hull_syscall_entry_pvm();
}

/// Builds and loads the GDT, TSS and IDT, points GS at the per-CPU block, and programs the
/// SYSCALL MSRs (with the PVM entry when `pvm`). Called once, on the boot stack, before any
/// user code runs.
pub fn init(pvm: bool) {
    let ist_top = (&raw const IST_STACK) as u64 + IST_STACK_SIZE as u64;
    let tss_addr = &raw mut TSS;
    // SAFETY: init runs once on the single vCPU before anything else reads the TSS.
    unsafe {
        (*tss_addr).interrupt_stack_table[(IST_CRITICAL - 1) as usize] = VirtAddr::new(ist_top)
    };

    let tss_base = tss_addr as u64;
    let tss_limit = (size_of::<TaskStateSegment>() - 1) as u64;
    let gdt = [
        0,
        0x00af_9a00_0000_ffff, // kernel code: L, P, DPL0, exec/read
        0x00cf_9200_0000_ffff, // kernel data: P, DPL0, read/write
        0x00cf_f200_0000_ffff, // user data: P, DPL3
        0x00af_fa00_0000_ffff, // user code: L, P, DPL3
        (tss_limit & 0xffff)
            | ((tss_base & 0xff_ffff) << 16)
            | (0x89 << 40)
            | (((tss_limit >> 16) & 0xf) << 48)
            | (((tss_base >> 24) & 0xff) << 56),
        tss_base >> 32,
    ];
    // SAFETY: single-threaded init; nothing has loaded the GDT yet.
    unsafe { GDT = gdt };

    let gdt_ptr = DescriptorTablePointer {
        limit: (size_of::<[u64; 7]>() - 1) as u16,
        base: VirtAddr::new((&raw const GDT) as u64),
    };
    // CS and SS are not reloaded: their selectors and descriptors are the boot GDT's
    // (`BOOT_GDT` in the loader), so the loaded ones stay valid (and each reload traps
    // under PVM).
    // SAFETY: the GDT is static, complete, and keeps the selectors and descriptors the loader's boot GDT used for CS and SS; loading null DS/ES is valid in long mode; the TSS descriptor is well formed.
    unsafe {
        lgdt(&gdt_ptr);
        DS::set_reg(SegmentSelector::new(0, PrivilegeLevel::Ring0));
        ES::set_reg(SegmentSelector::new(0, PrivilegeLevel::Ring0));
        load_tss(SegmentSelector(selectors::TSS));
    }

    // SAFETY: the stub table is defined in entry.rs's assembly, 34 addresses.
    let stubs = unsafe { &hull_trap_stubs };
    // Every vector has a present DPL-0 gate, so `int n` from user mode is a #GP (SIGSEGV),
    // as on Linux; vectors nothing raises share the spurious stub.
    let mut idt = [gate(stubs[33], 0); 256];
    for (vector, slot) in (0..32usize)
        .chain([
            crate::apic::TIMER_VECTOR as usize,
            crate::apic::SPURIOUS_VECTOR as usize,
            crate::abi::HOST_SIGNAL_VECTOR as usize,
        ])
        .enumerate()
    {
        let ist = if matches!(slot, 2 | 8 | 18) {
            IST_CRITICAL
        } else {
            0
        };
        idt[slot] = gate(stubs[vector], ist);
    }
    // SAFETY: single-threaded init.
    unsafe { IDT = idt };
    let idt_ptr = DescriptorTablePointer {
        limit: (size_of::<[[u64; 2]; 256]>() - 1) as u16,
        base: VirtAddr::new((&raw const IDT) as u64),
    };
    // SAFETY: the IDT is static and every present gate points at a stub in entry.rs.
    unsafe { lidt(&idt_ptr) };

    if !pvm {
        // Under PVM the entry paths do not use GS (and each MSR write traps there).
        let percpu = (&raw mut PERCPU) as u64;
        GsBase::write(VirtAddr::new(percpu));
        KernelGsBase::write(VirtAddr::new(0));
    }
    let entry = if pvm {
        hull_syscall_entry_pvm as *const () as u64
    } else {
        hull_syscall_entry as *const () as u64
    };
    LStar::write(VirtAddr::new(entry));
    Star::write(
        SegmentSelector(selectors::USER_CODE),
        SegmentSelector(selectors::USER_DATA),
        SegmentSelector(selectors::KERNEL_CODE),
        SegmentSelector(selectors::KERNEL_DATA),
    )
    .expect("STAR selectors are laid out as SYSRET requires");
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK,
    );
    let efer = Efer::read_raw();
    let wanted = efer | (EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE).bits();
    if wanted != efer {
        // SAFETY: enabling SYSCALL and NX, the other bits as read (the loader sets both; this only makes sure).
        unsafe { Efer::write_raw(wanted) };
    }
}

/// An interrupt gate: present, DPL 0, kernel code segment.
fn gate(handler: u64, ist: u8) -> [u64; 2] {
    let low = (handler & 0xffff)
        | ((selectors::KERNEL_CODE as u64) << 16)
        | ((ist as u64) << 32)
        | (0x8e << 40)
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

/// Sets the kernel stack used on entry from user mode (SYSCALL through the per-CPU block,
/// interrupts and exceptions through TSS.RSP0).
pub fn set_kernel_stack(top: u64) {
    // SAFETY: the single vCPU runs with interrupts off in the kernel, so no entry path reads these fields concurrently.
    unsafe {
        PERCPU.kernel_rsp = top;
        TSS.privilege_stack_table[0] = VirtAddr::new(top);
    }
}

/// The current kernel stack top.
pub fn kernel_stack() -> u64 {
    // SAFETY: plain read of a field only this vCPU writes.
    unsafe { PERCPU.kernel_rsp }
}
