//! The guest side of the hypercall ABI (see `hull_arch::abi`): fill the block, exit with
//! one `out`, read the reply. Every call is one VM exit, so callers batch.
use hull_arch::abi::{self, ExitKind, HostStat, Op, Segment};
use hull_arch::layout::HYPERCALL_BLOCK_GPA;

use crate::errno::Errno;
use crate::platform;

const HEADER: u64 = (8 * (abi::NARGS + 2)) as u64;
const DATA_GPA: u64 = HYPERCALL_BLOCK_GPA + HEADER;

/// Issues `op` with `args` and inline `data`; returns (ret, args after the call).
fn call(op: Op, args: [u64; abi::NARGS], data: &[u8]) -> (i64, [u64; abi::NARGS]) {
    debug_assert!(data.len() <= abi::DATA_SIZE);
    let mut header = [0u8; HEADER as usize];
    for (i, a) in args.iter().enumerate() {
        header[8 * i..8 * i + 8].copy_from_slice(&a.to_le_bytes());
    }
    platform::write(HYPERCALL_BLOCK_GPA, &header);
    if !data.is_empty() {
        platform::write(DATA_GPA, data);
    }
    platform::hypercall(op as u32);
    platform::read(HYPERCALL_BLOCK_GPA, &mut header);
    let word = |i: usize| u64::from_le_bytes(header[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    let mut out = [0u64; abi::NARGS];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = word(i);
    }
    (word(abi::NARGS) as i64, out)
}

fn result(ret: i64) -> Result<u64, Errno> {
    if ret < 0 {
        Err(Errno((-ret) as i32))
    } else {
        Ok(ret as u64)
    }
}

/// Ends the run. `message` (truncated to the block) is shown by the host.
pub fn exit(
    kind: ExitKind,
    status: u64,
    fault: Option<(u64, u64)>,
    signo: u64,
    message: &[u8],
) -> ! {
    if kind != ExitKind::KernelPanic {
        // What the program wrote through shared file mappings reaches its files before
        // the run ends, as Linux writes back a dead process's dirty pages.
        crate::vfs::mapping::sync_all_host();
        if let Some(report) = crate::stats::report() {
            log(report.as_bytes());
        }
    }
    let msg = &message[..message.len().min(abi::DATA_SIZE)];
    let (addr, rip) = fault.unwrap_or((0, 0));
    loop {
        call(
            Op::Exit,
            [
                kind as u64,
                status | ((fault.is_some() as u64) << 32),
                addr,
                rip,
                signo,
                msg.len() as u64,
            ],
            msg,
        );
    }
}

/// Writes diagnostics to the host's stderr.
pub fn log(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = bytes.len().min(abi::DATA_SIZE);
        call(Op::Log, [n as u64, 0, 0, 0, 0, 0], &bytes[..n]);
        bytes = &bytes[n..];
    }
}

/// The handshake (our ABI version) and the host's CLOCK_REALTIME and CLOCK_MONOTONIC, in ns.
pub fn time_sync() -> (u64, u64) {
    let (_, a) = call(Op::TimeSync, [abi::ABI_VERSION as u64, 0, 0, 0, 0, 0], &[]);
    (a[0], a[1])
}

fn encode_segments(segs: &[Segment]) -> ([u8; abi::DATA_SIZE], usize) {
    assert!(
        segs.len() <= abi::MAX_SEGMENTS,
        "too many segments for one hypercall"
    );
    let mut data = [0u8; abi::DATA_SIZE];
    for (i, s) in segs.iter().enumerate() {
        data[16 * i..16 * i + 8].copy_from_slice(&s.gpa.to_le_bytes());
        data[16 * i + 8..16 * i + 16].copy_from_slice(&s.len.to_le_bytes());
    }
    (data, 16 * segs.len())
}

/// `readv`/`preadv` from host `handle` into guest-physical `segs` (at most MAX_SEGMENTS).
pub fn read(handle: u64, segs: &[Segment], offset: u64, flags: u64) -> Result<u64, Errno> {
    let (data, n) = encode_segments(segs);
    result(
        call(
            Op::Read,
            [handle, segs.len() as u64, offset, flags, 0, 0],
            &data[..n],
        )
        .0,
    )
}

