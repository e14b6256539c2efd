//! Descriptor I/O: read/write and their vector and positional forms, lseek, fstat, ioctl,
//! fcntl, dup and close, and readlink of /proc/self/exe. Data moves between the host and
//! the user's pages directly: the kernel only lists the physical segments.
use alloc::sync::Arc;
use alloc::vec::Vec;

use hull_arch::abi::{self, HostStat, OFFSET_CURRENT, Segment, tty};

use crate::errno::{Errno, SysResult};
use crate::fd::{FileKind, OpenFile, oflags};
use crate::hypercall;
use crate::mm::aspace::Access;
use crate::mm::uaccess;
use crate::platform;
use crate::process::Kernel;
use crate::sched::Wait;
use crate::vfs::DirEntry;
use crate::vfs::mapping;
use crate::vfs::memfs::MemBody;

/// The inode number every epoll and eventfd file shares (Linux's anon_inode is one inode).
const ANON_INODE: u64 = 1;

/// Linux caps one transfer at this (MAX_RW_COUNT).
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Most iovecs per call (UIO_MAXIOV).
const UIO_MAXIOV: u64 = 1024;
use super::fs::AT_FDCWD;
const FIONREAD: u64 = 0x541b;

/// `pipe`/`pipe2`.
pub fn pipe2(k: &mut Kernel, fds: u64, flags: u32) -> SysResult {
    if flags & !(oflags::O_CLOEXEC | oflags::O_NONBLOCK | oflags::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let ino = k.next_ino();
    let (r, w) = crate::fd::PipeEnd::pair(ino);
    let status = flags & oflags::O_NONBLOCK;
    install_pair(
        k,
        OpenFile::new(FileKind::Pipe(r), oflags::O_RDONLY | status),
        OpenFile::new(FileKind::Pipe(w), oflags::O_WRONLY | status),
        flags & oflags::O_CLOEXEC != 0,
        fds,
    )
}

/// Installs two new open files as the lowest free descriptors and writes them as an
/// `int[2]` at `out` (pipe2, socketpair); nothing is left installed on failure.
pub fn install_pair(
    k: &mut Kernel,
    a: Arc<OpenFile>,
    b: Arc<OpenFile>,
    cloexec: bool,
    out: u64,
) -> SysResult {
    let fa = k.proc.fds.install(a, 0, cloexec)?;
    let fb = match k.proc.fds.install(b, 0, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = k.proc.fds.remove(fa);
            return Err(e);
        }
    };
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&fa.to_le_bytes());
    bytes[4..].copy_from_slice(&fb.to_le_bytes());
    if let Err(e) = k.copy_out(out, &bytes) {
        let _ = k.proc.fds.remove(fa);
        let _ = k.proc.fds.remove(fb);
        return Err(e);
    }
    Ok(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Read,
    Write,
}

fn check_access(file: &OpenFile, dir: Dir) -> Result<(), Errno> {
    let flags = *file.flags.lock();
    if flags & oflags::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let ok = match dir {
        Dir::Read => flags & oflags::O_ACCMODE != oflags::O_WRONLY,
        Dir::Write => file.writable(),
    };
    if ok { Ok(()) } else { Err(Errno::EBADF) }
}

/// One call's own I/O options: send/recv's MSG_DONTWAIT (do not block, whatever the
/// file's flags) and MSG_NOSIGNAL (EPIPE without SIGPIPE); none for read/write.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallOpts {
    pub dontwait: bool,
    pub nosignal: bool,
}

/// Moves bytes between `file` and the user ranges `iovs`, a batch of at most MAX_SEGMENTS
/// pages at a time, stopping at the first short transfer. `offset` is `None` for the
/// file's current position. A write to a pipe nobody reads raises SIGPIPE.
fn transfer(
    k: &mut Kernel,
    file: &OpenFile,
    iovs: &[(u64, u64)],
    offset: Option<u64>,
    dir: Dir,
    opts: CallOpts,
) -> SysResult {
    // A blocking pipe write waits until all of it is in: what a restarted write already
    // wrote is skipped, and counted in the result.
    let pipe_write = dir == Dir::Write
        && stream_pipe(file, dir).is_some()
        && *file.flags.lock() & oflags::O_NONBLOCK == 0
        && !opts.dontwait;
    let skip = if pipe_write { k.proc.io_progress } else { 0 };
    let rest;
    let iovs = if skip > 0 {
        rest = skip_bytes(iovs, skip);
        &rest[..]
    } else {
        iovs
    };
    let want: u64 = iovs.iter().map(|(_, l)| l).sum();
    let r = transfer_inner(k, file, iovs, offset, dir, opts.dontwait);
    if dir == Dir::Write && r == Err(Errno::EPIPE) && !opts.nosignal {
        let _ = super::signals::send(
            k,
            crate::signal::SIGPIPE as u64,
            crate::sigframe::code::SI_USER,
        );
        if skip > 0 {
            k.proc.io_progress = 0;
            return Ok(skip);
        }
    }
    match r {
        Ok(n) if pipe_write && n < want => {
            k.proc.io_progress = skip + n;
            let pipe = stream_pipe(file, dir).expect("checked above");
            Err(k.block(Wait::Pipe(Arc::as_ptr(&pipe) as usize), 0))
        }
        Ok(n) => {
            k.proc.io_progress = 0;
            Ok(skip + n)
        }
        Err(e) if e == crate::sched::BLOCKED => Err(e),
        Err(e) if skip > 0 => {
            k.proc.io_progress = 0;
            let _ = e;
            Ok(skip)
        }
        Err(e) => Err(e),
    }
}

/// The pipe a blocking stream transfer in direction `dir` waits on (pipes and sockets).
fn stream_pipe(file: &OpenFile, dir: Dir) -> Option<Arc<crate::fd::Pipe>> {
    match (&file.kind, dir) {
        (FileKind::Pipe(end), _) => Some(end.pipe.clone()),
        (FileKind::UnixStream(s), Dir::Read) => Some(s.rx.clone()),
        (FileKind::UnixStream(s), Dir::Write) => Some(s.tx.clone()),
        _ => None,
    }
}

/// The ranges of `iovs` after their first `skip` bytes.
fn skip_bytes(iovs: &[(u64, u64)], mut skip: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(iovs.len());
    for &(base, len) in iovs {
        if skip >= len {
            skip -= len;
            continue;
        }
        out.push((base + skip, len - skip));
        skip = 0;
    }
    out
}

fn transfer_inner(
    k: &mut Kernel,
    file: &OpenFile,
    iovs: &[(u64, u64)],
    offset: Option<u64>,
    dir: Dir,
    dontwait: bool,
) -> SysResult {
    check_access(file, dir)?;
    if offset.is_some()
        && matches!(
            file.kind,
            FileKind::Pipe(_) | FileKind::EventFd(_) | FileKind::Epoll(_) | FileKind::UnixStream(_)
        )
    {
        return Err(Errno::ESPIPE);
    }
    let access = if dir == Dir::Read {
        Access::Write
    } else {
        Access::Read
    };
    let mut total = 0u64;
    let mut segs: Vec<Segment> = Vec::with_capacity(abi::MAX_SEGMENTS);
    let mut pending = 0u64;
    // One batch: after the first, never block (a read returns what is there).
    let flush = |k: &mut Kernel,
                 segs: &mut Vec<Segment>,
                 pending: &mut u64,
                 total: &mut u64|
     -> Result<bool, Errno> {
        let at = offset.map(|o| o + *total);
        let r = io_phys(k, file, segs, at, dir, *total > 0, dontwait);
        segs.clear();
        let want = core::mem::take(pending);
        match r {
            Ok(n) => {
                *total += n;
                Ok(n == want)
            }
            Err(e) if *total == 0 => Err(e),
            Err(_) => Ok(false),
        }
    };
    'outer: for &(base, len) in iovs {
        let mut done = 0;
        while done < len {
            let at = base + done;
            let n = (len - done).min(crate::mm::PAGE_SIZE - (at & (crate::mm::PAGE_SIZE - 1)));
            let before = segs.len();
            if let Err(e) = uaccess::user_segments(
                &mut k.proc.aspace,
                &mut k.frames,
                at,
                n as usize,
                access,
                &mut segs,
            ) {
                segs.truncate(before);
                if total == 0 && pending == 0 {
                    // Linux copies out of a pipe only once there is data: until then a
                    // bad buffer blocks like any other, and faults after.
                    if dir == Dir::Read
                        && let FileKind::Pipe(end) = &file.kind
                        && *file.flags.lock() & oflags::O_NONBLOCK == 0
                    {
                        let st = end.pipe.state.lock();
                        if st.data.is_empty() && st.writers > 0 {
                            drop(st);
                            return Err(k.block(Wait::Pipe(pipe_id(end)), 0));
                        }
                    }
                    return Err(e);
                }
                if pending > 0 {
                    flush(k, &mut segs, &mut pending, &mut total)?;
                }
                break 'outer;
            }
            pending += n;
            done += n;
            if segs.len() >= abi::MAX_SEGMENTS - 1
                && !flush(k, &mut segs, &mut pending, &mut total)?
            {
                break 'outer;
            }
        }
    }
    if pending > 0 {
        flush(k, &mut segs, &mut pending, &mut total)?;
    }
    Ok(total)
}

