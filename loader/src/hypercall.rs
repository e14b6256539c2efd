//! The hypercall server: decodes one hypercall block from guest memory, checks it, and
//! performs the operation on a host handle. The guest is hostile: every field is checked
//! after it has been copied out, and anything malformed ends the sandbox with an error.
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use hull_arch::abi::{self, ExitKind, HostStat, OFFSET_CURRENT, Op, Segment};
use hull_arch::layout::HYPERCALL_BLOCK_GPA;

use crate::files::FileServer;
use crate::guest_memory::{GuestMemory, MemoryError};
use crate::host_io;
use crate::host_signals::State as HostSignalState;

/// A guest that broke the hypercall protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown hypercall {0}")]
    UnknownOp(u32),
    #[error("malformed {op:?} hypercall: {why}")]
    Malformed { op: Op, why: &'static str },
    #[error("the guest kernel speaks hypercall ABI version {0}, this hull speaks {ver}", ver = abi::ABI_VERSION)]
    Version(u64),
    #[error("{0:?} hypercall before the TimeSync handshake")]
    NoHandshake(Op),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// How the run ended, as the guest reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Exited(u8),
    Signaled {
        signo: u32,
        fault: Option<(u64, u64)>,
    },
    ExecFailed {
        status: u8,
        message: String,
    },
    KernelPanic(String),
    OutOfMemory(String),
}

/// Handles below this are the sandbox's stdio; file handles start here.
pub const FIRST_FILE_HANDLE: usize = 3;

/// One open host file description.
#[derive(Debug)]
struct Slot {
    fd: OwnedFd,
    /// Opened beneath a read-only mount: never writable, and no attribute changes.
    readonly: bool,
}

/// Host file descriptors the guest reaches by number; it never names a host fd. Handles
/// 0–2 are stdio; file handles take the lowest free number from 3 on, at most
/// [`abi::MAX_FILE_HANDLES`] of them at a time.
#[derive(Debug, Default)]
pub struct HandleTable {
    slots: Vec<Option<Slot>>,
    /// Occupied slots from [`FIRST_FILE_HANDLE`] on.
    files: usize,
}

impl HandleTable {
    /// A table whose handles 0, 1 and 2 are duplicates of the host's stdio.
    pub fn with_stdio() -> std::io::Result<Self> {
        let mut t = HandleTable::default();
        for fd in [
            std::io::stdin().as_fd(),
            std::io::stdout().as_fd(),
            std::io::stderr().as_fd(),
        ] {
            t.slots.push(Some(Slot {
                fd: fd.try_clone_to_owned()?,
                readonly: false,
            }));
        }
        Ok(t)
    }

    fn slot(&self, handle: u64) -> Option<&Slot> {
        usize::try_from(handle)
            .ok()
            .and_then(|h| self.slots.get(h))
            .and_then(|s| s.as_ref())
    }

