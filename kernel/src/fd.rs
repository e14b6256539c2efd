//! File-descriptor tables: fd → open file description (shared by dup, as in Linux, so the
//! offset and status flags are shared) plus the per-fd close-on-exec flag.
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use hull_arch::abi::HostStat;

use crate::errno::Errno;
use crate::vfs::memfs::MemNode;
use crate::vfs::{DirEntry, Loc};

/// What an open file description refers to.
#[derive(Debug)]
pub enum FileKind {
    /// The sandbox's stdio, a host handle.
    Host { handle: u64 },
    /// A file or directory beneath a host mount (or the overlay's lower layer), with the
    /// attributes the open returned (so fstat after open stays in the guest; writes
    /// through this description drop them).
    HostFile {
        handle: u64,
        /// The host mount id (for the attribute and handle caches).
        mount: u32,
        stat: StatCache,
        /// A plain read-only open of a regular file: its handle may be kept after close.
        reuse: bool,
        /// The position is kept in the guest (`OpenFile::pos`) and I/O is positional, so
        /// a handle can be shared; false for directories and O_APPEND opens.
        positional: bool,
    },
    /// One end of an in-guest pipe.
    Pipe(PipeEnd),
    /// A file or directory of an in-memory file system.
    Mem(Arc<MemNode>),
    /// A character device (`devfs` numbers).
    Dev(u64),
    /// A generated file (`/proc`): its contents as of the open.
    Snapshot(Vec<u8>),
    /// A directory listed once (`/proc`, merged overlay directories).
    Listing(Mutex<Option<Vec<DirEntry>>>),
    /// `O_PATH`: a location only.
    Path,
    /// An epoll instance.
    Epoll(Arc<crate::syscall::epoll::Epoll>),
    /// An eventfd counter.
    EventFd(Arc<crate::syscall::epoll::EventFd>),
    /// One end of a connected AF_UNIX stream socket pair (`socketpair`).
    UnixStream(UnixStream),
    /// A process (`syscall::pidfd`).
    PidFd(u32),
}

/// A connected AF_UNIX stream socket: two pipes crossed with its peer's.
#[derive(Debug)]
pub struct UnixStream {
    /// What the peer writes and this end reads.
    pub rx: Arc<Pipe>,
    /// What this end writes and the peer reads.
    pub tx: Arc<Pipe>,
    /// The read end of `rx` and the write end of `tx` this socket holds; shutdown drops
    /// one (the peer sees EOF, or EPIPE), as closing the socket drops both.
    pub ends: Mutex<(Option<PipeEnd>, Option<PipeEnd>)>,
    pub ino: u64,
}

impl UnixStream {
    /// Both ends of a new connected pair.
    pub fn pair(ino: u64) -> (UnixStream, UnixStream) {
        let (a_read, a_write) = PipeEnd::pair(ino);
        let (b_read, b_write) = PipeEnd::pair(ino);
        let (a, b) = (a_read.pipe.clone(), b_read.pipe.clone());
        (
            UnixStream {
                rx: a.clone(),
                tx: b.clone(),
                ends: Mutex::new((Some(a_read), Some(b_write))),
                ino,
            },
            UnixStream {
                rx: b,
                tx: a,
                ends: Mutex::new((Some(b_read), Some(a_write))),
                ino,
            },
        )
    }

    /// Whether reading or writing was shut down.
    pub fn shut(&self) -> (bool, bool) {
        let e = self.ends.lock();
        (e.0.is_none(), e.1.is_none())
    }
}

/// The attributes a host open returned, valid while the sandbox has changed nothing on
/// the host since (`FsState::host_gen`).
#[derive(Debug, Default)]
pub struct StatCache(Mutex<Option<(HostStat, u64)>>);

impl StatCache {
    pub fn new(st: HostStat, generation: u64) -> Self {
        StatCache(Mutex::new(Some((st, generation))))
    }

    /// The attributes if still current at `generation`.
    pub fn get(&self, generation: u64) -> Option<HostStat> {
        self.0
            .lock()
            .filter(|(_, g)| *g == generation)
            .map(|(s, _)| s)
    }

    /// The last attributes known, current or not (for the file type, which never changes).
    pub fn any(&self) -> Option<HostStat> {
        self.0.lock().map(|(s, _)| s)
    }