/// Walks a list of physical segments as one byte stream.
struct Cursor<'a> {
    segs: &'a [Segment],
    i: usize,
    off: u64,
}

impl<'a> Cursor<'a> {
    fn new(segs: &'a [Segment]) -> Self {
        Cursor { segs, i: 0, off: 0 }
    }

    /// The next contiguous piece of at most `max` bytes.
    fn next(&mut self, max: u64) -> Option<(u64, u64)> {
        while let Some(s) = self.segs.get(self.i) {
            if self.off < s.len {
                let n = (s.len - self.off).min(max);
                let pa = s.gpa + self.off;
                self.off += n;
                return Some((pa, n));
            }
            self.i += 1;
            self.off = 0;
        }
        None
    }

    /// Copies `n` bytes from physical `src` (zeros for `None`) into the stream.
    fn put(&mut self, src: Option<u64>, n: u64) {
        let mut done = 0;
        while done < n {
            let Some((pa, m)) = self.next(n - done) else {
                return;
            };
            match src {
                Some(s) => platform::copy(pa, s + done, m as usize),
                None => platform::fill(pa, 0, m as usize),
            }
            done += m;
        }
    }

    /// Copies `src` into the stream.
    fn put_bytes(&mut self, src: &[u8]) {
        let mut done = 0;
        while done < src.len() {
            let Some((pa, m)) = self.next((src.len() - done) as u64) else {
                return;
            };
            platform::write(pa, &src[done..done + m as usize]);
            done += m as usize;
        }
    }

    /// Fills `dst` from the stream.
    fn take_bytes(&mut self, dst: &mut [u8]) {
        let mut done = 0;
        while done < dst.len() {
            let Some((pa, m)) = self.next((dst.len() - done) as u64) else {
                return;
            };
            platform::read(pa, &mut dst[done..done + m as usize]);
            done += m as usize;
        }
    }

    /// Copies `n` bytes out of the stream into physical `dst`.
    fn take(&mut self, dst: u64, n: u64) {
        let mut done = 0;
        while done < n {
            let Some((pa, m)) = self.next(n - done) else {
                return;
            };
            platform::copy(dst + done, pa, m as usize);
            done += m;
        }
    }
}

/// Moves bytes between `file` and physical `segs` (user pages or kernel bounce frames).
/// `offset` is None for the file position; `partial` means bytes already moved in this
/// call, so nothing may block; `dontwait` (MSG_DONTWAIT) means EAGAIN instead of blocking.
fn io_phys(
    k: &mut Kernel,
    file: &OpenFile,
    segs: &[Segment],
    offset: Option<u64>,
    dir: Dir,
    partial: bool,
    dontwait: bool,
) -> SysResult {
    let want: u64 = segs.iter().map(|s| s.len).sum();
    let nonblock = partial || dontwait || *file.flags.lock() & oflags::O_NONBLOCK != 0;
    match &file.kind {
        FileKind::Host { handle } | FileKind::HostFile { handle, .. } => {
            let mut positional = false;
            // A host file under shared mappings (mount, inode): kept coherent with them.
            let mut mapped = None;
            if let FileKind::HostFile {
                stat,
                mount,
                positional: p,
                ..
            } = &file.kind
            {
                positional = *p;
                if mapping::any_host_shared() {
                    mapped = stat.any().map(|st| (*mount, st.ino));
                }
                if dir == Dir::Write {
                    stat.clear();
                    k.fs.host_gen += 1;
                    if let Some(loc) = &file.loc {
                        let rel = k.fs.vfs.rel(loc).to_vec();
                        k.fs.host_cache.lock().forget(*mount, &rel);
                    }
                }
            }
            let is_stdio = matches!(file.kind, FileKind::Host { .. });
            let flags = if nonblock && is_stdio {
                abi::IO_NONBLOCK
            } else {
                0
            };
            let append = dir == Dir::Write && *file.flags.lock() & oflags::O_APPEND != 0;
            // Positional files keep their offset here, so one host handle can serve any
            // number of descriptions; O_APPEND (set later by F_SETFL) writes at the end.
            if append && !is_stdio {
                // The host appends; the position becomes the new end (as Linux's
                // O_APPEND, which also ignores pwrite's offset).
                if let Some((mount, ino)) = mapped {
                    mapping::before_host_io(mount, ino, 0, u64::MAX)?;
                }
                let (n, end) = hypercall::write_append(*handle, segs, flags)?;
                if let Some((mount, ino)) = mapped {
                    mapping::after_host_write(mount, ino, end - n, n);
                }
                if positional {
                    *file.pos.lock() = end;
                }
                return Ok(n);
            }
            let at = match offset {
                Some(o) => o,
                None if positional => *file.pos.lock(),
                None => OFFSET_CURRENT,
            };
            // A stdio read that would block must not stall the other tasks: ask without
            // blocking and, if nothing is there, wait in the scheduler (which polls the
            // host when everything waits).
            let shared = is_stdio && dir == Dir::Read && !k.others.is_empty();
            let flags = if shared {
                flags | abi::IO_NONBLOCK
            } else {
                flags
            };
            // Where the host keeps the position, the range is not known here: all of it.
            let span = if at == OFFSET_CURRENT {
                (0, u64::MAX)
            } else {
                (at, want)
            };
            if let Some((mount, ino)) = mapped {
                mapping::before_host_io(mount, ino, span.0, span.1)?;
            }
            let r = match dir {
                Dir::Read => hypercall::read(*handle, segs, at, flags),
                Dir::Write => hypercall::write(*handle, segs, at, flags),
            };
            if let (Some((mount, ino)), Dir::Write, Ok(_)) = (mapped, dir, &r) {
                mapping::after_host_write(mount, ino, span.0, span.1);
            }
            if let (Ok(n), None, true) = (&r, offset, positional) {
                *file.pos.lock() = at + n;
            }
            let wait_host = |k: &mut Kernel| {
                let ev = if dir == Dir::Read {
                    super::poll::POLLIN
                } else {
                    super::poll::POLLOUT
                };
                k.proc.host_wait = alloc::vec![(*handle, ev)];
                Err(k.block(Wait::Host, 0))
            };
            match r {
                Err(Errno::EAGAIN) if partial => Ok(0),
                Err(Errno::EAGAIN) if shared && !nonblock => wait_host(k),
                Err(Errno::EINTR) if is_stdio => {
                    // hull received a signal to forward: raise it, then wait again.
                    crate::trap::host_interrupted(k);
                    wait_host(k)
                }
                r => r,
            }
        }
        FileKind::Pipe(end) => pipe_phys(k, &end.pipe, segs, want, dir, nonblock, partial),
        FileKind::UnixStream(sock) => {
            let (shut_rd, shut_wr) = sock.shut();
            match dir {
                Dir::Read if shut_rd => Ok(0),
                Dir::Read => pipe_phys(k, &sock.rx, segs, want, dir, nonblock, partial),
                Dir::Write if shut_wr => Err(Errno::EPIPE),
                Dir::Write => pipe_phys(k, &sock.tx, segs, want, dir, nonblock, partial),
            }
        }
        FileKind::Mem(node) if let MemBody::Image(pa, len) = node.body => {
            // The first program's bytes, read-only (opens for writing were refused).
            if dir == Dir::Write {
                return Err(Errno::EBADF);
            }
            let mut pos = file.pos.lock();
            let at = offset.unwrap_or(*pos).min(len);
            let n = want.min(len - at);
            Cursor::new(segs).put(Some(pa + at), n);
            if offset.is_none() {
                *pos = at + n;
            }
            Ok(n)
        }
        FileKind::Mem(node) => {
            let MemBody::File(data) = &node.body else {
                return Err(Errno::EISDIR);
            };
            let append = *file.flags.lock() & oflags::O_APPEND != 0;
            let mut pos = file.pos.lock();
            let mut d = data.lock();
            let at = match (offset, dir) {
                (_, Dir::Write) if append => d.size,
                (Some(o), _) => o,
                (None, _) => *pos,
            };
            let mut cur = Cursor::new(segs);
            let n = match dir {
                Dir::Read => d.read_with(at, want, |src, m, _| {
                    cur.put(src, m);
                    Ok(())
                })?,
                Dir::Write => {
                    let n = d.write_with(at, want, &mut k.frames, |dst, m, _| {
                        cur.take(dst, m);
                        Ok(())
                    })?;
                    drop(d);
                    node.touch(k.now());
                    n
                }
            };
            if offset.is_none() || (append && dir == Dir::Write) {
                *pos = at + n;
            }
            Ok(n)
        }
        FileKind::Dev(rdev) => dev_phys(k, *rdev, segs, want, dir),
        FileKind::Snapshot(data) => {
            let mut pos = file.pos.lock();
            let at = offset.unwrap_or(*pos);
            if dir == Dir::Write {
                return Err(Errno::EBADF);
            }
            let from = (at as usize).min(data.len());
            let n = (data.len() - from).min(want as usize);
            Cursor::new(segs).put_bytes(&data[from..from + n]);
            if offset.is_none() {
                *pos = at + n as u64;
            }
            Ok(n as u64)
        }
        FileKind::Listing(_) => Err(Errno::EISDIR),
        FileKind::Path => Err(Errno::EBADF),
        FileKind::Epoll(_) | FileKind::PidFd(_) => Err(Errno::EINVAL),
        FileKind::EventFd(efd) => {
            // Exactly one 8-byte value per call, however large the buffer.
            if want < 8 {
                return Err(Errno::EINVAL);
            }
            let nonblock = *file.flags.lock() & oflags::O_NONBLOCK != 0;
            let mut cur = Cursor::new(segs);
            match dir {
                Dir::Read => {
                    let v = super::epoll::eventfd_read(k, efd, nonblock)?;
                    cur.put_bytes(&v.to_le_bytes());
                }
                Dir::Write => {
                    let mut b = [0u8; 8];
                    cur.take_bytes(&mut b);
                    super::epoll::eventfd_write(k, efd, u64::from_le_bytes(b), nonblock)?;
                }
            }
            Ok(8)
        }
    }
}

