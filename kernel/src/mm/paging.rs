//! 4-level x86_64 page tables, edited through physical memory. Intermediate tables are
//! allocated on demand; leaf permissions carry the policy (user/kernel, write, NX).
use core::sync::atomic::{AtomicU64, Ordering};

use super::PAGE_SIZE;
use super::frame::FrameAllocator;
use crate::platform;
use hull_arch::layout::USER_END;

/// Page-table entry bits.
pub mod flags {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const ACCESSED: u64 = 1 << 5;
    pub const DIRTY: u64 = 1 << 6;
    pub const HUGE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Software bit: a not-present entry that still owns its frame (PROT_NONE).
    pub const PARKED: u64 = 1 << 9;
}
use flags::*;

/// Physical-address bits of an entry.
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Size of a large (2 MiB) page.
const LARGE: u64 = PAGE_SIZE << 9;

/// `entry` with its accessed bit, and its dirty bit if writable, already set (as Linux
/// sets them on kernel mappings). The kernel never reads them; a shadow-paging
/// hypervisor would otherwise map a writable page read-only on its first read, to catch
/// the write that sets the dirty bit, which costs a second world switch per page.
fn with_accessed_dirty(entry: u64) -> u64 {
    if entry & PRESENT == 0 {
        entry
    } else if entry & WRITABLE != 0 {
        entry | ACCESSED | DIRTY
    } else {
        entry | ACCESSED
    }
}

/// Extra bits for kernel-half entries: USER under PVM, where the kernel runs in hardware
/// ring 3 (see `hull_arch::pvm`); 0 on hardware virtualization.
static KERNEL_EXTRA: AtomicU64 = AtomicU64::new(0);

/// Marks kernel mappings user-accessible at the hardware level (PVM only).
pub fn set_kernel_mappings_user(on: bool) {
    KERNEL_EXTRA.store(if on { USER } else { 0 }, Ordering::Relaxed);
}

/// The extra bits every kernel-half entry carries.
pub fn kernel_extra() -> u64 {
    KERNEL_EXTRA.load(Ordering::Relaxed)
}

/// Out of frames while building tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfFrames;

/// A page-table hierarchy, named by the physical address of its PML4.
#[derive(Debug)]
pub struct PageTable {
    root: u64,
    /// Under PVM with KPTI: a second, user-mode PML4 at `root + 4096` that maps the user
    /// half only, so user code cannot reach kernel memory (the host switches between the
    /// two on every mode change).
    kpti: bool,
    /// The user's 2 MiB pages (see [`map_user_large`](Self::map_user_large)), by address:
    /// the page table that maps the same frames with 4 KiB entries, filled in advance, so
    /// that any 4 KiB operation there can split the large page without allocating.
    large: alloc::collections::BTreeMap<u64, u64>,
}

/// Whether new user address spaces get a KPTI user PML4 (set once at boot under PVM).
static KPTI: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns on KPTI page tables for address spaces created from now on.
pub fn set_kpti(on: bool) {
    KPTI.store(on, Ordering::Relaxed);
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 511
}

impl PageTable {
    /// A new, empty hierarchy.
    pub fn new(frames: &mut FrameAllocator) -> Result<Self, OutOfFrames> {
        if KPTI.load(Ordering::Relaxed) {
            let root = frames.alloc_pair().ok_or(OutOfFrames)?;
            platform::fill(root, 0, 2 * PAGE_SIZE as usize);
            return Ok(PageTable {
                root,
                kpti: true,
                large: Default::default(),
            });
        }
        Ok(PageTable {
            root: frames.alloc_zeroed().ok_or(OutOfFrames)?,
            kpti: false,
            large: Default::default(),
        })
    }

