//! Memory syscalls: mmap, munmap, mprotect, mremap, madvise and brk, over the address
//! space's areas. Nothing is allocated until first touch (MAP_POPULATE aside).
use crate::errno::{Errno, SysResult};
use crate::mm::aspace::{Access, Fault, MMAP_MIN_ADDR};
use crate::mm::vma::{Label, Prot, Vma};
use crate::mm::{PAGE_SIZE, page_ceil};
use crate::process::Kernel;
use hull_arch::layout::USER_END;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_POPULATE: u64 = 0x8000;
const PROT_WRITE: u64 = 2;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const PROT_MASK: u64 = 7;
const PROT_GROWS: u64 = 0x0300_0000;

/// Checks an (addr, len) range and returns its page-aligned end.
fn range(addr: u64, len: u64) -> Result<u64, Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let end = page_ceil(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(Errno::EINVAL)?;
    if end > USER_END {
        return Err(Errno::EINVAL);
    }
    Ok(end)
}

pub fn mmap(
    k: &mut Kernel,
    addr: u64,
    len: u64,
    prot: u64,
    flags: u64,
    fd: i32,
    offset: u64,
) -> SysResult {
    if len == 0 || prot & !PROT_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_ceil(len).ok_or(Errno::ENOMEM)?;
    match flags & MAP_TYPE {
        MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE => {}
        _ => return Err(Errno::EINVAL),
    }
    if !offset.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let mut shared = flags & MAP_TYPE != MAP_PRIVATE;
    let source = if flags & MAP_ANONYMOUS == 0 {
        let file = k.proc.fds.get(fd)?.clone();
        if offset.checked_add(len).is_none_or(|e| e > i64::MAX as u64) {
            return Err(Errno::EOVERFLOW);
        }
        match file_source(k, &file, prot, shared)? {
            Some(src) => {
                shared &= !crate::vfs::mapping::always_private(&file);
                Some(src)
            }
            None => None, // /dev/zero: anonymous memory
        }
    } else {
        None
    };
    // Linux's heuristic overcommit: one accounted mapping larger than all memory fails up
    // front. A private mapping is accounted only if writable and not MAP_NORESERVE, so
    // address-space reservations (PROT_NONE, as Go's runtime makes) are never refused.
    let private = flags & MAP_TYPE == MAP_PRIVATE;
    // Shared anonymous memory is accounted too; a shared file mapping is the file's.
    let accounted = (private && prot & PROT_WRITE != 0 && flags & MAP_NORESERVE == 0)
        || (!private && source.is_none());
    if accounted && len > k.frames.total() * PAGE_SIZE {
        return Err(Errno::ENOMEM);
    }
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if addr.checked_add(len).is_none_or(|e| e > USER_END) {
            return Err(Errno::ENOMEM);
        }
        if addr < MMAP_MIN_ADDR {
            return Err(Errno::EPERM);
        }
        if flags & MAP_FIXED == 0 && k.proc.aspace.overlaps(addr, addr + len) {
            return Err(Errno::EEXIST);
        }
        addr
    } else {
        let hint = addr & !(PAGE_SIZE - 1);
        if hint >= MMAP_MIN_ADDR
            && hint
                .checked_add(len)
                .is_some_and(|e| e <= k.proc.aspace.mmap_top)
            && !k.proc.aspace.overlaps(hint, hint + len)
        {
            hint
        } else {
            k.proc.aspace.find_free(len).ok_or(Errno::ENOMEM)?
        }
    };
    room_for_areas(k)?;
    let area = (start, start + len, Prot(prot as u32));
    if let Some(src) = source {
        k.proc
            .aspace
            .insert_file(area, src, offset, shared, &mut k.frames);
    } else {
        let mut vma = Vma::anon(area.0, area.1, area.2, Label::None);
        if shared {
            vma.backing = crate::mm::vma::Backing::Shared;
        }
        k.proc.aspace.insert(vma, &mut k.frames);
    }
    if flags & MAP_POPULATE != 0 && prot != 0 {
        let access = if prot & 2 != 0 {
            Access::Write
        } else {
            Access::Read
        };
        let mut va = start;
        while va < start + len {
            if k.proc.aspace.fault(va, access, &mut k.frames) == Err(Fault::OutOfMemory) {
                break; // Like Linux, MAP_POPULATE is best effort.
            }
            va += PAGE_SIZE;
        }
    }
    Ok(start)
}

/// The page source for mapping `file`, after Linux's checks: EACCES unless it is open
/// for reading (and, for a writable shared mapping, for writing too),
/// ENODEV for what cannot be mapped. `None` for /dev/zero, which maps anonymous memory.
fn file_source(
    k: &Kernel,
    file: &alloc::sync::Arc<crate::fd::OpenFile>,
    prot: u64,
    shared: bool,
) -> Result<Option<alloc::sync::Arc<dyn crate::mm::source::PageSource>>, Errno> {
    use crate::fd::{FileKind, oflags};
    use crate::vfs::memfs::mode::{S_IFMT, S_IFREG};
    let fl = *file.flags.lock();
    match &file.kind {
        FileKind::Dev(rdev) if *rdev == crate::vfs::devfs::ZERO => return Ok(None),
        FileKind::Path => return Err(Errno::EBADF),
        FileKind::HostFile { .. } | FileKind::Mem(_) => {}
        _ => return Err(Errno::ENODEV),
    }
    let (st, _, _) = super::io::stat_of_open(k, file)?;
    if st.mode & S_IFMT != S_IFREG {
        return Err(Errno::ENODEV);
    }
    let access = fl & oflags::O_ACCMODE;
    if access == oflags::O_WRONLY {
        return Err(Errno::EACCES);
    }
    if shared && prot & PROT_WRITE != 0 && !file.writable() {
        return Err(Errno::EACCES);
    }
    let identity = crate::mm::source::Identity {
        dev: st.dev,
        ino: st.ino,
        path: super::fs::describe(file),
    };
    crate::vfs::mapping::source_for(file, identity, shared).map(Some)
}

