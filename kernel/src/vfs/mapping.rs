//! File mappings (`mmap` of a descriptor): the page sources behind them.
//!
//! - A file of an in-memory file system (tmpfs, the `--root` overlay's upper layer) is
//!   its frames: a shared mapping maps them, so the mapping and `read`/`write` see one
//!   copy, as on Linux.
//! - The first program's image is read-only guest memory; its mappings copy from it.
//! - A host file is read through hypercalls. A private mapping copies its pages (read
//!   ahead in clusters). Shared mappings of one host file share one set of frames kept in
//!   the guest ([`HostPages`]); pages written through a mapping are written back to the
//!   host on `msync`, `fsync` of the file, `sync`, when its last mapping goes and when
//!   the sandbox ends, and `read`/`write` of the file write back or reload the pages
//!   they cover ([`before_host_io`], [`after_host_write`]).
//!
//! Sources hold a reference to the open file, as Linux's `vm_file`, so a mapping outlives
//! `close`. Dropping one cannot reach the kernel (no frame allocator, no fd release), so
//! what it gives back is queued and [`collect`]ed at the end of the syscall.
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use super::memfs::{MemBody, MemNode};
use crate::errno::Errno;
use crate::fd::{FileKind, OpenFile};
use crate::hypercall;
use crate::mm::PAGE_SIZE;
use crate::mm::frame::FrameAllocator;
use crate::mm::source::{Identity, PageSource, SourceError};
use crate::platform;
use hull_arch::abi::{MAX_SEGMENTS, Segment};

/// Frames and open files given back by dropped sources, for [`collect`].
struct Deferred {
    frames: Vec<u64>,
    files: Vec<Arc<OpenFile>>,
}

static DEFERRED: Mutex<Deferred> = Mutex::new(Deferred {
    frames: Vec::new(),
    files: Vec::new(),
});

/// Whether DEFERRED holds anything: checked at the end of every syscall without a lock.
static PENDING: AtomicBool = AtomicBool::new(false);

/// Queues what a dropped source gives back.
fn defer(frames: impl IntoIterator<Item = u64>, file: Option<Arc<OpenFile>>) {
    let mut d = DEFERRED.lock();
    d.frames.extend(frames);
    d.files.extend(file);
    PENDING.store(true, Ordering::Release);
}

/// Shared page sets of host files, by (mount, inode): every shared mapping of one file
/// uses the same frames.
static HOST_SHARED: Mutex<BTreeMap<(u32, u64), Weak<HostPages>>> = Mutex::new(BTreeMap::new());

/// Hands what dropped sources gave back to the kernel: frames to the allocator, files to
/// `release` (which closes a host handle with its last reference).
pub fn collect(frames: &mut FrameAllocator) -> Vec<Arc<OpenFile>> {
    let mut d = DEFERRED.lock();
    PENDING.store(false, Ordering::Release);
    for pa in d.frames.drain(..) {
        frames.free(pa);
    }
    core::mem::take(&mut d.files)
}

/// Whether anything waits for [`collect`].
pub fn pending() -> bool {
    PENDING.load(Ordering::Acquire)
}

/// The file `(dev, ino)` was truncated to `size` by the sandbox: every mapping of it
/// loses its pages past the new end, and a host file's shared page set forgets them and
/// zeroes the rest of its last page, so that a later access there gets SIGBUS and a
/// later extension reads zeros, as on Linux.
pub fn truncated(k: &mut crate::process::Kernel, dev: u64, ino: u64, size: u64) {
    let sets: Vec<Arc<HostPages>> = HOST_SHARED
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .filter(|p| p.identity == (dev, ino))
        .collect();
    for set in sets {
        set.truncate(size);
    }
    k.proc.aspace.file_truncated(dev, ino, size, &mut k.frames);
    for p in k.others.values_mut() {
        p.aspace.file_truncated(dev, ino, size, &mut k.frames);
    }
}

/// Whether any process maps a file (if none, a truncation has nothing to do).
pub fn any_file_mapped(k: &crate::process::Kernel) -> bool {
    k.proc.aspace.maps_files() || k.others.values().any(|p| p.aspace.maps_files())
}