    /// A new hierarchy whose kernel half (PML4 slots 256..512) is shared with `kernel`.
    pub fn new_user(kernel: &PageTable, frames: &mut FrameAllocator) -> Result<Self, OutOfFrames> {
        let kpti = KPTI.load(Ordering::Relaxed);
        if kpti && let Some(root) = frames.reuse_root_pair() {
            // A dropped address space's root pair: user halves empty, kernel half as the
            // kernel's except where it changed since (only those entries are stored).
            for i in 256..512 {
                let want = platform::read_u64(kernel.root + 8 * i);
                if platform::read_u64(root + 8 * i) != want {
                    platform::write_u64(root + 8 * i, want);
                }
            }
            return Ok(PageTable {
                root,
                kpti: true,
                large: Default::default(),
            });
        }
        let pt = if kpti {
            let root = frames.alloc_pair().ok_or(OutOfFrames)?;
            platform::fill(root, 0, 2 * PAGE_SIZE as usize);
            PageTable {
                root,
                kpti: true,
                large: Default::default(),
            }
        } else {
            Self::new(frames)?
        };
        let mut half = [0u8; 2048];
        platform::read(kernel.root + 2048, &mut half);
        platform::write(pt.root + 2048, &half);
        Ok(pt)
    }

    /// Physical address of the PML4 (for CR3).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Physical address of the entry for `va` at `level` (1 = PT), creating intermediate
    /// tables when `frames` is given. `None` if a table on the way is missing (and not
    /// created) or a huge page is in the way.
    fn entry_at(
        &self,
        va: u64,
        level: u32,
        mut frames: Option<&mut FrameAllocator>,
    ) -> Result<Option<u64>, OutOfFrames> {
        let mut table = self.root;
        for l in (level + 1..=4).rev() {
            let slot = table + 8 * index(va, l);
            let e = platform::read_u64(slot);
            if e & PRESENT == 0 {
                let Some(f) = frames.as_deref_mut() else {
                    return Ok(None);
                };
                let new = f.alloc_zeroed().ok_or(OutOfFrames)?;
                let user = if va < hull_arch::layout::USER_END {
                    USER
                } else {
                    kernel_extra()
                };
                let entry = new | PRESENT | WRITABLE | ACCESSED | user;
                platform::write_u64(slot, entry);
                if l == 4 && self.kpti && va < hull_arch::layout::USER_END {
                    // Mirror user-half PML4 entries into the user-mode PML4.
                    platform::write_u64(slot + PAGE_SIZE, entry);
                }
                table = new;
            } else if e & HUGE != 0 {
                return Ok(None);
            } else {
                table = e & ADDR_MASK;
            }
        }
        Ok(Some(table + 8 * index(va, level)))
    }

    /// Maps the 4 KiB page at `va` to `pa` with leaf `flags` (PRESENT is added).
    pub fn map(
        &mut self,
        va: u64,
        pa: u64,
        flags: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), OutOfFrames> {
        // A not-present entry is never cached in the TLB, so only a replaced mapping needs
        // the flush (which is a hypercall under PVM); `set_entry` does exactly that.
        self.set_entry(va, (pa & ADDR_MASK) | flags | PRESENT, frames)
    }

    /// Maps the 2 MiB page at `va` to `pa` (kernel direct map and image).
    pub fn map_large(
        &mut self,
        va: u64,
        pa: u64,
        flags: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), OutOfFrames> {
        let slot = self
            .entry_at(va, 2, Some(frames))?
            .expect("created tables are never huge");
        platform::write_u64(
            slot,
            with_accessed_dirty((pa & ADDR_MASK) | flags | PRESENT | HUGE | kernel_extra()),
        );
        Ok(())
    }

    /// The physical address and leaf flags of the page holding `va`.
    pub fn lookup(&self, va: u64) -> Option<(u64, u64)> {
        let mut table = self.root;
        for l in (1..=4).rev() {
            let e = platform::read_u64(table + 8 * index(va, l));
            if e & PRESENT == 0 {
                return None;
            }
            if l == 1 || e & HUGE != 0 {
                let size = PAGE_SIZE << (9 * (l - 1));
                // A user page in a large one: the flags its own 4 KiB entry would have.
                let flags = if l > 1 && va < hull_arch::layout::USER_END {
                    e & !ADDR_MASK & !HUGE
                } else {
                    e & !ADDR_MASK
                };
                return Some((
                    (e & ADDR_MASK & !(size - 1)) + (va & (size - 1) & !(PAGE_SIZE - 1)),
                    flags,
                ));
            }
            table = e & ADDR_MASK;
        }
        None
    }

