//! A user address space: the areas (VMAs), the page table that caches them, and the
//! operations of mmap/munmap/mprotect/mremap/brk and the page-fault path.
//!
//! W^X holds for every user page: an area that is both writable and executable is mapped
//! either writable or executable at any moment, and a fault flips it (as OpenBSD does), so
//! JITs keep working while no page is ever writable and executable at once.
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use super::frame::FrameAllocator;
use super::paging::{ADDR_MASK, OutOfFrames, PageTable, flags};
use super::source::{PageSource, SourceError};
use super::vma::{Backing, Label, Prot, Vma};
use super::{PAGE_SIZE, page_ceil, page_floor};
use crate::errno::Errno;
use crate::platform;
use hull_arch::layout::USER_END;

/// Frames the kernel maps into every address space and never frees (the vDSO's), as a
/// physical range [start, end): like the program image's, they are never freed or
/// written by the fault path.
static PINNED: spin::Once<(u64, u64)> = spin::Once::new();

/// Declares [start, end) pinned (once, at boot).
pub fn pin_frames(start: u64, end: u64) {
    PINNED.call_once(|| (start, end));
}

/// Physical ranges of the images an address space maps straight from the image cache:
/// the program's and, for a dynamically linked one, its interpreter's.
pub type Images = [(u64, u64); 2];

/// Whether frame `pa` belongs to no address space: an image's, or pinned.
fn kernel_frame(images: Images, pa: u64) -> bool {
    images.iter().any(|i| (i.0..i.1).contains(&pa))
        || PINNED.get().is_some_and(|p| (p.0..p.1).contains(&pa))
}

/// Lowest address a mapping may use (Linux's default `vm.mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x10000;

/// What a faulting access wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

/// Why a fault could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No area there (`SEGV_MAPERR`).
    Unmapped,
    /// The area forbids this access (`SEGV_ACCERR`).
    Forbidden,
    /// No frame left: the sandbox's memory bound is reached.
    OutOfMemory,
    /// A file page past the end of the file, or unreadable (`SIGBUS`, `BUS_ADRERR`).
    PastEnd,
}

impl From<SourceError> for Fault {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::PastEnd => Fault::PastEnd,
            SourceError::OutOfMemory => Fault::OutOfMemory,
        }
    }
}

/// Pages a private file mapping reads ahead of a fault in one transfer (each host read
/// is a VM exit, so one per page would make a mapped file far slower than `read`).
const FAULT_AROUND: u64 = 16;
/// Size of a large page.
const LARGE_PAGE: u64 = PAGE_SIZE << 9;

/// Pages an anonymous fault maps at once: the aligned window around the faulting page
/// (see [`AddressSpace::anon_fault_around`]).
const ANON_FAULT_AROUND: u64 = 16;

/// The same for an area that cannot be written (program text, read-only data): its pages
/// are never dirtied, so reading further ahead costs only the copy.
const FAULT_AROUND_READ_ONLY: u64 = 64;

impl From<OutOfFrames> for Fault {
    fn from(_: OutOfFrames) -> Self {
        Fault::OutOfMemory
    }
}

/// The user half of an address space.
#[derive(Debug)]
pub struct AddressSpace {
    pub pt: PageTable,
    vmas: BTreeMap<u64, Vma>,
    /// Start of the heap (end of the program image, page aligned).
    pub brk_start: u64,
    /// The current program break (not page aligned).
    pub brk: u64,
    /// New mappings are placed top-down below this.
    pub mmap_top: u64,
    /// Physical ranges of the program image (and its interpreter's): frames there are
    /// shared, never freed or written.
    image: Images,
    /// The files behind file areas (`Backing::File::source`), while an area uses them.
    sources: BTreeMap<u32, Source>,
    next_source: u32,
    /// Sources whose last area went (dropped by `forget_unused_sources`).
    idle: alloc::vec::Vec<u32>,
    free_cache: FreeCache,
}

/// A page source and how many areas use it.
#[derive(Clone, Debug)]
struct Source {
    file: Arc<dyn PageSource>,
    areas: usize,
}

/// Where the last search for free space ended: every hole between `below` and
/// `mmap_top` is at most `skipped` bytes.
#[derive(Clone, Copy, Debug, Default)]
struct FreeCache {
    below: u64,
    skipped: u64,
}

impl AddressSpace {
    /// An empty address space sharing the kernel half of `kernel`.
    pub fn new(
        kernel: &PageTable,
        frames: &mut FrameAllocator,
        image: (u64, u64),
        mmap_top: u64,
    ) -> Result<Self, OutOfFrames> {
        Ok(AddressSpace {
            pt: PageTable::new_user(kernel, frames)?,
            vmas: BTreeMap::new(),
            brk_start: 0,
            brk: 0,
            mmap_top,
            image: [image, (0, 0)],
            sources: BTreeMap::new(),
            next_source: 0,
            idle: alloc::vec::Vec::new(),
            free_cache: FreeCache {
                below: mmap_top,
                skipped: 0,
            },
        })
    }

    /// Declares the physical range of the program's interpreter image (never freed).
    pub fn set_interpreter_image(&mut self, range: (u64, u64)) {
        self.image[1] = range;
    }

    /// Maps `source` from file offset `offset` at [start, end) (MAP_FIXED semantics).
    pub fn insert_file(
        &mut self,
        area: (u64, u64, Prot),
        source: Arc<dyn PageSource>,
        offset: u64,
        shared: bool,
        frames: &mut FrameAllocator,
    ) {
        let id = self.next_source;
        self.next_source = self.next_source.wrapping_add(1);
        self.sources.insert(
            id,
            Source {
                file: source,
                areas: 0,
            },
        );
        let (start, end, prot) = area;
        let mut vma = Vma::anon(start, end, prot, Label::None);
        vma.backing = Backing::File {
            source: id,
            offset,
            shared,
        };
        self.insert(vma, frames);
    }

    /// The page source of a file area.
    pub fn source_of(&self, vma: &Vma) -> Option<&Arc<dyn PageSource>> {
        self.sources.get(&vma.source()?).map(|s| &s.file)
    }

    /// One more (`add`) or one fewer area uses the source of `vma`.
    fn count_area(&mut self, vma: &Vma, add: bool) {
        let Some(id) = vma.source() else {
            return;
        };
        let s = self.sources.get_mut(&id).expect("file areas have sources");
        if add {
            s.areas += 1;
        } else {
            s.areas -= 1;
            if s.areas == 0 {
                self.idle.push(id);
            }
        }
    }

    /// Drops the page sources no area uses any more (closing their files).
    fn forget_unused_sources(&mut self) {
        for id in core::mem::take(&mut self.idle) {
            if self.sources.get(&id).is_some_and(|s| s.areas == 0) {
                self.sources.remove(&id);
            }
        }
    }

