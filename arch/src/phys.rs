//! Physical memory, reached through the direct map at [`PHYS_OFFSET`](crate::layout::PHYS_OFFSET).
//!
//! These are the kernel's only way to touch memory that is not a Rust object: page tables,
//! user pages, the hypercall block and the boot blobs. Every access is bounds-checked
//! against the RAM size set by [`init`]; an out-of-range access is a kernel bug and panics.
use core::sync::atomic::{AtomicU64, Ordering};

use crate::layout::phys_to_virt;

static RAM_END: AtomicU64 = AtomicU64::new(0);

/// Sets the end of guest RAM (exclusive). Called once at boot.
pub fn init(ram_size: u64) {
    RAM_END.store(ram_size, Ordering::Relaxed);
}

#[inline]
fn checked(pa: u64, len: usize) -> *mut u8 {
    let end = pa.checked_add(len as u64);
    match end {
        Some(end) if end <= RAM_END.load(Ordering::Relaxed) && pa != 0 => {
            phys_to_virt(pa) as *mut u8
        }
        _ => panic!("physical access out of range: {pa:#x}+{len:#x}"),
    }
}

/// Copies `buf.len()` bytes from physical `pa`.
#[inline]
pub fn read(pa: u64, buf: &mut [u8]) {
    let src = checked(pa, buf.len());
    // SAFETY: [pa, pa+len) is guest RAM (checked), mapped by the direct map; it never overlaps a Rust object borrowed as `buf` because the kernel's own objects are reached only through their own references.
    unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) }
}

/// Copies `buf` to physical `pa`.
#[inline]
pub fn write(pa: u64, buf: &[u8]) {
    let dst = checked(pa, buf.len());
    // SAFETY: as in `read`.
    unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) }
}

/// Sets `len` bytes at physical `pa` to `byte`.
#[inline]
pub fn fill(pa: u64, byte: u8, len: usize) {
    let dst = checked(pa, len);
    if byte == 0 && len.is_multiple_of(8) && pa.is_multiple_of(8) {
        // Zeroing (a frame, mostly) in 8-byte stores: under kvm_pvm a frame that was a
        // page table may still be write-protected by the shadow MMU, and then every store
        // traps; `rep stosb` would trap once per byte (measured: ~400 us per frame).
        let words = dst.cast::<u64>();
        for i in 0..len / 8 {
            // SAFETY: as in `read`; `dst` is 8-byte aligned (pa is, and the direct map offset is page aligned).
            unsafe { core::ptr::write_volatile(words.add(i), 0) };
        }
        return;
    }
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_bytes(dst, byte, len) }
}

/// Copies `len` bytes between physical ranges, which must not overlap.
#[inline]
pub fn copy(dst: u64, src: u64, len: usize) {
    let d = checked(dst, len);
    let s = checked(src, len);
    assert!(dst.abs_diff(src) >= len as u64, "overlapping physical copy");
    // SAFETY: both ranges are guest RAM (checked) and do not overlap (asserted).
    unsafe { core::ptr::copy_nonoverlapping(s, d, len) }
}

/// Drops a shadow-paging hypervisor's write protection of the frame at `pa`, a page table
/// no longer in use, with one 2-byte store of zero at its start. KVM's shadow MMU takes a
/// store narrower than a page-table entry as a sign that the page is no longer a table and
/// unshadows it at once (`detect_write_misaligned`); other stores each trap until three
/// have. Without shadow paging it is a plain store.
pub fn unshadow(pa: u64) {
    let p = checked(pa, 2) as *mut u16;
    // SAFETY: in range (checked) and 2-byte aligned (`pa` is a frame address).
    unsafe { core::ptr::write_volatile(p, 0) }
}

/// Reads an aligned u64 (a page-table entry, say).
#[inline]
pub fn read_u64(pa: u64) -> u64 {
    assert!(
        pa.is_multiple_of(8),
        "unaligned physical u64 read at {pa:#x}"
    );
    let p = checked(pa, 8) as *const u64;
    // SAFETY: aligned (asserted) and in range (checked).
    unsafe { core::ptr::read_volatile(p) }
}

/// Writes an aligned u64.
#[inline]
pub fn write_u64(pa: u64, v: u64) {
    assert!(
        pa.is_multiple_of(8),
        "unaligned physical u64 write at {pa:#x}"
    );
    let p = checked(pa, 8) as *mut u64;
    // SAFETY: aligned (asserted) and in range (checked).
    unsafe { core::ptr::write_volatile(p, v) }
}