    /// Maps the 2 MiB user page at `va` (aligned) to the 512 frames at `pa` (aligned) with
    /// leaf `flags`, if nothing is mapped in that range yet (no page table there); false
    /// if something is. Under shadow paging a large page is one fault instead of 512.
    ///
    /// Only [`lookup`](Self::lookup) and [`lookup_any`](Self::lookup_any) see large user
    /// pages as they are; every operation on a 4 KiB page inside one first splits it into
    /// the page table prepared here, after which its frames are 512 ordinary ones.
    pub fn map_user_large(
        &mut self,
        va: u64,
        pa: u64,
        flags: u64,
        frames: &mut FrameAllocator,
    ) -> Result<bool, OutOfFrames> {
        debug_assert!(va.is_multiple_of(LARGE) && pa.is_multiple_of(LARGE) && va < USER_END);
        let slot = self
            .entry_at(va, 2, Some(frames))?
            .expect("created tables are never huge");
        if platform::read_u64(slot) != 0 {
            return Ok(false);
        }
        let table = frames.alloc().ok_or(OutOfFrames)?;
        for i in 0..512 {
            let entry = (pa + i * PAGE_SIZE) | flags | PRESENT;
            platform::write_u64(table + 8 * i, with_accessed_dirty(entry));
        }
        self.large.insert(va, table);
        platform::write_u64(slot, with_accessed_dirty(pa | flags | PRESENT | HUGE));
        Ok(true)
    }

    /// Splits the large user page holding `va`, if any, into its prepared page table.
    fn split_large(&mut self, va: u64) {
        let Some(&table) = self.large.get(&(va & !(LARGE - 1))) else {
            return;
        };
        let Ok(Some(slot)) = self.entry_at(va, 2, None) else {
            return;
        };
        let e = platform::read_u64(slot);
        if e & HUGE == 0 {
            return;
        }
        self.large.remove(&(va & !(LARGE - 1)));
        platform::write_u64(slot, table | PRESENT | WRITABLE | USER | ACCESSED);
        platform::invlpg(va & !(LARGE - 1));
    }

    /// The slot of `va`'s 4 KiB entry, splitting a large user page in the way (see
    /// [`entry_at`](Self::entry_at) for the rest).
    fn leaf_slot(
        &mut self,
        va: u64,
        frames: Option<&mut FrameAllocator>,
    ) -> Result<Option<u64>, OutOfFrames> {
        if !self.large.is_empty() {
            self.split_large(va);
        }
        self.entry_at(va, 1, frames)
    }

    /// Removes the 4 KiB mapping of `va` (present or parked); returns the frame it mapped.
    pub fn unmap(&mut self, va: u64) -> Option<u64> {
        let slot = self.leaf_slot(va, None).ok().flatten()?;
        let e = platform::read_u64(slot);
        if e & (PRESENT | PARKED) == 0 {
            return None;
        }
        platform::write_u64(slot, 0);
        if e & PRESENT != 0 {
            platform::invlpg(va);
        }
        Some(e & ADDR_MASK)
    }

    /// Rewrites every 4 KiB entry in [start, end) that is present or parked to
    /// `rewrite(va, entry)`, skipping the stretches whose tables do not exist. Flushes
    /// nothing: returns how many entries that were present changed, and the last such
    /// address, so the caller flushes once (one hypercall under PVM, not one per page).
    pub fn rewrite_range(
        &mut self,
        start: u64,
        end: u64,
        mut rewrite: impl FnMut(u64, u64) -> u64,
    ) -> (u64, u64) {
        const STRETCH: u64 = PAGE_SIZE << 9;
        let (mut changed, mut last) = (0, 0);
        let mut va = start;
        while va < end {
            let next = (va | (STRETCH - 1)).saturating_add(1);
            let Some(slot) = self.leaf_slot(va, None).ok().flatten() else {
                // No page table here: on to the next 2 MiB.
                va = next;
                continue;
            };
            let table = slot - 8 * index(va, 1);
            while va < end.min(next) {
                let slot = table + 8 * index(va, 1);
                let e = platform::read_u64(slot);
                if e & (PRESENT | PARKED) != 0 {
                    let new = with_accessed_dirty(rewrite(va, e));
                    if new != e {
                        platform::write_u64(slot, new);
                        if e & PRESENT != 0 {
                            changed += 1;
                            last = va;
                        }
                    }
                }
                va += PAGE_SIZE;
            }
        }
        (changed, last)
    }

