//! The physical frame allocator: a bump pointer over the free range the loader left, plus a
//! stack of returned frames. Frames are zeroed on allocation only where the caller asks,
//! so untouched guest RAM stays untouched (and costs the host nothing).
use alloc::boxed::Box;
use alloc::vec::Vec;

use super::PAGE_SIZE;
use crate::platform;

/// Hands out 4 KiB physical frames from a fixed range.
/// Frames per block of share counters (4 MiB of RAM, a 4 KiB block).
const SHARE_BLOCK: usize = 1024;

/// The block and slot of frame `pa`'s share counter.
fn share_slot(pa: u64) -> (usize, usize) {
    let n = (pa / PAGE_SIZE) as usize;
    (n / SHARE_BLOCK, n % SHARE_BLOCK)
}

#[derive(Debug)]
pub struct FrameAllocator {
    next: u64,
    end: u64,
    free: Vec<u64>,
    total: u64,
    /// Extra references to frames shared since a fork (0: one owner), by frame number,
    /// in blocks allocated on first use: a fork bumps one counter per page, so this is a
    /// hot path (a map here cost about 1 ms per 64 MiB forked).
    shared: Vec<Option<Box<[u32; SHARE_BLOCK]>>>,
    /// Root pairs of dropped address spaces (KPTI), ready for reuse as roots.
    root_pairs: Vec<u64>,
}

impl FrameAllocator {
    /// Manages frames in [start, end) (both page aligned).
    pub fn new(start: u64, end: u64) -> Self {
        assert!(
            start.is_multiple_of(PAGE_SIZE) && end.is_multiple_of(PAGE_SIZE) && start <= end,
            "bad frame range {start:#x}..{end:#x}"
        );
        FrameAllocator {
            next: start,
            end,
            free: Vec::new(),
            total: (end - start) / PAGE_SIZE,
            shared: Vec::new(),
            root_pairs: Vec::new(),
        }
    }

    /// A frame with undefined contents, or `None` when memory is exhausted.
    pub fn alloc(&mut self) -> Option<u64> {
        if let Some(pa) = self.free.pop() {
            return Some(pa);
        }
        if self.next < self.end {
            let pa = self.next;
            self.next += PAGE_SIZE;
            return Some(pa);
        }
        // Out of plain frames: the kept roots are memory too.
        let pair = self.root_pairs.pop()?;
        self.free.push(pair + PAGE_SIZE);
        Some(pair)
    }

    /// A page-table root pair that a dropped address space left (see
    /// [`keep_root_pair`](Self::keep_root_pair)), if any.
    pub fn reuse_root_pair(&mut self) -> Option<u64> {
        self.root_pairs.pop()
    }

    /// Keeps a freed root pair (its user halves already empty) for the next address
    /// space: pairs come only from the bump range (see [`alloc_pair`](Self::alloc_pair)),
    /// and a kept one already holds the kernel half.
    pub fn keep_root_pair(&mut self, pa: u64) {
        self.root_pairs.push(pa);
    }

    /// Two adjacent frames, the first 8 KiB aligned (a KPTI PML4 pair); from the bump
    /// range only.
    pub fn alloc_pair(&mut self) -> Option<u64> {
        if !self.next.is_multiple_of(2 * PAGE_SIZE) && self.next < self.end {
            self.free.push(self.next);
            self.next += PAGE_SIZE;
        }
        if self.end - self.next < 2 * PAGE_SIZE {
            return None;
        }
        let pa = self.next;
        self.next += 2 * PAGE_SIZE;
        Some(pa)
    }

    /// A zero-filled frame for user memory: one never handed out is not written, since
    /// guest RAM starts as zeros (the loader writes only below the frames). Under shadow
    /// paging the kernel's first store to a page is a world switch, and the program's own
    /// first touch of it follows anyway. Not for page tables: the kernel reads those
    /// before writing them, and a page read first is mapped read-only by the hypervisor,
    /// so the write would fault again.
    pub fn alloc_zeroed_for_user(&mut self) -> Option<u64> {
        if self.free.is_empty() && self.next < self.end {
            return self.alloc();
        }
        self.alloc_zeroed()
    }

    /// A zero-filled frame.
    pub fn alloc_zeroed(&mut self) -> Option<u64> {
        let pa = self.alloc()?;
        platform::fill(pa, 0, PAGE_SIZE as usize);
        Some(pa)
    }

