//! Single-instruction CPU primitives: port I/O for hypercalls, MSRs, control registers,
//! TLB maintenance, the TSC and halting.
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::Msr;

const IA32_FS_BASE: u32 = 0xC000_0100;

/// Under PVM the kernel runs in hardware ring 3, so where the host enabled FSGSBASE for
/// user mode, `wrfsbase` sets the user's FS base without a hypercall.
pub static USER_FSGSBASE: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);
const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// Issues hypercall `op`: one `out` to the hypercall port. The host reads and writes the
/// hypercall block while the vCPU is stopped; the asm's implicit memory clobber orders our
/// block writes before the exit and our reads after it.
#[inline]
pub fn hypercall(op: u32) {
    // SAFETY: port I/O to the hypercall port only causes a VM exit; it touches no guest memory that Rust does not know about (the block is written through the direct map with ordinary copies, and the clobber keeps them ordered).
    unsafe {
        asm!("out dx, eax", in("dx") crate::abi::HYPERCALL_PORT, in("eax") op, options(nostack, preserves_flags));
    }
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects (CR4.TSD is clear, and we are in ring 0).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Executes CPUID.
pub fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// The faulting address of the last page fault.
pub fn read_cr2() -> u64 {
    if crate::pvm::active() {
        return crate::pvm::cr2();
    }
    x86_64::registers::control::Cr2::read_raw()
}

static LOADED_ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The root [`load_cr3`] last loaded (reading CR3 itself traps under PVM).
pub fn loaded_root() -> u64 {
    LOADED_ROOT.load(core::sync::atomic::Ordering::Relaxed)
}

/// Switches to the page tables rooted at physical address `pml4`.
pub fn load_cr3(pml4: u64) {
    LOADED_ROOT.store(pml4, core::sync::atomic::Ordering::Relaxed);
    if crate::pvm::active() {
        crate::pvm::hypercall(crate::pvm::hc::SET_CR3, pml4, 0, 0);
        return;
    }
    // SAFETY: the caller hands us a complete PML4 whose kernel half maps this code, the stacks and the direct map exactly as before (the kernel builds every address space from the same kernel half), so execution continues unaffected.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) }
}

/// Invalidates the TLB entry of one page in the current address space.
#[inline]
pub fn invlpg(va: u64) {
    if crate::pvm::active() {
        crate::pvm::hypercall(crate::pvm::hc::FLUSH_TLB_ONE, va, 0, 0);
        return;
    }
    // SAFETY: INVLPG only drops a cached translation.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) }
}

/// Sets the user FS base (the TLS pointer of `arch_prctl(ARCH_SET_FS)`).
pub fn set_fs_base(v: u64) {
    if crate::pvm::active() && USER_FSGSBASE.load(core::sync::atomic::Ordering::Relaxed) {
        // SAFETY: the host enabled FSGSBASE for user mode, where the PVM guest runs; FS is not used by the kernel; the caller checked that v is canonical.
        unsafe { asm!("wrfsbase {}", in(reg) v, options(nostack, preserves_flags)) };
        return;
    }
    if crate::pvm::active() {
        crate::pvm::hypercall(crate::pvm::hc::WRMSR, IA32_FS_BASE as u64, v, 0);
        return;
    }
    // SAFETY: FS is not used by the kernel; the caller checked that v is canonical.
    unsafe { Msr::new(IA32_FS_BASE).write(v) }
}

/// The user FS base.
pub fn fs_base() -> u64 {
    // SAFETY: reading FS_BASE has no side effects.
    unsafe { Msr::new(IA32_FS_BASE).read() }
}

/// Sets the user GS base. In the kernel, after SWAPGS, the user's value lives in
/// KERNEL_GS_BASE.
pub fn set_user_gs_base(v: u64) {
    if crate::pvm::active() {
        // The kernel does not use GS under PVM; both bases hold the user's value so the
        // host's implicit swaps on entry and exit cannot change what user code sees.
        crate::pvm::hypercall(crate::pvm::hc::WRMSR, 0xC000_0101, v, 0);
        crate::pvm::hypercall(crate::pvm::hc::WRMSR, IA32_KERNEL_GS_BASE as u64, v, 0);
        return;
    }
    // SAFETY: KERNEL_GS_BASE holds the user GS base while in the kernel; the caller checked that v is canonical.
    unsafe { Msr::new(IA32_KERNEL_GS_BASE).write(v) }
}

/// The user GS base (see [`set_user_gs_base`]).
pub fn user_gs_base() -> u64 {
    // SAFETY: reading KERNEL_GS_BASE has no side effects.
    unsafe { Msr::new(IA32_KERNEL_GS_BASE).read() }
}

/// Writes an MSR that is known to be safe to write from the kernel (APIC registers).
pub(crate) fn wrmsr(msr: u32, v: u64) {
    if crate::pvm::active() {
        crate::pvm::hypercall(crate::pvm::hc::WRMSR, msr as u64, v, 0);
        return;
    }
    // SAFETY: only called from this crate for the APIC MSRs, whose writes do not affect memory safety.
    unsafe { Msr::new(msr).write(v) }
}

/// Reads an MSR.
pub(crate) fn rdmsr(msr: u32) -> u64 {
    // SAFETY: only called from this crate for MSRs that exist on every CPU we run on.
    unsafe { Msr::new(msr).read() }
}

/// Sleeps until the next interrupt, with interrupts enabled only while halted. The
/// interrupt shadow of STI makes `sti; hlt` atomic, so a wakeup cannot be lost.
pub fn halt_until_interrupt() {
    if crate::pvm::active() {
        crate::pvm::halt();
        return;
    }
    // SAFETY: interrupt handlers are installed before the first call; they return here.
    unsafe { asm!("sti", "hlt", "cli", options(nostack)) }
}

/// CPU features the kernel turned on, for the rest of the kernel to consult.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// XSAVE is on and XCR0 is this mask.
    pub xcr0: u64,
    /// Bytes of the XSAVE area for `xcr0`.
    pub xsave_size: u32,
    /// SMEP is on.
    pub smep: bool,
    /// SMAP is on.
    pub smap: bool,
    /// The local APIC runs in x2APIC mode with a TSC-deadline timer.
    pub tsc_deadline: bool,
}

