//! AF_UNIX stream socket pairs (`socketpair`), in the guest: each end reads one pipe and
//! writes the other, so a pair carries bytes both ways with pipes' blocking, EOF and EPIPE
//! rules. send/recv and their msg forms take the usual iovecs and MSG_DONTWAIT,
//! MSG_NOSIGNAL with stream semantics; passing descriptors (SCM_RIGHTS)
//! and named sockets are not supported (socket(2) itself is ENOSYS until the network
//! work).
use crate::errno::{Errno, SysResult};
use crate::fd::{FileKind, OpenFile, UnixStream, oflags};
use crate::process::Kernel;

use super::io::{Dir, access_ok, iovecs, socket_transfer};

const AF_UNIX: u64 = 1;
const SOCK_STREAM: u64 = 1;
const SOCK_TYPE_MASK: u64 = 0xf;
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: u64 = 0o2000000;
const MSG_DONTWAIT: u64 = 0x40;
const MSG_NOSIGNAL: u64 = 0x4000;
const MSG_CMSG_CLOEXEC: u64 = 0x4000_0000;
const SHUT_RD: i32 = 0;
const SHUT_WR: i32 = 1;
const SHUT_RDWR: i32 = 2;
const SOL_SOCKET: i32 = 1;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_DOMAIN: i32 = 39;
const SO_PROTOCOL: i32 = 38;
const SO_ACCEPTCONN: i32 = 30;