    /// Drops one reference to a frame; the last one returns it. The caller guarantees its
    /// own mapping of it is gone.
    pub fn free(&mut self, pa: u64) {
        debug_assert!(pa.is_multiple_of(PAGE_SIZE));
        let (b, i) = share_slot(pa);
        if let Some(Some(block)) = self.shared.get_mut(b)
            && block[i] > 0
        {
            block[i] -= 1;
            return;
        }
        self.free.push(pa);
    }

    /// Adds a reference to a frame (another address space maps it).
    pub fn share(&mut self, pa: u64) {
        let (b, i) = share_slot(pa);
        if self.shared.len() <= b {
            self.shared.resize_with(b + 1, || None);
        }
        self.shared[b].get_or_insert_with(|| Box::new([0; SHARE_BLOCK]))[i] += 1;
    }

    /// Whether more than one address space maps the frame.
    pub fn is_shared(&self, pa: u64) -> bool {
        let (b, i) = share_slot(pa);
        matches!(self.shared.get(b), Some(Some(block)) if block[i] > 0)
    }

    /// 512 contiguous frames, 2 MiB aligned, for a large page: from the untouched range,
    /// so they hold zeros; the frames skipped to align it become ordinary free ones.
    pub fn alloc_large(&mut self) -> Option<u64> {
        const LARGE: u64 = PAGE_SIZE << 9;
        let start = self.next.next_multiple_of(LARGE);
        if start.checked_add(LARGE)? > self.end {
            return None;
        }
        while self.next < start {
            self.free.push(self.next);
            self.next += PAGE_SIZE;
        }
        self.next = start + LARGE;
        Some(start)
    }

    /// Gives back the 512 frames of an [`alloc_large`](Self::alloc_large) block that was
    /// not used, as ordinary frames.
    pub fn free_large(&mut self, pa: u64) {
        for i in 0..512 {
            self.free(pa + i * PAGE_SIZE);
        }
    }

    /// `n` physically contiguous frames (for a program image), from the untouched range.
    pub fn alloc_contiguous(&mut self, n: u64) -> Option<u64> {
        let bytes = n.checked_mul(PAGE_SIZE)?;
        if self.end - self.next < bytes {
            return None;
        }
        let pa = self.next;
        self.next += bytes;
        Some(pa)
    }

    /// Frames still available.
    pub fn available(&self) -> u64 {
        (self.end - self.next) / PAGE_SIZE
            + self.free.len() as u64
            + 2 * self.root_pairs.len() as u64
    }

    /// Frames managed in all.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_reuses_and_exhausts() {
        platform::test_memory(0x10000);
        let mut f = FrameAllocator::new(0x1000, 0x4000);
        let a = f.alloc().unwrap();
        let b = f.alloc_zeroed().unwrap();
        let c = f.alloc().unwrap();
        assert_eq!((a, b, c), (0x1000, 0x2000, 0x3000));
        assert_eq!(f.alloc(), None);
        f.free(b);
        assert_eq!(f.available(), 1);
        assert_eq!(f.alloc(), Some(b));
    }

    #[test]
    fn kept_roots_are_handed_out_when_nothing_else_is_left() {
        platform::test_memory(0x10000);
        let mut f = FrameAllocator::new(0x2000, 0x6000);
        let (a, b) = (f.alloc().unwrap(), f.alloc().unwrap());
        let pair = f.alloc_pair().unwrap();
        assert_eq!(f.alloc(), None);
        f.keep_root_pair(pair);
        f.free(a);
        f.free(b);
        assert_eq!(f.available(), 4);
        assert_eq!(f.reuse_root_pair(), Some(pair));
        f.keep_root_pair(pair);
        let mut plain = [f.alloc().unwrap(), f.alloc().unwrap()];
        plain.sort_unstable();
        assert_eq!(plain, [a, b], "plain frames first");
        let mut rest = [f.alloc().unwrap(), f.alloc().unwrap()];
        rest.sort_unstable();
        assert_eq!(
            rest,
            [pair, pair + PAGE_SIZE],
            "then the root pair, frame by frame"
        );
        assert_eq!(f.alloc(), None);
    }

    #[test]
    fn shared_frames_return_with_their_last_reference() {
        platform::test_memory(0x10000);
        let mut f = FrameAllocator::new(0x1000, 0x8000);
        let a = f.alloc().unwrap();
        f.share(a);
        f.share(a);
        assert!(f.is_shared(a));
        let before = f.available();
        f.free(a);
        f.free(a);
        assert_eq!(f.available(), before, "two of three references dropped");
        assert!(!f.is_shared(a));
        f.free(a);
        assert_eq!(f.available(), before + 1);
        assert_eq!(f.alloc_contiguous(3), Some(0x2000));
        assert_eq!(f.alloc_contiguous(10), None);
    }
}