    /// The attributes with their generation.
    pub fn with_generation(&self) -> Option<(HostStat, u64)> {
        *self.0.lock()
    }

    pub fn set(&self, st: HostStat, generation: u64) {
        *self.0.lock() = Some((st, generation));
    }

    pub fn clear(&self) {
        if let Some((_, g)) = self.0.lock().as_mut() {
            *g = u64::MAX;
        }
    }
}

/// An open file description.
#[derive(Debug)]
pub struct OpenFile {
    pub kind: FileKind,
    /// `O_ACCMODE` and status flags (O_APPEND, O_NONBLOCK, …).
    pub flags: Mutex<u32>,
    /// The file position of in-guest files (host files keep theirs on the host).
    pub pos: Mutex<u64>,
    /// Where it was opened, for `*at` calls, `fchdir` and `/proc/self/fd`.
    pub loc: Option<Loc>,
}

impl OpenFile {
    pub fn new(kind: FileKind, flags: u32) -> Arc<Self> {
        Self::at(kind, flags, None)
    }

    pub fn at(kind: FileKind, flags: u32, loc: Option<Loc>) -> Arc<Self> {
        Arc::new(OpenFile {
            kind,
            flags: Mutex::new(flags),
            pos: Mutex::new(0),
            loc,
        })
    }

    /// Whether it was opened for writing (O_WRONLY or O_RDWR).
    pub fn writable(&self) -> bool {
        *self.flags.lock() & oflags::O_ACCMODE != oflags::O_RDONLY
    }

    /// The host handle behind this description, if any.
    pub fn host_handle(&self) -> Option<u64> {
        match self.kind {
            FileKind::Host { handle } | FileKind::HostFile { handle, .. } => Some(handle),
            _ => None,
        }
    }
}

/// Kernel heap kept free for the kernel's own bookkeeping and temporaries (an eighth of
/// it, at least 256 KiB): creating open files or tasks fails below it (ENFILE, EAGAIN), so
/// that a storm of them runs into an error instead of exhausting the heap, which would end
/// the sandbox.
pub fn kernel_heap_reserve() -> usize {
    (crate::platform::heap_size() / 8).max(256 * 1024)
}

/// Ok while the kernel heap has more than [`kernel_heap_reserve`] free.
pub fn kernel_memory_left() -> Result<(), Errno> {
    kernel_memory_above(kernel_heap_reserve())
}

/// For objects that outlive the call (in-memory files): twice the reserve, so that such a
/// storm stops at their creation rather than at the descriptor for them.
pub fn kernel_memory_for_node() -> Result<(), Errno> {
    kernel_memory_above(kernel_heap_reserve().saturating_mul(2))
}

fn kernel_memory_above(bytes: usize) -> Result<(), Errno> {
    if crate::platform::heap_free() > bytes {
        Ok(())
    } else {
        Err(Errno::ENOMEM)
    }
}

/// Linux's default pipe capacity.
pub const PIPE_CAPACITY: usize = 64 * 1024;

/// A pipe's buffer and the number of open descriptions of each end.
#[derive(Debug, Default)]
pub struct PipeState {
    pub data: Ring,
    pub readers: usize,
    pub writers: usize,
}

/// A byte ring of up to [`PIPE_CAPACITY`] bytes. Its buffer starts at one page and grows
/// (doubling) only as data waits in it, so an idle or lightly used pipe costs a page, not
/// 64 KiB; growth is fallible, so a pipe storm that exhausts the kernel heap makes writes
/// fail with ENOMEM instead of ending the sandbox. Data moves in and out in at most two
/// contiguous pieces, so a pipe transfer is one copy each way.
#[derive(Debug, Default)]
pub struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
}

/// The ring's first allocation.
const RING_START: usize = 4096;