    /// Removes every 4 KiB mapping (present or parked) in [start, end) and hands each
    /// frame to `freed`; flushes nothing (see [`rewrite_range`](Self::rewrite_range)).
    pub fn unmap_range(&mut self, start: u64, end: u64, mut freed: impl FnMut(u64)) -> (u64, u64) {
        self.rewrite_range(start, end, |_, e| {
            freed(e & ADDR_MASK);
            0
        })
    }

    /// After [`rewrite_range`](Self::rewrite_range): flushes `present` changed pages (the
    /// last at `va`) of this address space from the TLB, if it is the loaded one.
    pub fn flush_unmapped(&self, present: u64, va: u64) {
        match present {
            0 => {}
            1 => platform::invlpg(va),
            _ if platform::loaded_root() == self.root => platform::load_cr3(self.root),
            // Not loaded: loading it later flushes.
            _ => {}
        }
    }

    /// The frame and flags of a 4 KiB entry that is present or parked.
    pub fn lookup_any(&self, va: u64) -> Option<(u64, u64)> {
        if self.large.contains_key(&(va & !(LARGE - 1))) {
            return self.lookup(va);
        }
        let slot = self.entry_at(va, 1, None).ok().flatten()?;
        let e = platform::read_u64(slot);
        (e & (PRESENT | PARKED) != 0).then_some((e & ADDR_MASK, e & !ADDR_MASK))
    }

    /// Makes a mapped page inaccessible while keeping its frame (PROT_NONE): the entry
    /// becomes not-present, so every access faults, as on Linux.
    pub fn park(&mut self, va: u64) -> bool {
        let Some(slot) = self.leaf_slot(va, None).ok().flatten() else {
            return false;
        };
        let e = platform::read_u64(slot);
        if e & (PRESENT | PARKED) == 0 {
            return false;
        }
        platform::write_u64(slot, (e & ADDR_MASK) | PARKED);
        if e & PRESENT != 0 {
            platform::invlpg(va);
        }
        true
    }

    /// Replaces the leaf flags of a present or parked 4 KiB page (making it present);
    /// false if it is not mapped.
    pub fn set_flags(&mut self, va: u64, flags: u64) -> bool {
        let Some(slot) = self.leaf_slot(va, None).ok().flatten() else {
            return false;
        };
        let e = platform::read_u64(slot);
        if e & (PRESENT | PARKED) == 0 {
            return false;
        }
        platform::write_u64(
            slot,
            with_accessed_dirty((e & ADDR_MASK) | (flags & !PARKED) | PRESENT),
        );
        platform::invlpg(va);
        true
    }

    /// Every user-half leaf entry that is present or parked: (virtual address, entry).
    pub fn user_leaves(&self) -> alloc::vec::Vec<(u64, u64)> {
        fn walk(table: u64, level: u32, base: u64, out: &mut alloc::vec::Vec<(u64, u64)>) {
            let span = PAGE_SIZE << (9 * (level - 1));
            let count = if level == 4 { 256 } else { 512 };
            for i in 0..count {
                let e = platform::read_u64(table + 8 * i);
                let va = base + i * span;
                if level == 1 {
                    if e & (PRESENT | PARKED) != 0 {
                        out.push((va, e));
                    }
                } else if e & PRESENT != 0 && e & HUGE == 0 {
                    walk(e & ADDR_MASK, level - 1, va, out);
                } else if level == 2 && e & PRESENT != 0 {
                    // A large user page: its 512 pages as their own entries would be.
                    for j in 0..512 {
                        let entry = ((e & ADDR_MASK) + j * PAGE_SIZE) | (e & !ADDR_MASK & !HUGE);
                        out.push((va + j * PAGE_SIZE, entry));
                    }
                }
            }
        }
        let mut out = alloc::vec::Vec::new();
        walk(self.root, 4, 0, &mut out);
        out
    }

    /// Writes the leaf entry of `va` exactly (creating tables), flushing a replaced one.
    pub fn set_entry(
        &mut self,
        va: u64,
        entry: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), OutOfFrames> {
        let slot = self
            .leaf_slot(va, Some(frames))?
            .expect("created tables are never huge");
        let old = platform::read_u64(slot);
        platform::write_u64(slot, with_accessed_dirty(entry));
        if old & PRESENT != 0 {
            platform::invlpg(va);
        }
        Ok(())
    }