/// `msync`: writes back what shared file mappings in the range modified. ENOMEM if part
/// of the range is unmapped.
pub fn msync(k: &mut Kernel, addr: u64, len: u64, flags: u64) -> SysResult {
    const MS_ASYNC: u64 = 1;
    const MS_INVALIDATE: u64 = 2;
    const MS_SYNC: u64 = 4;
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC
    {
        return Err(Errno::EINVAL);
    }
    let end = range(addr, len)?;
    let mut at = addr;
    let mut work = alloc::vec::Vec::new();
    while at < end {
        let v = *k.proc.aspace.find(at).ok_or(Errno::ENOMEM)?;
        if let (true, Some(src), crate::mm::vma::Backing::File { offset, .. }) =
            (v.shares(), k.proc.aspace.source_of(&v), v.backing)
        {
            let (s, e) = (at.max(v.start), end.min(v.end));
            work.push((src.clone(), offset + (s - v.start), offset + (e - v.start)));
        }
        at = v.end;
    }
    for (src, s, e) in work {
        src.sync(s, e)?;
    }
    Ok(0)
}

/// Linux's vm.max_map_count default.
const MAX_MAP_COUNT: usize = 65530;

/// Room for up to two more areas (a mapping, or the split an unmap or mprotect makes):
/// ENOMEM past Linux's map count, or when the kernel heap that holds them runs low.
fn room_for_areas(k: &Kernel) -> Result<(), Errno> {
    if k.proc.aspace.vma_count() + 2 > MAX_MAP_COUNT {
        return Err(Errno::ENOMEM);
    }
    crate::fd::kernel_memory_left()
}

pub fn munmap(k: &mut Kernel, addr: u64, len: u64) -> SysResult {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let end = range(addr, len)?;
    // Only a cut inside an area makes one more.
    let splits = k.proc.aspace.find(addr).is_some_and(|v| v.start < addr)
        || k.proc.aspace.find(end - 1).is_some_and(|v| v.end > end);
    if splits {
        room_for_areas(k)?;
    }
    k.proc.aspace.unmap(addr, end, &mut k.frames);
    Ok(0)
}

pub fn mprotect(k: &mut Kernel, addr: u64, len: u64, prot: u64) -> SysResult {
    if prot & !(PROT_MASK | PROT_GROWS) != 0 || prot & PROT_GROWS == PROT_GROWS {
        return Err(Errno::EINVAL);
    }
    let end = range(addr, len).map_err(|e| {
        if addr.is_multiple_of(PAGE_SIZE) {
            Errno::ENOMEM
        } else {
            e
        }
    })?;
    if end == addr {
        return Ok(0);
    }
    room_for_areas(k)?;
    k.proc
        .aspace
        .protect(addr, end, Prot((prot & PROT_MASK) as u32), &k.frames)?;
    Ok(0)
}

pub fn mremap(
    k: &mut Kernel,
    old: u64,
    old_len: u64,
    new_len: u64,
    flags: u64,
    new_addr: u64,
) -> SysResult {
    const MREMAP_MAYMOVE: u64 = 1;
    const MREMAP_FIXED: u64 = 2;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0
        || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
    {
        return Err(Errno::EINVAL);
    }
    if !old.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL);
    }
    let old_len = page_ceil(old_len).ok_or(Errno::EINVAL)?;
    let new_len = page_ceil(new_len).ok_or(Errno::EINVAL)?;
    if new_len == 0 || old_len == 0 {
        // old_len 0 duplicates a shared mapping; private anonymous memory has none.
        return Err(Errno::EINVAL);
    }
    if old.checked_add(old_len).is_none_or(|e| e > USER_END) {
        return Err(Errno::EFAULT);
    }
    // As mmap: only private writable memory is accounted against the memory size.
    let accounted = k
        .proc
        .aspace
        .find(old)
        .is_none_or(|v| !v.shares() && v.prot.write());
    if accounted && new_len > k.frames.total() * PAGE_SIZE {
        return Err(Errno::ENOMEM);
    }
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new_addr);
    room_for_areas(k)?;
    k.proc.aspace.remap(
        old,
        old_len,
        new_len,
        flags & MREMAP_MAYMOVE != 0,
        fixed,
        &mut k.frames,
    )
}

pub fn madvise(k: &mut Kernel, addr: u64, len: u64, advice: u64) -> SysResult {
    const MADV_DONTNEED: u64 = 4;
    const MADV_FREE: u64 = 8;
    let end = range(addr, len)?;
    match advice {
        MADV_DONTNEED | MADV_FREE => k.proc.aspace.discard(addr, end, &mut k.frames).map(|_| 0),
        // Pure hints (normal, random, sequential, willneed, hugepage, dontdump, cold, …):
        // accepted with nothing to do, after Linux's range check.
        0..=3 | 10..=17 | 20 | 21 => {
            let mut at = addr;
            while at < end {
                at = k.proc.aspace.find(at).ok_or(Errno::ENOMEM)?.end;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub fn brk(k: &mut Kernel, addr: u64) -> SysResult {
    // Growing needs room for an area too; a failed brk returns the current break.
    if addr > k.proc.aspace.brk && room_for_areas(k).is_err() {
        return Ok(k.proc.aspace.brk);
    }
    Ok(k.proc.aspace.set_brk(addr, &mut k.frames))
}