/// Copies `len` bytes from physical `src` (zeros for `None`) into `segs` starting `at`
/// bytes into them.
fn put(segs: &[Segment], mut at: u64, src: Option<u64>, mut len: u64) {
    let mut from = src;
    for s in segs {
        if len == 0 {
            break;
        }
        if at >= s.len {
            at -= s.len;
            continue;
        }
        let n = (s.len - at).min(len);
        match from {
            Some(pa) => {
                platform::copy(s.gpa + at, pa, n as usize);
                from = Some(pa + n);
            }
            None => platform::fill(s.gpa + at, 0, n as usize),
        }
        len -= n;
        at = 0;
    }
}

fn total(segs: &[Segment]) -> u64 {
    segs.iter().map(|s| s.len).sum()
}

/// The page source for mapping `file` (already checked for access), or why it cannot be
/// mapped. `shared` is MAP_SHARED.
pub fn source_for(
    file: &Arc<OpenFile>,
    identity: Identity,
    shared: bool,
) -> Result<Arc<dyn PageSource>, Errno> {
    let writable = file.writable();
    match &file.kind {
        FileKind::Mem(node) => match node.body {
            MemBody::File(_) => Ok(Arc::new(MemFile {
                node: node.clone(),
                writable,
                identity,
            })),
            MemBody::Image(pa, len) => Ok(Arc::new(Image { pa, len, identity })),
            _ => Err(Errno::ENODEV),
        },
        FileKind::HostFile { handle, .. } if !shared => Ok(Arc::new(HostCopy {
            handle: *handle,
            file: Some(file.clone()),
            identity,
        })),
        FileKind::HostFile { mount, .. } => {
            let pages = HostPages::of(*mount, file, &identity);
            Ok(Arc::new(HostShared {
                pages,
                writable,
                identity,
            }))
        }
        _ => Err(Errno::ENODEV),
    }
}

/// Whether a shared mapping of this file must be made private (the program image can
/// never change, so a copy behaves the same and needs no frames of the file).
pub fn always_private(file: &OpenFile) -> bool {
    matches!(&file.kind, FileKind::Mem(n) if matches!(n.body, MemBody::Image(..)))
}

/// A regular file of an in-memory file system.
#[derive(Debug)]
struct MemFile {
    node: Arc<MemNode>,
    writable: bool,
    identity: Identity,
}

impl MemFile {
    fn data(&self) -> spin::MutexGuard<'_, super::memfs::FileData> {
        match &self.node.body {
            MemBody::File(d) => d.lock(),
            _ => unreachable!("MemFile is made for regular files only"),
        }
    }
}

impl PageSource for MemFile {
    fn read(&self, off: u64, segs: &[Segment]) -> Result<u64, Errno> {
        self.data().read_with(off, total(segs), |src, n, done| {
            put(segs, done, src, n);
            Ok(())
        })
    }

    fn shared_frame(
        &self,
        off: u64,
        _write: bool,
        frames: &mut FrameAllocator,
    ) -> Result<u64, SourceError> {
        let mut d = self.data();
        if off >= d.size.next_multiple_of(PAGE_SIZE) {
            return Err(SourceError::PastEnd);
        }
        // A hole gets its page now (counted against the file system's bound, as Linux's
        // tmpfs counts a page a shared mapping touches).
        d.page_for_mapping(off / PAGE_SIZE, frames)
            .map_err(|_| SourceError::OutOfMemory)
    }