    /// Rewrites a present leaf entry without flushing it (the caller reloads CR3 after a
    /// batch: one flush instead of one hypercall per page under PVM).
    pub fn rewrite_leaf(&mut self, va: u64, entry: u64) -> bool {
        let Some(slot) = self.leaf_slot(va, None).ok().flatten() else {
            return false;
        };
        platform::write_u64(slot, with_accessed_dirty(entry));
        true
    }

    /// Frees every user-half table page below the PML4 (not the leaves' frames; the owner
    /// of the address space frees those first) and empties the PML4's user half. Tables
    /// go back as plain frames, unshadowed (see [`platform::unshadow`]) rather than
    /// cleared: under shadow paging a store to a table that was in use traps until the
    /// hypervisor gives up on it (measured: fork+exit+wait of a small process took 22
    /// such traps, 14 after; fork 474 -> 295 us).
    pub fn free_user_subtables(&mut self, frames: &mut FrameAllocator) {
        fn free_level(table: u64, level: u32, frames: &mut FrameAllocator) {
            if level > 1 {
                for i in 0..512 {
                    let e = platform::read_u64(table + 8 * i);
                    if e & PRESENT != 0 && e & HUGE == 0 {
                        free_level(e & ADDR_MASK, level - 1, frames);
                    }
                }
            }
            platform::unshadow(table);
            frames.free(table);
        }
        // The prepared tables of large pages were never in use: plain frames.
        for (_, table) in core::mem::take(&mut self.large) {
            frames.free(table);
        }
        let mut unshadowed = false;
        for i in 0..256 {
            let e = platform::read_u64(self.root + 8 * i);
            if e & PRESENT != 0 {
                free_level(e & ADDR_MASK, 3, frames);
                if !unshadowed {
                    platform::unshadow(self.root);
                    if self.kpti {
                        platform::unshadow(self.root + PAGE_SIZE);
                    }
                    unshadowed = true;
                }
                platform::write_u64(self.root + 8 * i, 0);
                if self.kpti {
                    platform::write_u64(self.root + PAGE_SIZE + 8 * i, 0);
                }
            }
        }
        if unshadowed {
            // The 2-byte stores went to entry 0 of each root page.
            platform::write_u64(self.root, 0);
            if self.kpti {
                platform::write_u64(self.root + PAGE_SIZE, 0);
            }
        }
    }

