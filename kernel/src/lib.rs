//! hull's guest kernel: the Linux x86_64 syscall ABI, in safe Rust over `hull-arch`.
//!
//! The kernel runs in ring 0 of a one-vCPU KVM guest; the program runs in ring 3. Memory,
//! time, signals and fd bookkeeping stay in the guest; only file and console I/O cross to
//! the host, as hypercalls. All hardware access goes through [`platform`], which is
//! `hull-arch` in the guest and an in-memory model on the host, so the logic here runs as
//! ordinary unit tests under `cargo test`.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod boot;
pub mod console;
pub mod elf;
pub mod errno;
pub mod fd;
pub mod hypercall;
pub mod initstack;
pub mod mm;
pub mod platform;
pub mod process;
pub mod random;
pub mod sched;
pub mod sigframe;
pub mod signal;
pub mod stats;
pub mod strace;
pub mod syscall;
pub mod sysnames;
pub mod time;
pub mod trap;
pub mod vdso;
pub mod vfs;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::panic_exit(info)
}
