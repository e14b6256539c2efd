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
use crate::process::Kernel;

/// Linux caps one transfer at this (MAX_RW_COUNT).
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Most iovecs per call (UIO_MAXIOV).
const UIO_MAXIOV: u64 = 1024;
const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u32 = 0x1000;
const FIONREAD: u64 = 0x541b;

/// Reads from or writes to an in-guest pipe. With one thread nothing else can fill or
/// drain the pipe, so a read of an empty pipe with writers (or a write to a full one)
/// blocks for good, as it would on Linux.
fn pipe_transfer(
    k: &mut Kernel,
    file: &OpenFile,
    end: &crate::fd::PipeEnd,
    iovs: &[(u64, u64)],
    dir: Dir,
) -> SysResult {
    let nonblock = *file.flags.lock() & oflags::O_NONBLOCK != 0;
    let want: u64 = iovs.iter().map(|(_, l)| l).sum();
    match dir {
        Dir::Read => {
            let mut st = end.pipe.state.lock();
            if st.data.is_empty() {
                if st.writers == 0 || want == 0 {
                    return Ok(0);
                }
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
                drop(st);
                return Err(block_forever(k));
            }
            let n = (want as usize).min(st.data.len());
            let bytes: Vec<u8> = st.data.drain(..n).collect();
            drop(st);
            scatter(k, iovs, &bytes)
        }
        Dir::Write => {
            let st = end.pipe.state.lock();
            if st.readers == 0 {
                drop(st);
                return Err(Errno::EPIPE);
            }
            let room = crate::fd::PIPE_CAPACITY - st.data.len();
            if room == 0 && want > 0 {
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
                drop(st);
                return Err(block_forever(k));
            }
            let n = (want as usize).min(room);
            drop(st);
            let bytes = gather(k, iovs, n)?;
            end.pipe.state.lock().data.extend(bytes.iter());
            if (n as u64) < want && !nonblock {
                // The rest could only go in once a reader drained the pipe: nobody can,
                // so wait for a signal; the part already written counts.
                block_forever(k);
            }
            Ok(n as u64)
        }
    }
}

/// Sleeps until a signal interrupts (EINTR) or the sandbox's --timeout ends the run: the
/// only task waits on itself.
fn block_forever(k: &mut Kernel) -> Errno {
    while !super::time::sleep_until(k, u64::MAX) {}
    Errno::EINTR
}

/// Copies `bytes` into the user ranges in order.
fn scatter(k: &mut Kernel, iovs: &[(u64, u64)], bytes: &[u8]) -> SysResult {
    let mut done = 0usize;
    for &(base, len) in iovs {
        if done == bytes.len() {
            break;
        }
        let n = (len as usize).min(bytes.len() - done);
        k.copy_out(base, &bytes[done..done + n])?;
        done += n;
    }
    Ok(done as u64)
}

/// Copies the first `n` bytes of the user ranges.
fn gather(k: &mut Kernel, iovs: &[(u64, u64)], n: usize) -> Result<Vec<u8>, Errno> {
    let mut out = alloc::vec![0u8; n];
    let mut done = 0usize;
    for &(base, len) in iovs {
        if done == n {
            break;
        }
        let m = (len as usize).min(n - done);
        k.copy_in(base, &mut out[done..done + m])?;
        done += m;
    }
    Ok(out)
}