/// A character device's read or write.
fn dev_phys(k: &mut Kernel, rdev: u64, segs: &[Segment], want: u64, dir: Dir) -> SysResult {
    use crate::vfs::devfs;
    match (rdev, dir) {
        (devfs::NULL, Dir::Read) => Ok(0),
        (devfs::FULL, Dir::Write) => Err(Errno::ENOSPC),
        (devfs::RANDOM | devfs::URANDOM, Dir::Read) => {
            let mut cur = Cursor::new(segs);
            let mut buf = [0u8; 256];
            let mut done = 0;
            while done < want {
                let Some((pa, m)) = cur.next((want - done).min(256)) else {
                    break;
                };
                k.rng.fill(&mut buf[..m as usize]);
                platform::write(pa, &buf[..m as usize]);
                done += m;
            }
            Ok(done)
        }
        (_, Dir::Read) => {
            Cursor::new(segs).put(None, want);
            Ok(want)
        }
        (_, Dir::Write) => Ok(want),
    }
}

/// A pipe transfer. With one task nothing else can fill or drain the pipe, so a read of an
/// empty pipe with writers (or a write to a full one) waits for a signal, as it would on
/// Linux with nobody at the other end.
fn pipe_phys(
    k: &mut Kernel,
    pipe: &Arc<crate::fd::Pipe>,
    segs: &[Segment],
    want: u64,
    dir: Dir,
    nonblock: bool,
    partial: bool,
) -> SysResult {
    let mut st = pipe.state.lock();
    let id = Arc::as_ptr(pipe) as usize;
    match dir {
        Dir::Read => {
            if st.data.is_empty() {
                if st.writers == 0 || want == 0 || partial {
                    return Ok(0);
                }
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
                drop(st);
                return Err(k.block(Wait::Pipe(id), 0));
            }
            let mut cur = Cursor::new(segs);
            let n = st.data.pop_with(want as usize, |src| cur.put_bytes(src));
            drop(st);
            pipe_changed(k, id);
            Ok(n as u64)
        }
        Dir::Write => {
            if st.readers == 0 {
                return Err(Errno::EPIPE);
            }
            if st.data.room() == 0 && want > 0 {
                if nonblock {
                    return if partial { Ok(0) } else { Err(Errno::EAGAIN) };
                }
                drop(st);
                return Err(k.block(Wait::Pipe(id), 0));
            }
            let mut cur = Cursor::new(segs);
            // No kernel memory for the data: ENOMEM, as Linux's pipe_write when it cannot
            // get a page.
            let n = st
                .data
                .push_with(want as usize, |dst| cur.take_bytes(dst))
                .ok_or(Errno::ENOMEM)? as u64;
            drop(st);
            pipe_changed(k, id);
            // What did not fit is left to the caller (a short write), as a write that a
            // signal interrupts after some progress is on Linux.
            Ok(n)
        }
    }
}

/// A pipe's identity for waiting on it.
pub fn pipe_id(end: &crate::fd::PipeEnd) -> usize {
    Arc::as_ptr(&end.pipe) as usize
}

/// A pipe's contents or ends changed: its readers, writers and pollers may go on.
pub fn pipe_changed(k: &mut Kernel, id: usize) {
    k.sched.io_events += 1;
    hand_off_reads(k, id);
    k.wake_where(|w| *w == Wait::Pipe(id) || *w == Wait::Poll);
}