pub fn socketpair(k: &mut Kernel, domain: u64, ty: u64, protocol: u64, sv: u64) -> SysResult {
    const AF_INET: u64 = 2;
    const AF_INET6: u64 = 10;
    match domain {
        AF_UNIX => {}
        // Linux: IP sockets have no pairs.
        AF_INET | AF_INET6 => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    if ty & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    // Datagram and seqpacket pairs keep message boundaries, which these pipes do not.
    if ty & SOCK_TYPE_MASK != SOCK_STREAM {
        return Err(Errno::EOPNOTSUPP);
    }
    if protocol != 0 {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let ino = k.next_ino();
    let (a, b) = UnixStream::pair(ino);
    let status = if ty & SOCK_NONBLOCK != 0 {
        oflags::O_NONBLOCK
    } else {
        0
    };
    super::io::install_pair(
        k,
        OpenFile::new(FileKind::UnixStream(a), oflags::O_RDWR | status),
        OpenFile::new(FileKind::UnixStream(b), oflags::O_RDWR | status),
        ty & SOCK_CLOEXEC != 0,
        sv,
    )
}

/// The socket behind `fd` (EBADF, ENOTSOCK).
fn socket_file(k: &Kernel, fd: i32) -> Result<alloc::sync::Arc<OpenFile>, Errno> {
    let f = k.proc.fds.get(fd)?.clone();
    match f.kind {
        FileKind::UnixStream(_) => Ok(f),
        _ => Err(Errno::ENOTSOCK),
    }
}

pub fn shutdown(k: &mut Kernel, fd: i32, how: i32) -> SysResult {
    let f = socket_file(k, fd)?;
    let FileKind::UnixStream(s) = &f.kind else {
        unreachable!("socket_file checked")
    };
    let (rd, wr) = match how {
        SHUT_RD => (true, false),
        SHUT_WR => (false, true),
        SHUT_RDWR => (true, true),
        _ => return Err(Errno::EINVAL),
    };
    let dropped = {
        let mut ends = s.ends.lock();
        let r = if rd { ends.0.take() } else { None };
        let w = if wr { ends.1.take() } else { None };
        (r, w)
    };
    drop(dropped);
    // The peer may now see EOF or EPIPE.
    super::io::pipe_changed(k, alloc::sync::Arc::as_ptr(&s.rx) as usize);
    super::io::pipe_changed(k, alloc::sync::Arc::as_ptr(&s.tx) as usize);
    Ok(0)
}

/// Checks send/recv flags: the ones a stream pair honours, EOPNOTSUPP for the rest.
fn flags_of(flags: u64, dir: Dir) -> Result<(bool, bool), Errno> {
    let allowed = match dir {
        Dir::Write => MSG_DONTWAIT | MSG_NOSIGNAL,
        Dir::Read => MSG_DONTWAIT | MSG_CMSG_CLOEXEC,
    };
    if flags & !allowed != 0 {
        // MSG_PEEK, MSG_WAITALL, MSG_OOB ...: not served by these pipes.
        return Err(Errno::EOPNOTSUPP);
    }
    Ok((flags & MSG_DONTWAIT != 0, flags & MSG_NOSIGNAL != 0))
}

/// sendto/recvfrom (`a`: fd, buf, len, flags, addr, addrlen): a connected pair takes no
/// address (EISCONN for one, as Linux).
pub fn sendrecv(k: &mut Kernel, a: [u64; 6], dir: Dir) -> SysResult {
    let [fd, buf, len, flags, addr, addrlen] = a;
    let fd = fd as i32;
    socket_file(k, fd)?;
    if dir == Dir::Write && addr != 0 && addrlen != 0 {
        return Err(Errno::EISCONN);
    }
    let (dontwait, nosignal) = flags_of(flags, dir)?;
    access_ok(buf, len)?;
    let r = socket_transfer(k, fd, &[(buf, len)], dir, dontwait, nosignal)?;
    if dir == Dir::Read && addr != 0 && addrlen != 0 {
        // The peer of a pair is unnamed: an address of just its family.
        put_unnamed(k, addr, addrlen)?;
    }
    Ok(r)
}

/// Writes an unnamed AF_UNIX address (just `sun_family`) and its length.
fn put_unnamed(k: &mut Kernel, addr: u64, addrlen_va: u64) -> Result<(), Errno> {
    let mut l = [0u8; 4];
    k.copy_in(addrlen_va, &mut l)?;
    let room = u32::from_le_bytes(l);
    if (room as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let family = (AF_UNIX as u16).to_le_bytes();
    k.copy_out(addr, &family[..(room as usize).min(2)])?;
    k.copy_out(addrlen_va, &2u32.to_le_bytes())
}

/// `struct msghdr` fields: name, namelen, iov, iovlen, control, controllen, flags.
fn msghdr(k: &mut Kernel, msg: u64) -> Result<[u64; 7], Errno> {
    k.read_words::<7>(msg)
}

pub fn sendmsg(k: &mut Kernel, fd: i32, msg: u64, flags: u64) -> SysResult {
    socket_file(k, fd)?;
    let [name, namelen, iov, iovlen, _control, controllen, _] = msghdr(k, msg)?;
    if name != 0 && namelen as u32 != 0 {
        return Err(Errno::EISCONN);
    }
    if controllen != 0 {
        // Ancillary data (passing descriptors, credentials) is not carried.
        return Err(Errno::EOPNOTSUPP);
    }
    let (dontwait, nosignal) = flags_of(flags, Dir::Write)?;
    let v = iovecs(k, iov, iovlen)?;
    socket_transfer(k, fd, &v, Dir::Write, dontwait, nosignal)
}

pub fn recvmsg(k: &mut Kernel, fd: i32, msg: u64, flags: u64) -> SysResult {
    socket_file(k, fd)?;
    let [name, namelen, iov, iovlen, _control, _controllen, _] = msghdr(k, msg)?;
    let (dontwait, _) = flags_of(flags, Dir::Read)?;
    let v = iovecs(k, iov, iovlen)?;
    let n = socket_transfer(k, fd, &v, Dir::Read, dontwait, false)?;
    // No address for an unnamed peer beyond its family, no control data, no flags.
    if name != 0 {
        let room = namelen as u32 as usize;
        let family = (AF_UNIX as u16).to_le_bytes();
        k.copy_out(name, &family[..room.min(2)])?;
    }
    k.copy_out(msg + 8, &2u32.to_le_bytes())?;
    k.copy_out(msg + 40, &0u64.to_le_bytes())?;
    k.copy_out(msg + 48, &0u32.to_le_bytes())?;
    Ok(n)
}

pub fn getsockopt(
    k: &mut Kernel,
    fd: i32,
    level: i32,
    name: i32,
    val: u64,
    len_va: u64,
) -> SysResult {
    socket_file(k, fd)?;
    if level != SOL_SOCKET {
        return Err(Errno::ENOPROTOOPT);
    }
    let v: i32 = match name {
        SO_TYPE => SOCK_STREAM as i32,
        SO_ERROR | SO_ACCEPTCONN | SO_PROTOCOL => 0,
        SO_DOMAIN => AF_UNIX as i32,
        SO_SNDBUF | SO_RCVBUF => crate::fd::PIPE_CAPACITY as i32,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    let mut l = [0u8; 4];
    k.copy_in(len_va, &mut l)?;
    let room = i32::from_le_bytes(l);
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let bytes = v.to_le_bytes();
    let n = (room as usize).min(4);
    k.copy_out(val, &bytes[..n])?;
    k.copy_out(len_va, &(n as u32).to_le_bytes())?;
    Ok(0)
}

/// No option of a pair can be changed here (buffer sizes are the pipes' fixed 64 KiB).
pub fn setsockopt(k: &mut Kernel, fd: i32, _level: i32, _name: i32) -> SysResult {
    socket_file(k, fd)?;
    Err(Errno::ENOPROTOOPT)
}

/// getsockname/getpeername: both ends of a pair are unnamed.
pub fn sockname(k: &mut Kernel, fd: i32, addr: u64, len_va: u64) -> SysResult {
    socket_file(k, fd)?;
    put_unnamed(k, addr, len_va)?;
    Ok(0)
}