/// `pipe`/`pipe2`.
pub fn pipe2(k: &mut Kernel, fds: u64, flags: u32) -> SysResult {
    if flags & !(oflags::O_CLOEXEC | oflags::O_NONBLOCK | oflags::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let ino = k.next_ino();
    let (r, w) = crate::fd::PipeEnd::pair(ino);
    let status = flags & oflags::O_NONBLOCK;
    let cloexec = flags & oflags::O_CLOEXEC != 0;
    let rfd = k.proc.fds.install(
        OpenFile::new(FileKind::Pipe(r), oflags::O_RDONLY | status),
        0,
        cloexec,
    )?;
    let wfd = match k.proc.fds.install(
        OpenFile::new(FileKind::Pipe(w), oflags::O_WRONLY | status),
        0,
        cloexec,
    ) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = k.proc.fds.remove(rfd);
            return Err(e);
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&rfd.to_le_bytes());
    out[4..].copy_from_slice(&wfd.to_le_bytes());
    if let Err(e) = k.copy_out(fds, &out) {
        let _ = k.proc.fds.remove(rfd);
        let _ = k.proc.fds.remove(wfd);
        return Err(e);
    }
    Ok(0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

/// The host handle behind `file`; `not_host` is the errno for an in-guest file.
fn host_handle(file: &OpenFile, not_host: Errno) -> Result<u64, Errno> {
    match file.kind {
        FileKind::Host { handle } => Ok(handle),
        FileKind::Pipe(_) => Err(not_host),
    }
}

fn check_access(file: &OpenFile, dir: Dir) -> Result<(), Errno> {
    let mode = *file.flags.lock() & oflags::O_ACCMODE;
    let ok = match dir {
        Dir::Read => mode != oflags::O_WRONLY,
        Dir::Write => mode != oflags::O_RDONLY,
    };
    if ok { Ok(()) } else { Err(Errno::EBADF) }
}

/// Moves bytes between `file` and the user ranges `iovs`, in hypercalls of at most
/// MAX_SEGMENTS segments, stopping at the first short transfer. `offset` is `None` for the
/// file's current position.
fn transfer(
    k: &mut Kernel,
    file: &OpenFile,
    iovs: &[(u64, u64)],
    offset: Option<u64>,
    dir: Dir,
) -> SysResult {
    let r = transfer_inner(k, file, iovs, offset, dir);
    if dir == Dir::Write && r == Err(Errno::EPIPE) {
        // A write to a pipe or socket nobody reads: SIGPIPE, as Linux sends.
        let _ = super::signals::send(
            k,
            crate::signal::SIGPIPE as u64,
            crate::sigframe::code::SI_USER,
        );
    }
    r
}

fn transfer_inner(
    k: &mut Kernel,
    file: &OpenFile,
    iovs: &[(u64, u64)],
    offset: Option<u64>,
    dir: Dir,
) -> SysResult {
    check_access(file, dir)?;
    if let FileKind::Pipe(end) = &file.kind {
        if offset.is_some() {
            return Err(Errno::ESPIPE);
        }
        return pipe_transfer(k, file, end, iovs, dir);
    }
    let handle = host_handle(file, Errno::EBADF)?;
    let access = if dir == Dir::Read {
        Access::Write
    } else {
        Access::Read
    };
    let io_flags = if *file.flags.lock() & oflags::O_NONBLOCK != 0 {
        abi::IO_NONBLOCK
    } else {
        0
    };
    let mut total = 0u64;
    let mut segs: Vec<Segment> = Vec::with_capacity(abi::MAX_SEGMENTS);
    let mut pending = 0u64;
    let flush =
        |segs: &mut Vec<Segment>, pending: &mut u64, total: &mut u64| -> Result<bool, Errno> {
            let at = offset.map_or(OFFSET_CURRENT, |o| o + *total);
            let r = match dir {
                Dir::Read => hypercall::read(handle, segs, at, io_flags),
                Dir::Write => hypercall::write(handle, segs, at, io_flags),
            };
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
            // Up to one page per segment, so a batch never exceeds MAX_SEGMENTS.
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
                    return Err(e);
                }
                if pending > 0 {
                    flush(&mut segs, &mut pending, &mut total)?;
                }
                break 'outer;
            }
            pending += n;
            done += n;
            if segs.len() >= abi::MAX_SEGMENTS - 1 && !flush(&mut segs, &mut pending, &mut total)? {
                break 'outer;
            }
        }
    }
    if pending > 0 {
        flush(&mut segs, &mut pending, &mut total)?;
    }
    Ok(total)
}

fn file(k: &Kernel, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    k.proc.fds.get(fd).cloned()
}

