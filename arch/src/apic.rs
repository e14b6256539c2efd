//! The local APIC in x2APIC mode, used only as a one-shot TSC-deadline timer that wakes
//! the vCPU from HLT (so a sleeping program costs no host CPU).
use crate::cpu::{rdmsr, wrmsr};

/// Vector of the timer interrupt.
pub const TIMER_VECTOR: u8 = 0x20;
/// Vector of spurious APIC interrupts.
pub const SPURIOUS_VECTOR: u8 = 0xff;

const IA32_APIC_BASE: u32 = 0x1b;
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const X2APIC_EOI: u32 = 0x80b;
const X2APIC_SVR: u32 = 0x80f;
const X2APIC_LVT_TIMER: u32 = 0x832;

/// Enables the APIC in x2APIC mode with the timer in TSC-deadline mode.
pub fn init() {
    let base = rdmsr(IA32_APIC_BASE);
    wrmsr(IA32_APIC_BASE, base | (1 << 11) | (1 << 10));
    wrmsr(X2APIC_SVR, 0x100 | SPURIOUS_VECTOR as u64);
    wrmsr(X2APIC_LVT_TIMER, (0b10 << 17) | TIMER_VECTOR as u64);
}

/// Arms the timer to fire when the TSC reaches `tsc` (0 disarms it).
pub fn set_deadline(tsc: u64) {
    wrmsr(IA32_TSC_DEADLINE, tsc);
}

/// Acknowledges the current interrupt.
pub fn eoi() {
    wrmsr(X2APIC_EOI, 0);
}
