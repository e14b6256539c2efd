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

/// `fstat` of a host handle.
pub fn stat(handle: u64) -> Result<HostStat, Errno> {
    result(call(Op::Stat, [handle, 0, 0, 0, 0, 0], &[]).0)?;
    let mut b = [0u8; core::mem::size_of::<HostStat>()];
    platform::read(DATA_GPA, &mut b);
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let ts = |o: usize| [u64_at(o) as i64, u64_at(o + 8) as i64];
    Ok(HostStat {
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
    })
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