/// Completes the plain `read`s blocked on pipe `id` with what it now holds (or its EOF),
/// copying straight into each reader's buffer, so a woken reader does not execute its
/// read again: a user/kernel round trip less per wake-up (a world switch under PVM).
/// Anything unusual (another call, a buffer that cannot be mapped, `--strace`) is left
/// to the ordinary wake-up and restart.
fn hand_off_reads(k: &mut Kernel, id: usize) {
    const READ: u64 = 0;
    if k.strace {
        return;
    }
    let readers: Vec<(u32, i32, u64, u64)> = k
        .others
        .values()
        .filter(|p| p.state == crate::sched::TaskState::Blocked(Wait::Pipe(id)))
        .filter(|p| p.in_syscall == Some(READ))
        .map(|p| (p.pid, p.frame.rdi as i32, p.frame.rsi, p.frame.rdx))
        .collect();
    for (pid, fd, buf, count) in readers {
        let Some(file) = crate::sched::holder_of(k, pid, crate::sched::RES_FILES)
            .and_then(|h| h.fds.get(fd).ok().cloned())
        else {
            continue;
        };
        let FileKind::Pipe(end) = &file.kind else {
            continue;
        };
        if pipe_id(end) != id || check_access(&file, Dir::Read).is_err() || count == 0 {
            continue;
        }
        let mut st = end.pipe.state.lock();
        if st.data.is_empty() {
            if st.writers == 0 {
                drop(st);
                k.complete_blocked(pid, 0);
            }
            continue;
        }
        let n = (st.data.len() as u64).min(count).min(MAX_RW_COUNT);
        // The reader's buffer, in its address space (held by one of its threads, maybe
        // the running one).
        let vm_holder = crate::sched::holder_of(k, pid, crate::sched::RES_VM).map(|p| p.pid);
        let aspace = match vm_holder {
            Some(h) if h == k.proc.pid => &mut k.proc.aspace,
            Some(h) => match k.others.get_mut(&h) {
                Some(p) => &mut p.aspace,
                None => continue,
            },
            None => continue,
        };
        let mut segs = Vec::new();
        if uaccess::user_segments(
            aspace,
            &mut k.frames,
            buf,
            n as usize,
            Access::Write,
            &mut segs,
        )
        .is_err()
        {
            continue;
        }
        let mut cur = Cursor::new(&segs);
        let got = st.data.pop_with(n as usize, |src| cur.put_bytes(src));
        drop(st);
        k.complete_blocked(pid, got as u64);
    }
}

fn file(k: &Kernel, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    k.proc.fds.get(fd).cloned()
}

