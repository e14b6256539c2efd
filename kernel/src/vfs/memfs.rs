//! In-memory file systems: the tree behind `/`, `/tmp`, `/dev`, and the upper layer of the
//! `--root` overlay. File data lives in whole physical frames, sparse (a page never
//! written is a hole), so it counts against guest RAM as user memory does and a 64 MiB
//! file never needs 64 MiB of contiguous kernel heap. Every file system that shares a
//! [`Budget`] shares its byte limit (`--tmpfs-size`).
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::errno::Errno;
use crate::mm::frame::FrameAllocator;
use crate::platform;

const PAGE: u64 = 4096;

/// File-type bits of `st_mode`.
pub mod mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const S_IFLNK: u32 = 0o120000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;
}

/// The byte limit shared by in-memory file systems, and the frames their files gave back
/// (a dropped file cannot reach the frame allocator; the kernel collects them).
#[derive(Debug)]
pub struct Budget {
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    used: u64,
    limit: u64,
    freed: Vec<u64>,
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            state: Mutex::new(BudgetState {
                limit,
                ..Default::default()
            }),
        })
    }

    /// Bytes in use and the limit.
    pub fn usage(&self) -> (u64, u64) {
        let s = self.state.lock();
        (s.used, s.limit)
    }

    fn charge(&self, bytes: u64) -> Result<(), Errno> {
        let mut s = self.state.lock();
        if s.used + bytes > s.limit {
            return Err(Errno::ENOSPC);
        }
        s.used += bytes;
        Ok(())
    }

    fn release(&self, pa: u64) {
        let mut s = self.state.lock();
        s.used -= PAGE;
        s.freed.push(pa);
    }

    /// Hands the frames of deleted or truncated data back to `frames`.
    pub fn reclaim(&self, frames: &mut FrameAllocator) {
        let freed = core::mem::take(&mut self.state.lock().freed);
        for pa in freed {
            frames.free(pa);
        }
    }
}

/// The contents of a regular file: its size and the frames of the pages it has.
#[derive(Debug)]
pub struct FileData {
    pub size: u64,
    pages: BTreeMap<u64, u64>,
    budget: Arc<Budget>,
}

impl FileData {
    pub fn new(budget: Arc<Budget>) -> Self {
        FileData {
            size: 0,
            pages: BTreeMap::new(),
            budget,
        }
    }

