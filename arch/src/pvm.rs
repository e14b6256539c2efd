//! Running under `kvm_pvm`, the paravirtual KVM of this host class (a hypervisor without
//! VMX/SVM that runs the guest kernel in hardware ring 3 under shadow paging).
//!
//! Until the guest registers its virtual-interrupt-flag (VIF) page, PVM emulates every
//! kernel instruction; afterwards the kernel runs natively. Privileged instructions then
//! trap and are emulated (microseconds each), so the hot paths use PVM hypercalls
//! (`int 0x1b`, number in RAX, arguments in RBX/RCX/RDX) instead, and the entry paths avoid
//! SWAPGS and GS altogether (one vCPU: plain globals hold the stack pointers).
//!
//! Kernel mappings must carry the U bit at every level (the kernel executes in hardware
//! ring 3), and every page table root is a pair of pages (kernel PML4, then a user PML4
//! with the user half only) for PVM's KPTI; the kernel's page-table code does both.
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// Hypercall numbers.
pub mod hc {
    pub const SET_CR3: u64 = 0x1001;
    pub const WRMSR: u64 = 0x1003;
    pub const FLUSH_TLB_ONE: u64 = 0x1008;
    pub const HALT: u64 = 0x1009;
    pub const SET_VIF_GPA: u64 = 0x100c;
}

/// VIF registration flag: the host writes the page-fault address into `Vif::cr2`.
const VIF_CR2_CELL: u64 = 1 << 4;
/// VIF registration flag: KPTI. User mode runs on the PML4 at CR3 + 4096, which the kernel
/// fills with the user half only, so user code cannot reach kernel memory. (Without it,
/// every kernel page the kernel has touched is readable and writable from user mode, since
/// both modes run in hardware ring 3 on one shadow.)
const VIF_KPTI: u64 = 1 << 0;
/// VIF registration flags that make the host switch to the kernel's PML4 itself when it
/// delivers a syscall or event (without them, entry would run on the user PML4, where the
/// kernel is not mapped). Measured: getppid 1.7 us with them and KPTI, 2.6 us with neither.
const VIF_KERNEL_ENTRY: u64 = (1 << 1) | (1 << 2) | (1 << 5);

/// The VIF page: the kernel's interrupt flag (hardware IF is always 1 in PVM) and the
/// page-fault address.
#[repr(C, align(4096))]
struct VifPage {
    if_: u8,
    pending: u8,
    _pad: [u8; 6],
    cr2: u64,
    _rest: [u8; 4096 - 16],
}

static mut VIF: VifPage = VifPage {
    if_: 0,
    pending: 0,
    _pad: [0; 6],
    cr2: 0,
    _rest: [0; 4096 - 16],
};

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Read by the entry assembly: non-zero once the kernel runs natively under PVM.
#[unsafe(no_mangle)]
static mut hull_pvm_mode: u8 = 0;

/// Whether the kernel runs as a native PVM guest.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Issues PVM hypercall `nr`.
#[inline]
pub fn hypercall(nr: u64, rbx: u64, rcx: u64, rdx: u64) -> u64 {
    let ret: u64;
    // SAFETY: `int 0x1b` is PVM's hypercall gate; it reads RAX/RBX/RCX/RDX, returns in RAX and touches no guest memory except as the specific hypercall documents (none of the ones used here write memory).
    unsafe {
        asm!(
            "xchg {b}, rbx",
            "int 0x1b",
            "xchg {b}, rbx",
            b = inout(reg) rbx => _,
            inout("rax") nr => ret,
            inout("rcx") rcx => _,
            inout("rdx") rdx => _,
            options(nostack),
        );
    }
    ret
}

/// Switches the kernel to native PVM execution: registers the VIF page (with interrupts
/// disabled in it) and points the entry paths at their PVM variants. Done first thing at
/// boot ([`crate::entry::start`]); later calls do nothing.
pub fn enable() {
    if active() {
        return;
    }
    let vif = &raw mut VIF;
    // SAFETY: single-threaded boot; the page is the kernel's own static.
    unsafe { (*vif).if_ = 0 };
    let gpa = vif as u64 - crate::layout::KERNEL_VIRT_BASE;
    hypercall(
        hc::SET_VIF_GPA,
        gpa | VIF_CR2_CELL | VIF_KPTI | VIF_KERNEL_ENTRY,
        0,
        0,
    );
    // SAFETY: read only by the entry assembly on this single vCPU.
    unsafe { hull_pvm_mode = 1 };
    ACTIVE.store(true, Ordering::Relaxed);
}

/// The last page-fault address, from the VIF page.
pub fn cr2() -> u64 {
    // SAFETY: the host writes the field between guest instructions; a volatile read of a plain u64 in our own static.
    unsafe { core::ptr::read_volatile(&raw const VIF.cr2) }
}

/// Sleeps until an interrupt: the virtual IF is raised only while halted.
pub fn halt() {
    let vif = &raw mut VIF;
    // SAFETY: the host reads the flag when deciding to deliver; single vCPU.
    unsafe { core::ptr::write_volatile(&raw mut (*vif).if_, 1) };
    hypercall(hc::HALT, 0, 0, 0);
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(&raw mut (*vif).if_, 0) };
}