/// `writev`/`pwritev` from guest-physical `segs` to host `handle`.
pub fn write(handle: u64, segs: &[Segment], offset: u64, flags: u64) -> Result<u64, Errno> {
    let (data, n) = encode_segments(segs);
    result(
        call(
            Op::Write,
            [handle, segs.len() as u64, offset, flags, 0, 0],
            &data[..n],
        )
        .0,
    )
}

/// An appending write (`IO_APPEND`): bytes written and the handle's position after.
pub fn write_append(handle: u64, segs: &[Segment], flags: u64) -> Result<(u64, u64), Errno> {
    let (data, n) = encode_segments(segs);
    let (ret, a) = call(
        Op::Write,
        [
            handle,
            segs.len() as u64,
            OFFSET_CURRENT_RAW,
            flags | abi::IO_APPEND,
            0,
            0,
        ],
        &data[..n],
    );
    Ok((result(ret)?, a[1]))
}

const OFFSET_CURRENT_RAW: u64 = abi::OFFSET_CURRENT;

/// `fstat` of a host handle.
pub fn stat(handle: u64) -> Result<HostStat, Errno> {
    result(call(Op::Stat, [handle, 0, 0, 0, 0, 0], &[]).0)?;
    Ok(read_stat())
}

/// Decodes the [`HostStat`] the host left at the start of the data area.
fn read_stat() -> HostStat {
    let mut b = [0u8; abi::HOST_STAT_SIZE];
    platform::read(DATA_GPA, &mut b);
    decode_stat(&b)
}

/// Decodes an encoded [`HostStat`] ([`abi::HOST_STAT_SIZE`] bytes).
pub fn decode_stat(b: &[u8]) -> HostStat {
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let ts = |o: usize| [u64_at(o) as i64, u64_at(o + 8) as i64];
    HostStat {
        mode: u32_at(0),
        nlink: u32_at(4),
        size: u64_at(8),
        blksize: u64_at(16),
        blocks: u64_at(24),
        rdev: u64_at(32),
        ino: u64_at(40),
        dev: u64_at(48),
        atime: ts(56),
        mtime: ts(72),
        ctime: ts(88),
    }
}

/// A terminal ioctl on a host handle; the result bytes go to `out`.
pub fn tty_ioctl(handle: u64, request: u64, out: &mut [u8]) -> Result<u64, Errno> {
    let r = result(call(Op::TtyIoctl, [handle, request, 0, 0, 0, 0], &[]).0)?;
    platform::read(DATA_GPA, out);
    Ok(r)
}

/// `lseek` on a host handle.
pub fn seek(handle: u64, offset: i64, whence: u32) -> Result<u64, Errno> {
    result(
        call(
            Op::Seek,
            [handle, offset as u64, whence as u64, 0, 0, 0],
            &[],
        )
        .0,
    )
}

/// Closes a host handle.
pub fn close(handle: u64) -> Result<u64, Errno> {
    result(call(Op::Close, [handle, 0, 0, 0, 0, 0], &[]).0)
}

/// What `FsWalk` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostWalk {
    /// The whole path exists.
    Found(HostStat),
    /// Component `index` is a symlink to `target`.
    Symlink {
        index: usize,
        stat: HostStat,
        target: alloc::vec::Vec<u8>,
    },
    /// Component `index` could not be walked.
    Failed { index: usize, errno: Errno },
}

/// Paths (and a symlink target) back to back, or ENAMETOOLONG when they do not fit the
/// data area together.
fn paths(parts: &[&[u8]]) -> Result<alloc::vec::Vec<u8>, Errno> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > abi::DATA_SIZE || parts.iter().any(|p| p.len() > abi::MAX_PATH) {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(parts.concat())
}