    /// Bytes of frames held (for `st_blocks`).
    pub fn allocated(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// Calls `fill(pa, len, done)` for each page-bounded piece of [off, off+len), giving
    /// the frame to write into (allocated and zeroed on first touch), and grows the size.
    /// Stops at the first error; returns the bytes written (an error only if none were).
    pub fn write_with(
        &mut self,
        off: u64,
        len: u64,
        frames: &mut FrameAllocator,
        fill: impl FnMut(u64, u64, u64) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        self.extend(off, len, frames, true, fill)
    }

    /// Like [`Self::write_with`], but every new page is zeroed first, for callers whose
    /// `fill` may not write every byte (fallocate, copy-up from a file that may shrink).
    pub fn allocate_with(
        &mut self,
        off: u64,
        len: u64,
        frames: &mut FrameAllocator,
        fill: impl FnMut(u64, u64, u64) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        self.extend(off, len, frames, false, fill)
    }

    fn extend(
        &mut self,
        off: u64,
        len: u64,
        frames: &mut FrameAllocator,
        fills_whole: bool,
        mut fill: impl FnMut(u64, u64, u64) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        if end > i64::MAX as u64 {
            return Err(Errno::EFBIG);
        }
        let mut done = 0;
        while done < len {
            let at = off + done;
            let n = (PAGE - at % PAGE).min(len - done);
            // A page the write covers whole needs no zeroing first.
            let whole = fills_whole && at.is_multiple_of(PAGE) && n == PAGE;
            let pa = match self.page(at / PAGE, frames, !whole) {
                Ok(pa) => pa,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            if let Err(e) = fill(pa + at % PAGE, n, done) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            done += n;
            self.size = self.size.max(at + n);
        }
        Ok(done)
    }

    fn page(&mut self, index: u64, frames: &mut FrameAllocator, zero: bool) -> Result<u64, Errno> {
        if let Some(&pa) = self.pages.get(&index) {
            return Ok(pa);
        }
        self.budget.charge(PAGE)?;
        let frame = if zero {
            frames.alloc_zeroed()
        } else {
            frames.alloc()
        };
        match frame {
            Some(pa) => {
                self.pages.insert(index, pa);
                Ok(pa)
            }
            None => {
                self.budget.state.lock().used -= PAGE;
                Err(Errno::ENOSPC)
            }
        }
    }

    /// The frame of page `index` for a shared mapping, allocated (zeroed) in a hole.
    pub fn page_for_mapping(
        &mut self,
        index: u64,
        frames: &mut FrameAllocator,
    ) -> Result<u64, Errno> {
        self.page(index, frames, true)
    }

    /// Calls `copy(Some(pa) or None for a hole, len, done)` for each page-bounded piece of
    /// [off, off+len) clamped to the size; returns the bytes covered.
    pub fn read_with(
        &self,
        off: u64,
        len: u64,
        mut copy: impl FnMut(Option<u64>, u64, u64) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        if off >= self.size {
            return Ok(0);
        }
        let len = len.min(self.size - off);
        let mut done = 0;
        while done < len {
            let at = off + done;
            let n = (PAGE - at % PAGE).min(len - done);
            let src = self.pages.get(&(at / PAGE)).map(|pa| pa + at % PAGE);
            if let Err(e) = copy(src, n, done) {
                if done == 0 {
                    return Err(e);
                }
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// Sets the size, freeing whole pages past it and zeroing the tail of the last one so
    /// that growing again reads zeros.
    pub fn truncate(&mut self, size: u64) -> Result<(), Errno> {
        if size > i64::MAX as u64 {
            return Err(Errno::EFBIG);
        }
        if size < self.size {
            let keep = size.div_ceil(PAGE);
            let gone: Vec<u64> = self.pages.range(keep..).map(|(&i, _)| i).collect();
            for i in gone {
                if let Some(pa) = self.pages.remove(&i) {
                    self.budget.release(pa);
                }
            }
            if !size.is_multiple_of(PAGE)
                && let Some(&pa) = self.pages.get(&(size / PAGE))
            {
                platform::fill(pa + size % PAGE, 0, (PAGE - size % PAGE) as usize);
            }
        }
        self.size = size;
        Ok(())
    }

    /// `SEEK_DATA` (`data`) or `SEEK_HOLE` from `off`: ENXIO at or past the end.
    pub fn seek_data_hole(&self, off: u64, data: bool) -> Result<u64, Errno> {
        if off >= self.size {
            return Err(Errno::ENXIO);
        }
        let mut page = off / PAGE;
        loop {
            let at = (page * PAGE).max(off);
            if at >= self.size {
                return if data {
                    Err(Errno::ENXIO)
                } else {
                    Ok(self.size)
                };
            }
            if self.pages.contains_key(&page) == data {
                return Ok(at);
            }
            page += 1;
        }
    }
}

impl Drop for FileData {
    fn drop(&mut self) {
        for (_, pa) in core::mem::take(&mut self.pages) {
            self.budget.release(pa);
        }
    }
}

/// A directory's entries: by name, and in creation order (the `getdents` cookie is the
/// creation sequence number, so a listing resumes correctly across removals).
#[derive(Debug, Default)]
pub struct DirEntries {
    by_name: BTreeMap<Vec<u8>, (u64, Arc<MemNode>)>,
    by_seq: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
    /// Overlay: the lower directory is hidden (set when a directory replaced a whiteout).
    pub opaque: bool,
}

impl DirEntries {
    /// An empty directory; `opaque` for one made in the overlay's upper layer.
    pub fn new(opaque: bool) -> Self {
        DirEntries {
            opaque,
            ..Default::default()
        }
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<MemNode>> {
        self.by_name.get(name).map(|(_, n)| n)
    }

    pub fn insert(&mut self, name: &[u8], node: Arc<MemNode>) {
        if let Some((seq, _)) = self.by_name.remove(name) {
            self.by_seq.remove(&seq);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.by_seq.insert(seq, name.to_vec());
        self.by_name.insert(name.to_vec(), (seq, node));
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Arc<MemNode>> {
        let (seq, node) = self.by_name.remove(name)?;
        self.by_seq.remove(&seq);
        Some(node)
    }

    /// Entries with sequence ≥ `from`: (name, node, next cookie).
    pub fn from(&self, from: u64) -> impl Iterator<Item = (&[u8], &Arc<MemNode>, u64)> {
        self.by_seq.range(from..).map(move |(&seq, name)| {
            let (_, node) = &self.by_name[name];
            (name.as_slice(), node, seq + 1)
        })
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Visible entries (whiteouts are not).
    pub fn has_visible(&self) -> bool {
        self.by_name
            .values()
            .any(|(_, n)| !matches!(n.body, MemBody::Whiteout))
    }
}

/// What a node is.
#[derive(Debug)]
pub enum MemBody {
    Dir(Mutex<DirEntries>),
    File(Mutex<FileData>),
    Symlink(Vec<u8>),
    /// A character device; the number selects the driver (see `devfs`).
    CharDev(u64),
    /// A FIFO made by mknod; opening it is not supported yet.
    Fifo,
    /// Overlay: "deleted from the lower layer".
    Whiteout,
    /// A read-only regular file whose bytes are guest memory (guest-physical start,
    /// length): the first program as the loader copied it, placed at its own path so the
    /// sandbox's tree has it (`setup::add_program`). Writes fail with ETXTBSY.
    Image(u64, u64),
}

/// Attributes of a node.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemMeta {
    /// Type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub atime: [i64; 2],
    pub mtime: [i64; 2],
    pub ctime: [i64; 2],
}

/// A node of an in-memory file system.
#[derive(Debug)]
pub struct MemNode {
    pub ino: u64,
    pub meta: Mutex<MemMeta>,
    pub body: MemBody,
}

/// Owner and time of a new node.
#[derive(Clone, Copy, Debug)]
pub struct Creator {
    pub uid: u32,
    pub gid: u32,
    pub now: [i64; 2],
}

impl MemNode {
    pub fn new(ino: u64, perm: u32, body: MemBody, who: Creator) -> Arc<MemNode> {
        let kind = match &body {
            MemBody::Dir(_) => mode::S_IFDIR,
            MemBody::File(_) | MemBody::Image(..) => mode::S_IFREG,
            MemBody::Symlink(_) => mode::S_IFLNK,
            MemBody::CharDev(_) => mode::S_IFCHR,
            MemBody::Fifo => mode::S_IFIFO,
            MemBody::Whiteout => mode::S_IFCHR,
        };
        let nlink = if matches!(body, MemBody::Dir(_)) {
            2
        } else {
            1
        };
        Arc::new(MemNode {
            ino,
            meta: Mutex::new(MemMeta {
                mode: kind | (perm & 0o7777),
                uid: who.uid,
                gid: who.gid,
                nlink,
                atime: who.now,
                mtime: who.now,
                ctime: who.now,
            }),
            body,
        })
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.body, MemBody::Dir(_))
    }

    pub fn dir(&self) -> Result<spin::MutexGuard<'_, DirEntries>, Errno> {
        match &self.body {
            MemBody::Dir(d) => Ok(d.lock()),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The `stat` of this node on device `dev`.
    pub fn stat(&self, dev: u64) -> hull_arch::abi::HostStat {
        let m = *self.meta.lock();
        let (size, blocks) = match &self.body {
            MemBody::File(f) => {
                let f = f.lock();
                (f.size, f.allocated() / 512)
            }
            MemBody::Symlink(t) => (t.len() as u64, 0),
            MemBody::Image(_, len) => (*len, len.div_ceil(512)),
            MemBody::Dir(_) => (4096, 8),
            _ => (0, 0),
        };
        hull_arch::abi::HostStat {
            mode: m.mode,
            nlink: m.nlink,
            size,
            blksize: PAGE,
            blocks,
            rdev: match self.body {
                MemBody::CharDev(r) => r,
                _ => 0,
            },
            ino: self.ino,
            dev,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }

    /// Marks a change to the contents (mtime and ctime).
    pub fn touch(&self, now: [i64; 2]) {
        let mut m = self.meta.lock();
        m.mtime = now;
        m.ctime = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Creator {
        Creator {
            uid: 1,
            gid: 1,
            now: [5, 0],
        }
    }

    #[test]
    fn sparse_writes_reads_holes_and_budget() {
        platform::test_memory(1 << 20);
        let mut frames = FrameAllocator::new(0x1000, 1 << 20);
        let budget = Budget::new(3 * PAGE);
        let mut f = FileData::new(budget.clone());
        let n = f
            .write_with(PAGE * 2 + 10, 4, &mut frames, |pa, n, _| {
                platform::write(pa, &b"abcd"[..n as usize]);
                Ok(())
            })
            .unwrap();
        assert_eq!((n, f.size), (4, 2 * PAGE + 14));
        assert_eq!(budget.usage().0, PAGE);
        let mut holes = 0;
        let mut got = Vec::new();
        f.read_with(0, 1 << 20, |src, n, _| {
            match src {
                None => holes += n,
                Some(pa) => {
                    let mut b = alloc::vec![0u8; n as usize];
                    platform::read(pa, &mut b);
                    got.extend_from_slice(&b);
                }
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(holes, 2 * PAGE);
        assert_eq!(&got[10..14], b"abcd");
        assert_eq!(f.seek_data_hole(0, true), Ok(2 * PAGE));
        assert_eq!(f.seek_data_hole(0, false), Ok(0));
        assert_eq!(f.seek_data_hole(2 * PAGE, false), Ok(2 * PAGE + 14));
        assert_eq!(f.seek_data_hole(f.size, true), Err(Errno::ENXIO));
        // The budget caps the file system, not the frame allocator.
        let r = f.write_with(0, 4 * PAGE, &mut frames, |_, _, _| Ok(()));
        assert_eq!(r, Ok(3 * PAGE), "pages 0 and 1 fit, page 3 does not");
        f.truncate(5).unwrap();
        assert_eq!(budget.usage().0, PAGE);
        let before = frames.available();
        budget.reclaim(&mut frames);
        assert_eq!(frames.available(), before + 2, "two frames back");
        drop(f);
        budget.reclaim(&mut frames);
        assert_eq!(budget.usage().0, 0);
    }

    #[test]
    fn truncate_zeroes_the_tail_so_growth_reads_zeros() {
        platform::test_memory(1 << 20);
        let mut frames = FrameAllocator::new(0x1000, 1 << 20);
        let mut f = FileData::new(Budget::new(1 << 20));
        f.write_with(0, 8, &mut frames, |pa, n, _| {
            platform::write(pa, &b"12345678"[..n as usize]);
            Ok(())
        })
        .unwrap();
        f.truncate(2).unwrap();
        f.truncate(8).unwrap();
        let mut b = [0u8; 8];
        f.read_with(0, 8, |src, n, done| {
            platform::read(src.unwrap(), &mut b[done as usize..(done + n) as usize]);
            Ok(())
        })
        .unwrap();
        assert_eq!(&b, b"12\0\0\0\0\0\0");
    }

    #[test]
    fn directory_cookies_survive_removals() {
        let d = MemNode::new(
            1,
            0o755,
            MemBody::Dir(Mutex::new(DirEntries::default())),
            who(),
        );
        let mk = |i| MemNode::new(i, 0o644, MemBody::Symlink(Vec::new()), who());
        let mut e = d.dir().unwrap();
        e.insert(b"a", mk(2));
        e.insert(b"b", mk(3));
        e.insert(b"c", mk(4));
        let (_, _, next) = e.from(0).next().unwrap();
        e.remove(b"b");
        let rest: Vec<&[u8]> = e.from(next).map(|(n, _, _)| n).collect();
        assert_eq!(rest, [b"c".as_slice()]);
        assert!(e.has_visible());
    }
}