    pub(crate) fn get(&self, handle: u64) -> Option<BorrowedFd<'_>> {
        self.slot(handle).map(|s| s.fd.as_fd())
    }

    /// The fd and whether it came from a read-only mount.
    pub(crate) fn get_file(&self, handle: u64) -> Option<(BorrowedFd<'_>, bool)> {
        self.slot(handle).map(|s| (s.fd.as_fd(), s.readonly))
    }

    /// Whether another file handle would exceed the cap.
    pub(crate) fn is_full(&self) -> bool {
        self.files >= abi::MAX_FILE_HANDLES
    }

    /// Stores `fd` under the lowest free file handle; `None` (and `fd` closed) at the cap.
    pub(crate) fn insert(&mut self, fd: OwnedFd, readonly: bool) -> Option<u64> {
        if self.is_full() {
            return None;
        }
        while self.slots.len() < FIRST_FILE_HANDLE {
            self.slots.push(None);
        }
        let slot = Slot { fd, readonly };
        let h = match self.slots[FIRST_FILE_HANDLE..]
            .iter()
            .position(|s| s.is_none())
        {
            Some(i) => {
                self.slots[FIRST_FILE_HANDLE + i] = Some(slot);
                FIRST_FILE_HANDLE + i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.files += 1;
        Some(h as u64)
    }

    fn close(&mut self, handle: u64) -> bool {
        let Some(h) = usize::try_from(handle).ok() else {
            return false;
        };
        let closed = self.slots.get_mut(h).and_then(|s| s.take()).is_some();
        if closed && h >= FIRST_FILE_HANDLE {
            self.files -= 1;
        }
        closed
    }

    /// Appends a raw slot (tests stand in sockets or pipes for stdio).
    #[cfg(test)]
    pub(crate) fn push(&mut self, fd: OwnedFd) {
        if self.slots.len() >= FIRST_FILE_HANDLE {
            self.files += 1;
        }
        self.slots.push(Some(Slot {
            fd,
            readonly: false,
        }));
    }
}

/// Serves hypercalls for one VM.
pub struct Server<'m> {
    mem: &'m GuestMemory,
    handles: HandleTable,
    files: FileServer,
    /// The guest has sent TimeSync with our ABI version.
    greeted: bool,
    /// The forwarded host signals `HostSignals` reports.
    signals: &'static HostSignalState,
}

fn errno_of(e: &std::io::Error) -> i64 {
    -(e.raw_os_error().unwrap_or(libc::EIO) as i64)
}

impl<'m> Server<'m> {
    pub fn new(mem: &'m GuestMemory, handles: HandleTable, files: FileServer) -> Self {
        Server {
            mem,
            handles,
            files,
            greeted: false,
            signals: &crate::host_signals::STATE,
        }
    }

    /// Reports the signals of `signals` instead of the process's (tests).
    #[cfg(test)]
    pub(crate) fn with_signals(mut self, signals: &'static HostSignalState) -> Self {
        self.signals = signals;
        self
    }

