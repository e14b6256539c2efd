//! Checked access to user memory. The kernel never dereferences a user address: it walks
//! the page table in software, faults pages in as the user's own access would, and copies
//! through the direct map. A bad pointer is therefore an `EFAULT`, never a kernel fault,
//! and SMAP can stay on without STAC/CLAC anywhere.
use alloc::vec::Vec;

use super::aspace::{Access, AddressSpace, Fault};
use super::frame::FrameAllocator;
use super::paging::flags;
use super::{PAGE_SIZE, page_floor};
use crate::errno::Errno;
use crate::platform;
use hull_arch::abi::Segment;
use hull_arch::layout::USER_END;

/// The physical address backing user `va`, faulting it in for `access`.
pub fn user_page(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    access: Access,
) -> Result<u64, Errno> {
    if va >= USER_END {
        return Err(Errno::EFAULT);
    }
    let need = match access {
        Access::Write => flags::USER | flags::WRITABLE,
        _ => flags::USER,
    };
    if let Some((pa, fl)) = aspace.pt.lookup(va)
        && fl & need == need
    {
        return Ok(pa + (va & (PAGE_SIZE - 1)));
    }
    match aspace.fault(va, access, frames) {
        Ok(()) => {}
        Err(Fault::OutOfMemory) => return Err(Errno::ENOMEM),
        Err(_) => return Err(Errno::EFAULT),
    }
    let (pa, _) = aspace.pt.lookup(va).ok_or(Errno::EFAULT)?;
    Ok(pa + (va & (PAGE_SIZE - 1)))
}

/// Checks that [va, va+len) lies in user space.
fn check_range(va: u64, len: usize) -> Result<(), Errno> {
    match va.checked_add(len as u64) {
        Some(end) if end <= USER_END => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Calls `f(pa, offset, chunk_len)` for each page-bounded piece of [va, va+len).
fn for_each_piece(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    len: usize,
    access: Access,
    mut f: impl FnMut(u64, usize, usize),
) -> Result<(), Errno> {
    check_range(va, len)?;
    let mut done = 0usize;
    while done < len {
        let at = va + done as u64;
        let n = ((page_floor(at) + PAGE_SIZE - at) as usize).min(len - done);
        let pa = user_page(aspace, frames, at, access)?;
        f(pa, done, n);
        done += n;
    }
    Ok(())
}

/// Copies user memory at `va` into `buf`.
pub fn copy_from_user(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    buf: &mut [u8],
) -> Result<(), Errno> {
    let len = buf.len();
    for_each_piece(aspace, frames, va, len, Access::Read, |pa, off, n| {
        platform::read(pa, &mut buf[off..off + n])
    })
}

/// Copies `buf` to user memory at `va`.
pub fn copy_to_user(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    buf: &[u8],
) -> Result<(), Errno> {
    for_each_piece(
        aspace,
        frames,
        va,
        buf.len(),
        Access::Write,
        |pa, off, n| platform::write(pa, &buf[off..off + n]),
    )
}

/// Zeroes `len` bytes of user memory at `va`.
pub fn clear_user(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    len: usize,
) -> Result<(), Errno> {
    for_each_piece(aspace, frames, va, len, Access::Write, |pa, _, n| {
        platform::fill(pa, 0, n)
    })
}

/// Reads a NUL-terminated string of at most `max` bytes (excluding the NUL); `too_long`
/// is the errno when there is no NUL within that.
pub fn read_cstring(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    max: usize,
    too_long: Errno,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut at = va;
    loop {
        let pa = user_page(aspace, frames, at, Access::Read)?;
        let n = (page_floor(at) + PAGE_SIZE - at) as usize;
        let mut chunk = [0u8; PAGE_SIZE as usize];
        platform::read(pa, &mut chunk[..n]);
        if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..z]);
            return if out.len() > max {
                Err(too_long)
            } else {
                Ok(out)
            };
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > max {
            return Err(too_long);
        }
        at += n as u64;
    }
}

/// The guest-physical segments backing [va, va+len), faulted in for `access`, with
/// physically contiguous pages merged: what a Read/Write hypercall carries.
pub fn user_segments(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
    len: usize,
    access: Access,
    out: &mut Vec<Segment>,
) -> Result<(), Errno> {
    for_each_piece(aspace, frames, va, len, access, |pa, _, n| {
        match out.last_mut() {
            Some(last) if last.gpa + last.len == pa => last.len += n as u64,
            _ => out.push(Segment {
                gpa: pa,
                len: n as u64,
            }),
        }
    })
}

/// Reads a plain-old-data value (a `#[repr(C)]` struct of integers) from user memory.
pub fn read_u64s<const N: usize>(
    aspace: &mut AddressSpace,
    frames: &mut FrameAllocator,
    va: u64,
) -> Result<[u64; N], Errno> {
    let mut bytes = [0u8; 8];
    let mut out = [0u64; N];
    for (i, slot) in out.iter_mut().enumerate() {
        copy_from_user(aspace, frames, va + 8 * i as u64, &mut bytes)?;
        *slot = u64::from_le_bytes(bytes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::paging::PageTable;
    use crate::mm::vma::{Label, Prot, Vma};

    fn space() -> (AddressSpace, FrameAllocator) {
        platform::test_memory(4 << 20);
        let mut f = FrameAllocator::new(0x10_0000, 4 << 20);
        let k = PageTable::new(&mut f).unwrap();
        let mut a = AddressSpace::new(&k, &mut f, (0, 0), 0x7000_0000_0000).unwrap();
        a.insert(Vma::anon(0x10000, 0x13000, Prot::RW, Label::None), &mut f);
        a.insert(
            Vma::anon(0x20000, 0x21000, Prot(Prot::READ), Label::None),
            &mut f,
        );
        (a, f)
    }

    #[test]
    fn copies_across_pages_and_reads_back() {
        let (mut a, mut f) = space();
        let data: Vec<u8> = (0..6000).map(|i| i as u8).collect();
        copy_to_user(&mut a, &mut f, 0x10ff0, &data).unwrap();
        let mut back = vec![0u8; 6000];
        copy_from_user(&mut a, &mut f, 0x10ff0, &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn bad_pointers_are_efault() {
        let (mut a, mut f) = space();
        let mut b = [0u8; 8];
        assert_eq!(
            copy_from_user(&mut a, &mut f, 0x1, &mut b),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            copy_from_user(&mut a, &mut f, 0xffff_8000_0000_0000, &mut b),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            copy_from_user(&mut a, &mut f, u64::MAX - 3, &mut b),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            copy_to_user(&mut a, &mut f, 0x20000, &b),
            Err(Errno::EFAULT),
            "read-only area"
        );
        assert_eq!(
            copy_to_user(&mut a, &mut f, 0x12ffc, &b),
            Err(Errno::EFAULT),
            "runs off the end"
        );
    }

    #[test]
    fn cstrings_and_segments() {
        let (mut a, mut f) = space();
        copy_to_user(&mut a, &mut f, 0x10ffe, b"hello\0").unwrap();
        assert_eq!(
            read_cstring(&mut a, &mut f, 0x10ffe, 100, Errno::ENAMETOOLONG).unwrap(),
            b"hello"
        );
        assert_eq!(
            read_cstring(&mut a, &mut f, 0x10ffe, 3, Errno::ENAMETOOLONG),
            Err(Errno::ENAMETOOLONG)
        );
        let mut segs = Vec::new();
        user_segments(&mut a, &mut f, 0x10800, 0x1000, Access::Read, &mut segs).unwrap();
        assert_eq!(segs.iter().map(|s| s.len).sum::<u64>(), 0x1000);
    }
}