impl Ring {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes a writer may still add (the pipe's capacity, whatever is allocated now).
    pub fn room(&self) -> usize {
        PIPE_CAPACITY - self.len
    }

    /// Makes the buffer hold at least `want` bytes (up to the capacity), keeping the data
    /// in order. Returns the space now usable.
    fn grow_for(&mut self, want: usize) -> usize {
        let need = (self.len + want).min(PIPE_CAPACITY);
        if self.buf.len() >= need {
            return self.buf.len() - self.len;
        }
        let mut size = self.buf.len().max(RING_START);
        while size < need {
            size *= 2;
        }
        let size = size.min(PIPE_CAPACITY);
        let mut bigger: Vec<u8> = Vec::new();
        if bigger.try_reserve_exact(size).is_err() {
            return self.buf.len() - self.len;
        }
        bigger.resize(size, 0);
        // Unwrap the data to the front of the new buffer.
        let cap = self.buf.len();
        let first = self.len.min(cap - self.head);
        bigger[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        bigger[first..self.len].copy_from_slice(&self.buf[..self.len - first]);
        self.buf = bigger;
        self.head = 0;
        self.buf.len() - self.len
    }

    /// Appends up to `n` bytes that `fill(dst)` writes into the ring's free space, in
    /// order; returns how many. `None` when there was room but no memory for any of it.
    pub fn push_with(&mut self, n: usize, mut fill: impl FnMut(&mut [u8])) -> Option<usize> {
        let n = n.min(self.room());
        if n == 0 {
            return Some(0);
        }
        let usable = self.grow_for(n);
        if usable == 0 {
            return None;
        }
        let n = n.min(usable);
        let cap = self.buf.len();
        let mut done = 0;
        while done < n {
            let tail = (self.head + self.len) % cap;
            let m = (n - done).min(cap - tail);
            fill(&mut self.buf[tail..tail + m]);
            self.len += m;
            done += m;
        }
        Some(n)
    }

    /// Removes up to `n` bytes, handing them to `take(src)` in order; returns how many.
    pub fn pop_with(&mut self, n: usize, mut take: impl FnMut(&[u8])) -> usize {
        let n = n.min(self.len);
        let cap = self.buf.len();
        let mut done = 0;
        while done < n {
            let m = (n - done).min(cap - self.head);
            take(&self.buf[self.head..self.head + m]);
            self.head = (self.head + m) % cap;
            self.len -= m;
            done += m;
        }
        if self.len == 0 {
            self.head = 0;
        }
        n
    }
}

#[cfg(test)]
mod ring_tests {
    use super::*;

    #[test]
    fn grows_as_data_waits_and_keeps_its_order() {
        let mut r = Ring::default();
        assert_eq!(r.push_with(1, |d| d.fill(b'a')), Some(1));
        assert_eq!(r.buf.len(), RING_START, "one page for a small write");
        // Wrap, then grow past the page: the order survives the reallocation.
        let mut out = Vec::new();
        r.pop_with(1, |s| out.extend_from_slice(s));
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut at = 0;
        while at < 3000 {
            let n = r
                .push_with(3000 - at, |d| {
                    d.copy_from_slice(&data[at..at + d.len()]);
                })
                .unwrap();
            at += n;
        }
        let mut got = Vec::new();
        r.pop_with(1500, |s| got.extend_from_slice(s));
        while at < data.len() {
            let n = r
                .push_with(data.len() - at, |d| {
                    let m = d.len();
                    d.copy_from_slice(&data[at..at + m]);
                })
                .unwrap();
            at += n;
        }
        r.pop_with(usize::MAX, |s| got.extend_from_slice(s));
        assert_eq!(got, data);
        assert!(r.buf.len() <= PIPE_CAPACITY);
        // Full at the capacity.
        let mut r = Ring::default();
        assert_eq!(
            r.push_with(PIPE_CAPACITY + 10, |d| d.fill(1)),
            Some(PIPE_CAPACITY)
        );
        assert_eq!(r.room(), 0);
        assert_eq!(r.push_with(1, |d| d.fill(1)), Some(0));
    }
}

/// A pipe, shared by its two ends.
#[derive(Debug, Default)]
pub struct Pipe {
    pub state: Mutex<PipeState>,
    /// A stable inode number for fstat.
    pub ino: u64,
}

/// One end of a pipe; dropping the last description of an end closes it.
#[derive(Debug)]
pub struct PipeEnd {
    pub pipe: Arc<Pipe>,
    pub write: bool,
}

impl PipeEnd {
    /// Both ends of a new pipe.
    pub fn pair(ino: u64) -> (PipeEnd, PipeEnd) {
        let pipe = Arc::new(Pipe {
            state: Mutex::new(PipeState {
                readers: 1,
                writers: 1,
                ..Default::default()
            }),
            ino,
        });
        (
            PipeEnd {
                pipe: pipe.clone(),
                write: false,
            },
            PipeEnd { pipe, write: true },
        )
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut st = self.pipe.state.lock();
        if self.write {
            st.writers -= 1;
        } else {
            st.readers -= 1;
        }
    }
}

/// `O_*` values used here.
pub mod oflags {
    pub const O_RDONLY: u32 = 0;
    pub const O_WRONLY: u32 = 1;
    pub const O_RDWR: u32 = 2;
    pub const O_ACCMODE: u32 = 3;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const O_DIRECT: u32 = 0o40000;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_NOCTTY: u32 = 0o400;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_DSYNC: u32 = 0o10000;
    pub const O_LARGEFILE: u32 = 0o100000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_NOFOLLOW: u32 = 0o400000;
    pub const O_NOATIME: u32 = 0o1000000;
    pub const O_PATH: u32 = 0o10000000;
    pub const O_TMPFILE: u32 = 0o20000000;
    pub const O_SYNC: u32 = 0o4010000;
    /// Status flags F_SETFL may change.
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | 0o20000 /* O_ASYNC */ | 0o40000 /* O_DIRECT */ | 0o1000000 /* O_NOATIME */;
}

#[derive(Debug, Clone)]
struct Slot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// A process's descriptors.
#[derive(Debug, Clone)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
    /// RLIMIT_NOFILE: descriptors must be below this.
    pub limit: usize,
}

impl FdTable {
    pub fn new(limit: usize) -> Self {
        FdTable {
            slots: Vec::new(),
            limit,
        }
    }

