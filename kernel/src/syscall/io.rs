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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

fn host_handle(file: &OpenFile) -> u64 {
    match file.kind {
        FileKind::Host { handle } => handle,
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
    check_access(file, dir)?;
    let handle = host_handle(file);
    let access = if dir == Dir::Read {
        Access::Write
    } else {
        Access::Read
    };
    let mut total = 0u64;
    let mut segs: Vec<Segment> = Vec::with_capacity(abi::MAX_SEGMENTS);
    let mut pending = 0u64;
    let flush = |k: &mut Kernel,
                 segs: &mut Vec<Segment>,
                 pending: &mut u64,
                 total: &mut u64|
     -> Result<bool, Errno> {
        let at = offset.map_or(OFFSET_CURRENT, |o| o + *total);
        let r = match dir {
            Dir::Read => hypercall::read(handle, segs, at),
            Dir::Write => hypercall::write(handle, segs, at),
        };
        let _ = k;
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

pub fn read(k: &mut Kernel, fd: i32, buf: u64, len: u64) -> SysResult {
    let f = file(k, fd)?;
    access_ok(buf, len)?;
    if len == 0 {
        return check_access(&f, Dir::Read).map(|_| 0);
    }
    transfer(k, &f, &[(buf, len.min(MAX_RW_COUNT))], None, Dir::Read)
}

pub fn write(k: &mut Kernel, fd: i32, buf: u64, len: u64) -> SysResult {
    let f = file(k, fd)?;
    access_ok(buf, len)?;
    if len == 0 {
        return check_access(&f, Dir::Write).map(|_| 0);
    }
    transfer(k, &f, &[(buf, len.min(MAX_RW_COUNT))], None, Dir::Write)
}

fn positional(offset: i64) -> Result<u64, Errno> {
    u64::try_from(offset).map_err(|_| Errno::EINVAL)
}

pub fn pread(k: &mut Kernel, fd: i32, buf: u64, len: u64, offset: i64) -> SysResult {
    let f = file(k, fd)?;
    access_ok(buf, len)?;
    let off = positional(offset)?;
    transfer(k, &f, &[(buf, len.min(MAX_RW_COUNT))], Some(off), Dir::Read)
}

pub fn pwrite(k: &mut Kernel, fd: i32, buf: u64, len: u64, offset: i64) -> SysResult {
    let f = file(k, fd)?;
    access_ok(buf, len)?;
    let off = positional(offset)?;
    transfer(
        k,
        &f,
        &[(buf, len.min(MAX_RW_COUNT))],
        Some(off),
        Dir::Write,
    )
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
    hypercall::seek(host_handle(&f), offset, whence)
}

pub fn close(k: &mut Kernel, fd: i32) -> SysResult {
    let f = k.proc.fds.remove(fd)?;
    release(f);
    Ok(0)
}

/// Drops a reference to an open file, closing the host handle with the last one.
fn release(f: Arc<OpenFile>) {
    if let Ok(f) = Arc::try_unwrap(f) {
        let _ = hypercall::close(host_handle(&f));
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
    let (request, size) = match request & 0xffff_ffff {
        tty::TCGETS => (tty::TCGETS, tty::TERMIOS_SIZE),
        tty::TIOCGWINSZ => (tty::TIOCGWINSZ, 8),
        _ => return Err(Errno::ENOTTY),
    };
    let mut out = [0u8; 64];
    hypercall::tty_ioctl(host_handle(&f), request, &mut out[..size])?;
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
    let st = hypercall::stat(host_handle(&f))?;
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
