//! Memory management: physical frames, page tables, address spaces with demand paging,
//! and checked access to user memory.
pub mod aspace;
pub mod frame;
pub mod paging;
pub mod source;
pub mod uaccess;
pub mod vma;

pub use hull_arch::layout::PAGE_SIZE;

/// Rounds `v` down to a page boundary.
pub const fn page_floor(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Rounds `v` up to a page boundary; `None` on overflow.
pub const fn page_ceil(v: u64) -> Option<u64> {
    match v.checked_add(PAGE_SIZE - 1) {
        Some(x) => Some(x & !(PAGE_SIZE - 1)),
        None => None,
    }
}