    /// Frees every user-half table page (not the leaves' frames; the owner of the address
    /// space frees those first), and the PML4.
    pub fn free_user_tables(mut self, frames: &mut FrameAllocator) {
        self.free_user_subtables(frames);
        if self.kpti {
            // Both user halves are empty now: the pair is a ready root.
            frames.keep_root_pair(self.root);
        } else {
            frames.free(self.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> FrameAllocator {
        platform::test_memory(0x100000);
        FrameAllocator::new(0x1000, 0x100000)
    }

    #[test]
    fn map_lookup_unmap_user_page() {
        let mut f = setup();
        let mut pt = PageTable::new(&mut f).unwrap();
        let va = 0x0000_7fff_1234_5000;
        pt.map(va, 0x42000, USER | WRITABLE | NO_EXECUTE, &mut f)
            .unwrap();
        let (pa, fl) = pt.lookup(va + 0x123).unwrap();
        assert_eq!(pa, 0x42000);
        // Accessed and dirty come preset (see `with_accessed_dirty`).
        assert_eq!(
            fl,
            USER | WRITABLE | NO_EXECUTE | PRESENT | ACCESSED | DIRTY
        );
        // Intermediate entries of a user address carry USER so the leaf decides.
        let l4 = platform::read_u64(pt.root() + 8 * index(va, 4));
        assert_eq!(l4 & !ADDR_MASK, PRESENT | WRITABLE | USER | ACCESSED);
        assert!(pt.set_flags(va, USER | NO_EXECUTE));
        assert_eq!(
            pt.lookup(va).unwrap().1,
            USER | NO_EXECUTE | PRESENT | ACCESSED,
            "a read-only page is never dirty"
        );
        assert_eq!(pt.unmap(va), Some(0x42000));
        assert_eq!(pt.lookup(va), None);
        assert_eq!(pt.unmap(va), None);
    }

    #[test]
    fn unmap_range_skips_missing_tables_and_counts_present_pages() {
        let mut f = setup();
        let mut pt = PageTable::new(&mut f).unwrap();
        let base = 0x0000_7f00_0000_0000u64;
        // Two pages in one 2 MiB stretch, one parked, one 1 GiB further on.
        pt.map(base + 0x1000, 0x41000, USER, &mut f).unwrap();
        pt.map(base + 0x5000, 0x42000, USER, &mut f).unwrap();
        pt.map(base + 0x7000, 0x43000, USER, &mut f).unwrap();
        assert!(pt.park(base + 0x7000));
        pt.map(base + (1 << 30), 0x44000, USER, &mut f).unwrap();
        let mut freed = Vec::new();
        let (present, last) = pt.unmap_range(base, base + (2 << 30), |pa| freed.push(pa));
        assert_eq!(freed, [0x41000, 0x42000, 0x43000, 0x44000]);
        assert_eq!(
            (present, last),
            (3, base + (1 << 30)),
            "parked pages are not present"
        );
        for va in [
            base + 0x1000,
            base + 0x5000,
            base + 0x7000,
            base + (1 << 30),
        ] {
            assert_eq!(pt.lookup_any(va), None);
        }
        // Bounds are exact: a page just past the end stays.
        pt.map(base + 0x3000, 0x45000, USER, &mut f).unwrap();
        assert_eq!(pt.unmap_range(base, base + 0x3000, |_| {}), (0, 0));
        assert!(pt.lookup(base + 0x3000).is_some());
    }

    #[test]
    fn dropped_tables_return_as_frames_and_new_tables_start_empty() {
        let mut f = setup();
        let k = PageTable::new(&mut f).unwrap();
        let base = 0x0000_7f00_0000_0000u64;
        let mut pt = PageTable::new_user(&k, &mut f).unwrap();
        pt.map(base, 0x41000, USER, &mut f).unwrap();
        pt.map(base + (1 << 30), 0x42000, USER | WRITABLE, &mut f)
            .unwrap();
        let before = f.available();
        pt.free_user_subtables(&mut f);
        // One PDPT, two PDs and two PTs; the root stays with `pt`.
        assert_eq!(f.available(), before + 5);
        for i in 0..256 {
            assert_eq!(platform::read_u64(pt.root() + 8 * i), 0, "user half empty");
        }
        pt.free_user_tables(&mut f);
        // A new hierarchy's tables are zeroed frames: nothing of the old mappings shows
        // (the dropped tables still hold their entries), and the new ones work.
        let mut again = PageTable::new_user(&k, &mut f).unwrap();
        assert_eq!(again.lookup_any(base), None);
        assert_eq!(again.lookup_any(base + (1 << 30)), None);
        again.map(base + 0x3000, 0x43000, USER, &mut f).unwrap();
        assert_eq!(
            again.lookup(base + 0x3000),
            Some((0x43000, USER | PRESENT | ACCESSED))
        );
        assert_eq!(again.lookup_any(base), None);
        assert_eq!(again.lookup_any(base + (1 << 30)), None);
    }

    #[test]
    fn kernel_half_is_shared_and_not_user() {
        let mut f = setup();
        let mut k = PageTable::new(&mut f).unwrap();
        let kva = hull_arch::layout::PHYS_OFFSET;
        k.map_large(kva, 0, WRITABLE | NO_EXECUTE, &mut f).unwrap();
        let l4 = platform::read_u64(k.root() + 8 * index(kva, 4));
        assert_eq!(l4 & USER, 0);
        let u = PageTable::new_user(&k, &mut f).unwrap();
        assert_eq!(
            u.lookup(kva + 0x0001_2345),
            Some((
                0x12000,
                WRITABLE | NO_EXECUTE | PRESENT | HUGE | ACCESSED | DIRTY
            ))
        );
        let before = f.available();
        u.free_user_tables(&mut f);
        assert_eq!(f.available(), before + 1);
    }
}