    fn writable(&self) -> bool {
        self.writable
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// The first program's image (read-only guest memory).
#[derive(Debug)]
struct Image {
    pa: u64,
    len: u64,
    identity: Identity,
}

impl PageSource for Image {
    fn read(&self, off: u64, segs: &[Segment]) -> Result<u64, Errno> {
        let n = total(segs).min(self.len.saturating_sub(off));
        put(segs, 0, Some(self.pa + off), n);
        Ok(n)
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// A host file under a private mapping: pages are copies read from the host.
#[derive(Debug)]
struct HostCopy {
    handle: u64,
    file: Option<Arc<OpenFile>>,
    identity: Identity,
}

/// Reads host file bytes at `off` into `segs`, in as few exits as the segment limit
/// allows; stops at the end of the file.
fn host_read(handle: u64, off: u64, segs: &[Segment]) -> Result<u64, Errno> {
    let mut done = 0;
    for chunk in segs.chunks(MAX_SEGMENTS) {
        let want = total(chunk);
        let n = hypercall::read(handle, chunk, off + done, 0)?;
        done += n;
        if n < want {
            break;
        }
    }
    Ok(done)
}

impl PageSource for HostCopy {
    fn read(&self, off: u64, segs: &[Segment]) -> Result<u64, Errno> {
        host_read(self.handle, off, segs)
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl Drop for HostCopy {
    fn drop(&mut self) {
        defer([], self.file.take());
    }
}

/// The guest's frames of one host file under shared mappings: page index → (frame,
/// written through a mapping).
#[derive(Debug)]
pub struct HostPages {
    key: (u32, u64),
    /// The file's (dev, ino) as the sandbox sees it.
    identity: (u64, u64),
    /// The description whose handle reads and writes back (a writable one once any
    /// shared mapping is writable).
    file: Mutex<Arc<OpenFile>>,
    pages: Mutex<BTreeMap<u64, (u64, bool)>>,
}

impl HostPages {
    /// The page set of the host file `file` (inode `identity.ino` of mount `mount`),
    /// made on its first shared mapping.
    fn of(mount: u32, file: &Arc<OpenFile>, identity: &Identity) -> Arc<HostPages> {
        let key = (mount, identity.ino);
        let mut all = HOST_SHARED.lock();
        all.retain(|_, w| w.strong_count() > 0);
        if let Some(p) = all.get(&key).and_then(Weak::upgrade) {
            let mut cur = p.file.lock();
            if !cur.writable() && file.writable() {
                *cur = file.clone();
            }
            drop(cur);
            return p;
        }
        let p = Arc::new(HostPages {
            key,
            identity: (identity.dev, identity.ino),
            file: Mutex::new(file.clone()),
            pages: Mutex::new(BTreeMap::new()),
        });
        all.insert(key, Arc::downgrade(&p));
        p
    }

    fn handle(&self) -> u64 {
        self.file
            .lock()
            .host_handle()
            .expect("HostPages is made for host files only")
    }

    /// The file now ends at `size`: the pages past it go (a mapping that touches them
    /// again finds the end), and the rest of the last page reads as zeros.
    fn truncate(&self, size: u64) {
        let mut pages = self.pages.lock();
        let gone = pages.split_off(&size.div_ceil(PAGE_SIZE));
        if !size.is_multiple_of(PAGE_SIZE)
            && let Some(&(pa, _)) = pages.get(&(size / PAGE_SIZE))
        {
            let tail = size % PAGE_SIZE;
            platform::fill(pa + tail, 0, (PAGE_SIZE - tail) as usize);
        }
        drop(pages);
        defer(gone.into_values().map(|(pa, _)| pa), None);
    }

    /// Writes the modified pages among [start, end) (file offsets) back to the host,
    /// up to the file's current size (a mapping never extends its file).
    fn write_back(&self, start: u64, end: u64) -> Result<(), Errno> {
        let pages = self.pages.lock();
        let dirty: Vec<(u64, u64)> = pages
            .range(start / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
            .filter(|(_, (_, d))| *d)
            .map(|(&i, &(pa, _))| (i, pa))
            .collect();
        drop(pages);
        if dirty.is_empty() {
            return Ok(());
        }
        let handle = self.handle();
        let size = hypercall::stat(handle)?.size;
        // Runs of consecutive pages go in one write each.
        let mut i = 0;
        while i < dirty.len() {
            let first = dirty[i].0;
            let off = first * PAGE_SIZE;
            if off >= size {
                break;
            }
            let mut segs = Vec::new();
            while i < dirty.len()
                && dirty[i].0 == first + segs.len() as u64
                && segs.len() < MAX_SEGMENTS
            {
                let at = dirty[i].0 * PAGE_SIZE;
                if at >= size {
                    break;
                }
                segs.push(Segment {
                    gpa: dirty[i].1,
                    len: (size - at).min(PAGE_SIZE),
                });
                i += 1;
            }
            let want = total(&segs);
            let n = hypercall::write(handle, &segs, off, 0)?;
            if n < want {
                return Err(Errno::EIO);
            }
            // Pages past the file's end stop the loop at the next run.
            while i < dirty.len() && dirty[i].0 * PAGE_SIZE >= size {
                i += 1;
            }
        }
        Ok(())
    }
}

impl Drop for HostPages {
    fn drop(&mut self) {
        // The last mapping is gone: what it wrote reaches the file, as when Linux
        // writes back a file's dirty pages. An error has no one left to report to.
        let _ = self.write_back(0, u64::MAX);
        let pages = core::mem::take(&mut *self.pages.lock());
        let file = self.file.lock().clone();
        defer(pages.values().map(|&(pa, _)| pa), Some(file));
        let mut all = HOST_SHARED.lock();
        if all.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
            all.remove(&self.key);
        }
    }
}

/// One shared mapping of a host file: the file's page set, and whether this mapping's
/// descriptor may write.
#[derive(Debug)]
struct HostShared {
    pages: Arc<HostPages>,
    writable: bool,
    identity: Identity,
}

impl PageSource for HostShared {
    fn read(&self, off: u64, segs: &[Segment]) -> Result<u64, Errno> {
        host_read(self.pages.handle(), off, segs)
    }

    fn shared_frame(
        &self,
        off: u64,
        write: bool,
        frames: &mut FrameAllocator,
    ) -> Result<u64, SourceError> {
        let index = off / PAGE_SIZE;
        let mut pages = self.pages.pages.lock();
        if let Some((pa, dirty)) = pages.get_mut(&index) {
            *dirty |= write;
            return Ok(*pa);
        }
        let pa = frames.alloc().ok_or(SourceError::OutOfMemory)?;
        let seg = [Segment {
            gpa: pa,
            len: PAGE_SIZE,
        }];
        let n = match host_read(self.pages.handle(), off, &seg) {
            Ok(n) if n > 0 => n,
            _ => {
                frames.free(pa);
                return Err(SourceError::PastEnd);
            }
        };
        platform::fill(pa + n, 0, (PAGE_SIZE - n) as usize);
        pages.insert(index, (pa, write));
        Ok(pa)
    }

    fn tracks_writes(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        self.writable
    }

    fn sync(&self, start: u64, end: u64) -> Result<(), Errno> {
        self.pages.write_back(start, end)
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// Writes back what shared mappings of the host file (mount, inode) modified (`fsync`).
pub fn sync_host_file(mount: u32, ino: u64) -> Result<(), Errno> {
    let pages = HOST_SHARED
        .lock()
        .get(&(mount, ino))
        .and_then(Weak::upgrade);
    match pages {
        Some(p) => p.write_back(0, u64::MAX),
        None => Ok(()),
    }
}

/// Whether any host file has shared mappings.
pub fn any_host_shared() -> bool {
    !HOST_SHARED.lock().is_empty()
}

/// Writes back every host file's shared-mapping pages (`sync`); errors are dropped, as
/// `sync` reports none.
pub fn sync_all_host() {
    let all: Vec<Arc<HostPages>> = HOST_SHARED
        .lock()
        .values()
        .filter_map(Weak::upgrade)
        .collect();
    for p in all {
        let _ = p.write_back(0, u64::MAX);
    }
}

/// The page set of host file (mount, inode), if it has shared mappings.
fn host_pages(mount: u32, ino: u64) -> Option<Arc<HostPages>> {
    let all = HOST_SHARED.lock();
    if all.is_empty() {
        return None;
    }
    all.get(&(mount, ino)).and_then(Weak::upgrade)
}

/// Before `read`/`write` of [off, off+len) of a host file: what shared mappings of it
/// modified there goes to the host first, so the I/O sees it (Linux's page cache is one
/// copy; hull's mapped pages are a second one, kept coherent here).
pub fn before_host_io(mount: u32, ino: u64, off: u64, len: u64) -> Result<(), Errno> {
    match host_pages(mount, ino) {
        Some(p) => p.write_back(off, off.saturating_add(len)),
        None => Ok(()),
    }
}

/// After a `write` of [off, off+len) to a host file: its mapped pages there are read
/// again, so every shared mapping sees the new bytes at once.
pub fn after_host_write(mount: u32, ino: u64, off: u64, len: u64) {
    let Some(p) = host_pages(mount, ino) else {
        return;
    };
    let handle = p.handle();
    let pages = p.pages.lock();
    for (&index, &(pa, _)) in
        pages.range(off / PAGE_SIZE..off.saturating_add(len).div_ceil(PAGE_SIZE))
    {
        let seg = [Segment {
            gpa: pa,
            len: PAGE_SIZE,
        }];
        let n = host_read(handle, index * PAGE_SIZE, &seg).unwrap_or(0);
        platform::fill(pa + n, 0, (PAGE_SIZE - n) as usize);
    }
}