    /// Handles the hypercall `op`. `Ok(Some(end))` when the guest ended the run.
    pub fn handle(&mut self, op_raw: u32) -> Result<Option<RunEnd>, ProtocolError> {
        let op = Op::from_u32(op_raw).ok_or(ProtocolError::UnknownOp(op_raw))?;
        let mut header = [0u8; 8 * (abi::NARGS + 2)];
        self.mem.read(HYPERCALL_BLOCK_GPA, &mut header)?;
        let a: [u64; abi::NARGS] = std::array::from_fn(|i| {
            u64::from_le_bytes(header[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        });
        let data_gpa = HYPERCALL_BLOCK_GPA + header.len() as u64;
        let bad = |why| ProtocolError::Malformed { op, why };
        let mut out = a;
        let ret: i64 = match op {
            Op::Exit => return self.exit(a, data_gpa).map(Some),
            Op::Log => {
                let len = usize::try_from(a[0])
                    .ok()
                    .filter(|&n| n <= abi::DATA_SIZE)
                    .ok_or(bad("length exceeds the data area"))?;
                let mut msg = vec![0u8; len];
                self.mem.read(data_gpa, &mut msg)?;
                let _ = std::io::stderr().write_all(&msg);
                0
            }
            _ if !self.greeted && !matches!(op, Op::TimeSync | Op::Log) => {
                return Err(ProtocolError::NoHandshake(op));
            }
            Op::TimeSync => {
                if a[0] != abi::ABI_VERSION as u64 {
                    return Err(ProtocolError::Version(a[0]));
                }
                self.greeted = true;
                out[0] = host_io::clock_ns(libc::CLOCK_REALTIME);
                out[1] = host_io::clock_ns(libc::CLOCK_MONOTONIC);
                0
            }
            Op::Read | Op::Write => {
                let n = usize::try_from(a[1])
                    .ok()
                    .filter(|&n| n <= abi::MAX_SEGMENTS)
                    .ok_or(bad("too many segments"))?;
                let segs = read_segments(self.mem, data_gpa, n)?;
                // An appending write ignores the offset: it writes at the end.
                let append = op == Op::Write && a[3] & abi::IO_APPEND != 0;
                let offset = match a[2] {
                    _ if append => None,
                    OFFSET_CURRENT => None,
                    o => Some(i64::try_from(o).map_err(|_| bad("offset out of range"))?),
                };
                match self.handles.get_file(a[0]) {
                    None => -(libc::EBADF as i64),
                    // Never writable: as Linux answers for a descriptor not open for writing.
                    Some((_, true)) if op == Op::Write => -(libc::EBADF as i64),
                    Some((fd, _))
                        if a[3] & abi::IO_NONBLOCK != 0 && !host_io::ready(fd, op == Op::Write) =>
                    {
                        -(libc::EAGAIN as i64)
                    }
                    Some((fd, _)) => {
                        let r = if op == Op::Read {
                            self.mem.read_from(fd, &segs, offset)?
                        } else {
                            write_all(self.mem, fd, &segs, offset, append)?
                        };
                        match r {
                            Ok(n) => {
                                if append {
                                    // The position afterwards (the end it wrote to);
                                    // OFFSET_CURRENT for a handle without one (a pipe).
                                    out[1] = host_io::lseek(fd, 0, libc::SEEK_CUR)
                                        .unwrap_or(OFFSET_CURRENT);
                                }
                                n as i64
                            }
                            Err(e) => errno_of(&e),
                        }
                    }
                }
            }
            Op::Stat => match self.handles.get(a[0]) {
                None => -(libc::EBADF as i64),
                Some(fd) => match host_io::fstat(fd) {
                    Ok(st) => {
                        self.mem.write(data_gpa, &encode_stat(&st))?;
                        0
                    }
                    Err(e) => errno_of(&e),
                },
            },
            Op::TtyIoctl => match self.handles.get(a[0]) {
                None => -(libc::EBADF as i64),
                Some(fd) => match host_io::tty_ioctl(fd, a[1]) {
                    Some(Ok(bytes)) => {
                        self.mem.write(data_gpa, &bytes)?;
                        0
                    }
                    Some(Err(e)) => errno_of(&e),
                    None => -(libc::ENOTTY as i64),
                },
            },
            Op::HostSignals => {
                out[0] = self.signals.take_for_guest();
                0
            }
            Op::Poll => {
                let n = usize::try_from(a[0])
                    .ok()
                    .filter(|&n| n <= abi::MAX_POLL)
                    .ok_or(bad("too many poll entries"))?;
                let mut raw = vec![0u8; 16 * n];
                self.mem.read(data_gpa, &mut raw)?;
                let mut fds = Vec::with_capacity(n);
                for c in raw.chunks_exact(16) {
                    let handle = u64::from_le_bytes(c[..8].try_into().expect("8"));
                    let events = i16::from_le_bytes([c[8], c[9]]);
                    fds.push((self.handles.get(handle), events));
                }
                // At most a second per call: the guest re-checks its own timers and signals.
                let timeout_ms = (a[1].min(1_000_000_000)).div_ceil(1_000_000) as i32;
                match host_io::poll(&fds, timeout_ms) {
                    Ok(revents) => {
                        for (c, r) in raw.chunks_exact_mut(16).zip(&revents) {
                            c[10..12].copy_from_slice(&r.to_le_bytes());
                        }
                        self.mem.write(data_gpa, &raw)?;
                        revents.iter().filter(|&&r| r != 0).count() as i64
                    }
                    // EINTR: hull received a forwarded signal; the guest gets the interrupt.
                    Err(e) => errno_of(&e),
                }
            }
            Op::Seek => match self.handles.get(a[0]) {
                None => -(libc::EBADF as i64),
                Some(fd) => {
                    let whence = i32::try_from(a[2]).map_err(|_| bad("bad whence"))?;
                    match host_io::lseek(fd, a[1] as i64, whence) {
                        Ok(off) => off as i64,
                        Err(e) => errno_of(&e),
                    }
                }
            },
            Op::FsWalk
            | Op::FsOpen
            | Op::FsReadDir
            | Op::FsMkdir
            | Op::FsUnlink
            | Op::FsRename
            | Op::FsLink
            | Op::FsSymlink
            | Op::FsSetattr
            | Op::FsStatfs
            | Op::FsSync
            | Op::FsAllocate
            | Op::FsCopyRange => {
                self.files
                    .handle(op, a, &mut out, data_gpa, self.mem, &mut self.handles)?
            }
            Op::Close => {
                if self.handles.close(a[0]) {
                    0
                } else {
                    -(libc::EBADF as i64)
                }
            }
        };
        let mut reply = Vec::with_capacity(header.len());
        for v in out {
            reply.extend_from_slice(&v.to_le_bytes());
        }
        reply.extend_from_slice(&ret.to_le_bytes());
        reply.extend_from_slice(&0u64.to_le_bytes());
        self.mem.write(HYPERCALL_BLOCK_GPA, &reply)?;
        Ok(None)
    }

    fn exit(&self, a: [u64; abi::NARGS], data_gpa: u64) -> Result<RunEnd, ProtocolError> {
        let bad = |why| ProtocolError::Malformed { op: Op::Exit, why };
        let kind = ExitKind::from_u64(a[0]).ok_or(bad("unknown exit kind"))?;
        let len = usize::try_from(a[5])
            .ok()
            .filter(|&n| n <= abi::DATA_SIZE)
            .ok_or(bad("message exceeds the data area"))?;
        let mut msg = vec![0u8; len];
        self.mem.read(data_gpa, &mut msg)?;
        let message = String::from_utf8_lossy(&msg).into_owned();
        let has_fault = (a[1] >> 32) & 1 == 1;
        Ok(match kind {
            ExitKind::Exited => RunEnd::Exited(a[1] as u8),
            ExitKind::Signaled => {
                let signo = u32::try_from(a[4])
                    .ok()
                    .filter(|s| (1..=64).contains(s))
                    .ok_or(bad("bad signal number"))?;
                RunEnd::Signaled {
                    signo,
                    fault: has_fault.then_some((a[2], a[3])),
                }
            }
            ExitKind::ExecFailed => RunEnd::ExecFailed {
                status: (a[1] as u8).max(1),
                message,
            },
            ExitKind::KernelPanic => RunEnd::KernelPanic(message),
            ExitKind::OutOfMemory => RunEnd::OutOfMemory(message),
        })
    }
}

/// Copies `n` segments out of the data area (not yet checked against guest RAM: every use
/// goes through the checked translation).
pub(crate) fn read_segments(
    mem: &GuestMemory,
    data_gpa: u64,
    n: usize,
) -> Result<Vec<Segment>, MemoryError> {
    let mut raw = vec![0u8; 16 * n];
    mem.read(data_gpa, &mut raw)?;
    Ok(raw
        .chunks_exact(16)
        .map(|c| {
            let (gpa, len) = c.split_at(8);
            let word = |b: &[u8]| {
                let mut w = [0u8; 8];
                w.copy_from_slice(b);
                u64::from_le_bytes(w)
            };
            Segment {
                gpa: word(gpa),
                len: word(len),
            }
        })
        .collect())
}

/// Writes all of `segs` (retrying short writes and EINTR), as a blocking write to a pipe or
/// terminal does on Linux. With `append`, every attempt appends at the end of the file
/// (`RWF_APPEND`) and `offset` is not used.
fn write_all(
    mem: &GuestMemory,
    fd: BorrowedFd<'_>,
    segs: &[Segment],
    offset: Option<i64>,
    append: bool,
) -> Result<std::io::Result<usize>, MemoryError> {
    let total = segs.iter().fold(0u64, |t, s| t.saturating_add(s.len));
    let mut done = 0u64;
    let mut rest: Vec<Segment> = segs.to_vec();
    while done < total {
        let r = if append {
            mem.append_to(fd, &rest)?
        } else {
            mem.write_to(fd, &rest, offset.map(|o| o.saturating_add(done as i64)))?
        };
        match r {
            Ok(0) => break,
            Ok(n) => {
                done += n as u64;
                let mut skip = n as u64;
                while let Some(first) = rest.first_mut() {
                    if skip < first.len {
                        first.gpa += skip;
                        first.len -= skip;
                        break;
                    }
                    skip -= first.len;
                    rest.remove(0);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if done == 0 => return Ok(Err(e)),
            Err(_) => break,
        }
    }
    Ok(Ok(done as usize))
}

pub(crate) fn encode_stat(st: &HostStat) -> Vec<u8> {
    let mut b = Vec::with_capacity(std::mem::size_of::<HostStat>());
    b.extend_from_slice(&st.mode.to_le_bytes());
    b.extend_from_slice(&st.nlink.to_le_bytes());
    for v in [st.size, st.blksize, st.blocks, st.rdev, st.ino, st.dev] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for t in [st.atime, st.mtime, st.ctime] {
        b.extend_from_slice(&t[0].to_le_bytes());
        b.extend_from_slice(&t[1].to_le_bytes());
    }
    b
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A server that has received the guest's handshake.
    fn greeted<'m>(mem: &'m GuestMemory, handles: HandleTable) -> Server<'m> {
        greeted_with(mem, handles, FileServer::new(Default::default()))
    }

    /// A greeted server with a file server.
    pub(crate) fn greeted_with<'m>(
        mem: &'m GuestMemory,
        handles: HandleTable,
        files: FileServer,
    ) -> Server<'m> {
        let mut s = Server::new(mem, handles, files);
        put_block(mem, [abi::ABI_VERSION as u64, 0, 0, 0, 0, 0]);
        assert_eq!(s.handle(Op::TimeSync as u32).unwrap(), None);
        s
    }