/// Linux's access_ok: the whole [buf, buf+len) must be user space, whatever part of it is
/// then transferred (the length is clamped to MAX_RW_COUNT only after this check).
fn access_ok(buf: u64, len: u64) -> Result<(), Errno> {
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
    transfer(k, &f, &[(buf, len.min(MAX_RW_COUNT))], offset, dir)
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

/// Reads and checks an iovec array.
fn iovecs(k: &mut Kernel, iov: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
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
    transfer(k, &f, &v, None, Dir::Read)
}

pub fn writev(k: &mut Kernel, fd: i32, iov: u64, count: u64) -> SysResult {
    let f = file(k, fd)?;
    let v = iovecs(k, iov, count)?;
    if v.is_empty() {
        return check_access(&f, Dir::Write).map(|_| 0);
    }
    transfer(k, &f, &v, None, Dir::Write)
}

pub fn lseek(k: &mut Kernel, fd: i32, offset: i64, whence: u32) -> SysResult {
    let f = file(k, fd)?;
    if whence > 4 {
        return Err(Errno::EINVAL);
    }
    hypercall::seek(host_handle(&f, Errno::ESPIPE)?, offset, whence)
}

pub fn close(k: &mut Kernel, fd: i32) -> SysResult {
    let f = k.proc.fds.remove(fd)?;
    release(f);
    Ok(0)
}

/// Drops a reference to an open file, closing the host handle with the last one.
fn release(f: Arc<OpenFile>) {
    if let Ok(f) = Arc::try_unwrap(f)
        && let Ok(handle) = host_handle(&f, Errno::EBADF)
    {
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
        release(prev);
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
    if let FileKind::Pipe(end) = &f.kind {
        if request & 0xffff_ffff != FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = end.pipe.state.lock().data.len() as u32;
        k.copy_out(arg, &n.to_le_bytes())?;
        return Ok(0);
    }
    let (request, size) = match request & 0xffff_ffff {
        tty::TCGETS => (tty::TCGETS, tty::TERMIOS_SIZE),
        tty::TIOCGWINSZ => (tty::TIOCGWINSZ, 8),
        _ => return Err(Errno::ENOTTY),
    };
    let mut out = [0u8; 64];
    hypercall::tty_ioctl(host_handle(&f, Errno::ENOTTY)?, request, &mut out[..size])?;
    k.copy_out(arg, &out[..size])?;
    Ok(0)
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

pub fn fstat(k: &mut Kernel, fd: i32, buf: u64) -> SysResult {
    let f = file(k, fd)?;
    let st = match &f.kind {
        FileKind::Host { handle } => hypercall::stat(*handle)?,
        FileKind::Pipe(end) => HostStat {
            mode: 0o010600,
            nlink: 1,
            blksize: 4096,
            ino: end.pipe.ino,
            dev: 0x0e,
            ..Default::default()
        },
    };
    let bytes = encode_stat(&st, k.machine.uid, k.machine.gid);
    k.copy_out(buf, &bytes)?;
    Ok(0)
}

pub fn newfstatat(k: &mut Kernel, dirfd: i32, path: u64, buf: u64, flags: u32) -> SysResult {
    let p = k.read_path(path)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return fstat(k, dirfd, buf);
    }
    // Path lookup needs the VFS, which is not there yet.
    Err(Errno::ENOSYS)
}

fn is_self_exe(k: &Kernel, path: &[u8]) -> bool {
    let mut pid = [0u8; 24];
    let n = {
        use core::fmt::Write;
        let mut w = crate::console::FixedBuf::<24>::new();
        let _ = write!(w, "/proc/{}/exe", k.proc.pid);
        let b = w.as_bytes();
        pid[..b.len()].copy_from_slice(b);
        b.len()
    };
    path == b"/proc/self/exe" || path == &pid[..n]
}

pub fn readlink(k: &mut Kernel, path: u64, buf: u64, size: u64) -> SysResult {
    readlinkat(k, AT_FDCWD, path, buf, size)
}

pub fn readlinkat(k: &mut Kernel, _dirfd: i32, path: u64, buf: u64, size: u64) -> SysResult {
    let p = k.read_path(path)?;
    if (size as i64) <= 0 {
        return Err(Errno::EINVAL);
    }
    if !is_self_exe(k, &p) {
        // Path lookup needs the VFS, which is not there yet.
        return Err(Errno::ENOSYS);
    }
    let target = k.proc.exe_path.clone();
    let n = target.len().min(size as usize);
    k.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}