    /// The open file behind `fd`.
    pub fn get(&self, fd: i32) -> Result<&Arc<OpenFile>, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.as_ref())
            .map(|s| &s.file)
            .ok_or(Errno::EBADF)
    }

    /// Installs `file` at the lowest free descriptor ≥ `min`.
    pub fn install(
        &mut self,
        file: Arc<OpenFile>,
        min: usize,
        cloexec: bool,
    ) -> Result<i32, Errno> {
        let fd = (min..self.limit)
            .find(|&i| self.slots.get(i).is_none_or(|s| s.is_none()))
            .ok_or(Errno::EMFILE)?;
        kernel_memory_left().map_err(|_| Errno::ENFILE)?;
        self.put(fd, file, cloexec);
        Ok(fd as i32)
    }

    fn put(&mut self, fd: usize, file: Arc<OpenFile>, cloexec: bool) {
        if self.slots.len() <= fd {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(Slot { file, cloexec });
    }

    /// `dup2`/`dup3`: makes `new` refer to `old`'s file; returns what `new` held.
    pub fn dup_to(
        &mut self,
        old: i32,
        new: i32,
        cloexec: bool,
    ) -> Result<Option<Arc<OpenFile>>, Errno> {
        let file = self.get(old)?.clone();
        let new = usize::try_from(new)
            .ok()
            .filter(|&n| n < self.limit)
            .ok_or(Errno::EBADF)?;
        let prev = self
            .slots
            .get_mut(new)
            .and_then(|s| s.take())
            .map(|s| s.file);
        self.put(new, file, cloexec);
        Ok(prev)
    }

    /// Removes `fd`, returning its file.
    pub fn remove(&mut self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.slots
            .get_mut(i)
            .and_then(|s| s.take())
            .map(|s| s.file)
            .ok_or(Errno::EBADF)
    }

    /// Every open file, emptying the table (exit).
    pub fn into_files(self) -> Vec<Arc<OpenFile>> {
        self.slots.into_iter().flatten().map(|s| s.file).collect()
    }

    /// Closes every close-on-exec descriptor (execve); returns their files.
    pub fn take_cloexec(&mut self) -> Vec<Arc<OpenFile>> {
        let mut out = Vec::new();
        for slot in self.slots.iter_mut() {
            if slot.as_ref().is_some_and(|s| s.cloexec) {
                out.push(slot.take().expect("checked").file);
            }
        }
        out
    }

    /// Open descriptors, ascending.
    pub fn open_fds(&self) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Removes every descriptor in [first, last] (close_range); returns their files.
    pub fn remove_range(&mut self, first: u32, last: u32) -> Vec<Arc<OpenFile>> {
        let mut out = Vec::new();
        let end = (last as usize).saturating_add(1).min(self.slots.len());
        for i in (first as usize).min(end)..end {
            if let Some(s) = self.slots[i].take() {
                out.push(s.file);
            }
        }
        out
    }

    /// Sets close-on-exec on every descriptor in [first, last].
    pub fn set_cloexec_range(&mut self, first: u32, last: u32) {
        let end = (last as usize).saturating_add(1).min(self.slots.len());
        for s in self.slots[(first as usize).min(end)..end]
            .iter_mut()
            .flatten()
        {
            s.cloexec = true;
        }
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.get(fd)?;
        Ok(self.slots[fd as usize].as_ref().is_some_and(|s| s.cloexec))
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), Errno> {
        self.get(fd)?;
        if let Some(s) = self.slots[fd as usize].as_mut() {
            s.cloexec = on;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: u64) -> Arc<OpenFile> {
        OpenFile::new(FileKind::Host { handle: h }, oflags::O_RDWR)
    }

    #[test]
    fn lowest_free_descriptor_and_dup_sharing() {
        let mut t = FdTable::new(8);
        assert_eq!(t.install(host(0), 0, false), Ok(0));
        assert_eq!(t.install(host(1), 0, false), Ok(1));
        assert_eq!(t.install(host(2), 5, true), Ok(5));
        assert_eq!(t.cloexec(5), Ok(true));
        t.remove(0).unwrap();
        assert_eq!(t.install(t.get(1).unwrap().clone(), 0, false), Ok(0));
        assert!(Arc::ptr_eq(t.get(0).unwrap(), t.get(1).unwrap()));
        *t.get(0).unwrap().flags.lock() |= oflags::O_APPEND;
        assert_eq!(
            *t.get(1).unwrap().flags.lock() & oflags::O_APPEND,
            oflags::O_APPEND
        );
    }

    #[test]
    fn pipe_ends_count_their_descriptions() {
        let (r, w) = PipeEnd::pair(1);
        let pipe = r.pipe.clone();
        let rf = OpenFile::new(FileKind::Pipe(r), oflags::O_RDONLY);
        let wf = OpenFile::new(FileKind::Pipe(w), oflags::O_WRONLY);
        let dup = wf.clone();
        drop(wf);
        assert_eq!(
            pipe.state.lock().writers,
            1,
            "a dup keeps the write end open"
        );
        drop(dup);
        assert_eq!(pipe.state.lock().writers, 0);
        drop(rf);
        assert_eq!(pipe.state.lock().readers, 0);
    }

    #[test]
    fn ring_wraps_in_order() {
        let mut r = Ring::default();
        let mut next = 0u8;
        let mut expect = 0u8;
        for _ in 0..10 {
            let pushed = r.push_with(40_000, |d| {
                for b in d {
                    *b = next;
                    next = next.wrapping_add(1);
                }
            });
            assert!(pushed.is_some_and(|n| n <= PIPE_CAPACITY));
            r.pop_with(30_000, |s| {
                for &b in s {
                    assert_eq!(b, expect);
                    expect = expect.wrapping_add(1);
                }
            });
        }
        assert!(r.len() <= PIPE_CAPACITY);
    }

    #[test]
    fn limits_and_bad_descriptors() {
        let mut t = FdTable::new(2);
        t.install(host(0), 0, false).unwrap();
        t.install(host(1), 0, false).unwrap();
        assert_eq!(t.install(host(2), 0, false), Err(Errno::EMFILE));
        assert_eq!(t.get(-1).err(), Some(Errno::EBADF));
        assert_eq!(t.get(7).err(), Some(Errno::EBADF));
        assert_eq!(t.dup_to(0, 5, false).err(), Some(Errno::EBADF));
        assert!(t.dup_to(0, 1, true).unwrap().is_some());
        assert_eq!(t.remove(3).err(), Some(Errno::EBADF));
    }
}