/// `FsWalk`: walks `rel` beneath `mount`, stopping at the first symlink.
pub fn fs_walk(mount: u32, rel: &[u8]) -> HostWalk {
    let data = match paths(&[rel]) {
        Ok(d) => d,
        Err(errno) => return HostWalk::Failed { index: 0, errno },
    };
    let (ret, a) = call(
        Op::FsWalk,
        [mount as u64, rel.len() as u64, 0, 0, 0, 0],
        &data,
    );
    match ret {
        abi::WALK_FOUND => HostWalk::Found(read_stat()),
        abi::WALK_SYMLINK => {
            let len = (a[1] as usize).min(abi::DATA_SIZE - abi::HOST_STAT_SIZE);
            let mut target = alloc::vec![0u8; len];
            platform::read(DATA_GPA + abi::HOST_STAT_SIZE as u64, &mut target);
            HostWalk::Symlink {
                index: a[0] as usize,
                stat: read_stat(),
                target,
            }
        }
        r => HostWalk::Failed {
            index: a[0] as usize,
            errno: if r < 0 {
                Errno((-r) as i32)
            } else {
                Errno::EIO
            },
        },
    }
}

/// `FsOpen`: a handle and the file's attributes.
pub fn fs_open(mount: u32, rel: &[u8], flags: u32, mode: u32) -> Result<(u64, HostStat), Errno> {
    let data = paths(&[rel])?;
    let h = result(
        call(
            Op::FsOpen,
            [
                mount as u64,
                rel.len() as u64,
                flags as u64,
                mode as u64,
                0,
                0,
            ],
            &data,
        )
        .0,
    )?;
    Ok((h, read_stat()))
}

/// `FsReadDir`: raw `linux_dirent64` records into `segs`.
pub fn fs_readdir(handle: u64, segs: &[Segment]) -> Result<u64, Errno> {
    let (data, n) = encode_segments(segs);
    result(
        call(
            Op::FsReadDir,
            [handle, segs.len() as u64, 0, 0, 0, 0],
            &data[..n],
        )
        .0,
    )
}

/// `FsReadDir` with attributes: records into `segs`, up to `stat_max` encoded stats at
/// guest-physical `stat_gpa`; returns (bytes of records, stats written).
pub fn fs_readdir_plus(
    handle: u64,
    segs: &[Segment],
    stat_gpa: u64,
    stat_max: u64,
) -> Result<(u64, u64), Errno> {
    let (data, n) = encode_segments(segs);
    let (ret, a) = call(
        Op::FsReadDir,
        [handle, segs.len() as u64, stat_gpa, stat_max, 0, 0],
        &data[..n],
    );
    Ok((result(ret)?, a[0]))
}

/// A path operation with one path and up to three more arguments.
fn path_op(op: Op, mount: u32, rel: &[u8], extra: [u64; 3]) -> Result<u64, Errno> {
    let data = paths(&[rel])?;
    result(
        call(
            op,
            [
                mount as u64,
                rel.len() as u64,
                extra[0],
                extra[1],
                extra[2],
                0,
            ],
            &data,
        )
        .0,
    )
}

pub fn fs_mkdir(mount: u32, rel: &[u8], mode: u32) -> Result<u64, Errno> {
    path_op(Op::FsMkdir, mount, rel, [mode as u64, 0, 0])
}

pub fn fs_unlink(mount: u32, rel: &[u8], flags: u32) -> Result<u64, Errno> {
    path_op(Op::FsUnlink, mount, rel, [flags as u64, 0, 0])
}

/// An operation on two strings (rename, link, symlink).
fn two_path_op(op: Op, mount: u32, a: &[u8], b: &[u8], flags: u64) -> Result<u64, Errno> {
    let data = paths(&[a, b])?;
    result(
        call(
            op,
            [mount as u64, a.len() as u64, b.len() as u64, flags, 0, 0],
            &data,
        )
        .0,
    )
}

pub fn fs_rename(mount: u32, old: &[u8], new: &[u8], flags: u32) -> Result<u64, Errno> {
    two_path_op(Op::FsRename, mount, old, new, flags as u64)
}