/// CPUID.1:EDX, for AT_HWCAP (saved at boot: CPUID traps under PVM).
static HWCAP: AtomicU64 = AtomicU64::new(0);

/// CPUID.1:EDX as [`enable_features`] read it, for AT_HWCAP.
pub fn hwcap() -> u64 {
    HWCAP.load(Ordering::Relaxed)
}

/// Turns on the CPU features the kernel relies on: SSE for user programs, XSAVE with the
/// user state components the CPU has (x87, SSE, AVX, AVX-512; not AMX or PKRU), SMEP, SMAP
/// and UMIP where present, and global pages.
///
/// Under PVM (`pvm`), SMEP and SMAP stay off: the kernel itself runs on user-accessible
/// mappings there.
pub fn enable_features(pvm: bool) -> Features {
    let mut f = Features::default();
    let l1 = cpuid(1, 0);
    let l7 = cpuid(7, 0);
    // Each control-register access traps under PVM (a world switch): one read, and a
    // write only of a changed value.
    let old_cr4 = Cr4::read_raw();
    let mut cr4 = Cr4Flags::from_bits_retain(old_cr4)
        | Cr4Flags::OSFXSR
        | Cr4Flags::OSXMMEXCPT_ENABLE
        | Cr4Flags::PAGE_GLOBAL;
    if l7[1] & (1 << 7) != 0 && !pvm {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
        f.smep = true;
    }
    if l7[1] & (1 << 20) != 0 && !pvm {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
        f.smap = true;
    }
    if l7[2] & (1 << 2) != 0 && !pvm {
        cr4 |= Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION;
    }
    let has_xsave = l1[2] & (1 << 26) != 0;
    if has_xsave {
        cr4 |= Cr4Flags::OSXSAVE;
    }
    if cr4.bits() != old_cr4 {
        // SAFETY: the bits added are backed by the CPUID checks above (the others are as read); the kernel never executes user addresses (SMEP) nor touches user memory through user addresses (SMAP): it reaches user pages through the direct map.
        unsafe { Cr4::write_raw(cr4.bits()) };
    }
    let old_cr0 = Cr0::read_raw();
    let cr0 = (Cr0Flags::from_bits_retain(old_cr0)
        - (Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED))
        | Cr0Flags::MONITOR_COPROCESSOR
        | Cr0Flags::NUMERIC_ERROR;
    if cr0.bits() != old_cr0 {
        // SAFETY: clearing EM and setting MP/NE is the required state for SSE; TS stays clear; the other bits are as read.
        unsafe { Cr0::write_raw(cr0.bits()) };
    }
    if has_xsave {
        let d = cpuid(0xd, 0);
        let supported = (d[0] as u64) | ((d[3] as u64) << 32);
        let xcr0 = supported & crate::abi::XCR0_MANAGED;
        // SAFETY: XCR0 gets only components the CPU reports, and always x87|SSE.
        unsafe {
            asm!("xsetbv", in("ecx") 0u32, in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32, options(nostack))
        };
        f.xcr0 = xcr0;
        // EBX of leaf 0xd is the size for the XCR0 in force, so it is read after XSETBV.
        f.xsave_size = cpuid(0xd, 0)[1];
    }
    HWCAP.store(l1[3] as u64, Ordering::Relaxed);
    f.tsc_deadline = l1[2] & (1 << 24) != 0 && l1[2] & (1 << 21) != 0;
    f
}

/// A buffer for the extended FPU/SIMD state (XSAVE standard format), 64-byte aligned as
/// XSAVE requires. 4 KiB covers x87, SSE, AVX and AVX-512, the components hull enables.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct XsaveArea(pub [u8; 4096]);

impl core::fmt::Debug for XsaveArea {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("XsaveArea(..)")
    }
}

impl Default for XsaveArea {
    fn default() -> Self {
        XsaveArea([0; 4096])
    }
}

/// Saves the user FPU/SIMD state for the components in `xcr0` (0: FXSAVE, 512 bytes).
pub fn xsave(area: &mut XsaveArea, xcr0: u64) {
    // SAFETY: the area is 64-byte aligned and 4 KiB, larger than any enabled XSAVE layout (the kernel checks the CPUID size at boot); the instruction writes only inside it.
    unsafe {
        if xcr0 == 0 {
            asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack));
        } else {
            asm!("xsave64 [{}]", in(reg) area.0.as_mut_ptr(), in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32, options(nostack));
        }
    }
}

/// Loads the FPU/SIMD state. The caller has validated the header and MXCSR (an invalid
/// area would raise #GP in the kernel, which hull reports as a kernel fault).
pub fn xrstor(area: &XsaveArea, xcr0: u64) {
    // SAFETY: aligned and sized as in `xsave`; XRSTOR only reads the area and loads FPU, SSE and AVX registers, which the kernel itself never uses (it is soft-float).
    unsafe {
        if xcr0 == 0 {
            asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack));
        } else {
            asm!("xrstor64 [{}]", in(reg) area.0.as_ptr(), in("eax") xcr0 as u32, in("edx") (xcr0 >> 32) as u32, options(nostack));
        }
    }
}