    #[test]
    fn handshake_is_required_and_checks_the_version() {
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut s = Server::new(
            &mem,
            HandleTable::with_stdio().unwrap(),
            FileServer::new(Default::default()),
        );
        put_block(&mem, [1, 0, OFFSET_CURRENT, 0, 0, 0]);
        assert!(matches!(
            s.handle(Op::Write as u32),
            Err(ProtocolError::NoHandshake(Op::Write))
        ));
        put_block(&mem, [abi::ABI_VERSION as u64 + 1, 0, 0, 0, 0, 0]);
        assert!(matches!(
            s.handle(Op::TimeSync as u32),
            Err(ProtocolError::Version(_))
        ));
        put_block(&mem, [abi::ABI_VERSION as u64, 0, 0, 0, 0, 0]);
        assert_eq!(s.handle(Op::TimeSync as u32).unwrap(), None);
        assert!(
            mem.read_u64(HYPERCALL_BLOCK_GPA).unwrap() > 0,
            "the host's realtime clock"
        );
    }

    pub(crate) fn put_block(mem: &GuestMemory, args: [u64; 6]) {
        for (i, a) in args.iter().enumerate() {
            mem.write_u64(HYPERCALL_BLOCK_GPA + 8 * i as u64, *a)
                .unwrap();
        }
    }

