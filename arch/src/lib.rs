//! hull's machine contract.
//!
//! Two halves live here:
//! - the guest/host contract ([`abi`], [`layout`]): the boot-info block, the guest-physical
//!   memory map and the hypercall ABI. Plain data, compiled for both the guest and the host.
//! - the guest's x86_64 primitives (gated on `target_os = "none"`): descriptor tables, the
//!   syscall and trap entry, MSRs, port I/O, physical-memory access through the direct map,
//!   the APIC timer and the kernel heap. This is the only `unsafe` code in the guest; the
//!   kernel above it is safe Rust.
#![no_std]

pub mod abi;
pub mod layout;
pub mod trapframe;

#[cfg(target_os = "none")]
pub mod apic;
#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod entry;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod phys;
#[cfg(target_os = "none")]
pub mod pvm;
#[cfg(target_os = "none")]
pub mod tables;

#[cfg(test)]
extern crate std;
