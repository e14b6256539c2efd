//! Host system calls on handle table fds that std does not wrap: fstat, lseek, terminal
//! ioctls, clocks, and the process limits set up before the run. Each result is copied into
//! plain values before it reaches guest memory.
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use hull_arch::abi::{HostStat, tty};

/// Gives back the resident pages of a part of hull's own read-only image that is no longer
/// needed (the embedded kernel, once copied into guest RAM): they are clean file pages, so a
/// later read would simply fault them in again. Only whole pages inside `bytes` are dropped.
pub fn drop_image_pages(bytes: &'static [u8]) {
    const PAGE: usize = 4096;
    let start = (bytes.as_ptr() as usize).next_multiple_of(PAGE);
    let end = (bytes.as_ptr() as usize + bytes.len()) & !(PAGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside `bytes`, a 'static read-only part of the executable's private file mapping; MADV_DONTNEED only drops its page-table entries, and the contents read back unchanged from the file.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

/// Reads a host clock in ns.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `fstat` of a handle.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<HostStat> {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer; `fd` is open for the call's duration.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(host_stat(&st))
}

/// The [`HostStat`] subset of a host `struct stat`.
pub fn host_stat(st: &libc::stat) -> HostStat {
    HostStat {
        mode: st.st_mode,
        nlink: st.st_nlink as u32,
        size: st.st_size as u64,
        blksize: st.st_blksize as u64,
        blocks: st.st_blocks as u64,
        rdev: st.st_rdev,
        ino: st.st_ino,
        dev: st.st_dev,
        atime: [st.st_atime, st.st_atime_nsec],
        mtime: [st.st_mtime, st.st_mtime_nsec],
        ctime: [st.st_ctime, st.st_ctime_nsec],
    }
}

/// Raises the soft limit on open files to the hard limit, so the file server's handle cap
/// (not an accidental low soft limit) is what bounds the guest. Returns the new limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid, initialized rlimit read by the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Clears the process umask: the guest kernel applies the program's umask to the modes it
/// sends, so the host must not apply its own on top.
pub fn clear_umask() {
    // SAFETY: umask has no preconditions and touches no memory.
    unsafe { libc::umask(0) };
}

/// `lseek` on a handle.
pub fn lseek(fd: BorrowedFd<'_>, offset: i64, whence: i32) -> io::Result<u64> {
    // SAFETY: lseek touches no memory.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), offset, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u64)
    }
}

/// The status flags (`F_GETFL`) of a host fd.
pub fn status_flags(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: F_GETFL touches no memory.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as u32)
    }
}

/// A terminal ioctl the guest may ask for: `TCGETS` (kernel `struct termios`) or
/// `TIOCGWINSZ`. `None` for any other request.
pub fn tty_ioctl(fd: BorrowedFd<'_>, request: u64) -> Option<io::Result<Vec<u8>>> {
    let size = match request {
        tty::TCGETS => tty::TERMIOS_SIZE,
        tty::TIOCGWINSZ => 8,
        _ => return None,
    };
    let mut buf = [0u8; 64];
    // SAFETY: both requests write at most `size` (≤ 36) bytes into the 64-byte buffer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::c_ulong, buf.as_mut_ptr()) };
    Some(if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(buf[..size].to_vec())
    })
}

/// Whether a read (or write) on `fd` would not block right now.
pub fn ready(fd: BorrowedFd<'_>, write: bool) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: if write { libc::POLLOUT } else { libc::POLLIN },
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; timeout 0 never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    // Errors and hang-ups count as ready: the read or write itself then reports them.
    n != 0
}

/// `poll` on handles (`None` = not a handle: POLLNVAL), waiting up to `timeout_ms`.
/// Returns each entry's revents; `EINTR` when a forwarded signal interrupted the wait.
pub fn poll(fds: &[(Option<BorrowedFd<'_>>, i16)], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: fd.map_or(-1, |f| f.as_raw_fd()),
            events: *events & (libc::POLLIN | libc::POLLOUT | libc::POLLPRI),
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a valid array of `p.len()` pollfds for the duration of the call.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fds
        .iter()
        .zip(&p)
        .map(|((fd, _), q)| match fd {
            None => libc::POLLNVAL,
            Some(_) => q.revents,
        })
        .collect())
}