/// Linux's access_ok: the whole [buf, buf+len) must be user space, whatever part of it is
/// then transferred (the length is clamped to MAX_RW_COUNT only after this check).
pub fn access_ok(buf: u64, len: u64) -> Result<(), Errno> {
    match buf.checked_add(len) {
        Some(end) if end <= hull_arch::layout::USER_END => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// read/write (`offset` None) and pread64/pwrite64, with Linux's order of checks.
fn rw(k: &mut Kernel, fd: i32, buf: u64, len: u64, offset: Option<i64>, dir: Dir) -> SysResult {
    let f = file(k, fd)?;
    access_ok(buf, len)?;
    let offset = offset
        .map(|o| u64::try_from(o).map_err(|_| Errno::EINVAL))
        .transpose()?;
    if len == 0 && offset.is_none() {
        return check_access(&f, dir).map(|_| 0);
    }
    transfer(
        k,
        &f,
        &[(buf, len.min(MAX_RW_COUNT))],
        offset,
        dir,
        CallOpts::default(),
    )
}

pub fn read(k: &mut Kernel, fd: i32, buf: u64, len: u64) -> SysResult {
    rw(k, fd, buf, len, None, Dir::Read)
}

pub fn write(k: &mut Kernel, fd: i32, buf: u64, len: u64) -> SysResult {
    rw(k, fd, buf, len, None, Dir::Write)
}

pub fn pread(k: &mut Kernel, fd: i32, buf: u64, len: u64, offset: i64) -> SysResult {
    rw(k, fd, buf, len, Some(offset), Dir::Read)
}

pub fn pwrite(k: &mut Kernel, fd: i32, buf: u64, len: u64, offset: i64) -> SysResult {
    rw(k, fd, buf, len, Some(offset), Dir::Write)
}

/// send/recv on a socket: the stream transfer with this call's MSG_DONTWAIT and
/// MSG_NOSIGNAL. ENOTSOCK for anything but a socket.
pub fn socket_transfer(
    k: &mut Kernel,
    fd: i32,
    iovs: &[(u64, u64)],
    dir: Dir,
    dontwait: bool,
    nosignal: bool,
) -> SysResult {
    let f = file(k, fd)?;
    if !matches!(f.kind, FileKind::UnixStream(_)) {
        return Err(Errno::ENOTSOCK);
    }
    if iovs.is_empty() {
        return check_access(&f, dir).map(|_| 0);
    }
    transfer(k, &f, iovs, None, dir, CallOpts { dontwait, nosignal })
}

/// Reads and checks an iovec array.
pub fn iovecs(k: &mut Kernel, iov: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if count > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut raw = alloc::vec![0u8; 16 * count as usize];
    k.copy_in(iov, &mut raw)?;
    let mut out = Vec::with_capacity(count as usize);
    let mut total = 0u64;
    for c in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
        if len > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        access_ok(base, len)?;
        let len = len.min(MAX_RW_COUNT - total);
        total += len;
        if len > 0 {
            out.push((base, len));
        }
    }
    Ok(out)
}

pub fn readv(k: &mut Kernel, fd: i32, iov: u64, count: u64) -> SysResult {
    let f = file(k, fd)?;
    let v = iovecs(k, iov, count)?;
    transfer(k, &f, &v, None, Dir::Read, CallOpts::default())
}

pub fn writev(k: &mut Kernel, fd: i32, iov: u64, count: u64) -> SysResult {
    let f = file(k, fd)?;
    let v = iovecs(k, iov, count)?;
    if v.is_empty() {
        return check_access(&f, Dir::Write).map(|_| 0);
    }
    transfer(k, &f, &v, None, Dir::Write, CallOpts::default())
}

/// Closing any descriptor of a file drops the process's POSIX locks on it (Linux).
fn drop_posix_locks(k: &mut Kernel, f: &OpenFile) {
    if k.fs.locks.is_empty() || f.loc.is_none() {
        return;
    }
    let st = match &f.kind {
        FileKind::HostFile { stat, .. } => stat.any(),
        _ => f
            .loc
            .as_ref()
            .and_then(|l| super::fs::attr(k, l).ok())
            .map(|a| a.0),
    };
    if let Some(st) = st {
        let owner = crate::vfs::locks::Owner::Process(k.proc.pid);
        k.fs.locks.release(owner, Some((st.dev, st.ino)));
    }
}

pub fn close(k: &mut Kernel, fd: i32) -> SysResult {
    let f = k.proc.fds.remove(fd)?;
    drop_posix_locks(k, &f);
    release(k, f);
    Ok(0)
}

/// Drops a reference to an open file, closing the host handle with the last one (or
/// keeping it idle for a reopen, for plain read-only opens of host files).
pub fn release(k: &mut Kernel, f: Arc<OpenFile>) {
    let id = Arc::as_ptr(&f) as usize;
    let Ok(f) = Arc::try_unwrap(f) else {
        return;
    };
    if let FileKind::Pipe(end) = &f.kind {
        // The last description of this end: readers see EOF, writers EPIPE.
        let pid = pipe_id(end);
        drop(f);
        pipe_changed(k, pid);
        return;
    }
    if !k.fs.locks.is_empty() {
        // OFD and flock locks go with their open file description.
        k.fs.locks.release(crate::vfs::locks::Owner::File(id), None);
    }
    if let FileKind::HostFile {
        handle,
        mount,
        reuse: true,
        stat,
        ..
    } = &f.kind
        && let Some(st) = stat.with_generation()
        && let Some(loc) = &f.loc
    {
        let rel = k.fs.vfs.rel(loc).to_vec();
        let now = k.clock.monotonic();
        let close = k.fs.host_cache.lock().park(*mount, &rel, *handle, st, now);
        for h in close {
            let _ = hypercall::close(h);
        }
        return;
    }
    if let Some(handle) = f.host_handle() {
        let _ = hypercall::close(handle);
    }
}

pub fn dup(k: &mut Kernel, fd: i32) -> SysResult {
    let f = file(k, fd)?;
    k.proc.fds.install(f, 0, false).map(|n| n as u64)
}

/// dup2 (`legacy`: same fd is a no-op check) and dup3.
pub fn dup3(k: &mut Kernel, old: i32, new: i32, flags: u32, legacy: bool) -> SysResult {
    if flags & !oflags::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    if old == new {
        return if legacy {
            file(k, old).map(|_| new as u64)
        } else {
            Err(Errno::EINVAL)
        };
    }
    if let Some(prev) = k
        .proc
        .fds
        .dup_to(old, new, flags & oflags::O_CLOEXEC != 0)?
    {
        release(k, prev);
    }
    Ok(new as u64)
}

pub fn fcntl(k: &mut Kernel, fd: i32, cmd: u32, arg: u64) -> SysResult {
    const F_DUPFD: u32 = 0;
    const F_GETFD: u32 = 1;
    const F_SETFD: u32 = 2;
    const F_GETFL: u32 = 3;
    const F_SETFL: u32 = 4;
    const F_DUPFD_CLOEXEC: u32 = 1030;
    let f = file(k, fd)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(arg as i32).map_err(|_| Errno::EINVAL)?;
            if min >= k.proc.fds.limit {
                return Err(Errno::EINVAL);
            }
            k.proc
                .fds
                .install(f, min, cmd == F_DUPFD_CLOEXEC)
                .map(|n| n as u64)
        }
        F_GETFD => Ok(k.proc.fds.cloexec(fd)? as u64),
        F_SETFD => k.proc.fds.set_cloexec(fd, arg & 1 != 0).map(|_| 0),
        F_GETFL => Ok(*f.flags.lock() as u64),
        5..=7 | 36..=38 => super::fs::record_lock(k, fd, cmd, arg),
        // F_GETPIPE_SZ / F_SETPIPE_SZ: the capacity is fixed.
        1032 | 1031 if matches!(f.kind, FileKind::Pipe(_)) => Ok(crate::fd::PIPE_CAPACITY as u64),
        F_SETFL => {
            let mut fl = f.flags.lock();
            *fl = (*fl & !oflags::SETFL_MASK) | (arg as u32 & oflags::SETFL_MASK);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn ioctl(k: &mut Kernel, fd: i32, request: u64, arg: u64) -> SysResult {
    let f = file(k, fd)?;
    let request = request & 0xffff_ffff;
    const FIONBIO: u64 = 0x5421;
    const FIONCLEX: u64 = 0x5450;
    const FIOCLEX: u64 = 0x5451;
    match request {
        FIONBIO => {
            let mut on = [0u8; 4];
            k.copy_in(arg, &mut on)?;
            let mut fl = f.flags.lock();
            if u32::from_le_bytes(on) != 0 {
                *fl |= oflags::O_NONBLOCK;
            } else {
                *fl &= !oflags::O_NONBLOCK;
            }
            return Ok(0);
        }
        FIOCLEX | FIONCLEX => {
            k.proc.fds.set_cloexec(fd, request == FIOCLEX)?;
            return Ok(0);
        }
        _ => {}
    }
    if request == FIONREAD {
        let n: u64 = match &f.kind {
            FileKind::Pipe(end) => end.pipe.state.lock().data.len() as u64,
            FileKind::Mem(node) => match &node.body {
                MemBody::File(d) => d.lock().size.saturating_sub(*f.pos.lock()),
                MemBody::Image(_, len) => len.saturating_sub(*f.pos.lock()),
                _ => return Err(Errno::ENOTTY),
            },
            FileKind::HostFile { handle, .. } => {
                let st = hypercall::stat(*handle)?;
                let pos = position(k, &f)?;
                if st.mode & 0o170000 != 0o100000 {
                    return Err(Errno::ENOTTY);
                }
                st.size.saturating_sub(pos)
            }
            FileKind::Snapshot(d) => (d.len() as u64).saturating_sub(*f.pos.lock()),
            FileKind::Host { .. } => return host_fionread(k, &f, arg),
            _ => return Err(Errno::ENOTTY),
        };
        k.copy_out(arg, &(n.min(i32::MAX as u64) as u32).to_le_bytes())?;
        return Ok(0);
    }
    let FileKind::Host { handle } = f.kind else {
        return Err(Errno::ENOTTY);
    };
    let (request, size) = match request {
        tty::TCGETS => (tty::TCGETS, tty::TERMIOS_SIZE),
        tty::TIOCGWINSZ => (tty::TIOCGWINSZ, 8),
        _ => return Err(Errno::ENOTTY),
    };
    let mut out = [0u8; 64];
    hypercall::tty_ioctl(handle, request, &mut out[..size])?;
    k.copy_out(arg, &out[..size])?;
    Ok(0)
}

/// FIONREAD on the sandbox's stdio: the host does not serve it, so say so.
fn host_fionread(_k: &mut Kernel, _f: &OpenFile, _arg: u64) -> SysResult {
    Err(Errno::ENOTTY)
}

/// Encodes `struct stat` (x86_64 layout, 144 bytes).
pub fn encode_stat(st: &HostStat, uid: u32, gid: u32) -> [u8; 144] {
    let mut b = [0u8; 144];
    let mut put = |o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    put(0, st.dev);
    put(8, st.ino);
    put(16, st.nlink as u64);
    put(24, st.mode as u64 | ((uid as u64) << 32));
    put(32, gid as u64);
    put(40, st.rdev);
    put(48, st.size);
    put(56, st.blksize);
    put(64, st.blocks);
    put(72, st.atime[0] as u64);
    put(80, st.atime[1] as u64);
    put(88, st.mtime[0] as u64);
    put(96, st.mtime[1] as u64);
    put(104, st.ctime[0] as u64);
    put(112, st.ctime[1] as u64);
    b
}

/// Attributes of an open file: (stat, uid, gid).
pub fn fstat_of(k: &Kernel, fd: i32) -> Result<(HostStat, u32, u32), Errno> {
    stat_of_open(k, &*file(k, fd)?)
}

/// The attributes of an in-kernel object (pipe, socket, anonymous inode): `dev` is the
/// pseudo file system Linux reports for it.
fn kernel_object(mode: u32, ino: u64, dev: u64) -> HostStat {
    HostStat {
        mode,
        nlink: 1,
        blksize: 4096,
        ino,
        dev,
        ..Default::default()
    }
}

/// The attributes (and owner) of an open file.
pub fn stat_of_open(k: &Kernel, f: &OpenFile) -> Result<(HostStat, u32, u32), Errno> {
    let (uid, gid) = (k.machine.uid, k.machine.gid);
    match &f.kind {
        FileKind::Host { handle } => Ok((hypercall::stat(*handle)?, uid, gid)),
        FileKind::HostFile { handle, stat, .. } => {
            let cached = stat.get(k.fs.host_gen);
            let st = match cached {
                Some(st) => st,
                None => {
                    let st = hypercall::stat(*handle)?;
                    stat.set(st, k.fs.host_gen);
                    st
                }
            };
            let (uid, gid) =
                k.fs.owners
                    .get(&(st.dev, st.ino))
                    .copied()
                    .unwrap_or((uid, gid));
            Ok((st, uid, gid))
        }
        // Anonymous inodes: no file type, mode 0600, as Linux's anon_inode.
        FileKind::Epoll(_) | FileKind::EventFd(_) | FileKind::PidFd(_) => {
            Ok((kernel_object(0o600, ANON_INODE, 0x0e), uid, gid))
        }
        FileKind::UnixStream(sock) => Ok((kernel_object(0o140777, sock.ino, 0x08), uid, gid)),
        FileKind::Pipe(end) => Ok((kernel_object(0o010600, end.pipe.ino, 0x0e), uid, gid)),
        _ => {
            let loc = f.loc.as_ref().ok_or(Errno::EBADF)?;
            super::fs::attr(k, loc)
        }
    }
}

pub fn fstat(k: &mut Kernel, fd: i32, buf: u64) -> SysResult {
    let (st, uid, gid) = fstat_of(k, fd)?;
    k.copy_out(buf, &encode_stat(&st, uid, gid))?;
    Ok(0)
}

/// The current position of an open file.
pub fn position(_k: &mut Kernel, f: &OpenFile) -> Result<u64, Errno> {
    match f.kind {
        FileKind::HostFile {
            positional: true, ..
        } => Ok(*f.pos.lock()),
        _ => match f.host_handle() {
            Some(h) => hypercall::seek(h, 0, 1),
            None => Ok(*f.pos.lock()),
        },
    }
}

pub fn lseek(k: &mut Kernel, fd: i32, offset: i64, whence: u32) -> SysResult {
    const SEEK_SET: u32 = 0;
    const SEEK_CUR: u32 = 1;
    const SEEK_END: u32 = 2;
    const SEEK_DATA: u32 = 3;
    const SEEK_HOLE: u32 = 4;
    let f = file(k, fd)?;
    if whence > SEEK_HOLE {
        return Err(Errno::EINVAL);
    }
    if let FileKind::HostFile {
        handle,
        positional: true,
        ..
    } = f.kind
    {
        let pos = *f.pos.lock();
        let at = match whence {
            SEEK_SET => Some(0i64),
            SEEK_CUR => Some(pos as i64),
            SEEK_END => Some(fstat_of(k, fd)?.0.size as i64),
            _ => None,
        };
        let new = match at {
            Some(base) => {
                let n = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
                if n < 0 {
                    return Err(Errno::EINVAL);
                }
                n as u64
            }
            // SEEK_DATA / SEEK_HOLE: the host knows where the holes are.
            None => hypercall::seek(handle, offset, whence)?,
        };
        *f.pos.lock() = new;
        return Ok(new);
    }
    if let Some(h) = f.host_handle() {
        return hypercall::seek(h, offset, whence);
    }
    let size = match &f.kind {
        FileKind::Pipe(_) | FileKind::UnixStream(_) => return Err(Errno::ESPIPE),
        // Linux's noop_llseek: the position stays 0.
        FileKind::EventFd(_) | FileKind::Epoll(_) | FileKind::PidFd(_) => return Ok(0),
        FileKind::Path => return Err(Errno::EBADF),
        FileKind::Dev(_) => return Ok(0),
        FileKind::Mem(n) => match &n.body {
            MemBody::File(d) => {
                let d = d.lock();
                if whence == SEEK_DATA || whence == SEEK_HOLE {
                    let off = u64::try_from(offset).map_err(|_| Errno::ENXIO)?;
                    let at = d.seek_data_hole(off, whence == SEEK_DATA)?;
                    *f.pos.lock() = at;
                    return Ok(at);
                }
                d.size
            }
            MemBody::Image(_, len) => *len,
            _ => 0,
        },
        FileKind::Snapshot(data) => data.len() as u64,
        _ => 0,
    };
    let mut pos = f.pos.lock();
    let base: i64 = match whence {
        SEEK_SET => 0,
        SEEK_CUR => *pos as i64,
        SEEK_END => size as i64,
        // SEEK_DATA/SEEK_HOLE on a file without holes: data to the end, one hole at it.
        _ => {
            if offset < 0 || offset as u64 >= size {
                return Err(Errno::ENXIO);
            }
            let at = if whence == SEEK_DATA {
                offset as u64
            } else {
                size
            };
            *pos = at;
            return Ok(at);
        }
    };
    let new = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
    if new < 0 {
        return Err(Errno::EINVAL);
    }
    if new == 0
        && let FileKind::Listing(l) = &f.kind
    {
        // rewinddir lists afresh.
        *l.lock() = None;
    }
    *pos = new as u64;
    Ok(new as u64)
}

/// The entries of a directory that is listed in the guest (in-memory, /proc, overlay),
/// `.` and `..` first.
pub fn list_dir(k: &mut Kernel, loc: &crate::vfs::Loc) -> Result<Vec<DirEntry>, Errno> {
    use crate::vfs::Node;
    let mut out = list_dir_dots(k, loc)?;
    match &loc.node {
        Node::Proc(p) => {
            let entries = crate::vfs::procfs::list(&super::fs::ProcSelf(k), p);
            out.extend(entries);
        }
        Node::Mem(n) => {
            for (name, node, _) in n.dir()?.from(0) {
                if !matches!(node.body, MemBody::Whiteout) {
                    out.push(DirEntry {
                        ino: node.ino,
                        kind: crate::vfs::dtype(node.meta.lock().mode),
                        name: name.to_vec(),
                    });
                }
            }
        }
        Node::Overlay { rel, upper, .. } => {
            let opaque = upper
                .as_ref()
                .is_some_and(|u| u.dir().is_ok_and(|d| d.opaque));
            let lower = if opaque {
                Vec::new()
            } else {
                let id = match k.fs.vfs.mounts[loc.mount].fs {
                    crate::vfs::Fs::Overlay { lower, .. } => lower,
                    _ => return Err(Errno::EIO),
                };
                read_host_dir(k, id, rel)?
            };
            let merged = match upper {
                Some(u) => crate::vfs::overlay::merge(Some(&*u.dir()?), lower),
                None => crate::vfs::overlay::merge(None, lower),
            };
            out.extend(merged);
        }
        Node::Host { .. } => return Err(Errno::EIO),
    }
    Ok(out)
}

/// Reads a whole host directory through bounce frames.
fn read_host_dir(k: &mut Kernel, mount: u32, rel: &[u8]) -> Result<Vec<DirEntry>, Errno> {
    let (h, _) = hypercall::fs_open(mount, rel, oflags::O_DIRECTORY, 0)?;
    let mut frames = Vec::new();
    for _ in 0..16 {
        match k.frames.alloc() {
            Some(pa) => frames.push(pa),
            None => break,
        }
    }
    let segs: Vec<Segment> = frames
        .iter()
        .map(|&pa| Segment {
            gpa: pa,
            len: crate::mm::PAGE_SIZE,
        })
        .collect();
    let mut out = Vec::new();
    let mut result = Ok(());
    loop {
        match hypercall::fs_readdir(h, &segs) {
            Ok(0) => break,
            Ok(n) => {
                let mut buf = alloc::vec![0u8; n as usize];
                let mut done = 0;
                for s in &segs {
                    if done == buf.len() {
                        break;
                    }
                    let m = (s.len as usize).min(buf.len() - done);
                    platform::read(s.gpa, &mut buf[done..done + m]);
                    done += m;
                }
                crate::vfs::overlay::parse_dirents(&buf, &mut out);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    for pa in frames {
        k.frames.free(pa);
    }
    let _ = hypercall::close(h);
    result.map(|_| out)
}

/// Appends one `linux_dirent64` to `buf` if it fits in `cap`.
fn put_dirent(buf: &mut Vec<u8>, cap: usize, e: &DirEntry, next: u64) -> bool {
    let reclen = (19 + e.name.len() + 1).div_ceil(8) * 8;
    if buf.len() + reclen > cap {
        return false;
    }
    let start = buf.len();
    buf.extend_from_slice(&e.ino.to_le_bytes());
    buf.extend_from_slice(&next.to_le_bytes());
    buf.extend_from_slice(&(reclen as u16).to_le_bytes());
    buf.push(e.kind);
    buf.extend_from_slice(&e.name);
    buf.resize(start + reclen, 0);
    true
}

pub fn getdents64(k: &mut Kernel, fd: i32, dirp: u64, count: u64) -> SysResult {
    let f = file(k, fd)?;
    if *f.flags.lock() & oflags::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    access_ok(dirp, count)?;
    let cap = count.min(1 << 20) as usize;
    match &f.kind {
        FileKind::HostFile { handle, stat, .. } => {
            if stat.any().is_some_and(|s| s.mode & 0o170000 != 0o040000) {
                return Err(Errno::ENOTDIR);
            }
            let mut segs = Vec::new();
            uaccess::user_segments(
                &mut k.proc.aspace,
                &mut k.frames,
                dirp,
                cap.min(abi::MAX_SEGMENTS * 4096 - 8192),
                Access::Write,
                &mut segs,
            )?;
            readdir_host(k, &f, *handle, dirp, &segs)
        }
        FileKind::Mem(n) if n.is_dir() => {
            // Position: 0 = ".", 1 = "..", 2 + s = entries created at sequence ≥ s.
            let loc = f.loc.clone().ok_or(Errno::EBADF)?;
            let mut pos = f.pos.lock();
            let mut buf = Vec::new();
            let mut more = false;
            if *pos < 2 {
                let dots = list_dir_dots(k, &loc)?;
                while *pos < 2 {
                    if !put_dirent(&mut buf, cap, &dots[*pos as usize], *pos + 1) {
                        more = true;
                        break;
                    }
                    *pos += 1;
                }
            }
            if *pos >= 2 {
                for (name, node, next) in n.dir()?.from(*pos - 2) {
                    if matches!(node.body, MemBody::Whiteout) {
                        *pos = next + 2;
                        continue;
                    }
                    let e = DirEntry {
                        ino: node.ino,
                        kind: crate::vfs::dtype(node.meta.lock().mode),
                        name: name.to_vec(),
                    };
                    if !put_dirent(&mut buf, cap, &e, next + 2) {
                        more = true;
                        break;
                    }
                    *pos = next + 2;
                }
            }
            drop(pos);
            finish_dirents(k, dirp, buf, more)
        }
        FileKind::Listing(list) => {
            let loc = f.loc.clone().ok_or(Errno::EBADF)?;
            if list.lock().is_none() {
                let entries = list_dir(k, &loc)?;
                *list.lock() = Some(entries);
            }
            let guard = list.lock();
            let entries = guard.as_ref().expect("filled above");
            let mut pos = f.pos.lock();
            let mut buf = Vec::new();
            let mut more = false;
            while let Some(e) = entries.get(*pos as usize) {
                if !put_dirent(&mut buf, cap, e, *pos + 1) {
                    more = true;
                    break;
                }
                *pos += 1;
            }
            drop(guard);
            drop(pos);
            finish_dirents(k, dirp, buf, more)
        }
        _ => Err(Errno::ENOTDIR),
    }
}

/// getdents64 of a host directory: the host writes the records straight into the user's
/// buffer and each entry's attributes into a kernel buffer, which go into the attribute
/// cache, so the `stat` of each name that usually follows stays in the guest.
fn readdir_host(
    k: &mut Kernel,
    f: &OpenFile,
    handle: u64,
    dirp: u64,
    segs: &[Segment],
) -> SysResult {
    let room: u64 = segs.iter().map(|s| s.len).sum();
    // The smallest record is 24 bytes; no more entries can come back than that allows.
    let stat_max = (room / 24).clamp(1, 1024) as usize;
    // The host writes here (like a device doing DMA); it is read back with
    // `platform::read`, never through the Vec.
    let landing = alloc::vec![0u8; stat_max * abi::HOST_STAT_SIZE];
    let stat_gpa = platform::heap_phys(landing.as_ptr() as u64);
    let (n, nstats) = hypercall::fs_readdir_plus(handle, segs, stat_gpa, stat_max as u64)?;
    let (Some(loc), true) = (&f.loc, nstats > 0) else {
        return Ok(n);
    };
    let FileKind::HostFile { mount, .. } = f.kind else {
        return Ok(n);
    };
    let mut records = alloc::vec![0u8; n as usize];
    k.copy_in(dirp, &mut records)?;
    let mut entries = Vec::new();
    crate::vfs::overlay::parse_dirents(&records, &mut entries);
    let dir_rel = k.fs.vfs.rel(loc).to_vec();
    let now = k.clock.monotonic();
    let mut cache = k.fs.host_cache.lock();
    for (i, e) in entries.iter().enumerate().take(nstats as usize) {
        if e.name == b"." || e.name == b".." {
            continue;
        }
        let mut b = [0u8; abi::HOST_STAT_SIZE];
        platform::read(stat_gpa + (i * abi::HOST_STAT_SIZE) as u64, &mut b);
        let st = crate::hypercall::decode_stat(&b);
        // Symlinks are walked afresh (their targets are not here); a failed stat is 0.
        if st.mode != 0 && st.mode & 0o170000 != 0o120000 {
            cache.put_attrs(
                mount,
                &crate::vfs::path::rel_join(&dir_rel, &e.name),
                st,
                now,
            );
        }
    }
    drop(cache);
    drop(landing);
    Ok(n)
}

/// `.` and `..` of a directory.
fn list_dir_dots(k: &mut Kernel, loc: &crate::vfs::Loc) -> Result<Vec<DirEntry>, Errno> {
    let (st, _, _) = super::fs::attr(k, loc)?;
    let parent = super::fs::existing(k, AT_FDCWD, crate::vfs::path::parent(&loc.path), false)
        .and_then(|p| super::fs::attr(k, &p))
        .map(|(s, _, _)| s.ino)
        .unwrap_or(st.ino);
    Ok(alloc::vec![
        DirEntry {
            ino: st.ino,
            kind: 4,
            name: b".".to_vec()
        },
        DirEntry {
            ino: parent,
            kind: 4,
            name: b"..".to_vec()
        },
    ])
}

/// Copies the records out; EINVAL when entries remain but not even one fitted.
fn finish_dirents(k: &mut Kernel, dirp: u64, buf: Vec<u8>, more: bool) -> SysResult {
    if buf.is_empty() && more {
        return Err(Errno::EINVAL);
    }
    k.copy_out(dirp, &buf)?;
    Ok(buf.len() as u64)
}

/// preadv/pwritev (`offset` ≥ 0) and the v2 forms (`offset` -1 = the file position).
#[allow(clippy::too_many_arguments)]
pub fn prwv(
    k: &mut Kernel,
    fd: i32,
    iov: u64,
    count: u64,
    offset: i64,
    flags: u64,
    write: bool,
    v2: bool,
) -> SysResult {
    let f = file(k, fd)?;
    if flags & !0x1f != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let v = iovecs(k, iov, count)?;
    let dir = if write { Dir::Write } else { Dir::Read };
    let offset = if v2 && offset == -1 {
        None
    } else {
        Some(u64::try_from(offset).map_err(|_| Errno::EINVAL)?)
    };
    if v.is_empty() {
        return check_access(&f, dir).map(|_| 0);
    }
    transfer(k, &f, &v, offset, dir, CallOpts::default())
}

pub fn close_range(k: &mut Kernel, first: u32, last: u32, flags: u32) -> SysResult {
    const CLOSE_RANGE_UNSHARE: u32 = 2;
    const CLOSE_RANGE_CLOEXEC: u32 = 4;
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_CLOEXEC != 0 {
        k.proc.fds.set_cloexec_range(first, last);
        return Ok(0);
    }
    for f in k.proc.fds.remove_range(first, last) {
        release(k, f);
    }
    Ok(0)
}

/// Copies between two open files through kernel bounce frames (sendfile, splice-like
/// copy_file_range); both host files go host-to-host in one hypercall per chunk.
fn copy_between(
    k: &mut Kernel,
    input: &OpenFile,
    output: &OpenFile,
    in_off: Option<u64>,
    out_off: Option<u64>,
    len: u64,
) -> Result<(u64, Option<u64>, Option<u64>), Errno> {
    check_access(input, Dir::Read)?;
    check_access(output, Dir::Write)?;
    // Files whose position the guest keeps move by explicit offsets, then the position.
    let guest_pos = |f: &OpenFile, off: Option<u64>| match (&f.kind, off) {
        (
            FileKind::HostFile {
                positional: true, ..
            },
            None,
        ) => Some(*f.pos.lock()),
        _ => None,
    };
    let in_pos = guest_pos(input, in_off);
    let out_pos = guest_pos(output, out_off);
    let r = copy_inner(
        k,
        input,
        output,
        in_off.or(in_pos),
        out_off.or(out_pos),
        len,
    )?;
    if in_pos.is_some() {
        *input.pos.lock() = r.1.expect("explicit offset");
    }
    if out_pos.is_some() {
        *output.pos.lock() = r.2.expect("explicit offset");
    }
    Ok((
        r.0,
        if in_pos.is_some() { None } else { r.1 },
        if out_pos.is_some() { None } else { r.2 },
    ))
}

/// For a pipe or socket output: the bytes it takes now without blocking (0 when full, or
/// when nobody reads: the write then reports EPIPE) and what a wait for room waits on.
fn stream_room(output: &OpenFile) -> Option<(u64, usize)> {
    let pipe = match &output.kind {
        FileKind::Pipe(end) if end.write => end.pipe.clone(),
        FileKind::UnixStream(s) => s.tx.clone(),
        _ => return None,
    };
    let st = pipe.state.lock();
    let room = if st.readers == 0 {
        // Let the write itself fail with EPIPE.
        1
    } else {
        st.data.room() as u64
    };
    Some((room, Arc::as_ptr(&pipe) as usize))
}

/// Moves `input` back by `n` bytes that were read but not written on (so none are lost).
fn give_back(input: &OpenFile, in_off: &mut Option<u64>, n: u64) {
    if n == 0 {
        return;
    }
    if let Some(o) = in_off.as_mut() {
        *o -= n;
        return;
    }
    match &input.kind {
        FileKind::Host { handle } | FileKind::HostFile { handle, .. }
            if !matches!(
                input.kind,
                FileKind::HostFile {
                    positional: true,
                    ..
                }
            ) =>
        {
            let _ = hypercall::seek(*handle, -(n as i64), 1);
        }
        _ => {
            let mut pos = input.pos.lock();
            *pos = pos.saturating_sub(n);
        }
    }
}

fn copy_inner(
    k: &mut Kernel,
    input: &OpenFile,
    output: &OpenFile,
    mut in_off: Option<u64>,
    mut out_off: Option<u64>,
    len: u64,
) -> Result<(u64, Option<u64>, Option<u64>), Errno> {
    let len = len.min(MAX_RW_COUNT);
    if let (
        FileKind::HostFile { handle: hi, .. },
        FileKind::HostFile {
            handle: ho, stat, ..
        },
    ) = (&input.kind, &output.kind)
        // Files under shared mappings take the copy loop below, which keeps them coherent.
        && !mapping::any_host_shared()
    {
        stat.clear();
        match hypercall::fs_copy_range(
            *hi,
            *ho,
            in_off.unwrap_or(OFFSET_CURRENT),
            out_off.unwrap_or(OFFSET_CURRENT),
            len,
        ) {
            Ok(n) => return Ok((n, in_off.map(|o| o + n), out_off.map(|o| o + n))),
            Err(Errno::EXDEV | Errno::EINVAL | Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
    }
    let mut frames = Vec::new();
    for _ in 0..16 {
        match k.frames.alloc() {
            Some(pa) => frames.push(pa),
            None => break,
        }
    }
    if frames.is_empty() {
        return Err(Errno::ENOMEM);
    }
    let mut total = 0u64;
    let mut result = Ok(());
    while total < len {
        let mut chunk = (len - total).min(frames.len() as u64 * crate::mm::PAGE_SIZE);
        // Take from the input only what the output can take now: bytes read and then
        // not written would be lost (the input has moved past them).
        if let Some((room, wait_id)) = stream_room(output) {
            if room == 0 {
                if total > 0 {
                    break;
                }
                if *output.flags.lock() & oflags::O_NONBLOCK != 0 {
                    result = Err(Errno::EAGAIN);
                } else {
                    result = Err(k.block(Wait::Pipe(wait_id), 0));
                }
                break;
            }
            chunk = chunk.min(room);
        }
        let segs: Vec<Segment> = frames
            .iter()
            .scan(chunk, |left, &pa| {
                if *left == 0 {
                    return None;
                }
                let n = (*left).min(crate::mm::PAGE_SIZE);
                *left -= n;
                Some(Segment { gpa: pa, len: n })
            })
            .collect();
        let got = match io_phys(k, input, &segs, in_off, Dir::Read, total > 0, false) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                if total == 0 {
                    result = Err(e);
                }
                break;
            }
        };
        if let Some(o) = in_off.as_mut() {
            *o += got;
        }
        let mut out_segs = Vec::new();
        let mut left = got;
        for s in &segs {
            if left == 0 {
                break;
            }
            let n = left.min(s.len);
            out_segs.push(Segment { gpa: s.gpa, len: n });
            left -= n;
        }
        let put = match io_phys(k, output, &out_segs, out_off, Dir::Write, false, false) {
            Ok(n) => n,
            Err(e) => {
                give_back(input, &mut in_off, got);
                if total == 0 {
                    result = Err(e);
                }
                break;
            }
        };
        if put < got {
            give_back(input, &mut in_off, got - put);
        }
        if let Some(o) = out_off.as_mut() {
            *o += put;
        }
        total += put;
        if put < got || got < chunk {
            break;
        }
    }
    for pa in frames {
        k.frames.free(pa);
    }
    if result == Err(Errno::EPIPE) {
        let _ = super::signals::send(
            k,
            crate::signal::SIGPIPE as u64,
            crate::sigframe::code::SI_USER,
        );
    }
    result.map(|_| (total, in_off, out_off))
}

pub fn sendfile(k: &mut Kernel, out_fd: i32, in_fd: i32, offset_va: u64, count: u64) -> SysResult {
    let input = file(k, in_fd)?;
    let output = file(k, out_fd)?;
    if matches!(input.kind, FileKind::Pipe(_)) && offset_va != 0 {
        return Err(Errno::ESPIPE);
    }
    let in_off = if offset_va != 0 {
        let [o] = k.read_words::<1>(offset_va)?;
        if (o as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        Some(o)
    } else {
        None
    };
    let (n, in_after, _) = copy_between(k, &input, &output, in_off, None, count)?;
    if let Some(o) = in_after {
        k.write_words(offset_va, &[o])?;
    }
    Ok(n)
}

pub fn copy_file_range(
    k: &mut Kernel,
    fd_in: i32,
    off_in: u64,
    fd_out: i32,
    off_out: u64,
    len: u64,
    flags: u32,
) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let input = file(k, fd_in)?;
    let output = file(k, fd_out)?;
    for f in [&input, &output] {
        match &f.kind {
            FileKind::Mem(n) if n.is_dir() => return Err(Errno::EISDIR),
            FileKind::HostFile { stat, .. }
                if stat.any().is_some_and(|s| s.mode & 0o170000 == 0o040000) =>
            {
                return Err(Errno::EISDIR);
            }
            FileKind::Pipe(_) | FileKind::Host { .. } | FileKind::Dev(_) => {
                return Err(Errno::EINVAL);
            }
            _ => {}
        }
    }
    if *output.flags.lock() & oflags::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let read_off = |k: &mut Kernel, va: u64| -> Result<Option<u64>, Errno> {
        if va == 0 {
            return Ok(None);
        }
        let [o] = k.read_words::<1>(va)?;
        if (o as i64) < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(Some(o))
    };
    let i = read_off(k, off_in)?;
    let o = read_off(k, off_out)?;
    // The same file with overlapping ranges is EINVAL, as on Linux.
    if let (Some(a), Some(b)) = (&input.loc, &output.loc)
        && a.path == b.path
        && a.mount == b.mount
    {
        let start_in = match i {
            Some(v) => v,
            None => position(k, &input)?,
        };
        let start_out = match o {
            Some(v) => v,
            None => position(k, &output)?,
        };
        let n = len.min(MAX_RW_COUNT);
        if start_in < start_out.saturating_add(n) && start_out < start_in.saturating_add(n) {
            return Err(Errno::EINVAL);
        }
    }
    let (n, i2, o2) = copy_between(k, &input, &output, i, o, len)?;
    if let Some(v) = i2 {
        k.write_words(off_in, &[v])?;
    }
    if let Some(v) = o2 {
        k.write_words(off_out, &[v])?;
    }
    Ok(n)
}
