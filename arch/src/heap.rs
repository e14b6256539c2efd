//! The kernel heap: a linked-list allocator over a range of physical frames that the
//! kernel hands over once at boot, used through the direct map.
use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Gives the heap the physical range [pa, pa+size). Call once.
pub fn init(pa: u64, size: u64) {
    let start = crate::layout::phys_to_virt(pa) as *mut u8;
    // Bounds-check through the phys layer: panics if the range is not RAM.
    crate::phys::fill(pa, 0, 0);
    crate::phys::read_u64(pa + size - 8);
    // SAFETY: the range is RAM (checked above), mapped writable by the direct map, and the kernel's frame allocator never hands out frames in it.
    unsafe { HEAP.lock().init(start, size as usize) }
}

/// The heap's size.
pub fn size() -> usize {
    HEAP.lock().size()
}

/// Bytes of the heap not in use (possibly fragmented).
pub fn free() -> usize {
    HEAP.lock().free()
}

/// Bytes in use and free, for diagnostics.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}