    #[test]
    fn hostile_blocks_are_refused() {
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut s = greeted(&mem, HandleTable::default());
        assert!(matches!(s.handle(999), Err(ProtocolError::UnknownOp(999))));
        put_block(&mem, [2, (abi::MAX_SEGMENTS + 1) as u64, 0, 0, 0, 0]);
        assert!(matches!(
            s.handle(Op::Write as u32),
            Err(ProtocolError::Malformed { .. })
        ));
        put_block(&mem, [(abi::DATA_SIZE + 1) as u64, 0, 0, 0, 0, 0]);
        assert!(matches!(
            s.handle(Op::Log as u32),
            Err(ProtocolError::Malformed { .. })
        ));
        put_block(&mem, [77, 0, 0, 0, 0, 0]);
        assert!(matches!(
            s.handle(Op::Exit as u32),
            Err(ProtocolError::Malformed { .. })
        ));
        // A segment outside guest RAM is a protocol error, never a host fault.
        let (_r, w) = std::io::pipe().unwrap();
        let mut t = HandleTable::default();
        t.push(w.into());
        let mut s = greeted(&mem, t);
        put_block(&mem, [0, 1, OFFSET_CURRENT, 0, 0, 0]);
        mem.write_u64(HYPERCALL_BLOCK_GPA + 64, u64::MAX - 8)
            .unwrap();
        mem.write_u64(HYPERCALL_BLOCK_GPA + 72, 64).unwrap();
        assert!(matches!(
            s.handle(Op::Write as u32),
            Err(ProtocolError::Memory(_))
        ));
    }