pub fn fs_link(mount: u32, old: &[u8], new: &[u8]) -> Result<u64, Errno> {
    two_path_op(Op::FsLink, mount, old, new, 0)
}

pub fn fs_symlink(mount: u32, target: &[u8], rel: &[u8]) -> Result<u64, Errno> {
    two_path_op(Op::FsSymlink, mount, target, rel, 0)
}

/// What `FsSetattr` acts on.
#[derive(Clone, Copy, Debug)]
pub enum SetattrTarget<'a> {
    Path(u32, &'a [u8]),
    Handle(u64),
}

/// `FsSetattr`: `attr` is `SETATTR_*`; `times` (atime s/ns, mtime s/ns) for SETATTR_TIMES.
pub fn fs_setattr(
    target: SetattrTarget<'_>,
    attr: u64,
    value: u64,
    times: [i64; 4],
) -> Result<u64, Errno> {
    let (a0, a1, rel): (u64, u64, &[u8]) = match target {
        SetattrTarget::Path(m, rel) => (m as u64, rel.len() as u64, rel),
        SetattrTarget::Handle(h) => (h, abi::SETATTR_BY_HANDLE, &[]),
    };
    let mut t = [0u8; 32];
    for (i, v) in times.iter().enumerate() {
        t[8 * i..8 * i + 8].copy_from_slice(&v.to_le_bytes());
    }
    let data = paths(&[rel, &t])?;
    result(call(Op::FsSetattr, [a0, a1, attr, value, 0, 0], &data).0)
}

pub fn fs_statfs(mount: u32) -> Result<abi::HostStatfs, Errno> {
    result(call(Op::FsStatfs, [mount as u64, 0, 0, 0, 0, 0], &[]).0)?;
    let mut b = [0u8; 80];
    platform::read(DATA_GPA, &mut b);
    let w = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    Ok(abi::HostStatfs {
        fs_type: w(0),
        bsize: w(1),
        blocks: w(2),
        bfree: w(3),
        bavail: w(4),
        files: w(5),
        ffree: w(6),
        namelen: w(7),
        frsize: w(8),
        flags: w(9),
    })
}

pub fn fs_sync(handle: u64, datasync: bool) -> Result<u64, Errno> {
    result(call(Op::FsSync, [handle, datasync as u64, 0, 0, 0, 0], &[]).0)
}

pub fn fs_allocate(handle: u64, mode: u32, offset: u64, len: u64) -> Result<u64, Errno> {
    result(
        call(
            Op::FsAllocate,
            [handle, mode as u64, offset, len, 0, 0],
            &[],
        )
        .0,
    )
}

pub fn fs_copy_range(
    input: u64,
    output: u64,
    in_off: u64,
    out_off: u64,
    len: u64,
) -> Result<u64, Errno> {
    result(
        call(
            Op::FsCopyRange,
            [input, output, in_off, out_off, len, 0],
            &[],
        )
        .0,
    )
}

/// `Poll`: readiness of host handles, waiting up to `timeout_ns`; fills in `revents`.
pub fn poll(entries: &mut [abi::PollEntry], timeout_ns: u64) -> Result<u64, Errno> {
    let n = entries.len().min(abi::MAX_POLL);
    let mut data = alloc::vec![0u8; 16 * n];
    for (i, e) in entries[..n].iter().enumerate() {
        data[16 * i..16 * i + 8].copy_from_slice(&e.handle.to_le_bytes());
        data[16 * i + 8..16 * i + 10].copy_from_slice(&e.events.to_le_bytes());
    }
    let r = result(call(Op::Poll, [n as u64, timeout_ns, 0, 0, 0, 0], &data).0)?;
    platform::read(DATA_GPA, &mut data);
    for (i, e) in entries[..n].iter_mut().enumerate() {
        e.revents = u16::from_le_bytes([data[16 * i + 10], data[16 * i + 11]]);
    }
    Ok(r)
}

/// `HostSignals`: the signals hull received since the last call (bit N-1 = signal N).
pub fn host_signals() -> u64 {
    call(Op::HostSignals, [0; abi::NARGS], &[]).1[0]
}