    /// Iterates the areas in address order.
    /// How many areas there are (Linux's map count).
    pub fn vma_count(&self) -> usize {
        self.vmas.len()
    }

    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// The area containing `va`.
    pub fn find(&self, va: u64) -> Option<&Vma> {
        self.vmas
            .range(..=va)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| va < v.end)
    }

    /// Whether any area overlaps [start, end).
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(_, v)| v.end > start)
    }

    /// Inserts an area, replacing whatever overlapped it (MAP_FIXED semantics).
    pub fn insert(&mut self, vma: Vma, frames: &mut FrameAllocator) {
        let replaced_files = self.remove_areas(vma.start, vma.end, frames);
        self.add_area(vma);
        if replaced_files {
            self.forget_unused_sources();
        }
    }

    /// Adds an area where none is, merged with its anonymous neighbours.
    fn add_area(&mut self, vma: Vma) {
        let mut vma = vma;
        // Merge with anonymous neighbours so brk and repeated mmaps stay one area.
        if let Some(prev) = self.vmas.range(..vma.start).next_back().map(|(_, v)| *v)
            && prev.joins(&vma)
        {
            self.vmas.remove(&prev.start);
            vma.start = prev.start;
        }
        if let Some(next) = self.vmas.get(&vma.end).copied()
            && vma.joins(&next)
        {
            self.vmas.remove(&next.start);
            vma.end = next.end;
        }
        self.count_area(&vma, true);
        self.vmas.insert(vma.start, vma);
    }

    /// Splits areas so that `at` is a boundary.
    fn split_at(&mut self, at: u64) {
        if let Some(v) = self.find(at).copied()
            && v.start < at
        {
            self.vmas.insert(v.start, v.slice(v.start, at));
            self.vmas.insert(at, v.slice(at, v.end));
            self.count_area(&v, true);
        }
    }

    /// The areas overlapping [start, end), after splitting at both ends.
    fn carve(&mut self, start: u64, end: u64) -> alloc::vec::Vec<u64> {
        self.split_at(start);
        self.split_at(end);
        self.vmas.range(start..end).map(|(k, _)| *k).collect()
    }

    fn owns_frame(&self, pa: u64) -> bool {
        !kernel_frame(self.image, pa)
    }

    /// Whether a write to the frame must copy it first: an image frame, or one shared
    /// with another address space since a fork.
    fn copy_on_write(&self, pa: u64, frames: &FrameAllocator) -> bool {
        !self.owns_frame(pa) || frames.is_shared(pa)
    }

    /// A copy-on-write duplicate (fork): the same areas; every page is shared read-only
    /// by both, and the first write on either side copies it.
    pub fn fork(
        &mut self,
        kernel: &PageTable,
        frames: &mut FrameAllocator,
    ) -> Result<AddressSpace, OutOfFrames> {
        let mut child = AddressSpace::new(kernel, frames, self.image[0], self.mmap_top)?;
        child.image = self.image;
        child.vmas = self.vmas.clone();
        child.sources = self.sources.clone();
        child.next_source = self.next_source;
        child.brk_start = self.brk_start;
        child.brk = self.brk;
        let mut stale = false;
        for (va, e) in self.pt.user_leaves() {
            let pa = e & super::paging::ADDR_MASK;
            if self.find(va).is_some_and(Vma::shares) {
                // Shared memory stays shared: the same frame, writable on both sides.
                if let Err(err) = child.pt.set_entry(va, e, frames) {
                    if stale {
                        platform::load_cr3(self.pt.root());
                    }
                    child.destroy(frames);
                    return Err(err);
                }
                if self.owns_frame(pa) {
                    frames.share(pa);
                }
                continue;
            }
            let shared = e & !flags::WRITABLE;
            if let Err(err) = child.pt.set_entry(va, shared, frames) {
                if stale {
                    platform::load_cr3(self.pt.root());
                }
                child.destroy(frames);
                return Err(err);
            }
            if self.owns_frame(pa) {
                frames.share(pa);
            }
            if e & flags::WRITABLE != 0 {
                self.pt.rewrite_leaf(va, shared);
                stale = true;
            }
        }
        if stale {
            // The parent's write-protected pages: one flush for all of them.
            platform::load_cr3(self.pt.root());
        }
        Ok(child)
    }

    /// Removes mappings in [start, end) (page aligned) and frees their frames.
    pub fn unmap(&mut self, start: u64, end: u64, frames: &mut FrameAllocator) {
        if self.remove_areas(start, end, frames) {
            self.forget_unused_sources();
        }
    }

    /// Removes the areas in [start, end) and their pages, keeping every page source;
    /// true if a file area was among them.
    fn remove_areas(&mut self, start: u64, end: u64, frames: &mut FrameAllocator) -> bool {
        let mut files = false;
        for key in self.carve(start, end) {
            let v = self.vmas.remove(&key).expect("carved key exists");
            files |= v.source().is_some();
            self.count_area(&v, false);
            if v.end > self.free_cache.below {
                // A new hole above where searches resume: the next one starts at the top.
                self.free_cache = FreeCache {
                    below: self.mmap_top,
                    skipped: 0,
                };
            }
            self.drop_pages(v.start, v.end, frames);
        }
        files
    }

    fn drop_pages(&mut self, start: u64, end: u64, frames: &mut FrameAllocator) {
        // Freed before the flush below: nothing allocates in between, and user code runs
        // only after it.
        let image = self.image;
        let (present, last) = self.pt.unmap_range(start, end, |pa| {
            if !kernel_frame(image, pa) {
                frames.free(pa);
            }
        });
        self.pt.flush_unmapped(present, last);
    }

    /// Whether any area maps a file.
    pub fn maps_files(&self) -> bool {
        self.vmas.values().any(|v| v.source().is_some())
    }

    /// The file `(dev, ino)` now ends at `size`: the pages of its mappings that lie
    /// wholly past the end go, private copies too (Linux's `unmap_mapping_range` with
    /// `even_cows`), so the next access there faults and finds the end (SIGBUS).
    pub fn file_truncated(&mut self, dev: u64, ino: u64, size: u64, frames: &mut FrameAllocator) {
        let Some(keep) = page_ceil(size) else {
            return;
        };
        let gone: alloc::vec::Vec<(u64, u64)> = self
            .vmas
            .values()
            .filter_map(|v| {
                let Backing::File { source, offset, .. } = v.backing else {
                    return None;
                };
                let id = self.sources.get(&source)?.file.identity();
                if (id.dev, id.ino) != (dev, ino) {
                    return None;
                }
                let start = v.start.checked_add(keep.saturating_sub(offset))?;
                (start < v.end).then_some((start, v.end))
            })
            .collect();
        for (start, end) in gone {
            self.drop_pages(start, end, frames);
        }
    }

    /// `madvise(MADV_DONTNEED)`: drop the pages; anonymous memory reads as zero again.
    pub fn discard(
        &mut self,
        start: u64,
        end: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), Errno> {
        if !self.fully_mapped(start, end) {
            return Err(Errno::ENOMEM);
        }
        self.drop_pages(start, end, frames);
        Ok(())
    }

    fn fully_mapped(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(v) => at = v.end,
                None => return false,
            }
        }
        true
    }

    /// `mprotect`: changes the protection of [start, end); ENOMEM if part is unmapped.
    pub fn protect(
        &mut self,
        start: u64,
        end: u64,
        prot: Prot,
        frames: &FrameAllocator,
    ) -> Result<(), Errno> {
        if !self.fully_mapped(start, end) {
            return Err(Errno::ENOMEM);
        }
        // A shared mapping of a file opened read-only can never be written (Linux: EACCES).
        let read_only_file =
            |v: &Vma| v.shares() && self.source_of(v).is_some_and(|s| !s.writable());
        if prot.write()
            && self
                .vmas
                .range(..end)
                .rev()
                .take_while(|(_, v)| v.end > start)
                .any(|(_, v)| read_only_file(v))
        {
            return Err(Errno::EACCES);
        }
        for key in self.carve(start, end) {
            let v = self.vmas.get_mut(&key).expect("carved key exists");
            v.prot = prot;
            let area = *v;
            let (s, e) = (v.start, v.end);
            let image = self.image;
            // Pages of a file that tracks writes stay read-only until written.
            let keep_read_only =
                area.shares() && self.source_of(&area).is_some_and(|s| s.tracks_writes());
            let (changed, last) = self.pt.rewrite_range(s, e, |_, entry| {
                let pa = entry & ADDR_MASK;
                if prot.readable() {
                    // Keep the page's current W^X phase.
                    let exec_phase = entry & flags::PRESENT != 0 && entry & flags::NO_EXECUTE == 0;
                    let mut f = page_flags_in(image, pa, &area, exec_phase, frames);
                    if keep_read_only && entry & flags::WRITABLE == 0 {
                        f &= !flags::WRITABLE;
                    }
                    pa | (f & !flags::PARKED) | flags::PRESENT
                } else {
                    pa | flags::PARKED
                }
            });
            self.pt.flush_unmapped(changed, last);
        }
        Ok(())
    }

    /// Leaf flags for the frame `pa` in an area with `prot`: image frames are never
    /// writable (the first write copies them).
    fn page_flags(&self, pa: u64, vma: &Vma, exec_phase: bool, frames: &FrameAllocator) -> u64 {
        page_flags_in(self.image, pa, vma, exec_phase, frames)
    }

    /// Finds a free, page-aligned range of `len` bytes, top-down below `mmap_top`. The
    /// search resumes where the last one ended unless a hole above that could fit (Linux's
    /// old free_area_cache), so thousands of mappings do not make each mmap walk them all.
    pub fn find_free(&mut self, len: u64) -> Option<u64> {
        if len > self.free_cache.skipped && self.free_cache.below < self.mmap_top {
            let (found, skipped) = self.search_free(self.free_cache.below, len);
            if let Some(at) = found {
                self.free_cache.skipped = self.free_cache.skipped.max(skipped);
                self.free_cache.below = at;
                return Some(at);
            }
        }
        let (found, skipped) = self.search_free(self.mmap_top, len);
        self.free_cache = FreeCache {
            below: found.unwrap_or(self.mmap_top),
            skipped,
        };
        found
    }

    /// The highest free range of `len` bytes below `top`, and the largest hole passed
    /// over on the way. A range of 2 MiB or more starts on a 2 MiB boundary where its hole
    /// allows (as Linux places them for transparent huge pages), so that large pages can
    /// back it from its start.
    fn search_free(&self, top: u64, len: u64) -> (Option<u64>, u64) {
        let place = |hole_start: u64, top: u64| {
            let at = top - len;
            let aligned = at & !(LARGE_PAGE - 1);
            if len >= LARGE_PAGE && aligned >= hole_start {
                // The space left above it is a hole too.
                (aligned, top - (aligned + len))
            } else {
                (at, 0)
            }
        };
        let mut top = top;
        let mut skipped = 0;
        for (_, v) in self.vmas.range(..top).rev() {
            if v.end <= top {
                if top - v.end >= len {
                    let (at, left) = place(v.end, top);
                    return (Some(at), skipped.max(left));
                }
                skipped = skipped.max(top - v.end);
            }
            top = top.min(v.start);
        }
        if top >= MMAP_MIN_ADDR + len {
            let (at, left) = place(MMAP_MIN_ADDR, top);
            return (Some(at), skipped.max(left));
        }
        (None, skipped.max(top.saturating_sub(MMAP_MIN_ADDR)))
    }

    /// Resolves a fault at `va`. On success the page is mapped for the access.
    pub fn fault(
        &mut self,
        va: u64,
        access: Access,
        frames: &mut FrameAllocator,
    ) -> Result<(), Fault> {
        let page = page_floor(va);
        let vma = *self.find(va).ok_or(Fault::Unmapped)?;
        let allowed = match access {
            Access::Read => vma.prot.readable(),
            Access::Write => vma.prot.write(),
            Access::Exec => vma.prot.exec(),
        };
        if !allowed {
            return Err(Fault::Forbidden);
        }
        if let Backing::File {
            source,
            offset,
            shared: true,
        } = vma.backing
        {
            let off = offset + (page - vma.start);
            return self.fault_shared_file(page, &vma, source, off, access, frames);
        }
        let exec = access == Access::Exec;
        if let Some((pa, fl)) = self.pt.lookup_any(page)
            && fl & flags::PRESENT == 0
        {
            // A PROT_NONE page made accessible again: map its frame back.
            let f = self.page_flags(pa, &vma, exec, frames);
            self.pt.set_flags(page, f);
            if access != Access::Write || vma.shares() || !self.copy_on_write(pa, frames) {
                return Ok(());
            }
        }
        if let Some((pa, fl)) = self.pt.lookup(page) {
            if access == Access::Write && !vma.shares() && self.copy_on_write(pa, frames) {
                // First write to a page shared with the program image or, since a fork,
                // with another process: copy it, and drop this side's reference.
                let copy = frames.alloc().ok_or(Fault::OutOfMemory)?;
                platform::copy(copy, pa, PAGE_SIZE as usize);
                self.pt
                    .map(page, copy, leaf_flags(vma.prot, false), frames)?;
                if self.owns_frame(pa) {
                    frames.free(pa);
                }
                return Ok(());
            }
            let ok = match access {
                Access::Read => fl & flags::USER != 0,
                Access::Write => fl & flags::WRITABLE != 0,
                Access::Exec => fl & flags::NO_EXECUTE == 0,
            };
            if !ok {
                // The other W^X phase (or a page made accessible again by mprotect).
                let f = self.page_flags(pa, &vma, exec, frames);
                self.pt.set_flags(page, f);
            }
            return Ok(());
        }
        let fl = leaf_flags(vma.prot, exec);
        match vma.backing {
            Backing::Anon | Backing::Shared => {
                if vma.backing == Backing::Anon && self.fault_large(page, &vma, frames) {
                    return Ok(());
                }
                let pa = frames.alloc_zeroed_for_user().ok_or(Fault::OutOfMemory)?;
                self.map_new(page, pa, fl, frames)?;
                if vma.backing == Backing::Anon {
                    self.anon_fault_around(page, &vma, frames);
                }
            }
            Backing::Image {
                pa_at_start,
                data_end,
            } => {
                let src = pa_at_start + (page - vma.start);
                let data = data_end.saturating_sub(page).min(PAGE_SIZE);
                if data == PAGE_SIZE && !vma.prot.write() {
                    // Read-only and whole: share the image frame itself, no copy.
                    self.pt.map(page, src, fl & !flags::WRITABLE, frames)?;
                } else {
                    let pa = frames.alloc().ok_or(Fault::OutOfMemory)?;
                    if data > 0 {
                        platform::copy(pa, src, data as usize);
                    }
                    platform::fill(pa + data, 0, (PAGE_SIZE - data) as usize);
                    self.map_new(page, pa, fl, frames)?;
                }
            }
            Backing::File { source, offset, .. } => {
                let off = offset + (page - vma.start);
                self.fault_private_file(page, &vma, source, off, fl, frames)?;
            }
        }
        Ok(())
    }

    /// Maps the whole 2 MiB around `page` with one large page, if the area is private
    /// anonymous read-write memory (not the stack, which most programs touch little of)
    /// that covers it, nothing is mapped there yet, and memory is plentiful. Under shadow
    /// paging every first touch of a 4 KiB page is a fault of a few world switches, so a
    /// program writing fresh memory ran at ~70-290 MiB/s on 4 KiB pages.
    fn fault_large(&mut self, page: u64, vma: &Vma, frames: &mut FrameAllocator) -> bool {
        let start = page & !(LARGE_PAGE - 1);
        if vma.prot != Prot::RW
            || vma.label == Label::Stack
            || start < vma.start
            || start + LARGE_PAGE > vma.end
            || !plentiful(frames, 512)
        {
            return false;
        }
        let Some(pa) = frames.alloc_large() else {
            return false;
        };
        match self
            .pt
            .map_user_large(start, pa, leaf_flags(vma.prot, false), frames)
        {
            Ok(true) => true,
            _ => {
                frames.free_large(pa);
                false
            }
        }
    }

    /// Maps zeroed pages for the rest of the aligned [`ANON_FAULT_AROUND`]-page window
    /// around an anonymous page just faulted in (within its area, where nothing is mapped
    /// yet), while memory is plentiful. A program touches fresh memory in runs, and under
    /// shadow paging each fault costs a few world switches: touching 256 MiB took 65539
    /// faults, 68 MiB/s.
    fn anon_fault_around(&mut self, page: u64, vma: &Vma, frames: &mut FrameAllocator) {
        const WINDOW: u64 = ANON_FAULT_AROUND * PAGE_SIZE;
        let start = (page & !(WINDOW - 1)).max(vma.start);
        let end = ((page & !(WINDOW - 1)) + WINDOW).min(vma.end);
        let fl = leaf_flags(vma.prot, false);
        let mut va = start;
        while va < end {
            if va != page && self.pt.lookup_any(va).is_none() {
                if !plentiful(frames, 1) {
                    return;
                }
                let Some(pa) = frames.alloc_zeroed_for_user() else {
                    return;
                };
                if self.map_new(va, pa, fl, frames).is_err() {
                    return;
                }
            }
            va += PAGE_SIZE;
        }
    }

    /// The page source `source` of a file area (a missing one reads as past the end).
    fn source_file(&self, source: u32) -> Result<Arc<dyn PageSource>, Fault> {
        let file = self.sources.get(&source).map(|s| s.file.clone());
        file.ok_or(Fault::PastEnd)
    }

    /// A page of a private file mapping: a copy of the file's bytes (zeros past its end),
    /// read together with up to [`FAULT_AROUND`] following unmapped pages of the area.
    fn fault_private_file(
        &mut self,
        page: u64,
        vma: &Vma,
        source: u32,
        off: u64,
        fl: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), Fault> {
        let src = self.source_file(source)?;
        if !vma.prot.write() && self.fault_file_large(page, vma, &src, off, fl, frames) {
            return Ok(());
        }
        let mut pages = alloc::vec::Vec::new();
        let around = if vma.prot.write() {
            FAULT_AROUND
        } else {
            FAULT_AROUND_READ_ONLY
        };
        while (pages.len() as u64) < around {
            let va = page + pages.len() as u64 * PAGE_SIZE;
            if va >= vma.end || (!pages.is_empty() && self.pt.lookup_any(va).is_some()) {
                break;
            }
            match frames.alloc() {
                Some(pa) => pages.push(pa),
                None if pages.is_empty() => return Err(Fault::OutOfMemory),
                None => break,
            }
        }
        let segs: alloc::vec::Vec<hull_arch::abi::Segment> = pages
            .iter()
            .map(|&gpa| hull_arch::abi::Segment {
                gpa,
                len: PAGE_SIZE,
            })
            .collect();
        let got = src.read(off, &segs).unwrap_or(0);
        let mut result = Ok(());
        for (i, &pa) in pages.iter().enumerate() {
            let start = i as u64 * PAGE_SIZE;
            if start >= got {
                // Past the end of the file: SIGBUS for the faulting page, nothing mapped
                // for the ones read ahead.
                frames.free(pa);
                if i == 0 {
                    result = Err(Fault::PastEnd);
                }
                continue;
            }
            let data = (got - start).min(PAGE_SIZE);
            platform::fill(pa + data, 0, (PAGE_SIZE - data) as usize);
            let va = page + start;
            let f = if i == 0 {
                fl
            } else {
                leaf_flags(vma.prot, false)
            };
            if let Err(e) = self.map_new(va, pa, f, frames)
                && i == 0
            {
                result = Err(e);
            }
        }
        result
    }

    /// A read-only private file mapping's whole 2 MiB around `page` (at file offset `off`)
    /// as one large page of the file's bytes, read in one transfer, where that 2 MiB lies
    /// within the area and the file and starts at a 2 MiB file offset, and memory is
    /// plentiful. (Its frames are the mapping's own copy, as with 4 KiB pages.)
    fn fault_file_large(
        &mut self,
        page: u64,
        vma: &Vma,
        src: &Arc<dyn PageSource>,
        off: u64,
        fl: u64,
        frames: &mut FrameAllocator,
    ) -> bool {
        let start = page & !(LARGE_PAGE - 1);
        if start < vma.start || start + LARGE_PAGE > vma.end {
            return false;
        }
        // The area starts at or below `start`, so this is at least the area's offset.
        let file_start = off - (page - start);
        if !file_start.is_multiple_of(LARGE_PAGE) || !plentiful(frames, 512) {
            return false;
        }
        let Some(pa) = frames.alloc_large() else {
            return false;
        };
        let whole = [hull_arch::abi::Segment {
            gpa: pa,
            len: LARGE_PAGE,
        }];
        let read = src.read(file_start, &whole).unwrap_or(0) == LARGE_PAGE;
        if read
            && self
                .pt
                .map_user_large(start, pa, fl & !flags::WRITABLE, frames)
                == Ok(true)
        {
            return true;
        }
        frames.free_large(pa);
        false
    }

    /// A page of a shared file mapping: the file's own frame. Pages of a source that
    /// tracks writes are mapped read-only until the first write, which it is told of.
    fn fault_shared_file(
        &mut self,
        page: u64,
        vma: &Vma,
        source: u32,
        off: u64,
        access: Access,
        frames: &mut FrameAllocator,
    ) -> Result<(), Fault> {
        let src = self.source_file(source)?;
        let write = access == Access::Write;
        let pa = src.shared_frame(off, write, frames)?;
        let mut fl = leaf_flags(vma.prot, access == Access::Exec);
        if src.tracks_writes() && !write {
            fl &= !flags::WRITABLE;
        }
        if let Some((mapped, _)) = self.pt.lookup_any(page) {
            if mapped == pa {
                // Present read-only, or parked by PROT_NONE: new flags only.
                self.pt.set_flags(page, fl);
                return Ok(());
            }
            // The file's page is another frame now (truncated and grown again).
            self.pt.unmap(page);
            if self.owns_frame(mapped) {
                frames.free(mapped);
            }
        }
        if self.owns_frame(pa) {
            frames.share(pa);
        }
        if let Err(e) = self.pt.map(page, pa, fl, frames) {
            if self.owns_frame(pa) {
                frames.free(pa);
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn map_new(
        &mut self,
        page: u64,
        pa: u64,
        fl: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), Fault> {
        if let Err(e) = self.pt.map(page, pa, fl, frames) {
            frames.free(pa);
            return Err(e.into());
        }
        Ok(())
    }

    /// `brk`: moves the program break; returns the resulting break (Linux semantics: the
    /// old one on failure).
    pub fn set_brk(&mut self, new: u64, frames: &mut FrameAllocator) -> u64 {
        if new < self.brk_start || new >= USER_END {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_ceil(self.brk), page_ceil(new)) else {
            return self.brk;
        };
        if new_end > old_end {
            if self.overlaps(old_end, new_end)
                || new_end - self.brk_start > frames.total() * PAGE_SIZE
            {
                return self.brk;
            }
            self.insert(Vma::anon(old_end, new_end, Prot::RW, Label::Heap), frames);
        } else if new_end < old_end {
            self.unmap(new_end, old_end, frames);
        }
        self.brk = new;
        new
    }

    /// Moves the pages of [old, old+len) to [new, new+len) (no frames copied).
    fn move_pages(
        &mut self,
        old: u64,
        new: u64,
        len: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), OutOfFrames> {
        let mut off = 0;
        while off < len {
            if let Some((pa, fl)) = self.pt.lookup(old + off) {
                self.pt.map(
                    new + off,
                    pa,
                    fl & !(flags::ACCESSED | flags::DIRTY | flags::PRESENT),
                    frames,
                )?;
                self.pt.unmap(old + off);
            }
            off += PAGE_SIZE;
        }
        Ok(())
    }

    /// `mremap`. `fixed` is `Some(addr)` for MREMAP_FIXED.
    pub fn remap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        may_move: bool,
        fixed: Option<u64>,
        frames: &mut FrameAllocator,
    ) -> Result<u64, Errno> {
        let vma = *self.find(old).ok_or(Errno::EFAULT)?;
        if old + old_len > vma.end {
            return Err(Errno::EFAULT);
        }
        if fixed.is_none() && new_len <= old_len {
            self.unmap(old + new_len, old + old_len, frames);
            return Ok(old);
        }
        if fixed.is_none()
            && old + old_len == vma.end
            && !self.overlaps(vma.end, old + new_len)
            && old + new_len <= USER_END
        {
            let mut grown = vma.slice(old, vma.end);
            grown.end = old + new_len;
            self.carve(old, vma.end);
            self.vmas.insert(old, grown);
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let dest = match fixed {
            Some(addr) => {
                if addr % PAGE_SIZE != 0
                    || addr.checked_add(new_len).is_none_or(|e| e > USER_END)
                    || (addr < old + old_len && old < addr + new_len)
                {
                    return Err(Errno::EINVAL);
                }
                self.unmap(addr, addr + new_len, frames);
                addr
            }
            None => self.find_free(new_len).ok_or(Errno::ENOMEM)?,
        };
        let moved = old_len.min(new_len);
        let mut area = vma.slice(old, old + old_len);
        self.move_pages(old, dest, moved, frames)
            .map_err(|_| Errno::ENOMEM)?;
        // The moved area keeps its page source.
        self.remove_areas(old, old + old_len, frames);
        area.backing = match area.backing {
            Backing::Image {
                pa_at_start,
                data_end,
            } => Backing::Image {
                pa_at_start,
                data_end: dest + data_end.saturating_sub(old),
            },
            b => b,
        };
        area.start = dest;
        area.end = dest + new_len;
        self.insert(area, frames);
        Ok(dest)
    }

    /// Frees every user page and every user table but the root (exit: the zombie keeps an
    /// empty address space until it is reaped).
    pub fn clear(&mut self, frames: &mut FrameAllocator) {
        // The caller has loaded another page table, so no page needs a flush.
        for (_, e) in self.pt.user_leaves() {
            let pa = e & super::paging::ADDR_MASK;
            if self.owns_frame(pa) {
                frames.free(pa);
            }
        }
        self.vmas.clear();
        self.sources.clear();
        self.idle.clear();
        self.pt.free_user_subtables(frames);
    }

    /// Frees every user page and table.
    pub fn destroy(mut self, frames: &mut FrameAllocator) {
        // Never the loaded address space: its leaves go without flushes.
        self.clear(frames);
        self.pt.free_user_tables(frames);
    }
}

/// Whether `want` more frames leave an eighth of memory free: memory taken ahead of need
/// (large pages, fault-around) is taken only then, so a tight sandbox runs as on 4 KiB
/// pages.
fn plentiful(frames: &FrameAllocator, want: u64) -> bool {
    frames.available() >= frames.total() / 8 + want
}

/// [`AddressSpace::page_flags`] for an address space whose program image occupies the
/// frames `image`.
fn page_flags_in(
    image: Images,
    pa: u64,
    vma: &Vma,
    exec_phase: bool,
    frames: &FrameAllocator,
) -> u64 {
    let f = leaf_flags(vma.prot, exec_phase);
    let copy_on_write = kernel_frame(image, pa) || frames.is_shared(pa);
    if vma.shares() || !copy_on_write {
        f
    } else {
        f & !flags::WRITABLE
    }
}

/// Leaf flags for a user page of an area with `prot`, in the exec phase or not (W^X).
pub fn leaf_flags(prot: Prot, exec_phase: bool) -> u64 {
    let mut f = flags::USER;
    if prot.exec() && (exec_phase || !prot.write()) {
        return f;
    }
    if prot.write() {
        f |= flags::WRITABLE;
    }
    f | flags::NO_EXECUTE
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    /// An address space over `ram` bytes of RAM, frames from 1 MiB.
    fn space_of(ram: u64) -> (AddressSpace, FrameAllocator) {
        platform::test_memory(ram as usize);
        let mut f = FrameAllocator::new(0x10_0000, ram);
        let k = PageTable::new(&mut f).unwrap();
        let a = AddressSpace::new(&k, &mut f, (0x1000, 0x10_0000), 0x7000_0000_0000).unwrap();
        (a, f)
    }

    fn space() -> (AddressSpace, FrameAllocator) {
        space_of(8 * MB)
    }

    /// Room for large pages.
    fn big_space() -> (AddressSpace, FrameAllocator) {
        space_of(32 * MB)
    }

    const LARGE: u64 = 2 * MB;

    #[test]
    fn large_pages_back_anonymous_memory_and_split_for_4k_work() {
        let (mut a, mut f) = big_space();
        let at_start = f.available();
        let base = 0x4000_0000;
        a.insert(
            Vma::anon(base, base + 2 * LARGE, Prot::RW, Label::None),
            &mut f,
        );
        // A small area, the stack, and read-only memory never get one.
        a.insert(Vma::anon(0x10000, 0x20000, Prot::RW, Label::None), &mut f);
        let free = f.available();
        a.fault(base + 0x1234, Access::Write, &mut f).unwrap();
        let (pa, fl) = a.pt.lookup(base + 0x5000).unwrap();
        assert!(pa.is_multiple_of(PAGE_SIZE) && (pa - 0x5000).is_multiple_of(LARGE));
        assert_eq!(fl & flags::HUGE, 0, "lookup shows the 4 KiB view");
        assert_ne!(fl & flags::WRITABLE, 0);
        assert_eq!(
            a.pt.lookup_any(base + LARGE - PAGE_SIZE).unwrap().0,
            pa - 0x5000 + LARGE - PAGE_SIZE
        );
        assert!(
            f.available() <= free - 512,
            "512 frames and a prepared table"
        );
        let mut byte = [7u8];
        platform::read(pa, &mut byte);
        assert_eq!(byte, [0], "fresh memory reads zero");
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        assert!(a.pt.lookup(0x10000).is_some());
        // mprotect of one page splits the large page: that page changes, the others not.
        a.protect(base + 0x3000, base + 0x4000, Prot(Prot::READ), &f)
            .unwrap();
        assert_eq!(a.pt.lookup(base + 0x3000).unwrap().1 & flags::WRITABLE, 0);
        assert_ne!(a.pt.lookup(base + 0x4000).unwrap().1 & flags::WRITABLE, 0);
        assert_eq!(a.pt.lookup(base + 0x4000).unwrap().0, pa - 0x5000 + 0x4000);
        // munmap of part of it frees just those frames.
        let before = f.available();
        a.unmap(base + 0x10000, base + 0x12000, &mut f);
        assert_eq!(f.available(), before + 2);
        assert!(a.pt.lookup_any(base + 0x10000).is_none());
        assert!(a.pt.lookup(base + 0x12000).is_some());
        a.destroy(&mut f);
        assert_eq!(
            f.available(),
            at_start + 1,
            "everything comes back, the root too"
        );
    }

    #[test]
    fn read_only_file_mappings_take_large_pages_where_file_and_area_line_up() {
        let (mut a, mut f) = big_space();
        let file = Arc::new(TestFile {
            len: 2 * LARGE + 100,
            ..Default::default()
        });
        let base = 0x4000_0000;
        // At file offset 0, three large pages' worth of area: the first 2 MiB of the file
        // is one large page; the last holds the file's end, so it takes 4 KiB pages.
        let prot = Prot(Prot::READ);
        a.insert_file(
            (base, base + 3 * LARGE, prot),
            file.clone(),
            0,
            false,
            &mut f,
        );
        a.fault(base + 0x3456, Access::Read, &mut f).unwrap();
        assert_eq!(*file.reads.lock(), [(0, LARGE)], "one read of 2 MiB");
        let (pa, fl) = a.pt.lookup(base + 0x3000).unwrap();
        assert_eq!(fl & flags::WRITABLE, 0);
        let mut b = [0u8; 1];
        platform::read(pa + 0x456, &mut b);
        assert_eq!(b, [(0x3456 % 251) as u8]);
        a.fault(base + 2 * LARGE, Access::Read, &mut f).unwrap();
        assert!(a.pt.lookup(base + 2 * LARGE).is_some());
        // Truncation splits the large page and takes its pages past the end.
        a.file_truncated(0, 0, LARGE / 2, &mut f);
        assert!(a.pt.lookup(base + 0x3000).is_some());
        assert!(a.pt.lookup_any(base + LARGE / 2).is_none());
        // Misaligned with the file (offset 4 KiB): no large page.
        let other = Arc::new(TestFile {
            len: 4 * LARGE,
            ..Default::default()
        });
        let at = 0x8000_0000;
        a.insert_file(
            (at, at + 2 * LARGE, prot),
            other.clone(),
            PAGE_SIZE,
            false,
            &mut f,
        );
        a.fault(at, Access::Read, &mut f).unwrap();
        assert_eq!(
            other.reads.lock()[0],
            (PAGE_SIZE, 64 * PAGE_SIZE),
            "read ahead"
        );
    }

    #[test]
    fn a_forked_large_page_is_copied_on_write_page_by_page() {
        let (mut a, mut f) = big_space();
        let base = 0x4000_0000;
        a.insert(Vma::anon(base, base + LARGE, Prot::RW, Label::None), &mut f);
        a.fault(base, Access::Write, &mut f).unwrap();
        let (pa, _) = a.pt.lookup(base).unwrap();
        platform::write(pa + 0x2000, b"parent");
        let k = PageTable::new(&mut f).unwrap();
        let mut child = a.fork(&k, &mut f).unwrap();
        assert_eq!(child.pt.lookup(base + 0x2000).unwrap().0, pa + 0x2000);
        assert_eq!(
            child.pt.lookup(base + 0x2000).unwrap().1 & flags::WRITABLE,
            0
        );
        assert_eq!(a.pt.lookup(base + 0x2000).unwrap().1 & flags::WRITABLE, 0);
        child.fault(base + 0x2000, Access::Write, &mut f).unwrap();
        let (copy, _) = child.pt.lookup(base + 0x2000).unwrap();
        assert_ne!(copy, pa + 0x2000);
        let mut b = [0u8; 6];
        platform::read(copy, &mut b);
        assert_eq!(&b, b"parent");
        assert_eq!(
            child.pt.lookup(base + 0x3000).unwrap().0,
            pa + 0x3000,
            "the rest is shared"
        );
        child.destroy(&mut f);
        a.fault(base + 0x3000, Access::Write, &mut f).unwrap();
        assert_eq!(
            a.pt.lookup(base + 0x3000).unwrap().0,
            pa + 0x3000,
            "the last owner writes in place"
        );
    }

    #[test]
    fn demand_paging_zero_fills_and_checks_permissions() {
        let (mut a, mut f) = space();
        a.insert(
            Vma::anon(0x10000, 0x20000, Prot(Prot::READ), Label::None),
            &mut f,
        );
        assert_eq!(
            a.fault(0x10008, Access::Write, &mut f),
            Err(Fault::Forbidden)
        );
        assert_eq!(a.fault(0x30000, Access::Read, &mut f), Err(Fault::Unmapped));
        a.fault(0x10008, Access::Read, &mut f).unwrap();
        let (pa, fl) = a.pt.lookup(0x10000).unwrap();
        assert_eq!(
            fl & (flags::WRITABLE | flags::NO_EXECUTE | flags::USER),
            flags::NO_EXECUTE | flags::USER
        );
        let mut b = [1u8; 16];
        platform::read(pa, &mut b);
        assert_eq!(b, [0; 16]);
    }

    #[test]
    fn write_exec_area_flips_between_phases() {
        let (mut a, mut f) = space();
        a.insert(Vma::anon(0x10000, 0x11000, Prot(7), Label::None), &mut f);
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        let fl = a.pt.lookup(0x10000).unwrap().1;
        assert!(fl & flags::WRITABLE != 0 && fl & flags::NO_EXECUTE != 0);
        a.fault(0x10000, Access::Exec, &mut f).unwrap();
        let fl = a.pt.lookup(0x10000).unwrap().1;
        assert!(fl & flags::WRITABLE == 0 && fl & flags::NO_EXECUTE == 0);
    }

    #[test]
    fn image_pages_are_shared_read_only_and_copied_on_write() {
        let (mut a, mut f) = space();
        platform::write(0x2000, b"hello image");
        let v = Vma {
            start: 0x400000,
            end: 0x402000,
            prot: Prot(Prot::READ),
            backing: Backing::Image {
                pa_at_start: 0x2000,
                data_end: 0x401800,
            },
            label: Label::Program,
        };
        a.insert(v, &mut f);
        a.fault(0x400000, Access::Read, &mut f).unwrap();
        assert_eq!(
            a.pt.lookup(0x400000).unwrap().0,
            0x2000,
            "whole read-only page shares the image frame"
        );
        a.fault(0x401000, Access::Read, &mut f).unwrap();
        let (pa, _) = a.pt.lookup(0x401000).unwrap();
        assert_ne!(
            pa, 0x3000,
            "partial page is a private copy with a zeroed tail"
        );
        let mut tail = [9u8; 8];
        platform::read(pa + 0x800, &mut tail);
        assert_eq!(tail, [0; 8]);
        a.protect(0x400000, 0x401000, Prot::RW, &f).unwrap();
        a.fault(0x400000, Access::Write, &mut f).unwrap();
        let (pa, fl) = a.pt.lookup(0x400000).unwrap();
        assert_ne!(pa, 0x2000);
        assert!(fl & flags::WRITABLE != 0);
        let mut b = [0u8; 11];
        platform::read(pa, &mut b);
        assert_eq!(&b, b"hello image");
    }

    #[test]
    fn fork_shares_pages_until_either_side_writes() {
        let (mut a, mut f) = space();
        a.insert(Vma::anon(0x10000, 0x12000, Prot::RW, Label::None), &mut f);
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        let (pa, _) = a.pt.lookup(0x10000).unwrap();
        platform::write(pa, b"parent");
        let kernel = PageTable::new(&mut f).unwrap();
        let mut c = a.fork(&kernel, &mut f).unwrap();
        let (cpa, cfl) = c.pt.lookup(0x10000).unwrap();
        assert_eq!(cpa, pa, "the child maps the same frame");
        assert_eq!(cfl & flags::WRITABLE, 0, "read-only in the child");
        assert_eq!(
            a.pt.lookup(0x10000).unwrap().1 & flags::WRITABLE,
            0,
            "and in the parent"
        );
        assert!(f.is_shared(pa));
        c.fault(0x10000, Access::Write, &mut f).unwrap();
        let (cpa2, cfl2) = c.pt.lookup(0x10000).unwrap();
        assert_ne!(cpa2, pa, "the child's write copied the page");
        assert!(cfl2 & flags::WRITABLE != 0);
        let mut b = [0u8; 6];
        platform::read(cpa2, &mut b);
        assert_eq!(&b, b"parent");
        assert!(!f.is_shared(pa), "the parent owns the original alone again");
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        assert_eq!(
            a.pt.lookup(0x10000).unwrap().0,
            pa,
            "no copy for the sole owner"
        );
        let before = f.available();
        c.destroy(&mut f);
        assert!(f.available() > before, "the child's frames come back");
    }

    #[test]
    fn munmap_splits_and_frees() {
        let (mut a, mut f) = space();
        a.insert(Vma::anon(0x10000, 0x14000, Prot::RW, Label::None), &mut f);
        for p in 0..4 {
            a.fault(0x10000 + p * PAGE_SIZE, Access::Write, &mut f)
                .unwrap();
        }
        let before = f.available();
        a.unmap(0x11000, 0x13000, &mut f);
        assert_eq!(f.available(), before + 2);
        assert!(
            a.find(0x10000).is_some() && a.find(0x11000).is_none() && a.find(0x13000).is_some()
        );
        assert_eq!(
            a.protect(0x10000, 0x14000, Prot::NONE, &f),
            Err(Errno::ENOMEM)
        );
    }

    #[test]
    fn prot_none_parks_the_frame_and_keeps_its_contents() {
        let (mut a, mut f) = space();
        a.insert(Vma::anon(0x10000, 0x11000, Prot::RW, Label::None), &mut f);
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        let pa = a.pt.lookup(0x10000).unwrap().0;
        platform::write(pa, b"kept");
        a.protect(0x10000, 0x11000, Prot::NONE, &f).unwrap();
        assert_eq!(
            a.pt.lookup(0x10000),
            None,
            "PROT_NONE pages are not present"
        );
        assert_eq!(
            a.fault(0x10000, Access::Read, &mut f),
            Err(Fault::Forbidden)
        );
        a.protect(0x10000, 0x11000, Prot(Prot::READ), &f).unwrap();
        let (pa2, fl) = a.pt.lookup(0x10000).unwrap();
        assert_eq!(pa2, pa);
        assert_eq!(fl & flags::WRITABLE, 0);
        let mut b = [0u8; 4];
        platform::read(pa2, &mut b);
        assert_eq!(&b, b"kept");
        let before = f.available();
        a.protect(0x10000, 0x11000, Prot::NONE, &f).unwrap();
        a.unmap(0x10000, 0x11000, &mut f);
        assert_eq!(
            f.available(),
            before + 1,
            "a parked frame is freed on munmap"
        );
    }

    #[test]
    fn find_free_goes_top_down_around_areas() {
        let (mut a, mut f) = space();
        let top = a.mmap_top;
        a.insert(Vma::anon(top - 0x3000, top, Prot::RW, Label::None), &mut f);
        assert_eq!(a.find_free(0x1000), Some(top - 0x4000));
        a.insert(
            Vma::anon(top - 0x5000, top - 0x4000, Prot::RW, Label::None),
            &mut f,
        );
        assert_eq!(a.find_free(0x2000), Some(top - 0x7000));
    }

    #[test]
    fn find_free_resumes_below_the_last_mapping_and_sees_holes_made_above() {
        let (mut a, mut f) = space();
        let top = a.mmap_top;
        for i in 1..=100 {
            let at = a.find_free(0x1000).unwrap();
            assert_eq!(at, top - i * 0x1000);
            a.insert(Vma::anon(at, at + 0x1000, Prot::RW, Label::None), &mut f);
        }
        // A two-page hole high up: found again, though searches resumed far below it.
        a.unmap(top - 0x6000, top - 0x4000, &mut f);
        assert_eq!(a.find_free(0x2000), Some(top - 0x6000));
        a.insert(
            Vma::anon(top - 0x6000, top - 0x4000, Prot::RW, Label::None),
            &mut f,
        );
        // A one-page hole passed over by a search for two pages is still used for one.
        a.unmap(top - 0x8000, top - 0x7000, &mut f);
        assert_eq!(a.find_free(0x2000), Some(top - 0x66000));
        assert_eq!(a.find_free(0x1000), Some(top - 0x8000));
    }

    #[test]
    fn brk_grows_and_shrinks() {
        let (mut a, mut f) = space();
        a.brk_start = 0x60_0000;
        a.brk = 0x60_0000;
        assert_eq!(a.set_brk(0x60_2001, &mut f), 0x60_2001);
        a.fault(0x60_2000, Access::Write, &mut f).unwrap();
        assert_eq!(a.set_brk(0x60_1000, &mut f), 0x60_1000);
        assert!(a.find(0x60_1000).is_none());
        assert_eq!(
            a.set_brk(0x10, &mut f),
            0x60_1000,
            "below the start fails, returning the old break"
        );
    }

    #[test]
    fn mremap_moves_pages_with_contents() {
        let (mut a, mut f) = space();
        a.insert(Vma::anon(0x10000, 0x12000, Prot::RW, Label::None), &mut f);
        a.insert(
            Vma::anon(0x12000, 0x13000, Prot(Prot::READ), Label::None),
            &mut f,
        );
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        let pa = a.pt.lookup(0x10000).unwrap().0;
        platform::write(pa, b"moved");
        assert_eq!(
            a.remap(0x10000, 0x2000, 0x4000, false, None, &mut f),
            Err(Errno::ENOMEM)
        );
        let new = a
            .remap(0x10000, 0x2000, 0x4000, true, None, &mut f)
            .unwrap();
        assert_ne!(new, 0x10000);
        assert!(a.find(0x10000).is_none());
        assert_eq!(a.pt.lookup(new).unwrap().0, pa);
        assert_eq!(a.find(new + 0x3000).unwrap().end, new + 0x4000);
    }

    /// A file of `len` bytes (byte i = i % 251) for file-mapping tests: reads count
    /// themselves; shared frames come from a fixed frame per page, written ones noted.
    #[derive(Debug, Default)]
    struct TestFile {
        len: u64,
        reads: spin::Mutex<alloc::vec::Vec<(u64, u64)>>,
        frames: spin::Mutex<BTreeMap<u64, u64>>,
        written: spin::Mutex<alloc::vec::Vec<u64>>,
        identity: crate::mm::source::Identity,
    }

    impl PageSource for TestFile {
        fn read(&self, off: u64, segs: &[hull_arch::abi::Segment]) -> Result<u64, Errno> {
            let want: u64 = segs.iter().map(|s| s.len).sum();
            let n = want.min(self.len.saturating_sub(off));
            self.reads.lock().push((off, n));
            let bytes: alloc::vec::Vec<u8> = (off..off + n).map(|i| (i % 251) as u8).collect();
            let mut done = 0;
            for s in segs {
                let m = (n - done).min(s.len);
                platform::write(s.gpa, &bytes[done as usize..(done + m) as usize]);
                done += m;
            }
            Ok(n)
        }
        fn shared_frame(
            &self,
            off: u64,
            write: bool,
            frames: &mut FrameAllocator,
        ) -> Result<u64, SourceError> {
            if off >= self.len.next_multiple_of(PAGE_SIZE) {
                return Err(SourceError::PastEnd);
            }
            if write {
                self.written.lock().push(off);
            }
            let mut m = self.frames.lock();
            if let Some(&pa) = m.get(&off) {
                return Ok(pa);
            }
            let pa = frames.alloc_zeroed().ok_or(SourceError::OutOfMemory)?;
            m.insert(off, pa);
            Ok(pa)
        }
        fn tracks_writes(&self) -> bool {
            true
        }
        fn writable(&self) -> bool {
            true
        }
        fn identity(&self) -> &crate::mm::source::Identity {
            &self.identity
        }
    }

    #[test]
    fn private_file_pages_are_read_ahead_and_past_the_end_is_sigbus() {
        let (mut a, mut f) = space();
        let file = Arc::new(TestFile {
            len: 3 * PAGE_SIZE + 100,
            ..Default::default()
        });
        a.insert_file(
            (0x10000, 0x10000 + 6 * PAGE_SIZE, Prot(Prot::READ)),
            file.clone(),
            PAGE_SIZE,
            false,
            &mut f,
        );
        a.fault(0x10000, Access::Read, &mut f).unwrap();
        // One read from file offset 4096 covering the rest of the area (6 pages).
        assert_eq!(*file.reads.lock(), [(PAGE_SIZE, 2 * PAGE_SIZE + 100)]);
        let (pa, _) = a.pt.lookup(0x10000).unwrap();
        let mut b = [0u8; 2];
        platform::read(pa, &mut b);
        assert_eq!(b, [(4096 % 251) as u8, (4097 % 251) as u8]);
        // File offset 12288 holds the last 100 bytes.
        let (pa, _) = a.pt.lookup(0x12000).unwrap();
        let mut tail = [9u8; 4];
        platform::read(pa + 100, &mut tail);
        assert_eq!(tail, [0; 4], "zeros past the end of the file");
        assert!(
            a.pt.lookup(0x13000).is_none(),
            "nothing mapped past the end"
        );
        assert_eq!(a.fault(0x13000, Access::Read, &mut f), Err(Fault::PastEnd));
        // A private page is the process's own: writable without another copy.
        a.protect(0x10000, 0x11000, Prot::RW, &f).unwrap();
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        assert_eq!(
            file.reads.lock().len(),
            2,
            "only the SIGBUS probe read again"
        );
        a.unmap(0x10000, 0x10000 + 6 * PAGE_SIZE, &mut f);
        assert_eq!(
            Arc::strong_count(&file),
            1,
            "the source goes with its last area"
        );
    }

    #[test]
    fn truncation_drops_the_pages_past_the_new_end_from_mappings_of_that_file_only() {
        let (mut a, mut f) = space();
        let ident = |ino| crate::mm::source::Identity {
            dev: 7,
            ino,
            path: alloc::vec::Vec::new(),
        };
        let file = Arc::new(TestFile {
            len: 4 * PAGE_SIZE,
            identity: ident(1),
            ..Default::default()
        });
        let other = Arc::new(TestFile {
            len: 4 * PAGE_SIZE,
            identity: ident(2),
            ..Default::default()
        });
        // A private area from offset 0, a shared one from offset 2 pages, and another
        // file's area.
        a.insert_file((0x10000, 0x14000, Prot::RW), file.clone(), 0, false, &mut f);
        a.insert_file(
            (0x20000, 0x22000, Prot::RW),
            file.clone(),
            2 * PAGE_SIZE,
            true,
            &mut f,
        );
        a.insert_file(
            (0x30000, 0x34000, Prot::RW),
            other.clone(),
            0,
            false,
            &mut f,
        );
        for va in [0x10000, 0x13000, 0x20000, 0x21000, 0x30000, 0x33000] {
            a.fault(va, Access::Write, &mut f).unwrap();
        }
        let before = f.available();
        a.file_truncated(7, 1, PAGE_SIZE + 1, &mut f);
        assert!(a.pt.lookup(0x10000).is_some(), "page 0 is before the end");
        assert!(a.pt.lookup(0x11000).is_some(), "page 1 holds the end");
        assert!(a.pt.lookup_any(0x12000).is_none());
        assert!(
            a.pt.lookup_any(0x13000).is_none(),
            "a private copy goes too"
        );
        assert!(a.pt.lookup_any(0x20000).is_none(), "shared, file page 2");
        assert!(a.pt.lookup_any(0x21000).is_none());
        assert!(a.pt.lookup(0x30000).is_some() && a.pt.lookup(0x33000).is_some());
        // Private copies of pages 2 and 3 come back; the shared frames stay the file's.
        assert_eq!(f.available(), before + 2);
        assert!(a.find(0x13000).is_some(), "the areas stay");
        // Another source of the same file (another open of it) is found by identity.
        let smaller = Arc::new(TestFile {
            len: PAGE_SIZE + 1,
            identity: ident(1),
            ..Default::default()
        });
        a.insert_file(
            (0x40000, 0x42000, Prot(Prot::READ)),
            smaller,
            0,
            false,
            &mut f,
        );
        assert_eq!(a.fault(0x41000, Access::Read, &mut f), Ok(()));
        a.file_truncated(7, 1, 0, &mut f);
        assert!(a.pt.lookup_any(0x10000).is_none() && a.pt.lookup_any(0x41000).is_none());
    }

    #[test]
    fn shared_file_pages_are_the_files_frames_and_writes_are_reported() {
        let (mut a, mut f) = space();
        let file = Arc::new(TestFile {
            len: 2 * PAGE_SIZE,
            ..Default::default()
        });
        a.insert_file((0x10000, 0x12000, Prot::RW), file.clone(), 0, true, &mut f);
        a.fault(0x10000, Access::Read, &mut f).unwrap();
        let (pa, fl) = a.pt.lookup(0x10000).unwrap();
        assert_eq!(pa, file.frames.lock()[&0]);
        assert_eq!(fl & flags::WRITABLE, 0, "read-only until written");
        assert!(file.written.lock().is_empty());
        a.fault(0x10000, Access::Write, &mut f).unwrap();
        let (pa2, fl) = a.pt.lookup(0x10000).unwrap();
        assert_eq!(pa2, pa);
        assert!(fl & flags::WRITABLE != 0);
        assert_eq!(*file.written.lock(), [0]);
        // A fork keeps the page shared, and the child's mapping is the same frame.
        let kernel = PageTable::new(&mut f).unwrap();
        let mut c = a.fork(&kernel, &mut f).unwrap();
        assert_eq!(c.pt.lookup(0x10000).unwrap().0, pa);
        c.fault(0x10000, Access::Write, &mut f).unwrap();
        assert_eq!(c.pt.lookup(0x10000).unwrap().0, pa, "no copy on write");
        // mremap moves the area with its source.
        let moved = a
            .remap(0x10000, 0x2000, 0x4000, true, None, &mut f)
            .unwrap();
        assert_eq!(a.pt.lookup(moved).unwrap().0, pa);
        assert_eq!(a.fault(moved + 0x1000, Access::Read, &mut f), Ok(()));
        assert_eq!(
            a.fault(moved + 0x2000, Access::Read, &mut f),
            Err(Fault::PastEnd)
        );
        c.destroy(&mut f);
        a.clear(&mut f);
        assert_eq!(Arc::strong_count(&file), 1);
    }
}