    /// A hostile guest, approximated: random operations, arguments, segments and data,
    /// many aimed at the edges of guest RAM, and file operations on plausible and hostile
    /// paths (`..`, symlinks out) over a read-write and a read-only mount. The server must
    /// answer or refuse, never panic or touch memory outside the guest, and nothing outside
    /// the read-write mount may change.
    #[test]
    fn random_blocks_never_panic_the_host() {
        use crate::files::tests::{Scratch, server_for, spec};
        let top = Scratch::new("random");
        top.write("outside/secret", "OUTSIDE");
        top.write("ro/f", "RO");
        top.write("rw/f", "RW");
        top.mkdir("rw/d");
        std::os::unix::fs::symlink(top.at("outside"), top.at("rw/out")).unwrap();
        std::os::unix::fs::symlink("../outside", top.at("rw/up")).unwrap();
        std::os::unix::fs::symlink("/", top.at("ro/root")).unwrap();
        let snapshot = |dir: &str| {
            let mut v: Vec<(std::ffi::OsString, Vec<u8>, u32)> = std::fs::read_dir(top.at(dir))
                .unwrap()
                .flatten()
                .map(|e| {
                    use std::os::unix::fs::MetadataExt;
                    let m = std::fs::symlink_metadata(e.path()).unwrap();
                    (
                        e.file_name(),
                        std::fs::read(e.path()).unwrap_or_default(),
                        m.mode(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let (outside, ro) = (snapshot("outside"), snapshot("ro"));

        let mem = GuestMemory::new(1 << 20).unwrap();
        // Non-blocking sockets stand in for stdio, so no read or write can block the test.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let mut t = HandleTable::default();
        t.push(OwnedFd::from(a));
        t.push(OwnedFd::from(b));
        let files = server_for(&[
            spec(&top.at("rw"), "/rw", false),
            spec(&top.at("ro"), "/ro", true),
        ]);
        let mut s = greeted_with(&mem, t, files);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let edges = [
            0u64,
            1,
            4095,
            4096,
            (1 << 20) - 1,
            1 << 20,
            (1 << 20) + 1,
            u64::MAX,
            u64::MAX - 4095,
            i64::MAX as u64,
        ];
        let paths: [&[u8]; 16] = [
            b"",
            b"f",
            b"d",
            b"d/n",
            b"n",
            b"out",
            b"out/secret",
            b"up/secret",
            b"root/etc/passwd",
            b"..",
            b"../outside/secret",
            b"d/../../outside",
            b"/f",
            b"f/",
            b"d//n",
            b"f\0",
        ];
        let flags = [0u64, 2, 0o102, 0o1101, 0o200000, 0o302, 0o4000, 0o2001];
        let ops = [
            1u32, 3, 16, 17, 18, 19, 20, 21, 0, 999, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
            43, 44, 33, 34, 20,
        ];
        let mut served = [0u32; 2];
        let (mut plus, mut appended) = (0u32, 0u32);
        for _ in 0..30_000 {
            let op = ops[(rnd() % ops.len() as u64) as usize];
            let mut pick = || {
                if rnd() % 2 == 0 {
                    edges[(rnd() % edges.len() as u64) as usize]
                } else {
                    rnd() % 64
                }
            };
            let mut args = [pick(), pick(), pick(), pick(), pick(), pick()];
            for i in 0..16u64 {
                let v = if rnd() % 3 == 0 {
                    edges[(rnd() % edges.len() as u64) as usize]
                } else {
                    rnd() % (1 << 20)
                };
                mem.write_u64(HYPERCALL_BLOCK_GPA + 64 + 8 * i, v).unwrap();
            }
            if (32..=44).contains(&op) && rnd() % 3 != 0 {
                // A plausible file operation: a mount, one or two paths, common flags.
                let p1 = paths[(rnd() % paths.len() as u64) as usize];
                let p2 = paths[(rnd() % paths.len() as u64) as usize];
                let d = [p1, p2].concat();
                mem.write(HYPERCALL_BLOCK_GPA + 64, &d).unwrap();
                args[0] = rnd() % 3;
                args[1] = p1.len() as u64;
                args[2] = if matches!(op, 37..=39) {
                    p2.len() as u64
                } else {
                    flags[(rnd() % flags.len() as u64) as usize]
                };
                if op == 40 {
                    args[1] = if rnd() % 4 == 0 {
                        u64::MAX
                    } else {
                        p1.len() as u64
                    };
                    args[2] = 1 + rnd() % 3;
                    args[3] = [0o644, 0, 1 << 20, i64::MAX as u64][(rnd() % 4) as usize];
                }
                args[3] = args[3].min(0o777);
            }
            // Sometimes one plausible segment on a stdio or a likely file handle.
            let plausible_io = |args: &mut [u64; 6], rnd: &mut dyn FnMut() -> u64| {
                args[0] = rnd() % 7;
                args[1] = 1;
                mem.write_u64(HYPERCALL_BLOCK_GPA + 64, 0x20000 + rnd() % 0x80000)
                    .unwrap();
                mem.write_u64(HYPERCALL_BLOCK_GPA + 72, rnd() % 0x8000)
                    .unwrap();
            };
            if op == 34 && rnd() % 2 == 0 {
                // Readdir with attributes, at plausible and hostile places and counts.
                args[2] = if rnd() % 3 == 0 {
                    edges[(rnd() % edges.len() as u64) as usize]
                } else {
                    rnd() % (1 << 20)
                };
                args[3] = [1, 2, 7, 64, 4096, 4097, u64::MAX][(rnd() % 7) as usize];
                if rnd() % 2 == 0 {
                    plausible_io(&mut args, &mut rnd);
                    // From the start now and then, so listings are not always at their end.
                    if rnd() % 4 == 0 {
                        put_block(&mem, [args[0], 0, 0, 0, 0, 0]);
                        let _ = s.handle(Op::Seek as u32);
                    }
                }
            }
            if op == 17 && rnd() % 2 == 0 {
                args[3] = abi::IO_APPEND | ((rnd() % 2) * abi::IO_NONBLOCK);
                if rnd() % 2 == 0 {
                    plausible_io(&mut args, &mut rnd);
                }
            }
            put_block(&mem, args);
            if let Ok(None) = s.handle(op) {
                let ret = mem.read_u64(HYPERCALL_BLOCK_GPA + 48).unwrap() as i64;
                if (32..=44).contains(&op) {
                    served[usize::from(ret >= 0)] += 1;
                }
                let out0 = mem.read_u64(HYPERCALL_BLOCK_GPA).unwrap();
                if op == 34 && ret > 0 && (1..=4096).contains(&args[3]) {
                    assert!((1..=args[3]).contains(&out0), "{out0} stats for {args:?}");
                    plus += 1;
                }
                if op == 17 && ret >= 0 && args[3] & abi::IO_APPEND != 0 {
                    appended += 1;
                }
            }
        }
        assert!(
            served[0] > 500 && served[1] > 500,
            "file operations failed / succeeded: {served:?}"
        );
        assert!(
            plus > 0 && appended > 0,
            "readdir-plus / appends served: {plus} / {appended}"
        );
        drop(s);
        assert_eq!(snapshot("outside"), outside);
        assert_eq!(snapshot("ro"), ro);
    }

    #[test]
    fn appending_to_a_pipe_has_no_position() {
        let mem = GuestMemory::new(1 << 20).unwrap();
        let (r, w) = std::io::pipe().unwrap();
        let mut t = HandleTable::default();
        t.push(w.into());
        let mut s = greeted(&mem, t);
        mem.write(0x80000, b"to the pipe").unwrap();
        put_block(&mem, [0, 1, 0, abi::IO_APPEND, 0, 0]);
        mem.write_u64(HYPERCALL_BLOCK_GPA + 64, 0x80000).unwrap();
        mem.write_u64(HYPERCALL_BLOCK_GPA + 72, 11).unwrap();
        assert_eq!(s.handle(Op::Write as u32).unwrap(), None);
        assert_eq!(mem.read_u64(HYPERCALL_BLOCK_GPA + 48).unwrap(), 11);
        assert_eq!(
            mem.read_u64(HYPERCALL_BLOCK_GPA + 8).unwrap(),
            OFFSET_CURRENT
        );
        drop(s);
        let mut got = String::new();
        std::io::Read::read_to_string(&mut &r, &mut got).unwrap();
        assert_eq!(got, "to the pipe");
    }

    #[test]
    fn host_signals_reports_and_clears_the_mask() {
        static SIGNALS: HostSignalState = HostSignalState::new();
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut s = Server::new(
            &mem,
            HandleTable::default(),
            FileServer::new(Default::default()),
        )
        .with_signals(&SIGNALS);
        SIGNALS.record(libc::SIGINT);
        put_block(&mem, [0; 6]);
        assert!(matches!(
            s.handle(Op::HostSignals as u32),
            Err(ProtocolError::NoHandshake(Op::HostSignals))
        ));
        put_block(&mem, [abi::ABI_VERSION as u64, 0, 0, 0, 0, 0]);
        assert_eq!(s.handle(Op::TimeSync as u32).unwrap(), None);
        SIGNALS.record(libc::SIGHUP);
        SIGNALS.record(libc::SIGTERM);
        put_block(&mem, [7; 6]);
        assert_eq!(s.handle(Op::HostSignals as u32).unwrap(), None);
        assert_eq!(mem.read_u64(HYPERCALL_BLOCK_GPA + 48).unwrap(), 0, "ret");
        assert_eq!(
            mem.read_u64(HYPERCALL_BLOCK_GPA).unwrap(),
            (1 << 0) | (1 << 1) | (1 << 14),
            "bit N-1 for signal N"
        );
        put_block(&mem, [7; 6]);
        assert_eq!(s.handle(Op::HostSignals as u32).unwrap(), None);
        assert_eq!(mem.read_u64(HYPERCALL_BLOCK_GPA).unwrap(), 0, "cleared");
    }

    #[test]
    fn unknown_handles_are_ebadf_and_exit_is_decoded() {
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut s = greeted(&mem, HandleTable::default());
        put_block(&mem, [42, 0, OFFSET_CURRENT, 0, 0, 0]);
        assert_eq!(s.handle(Op::Read as u32).unwrap(), None);
        assert_eq!(
            mem.read_u64(HYPERCALL_BLOCK_GPA + 48).unwrap() as i64,
            -(libc::EBADF as i64)
        );
        put_block(
            &mem,
            [ExitKind::Signaled as u64, 1 << 32, 0x10, 0x401000, 11, 0],
        );
        assert_eq!(
            s.handle(Op::Exit as u32).unwrap(),
            Some(RunEnd::Signaled {
                signo: 11,
                fault: Some((0x10, 0x401000))
            })
        );
    }
}
