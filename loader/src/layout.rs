//! Builds the guest's boot state in guest memory: the kernel image (from its ELF, with
//! goblin), the first page tables and GDT, the argument blob, the mount records and working
//! directory, the program image and the boot-info block. Everything here is plain data
//! placement; the vCPU registers that point at it are set in `vm.rs`.
use hull_arch::abi::{ABI_VERSION, BOOT_MAGIC, BootInfo, KernelSegment, MAX_KERNEL_SEGMENTS};
use hull_arch::layout::*;

use crate::guest_memory::{GuestMemory, MemoryError};

/// Why the boot image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("the guest kernel image is not a valid ELF: {0}")]
    KernelElf(String),
    #[error("the guest kernel image does not fit the memory map: {0}")]
    KernelLayout(&'static str),
    #[error("{what} ({size} bytes) does not fit in guest memory ({ram} MiB); raise --memory")]
    TooBig {
        what: &'static str,
        size: u64,
        ram: u64,
    },
    #[error("reading the program: {0}")]
    ProgramRead(std::io::Error),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

const PTE_PRESENT: u64 = 1;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_USER: u64 = 1 << 2;
const PTE_HUGE: u64 = 1 << 7;
const PTE_NX: u64 = 1 << 63;
const GIB: u64 = 1 << 30;

fn page_ceil(v: u64) -> u64 {
    (v + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// The loader's page tables, as (guest-physical address, entry) writes: the direct map of
/// all RAM at PHYS_OFFSET (2 MiB pages, NX) and the first GiB again at KERNEL_VIRT_BASE
/// (2 MiB pages, executable) for the kernel image. The kernel replaces them at boot.
///
/// Under PVM (`kernel_user`), kernel entries also carry the U bit: the kernel runs in
/// hardware ring 3 there.
pub fn boot_page_tables(ram_size: u64, kernel_user: bool) -> Vec<(u64, u64)> {
    let pml4 = BOOT_TABLES_GPA;
    let pdpt_direct = pml4 + PAGE_SIZE;
    let pdpt_kernel = pml4 + 2 * PAGE_SIZE;
    let pd_kernel = pml4 + 3 * PAGE_SIZE;
    let pd_direct = pml4 + 4 * PAGE_SIZE;
    let slot = |va: u64, level: u32| (va >> (12 + 9 * (level - 1))) & 511;
    let table = PTE_PRESENT | PTE_WRITABLE | if kernel_user { PTE_USER } else { 0 };
    let mut w = vec![
        (pml4 + 8 * slot(PHYS_OFFSET, 4), pdpt_direct | table),
        (pml4 + 8 * slot(KERNEL_VIRT_BASE, 4), pdpt_kernel | table),
        (
            pdpt_kernel + 8 * slot(KERNEL_VIRT_BASE, 3),
            pd_kernel | table,
        ),
    ];
    let gibs = ram_size.div_ceil(GIB);
    for g in 0..gibs {
        w.push((pdpt_direct + 8 * g, (pd_direct + g * PAGE_SIZE) | table));
    }
    let mut pa = 0;
    while pa < ram_size {
        w.push((
            pd_direct + 8 * (pa / LARGE_PAGE_SIZE),
            pa | table | PTE_HUGE | PTE_NX,
        ));
        if pa < KERNEL_WINDOW {
            w.push((
                pd_kernel + 8 * (pa / LARGE_PAGE_SIZE),
                pa | table | PTE_HUGE,
            ));
        }
        pa += LARGE_PAGE_SIZE;
    }
    w
}

/// Frames the guest kernel hands out first stay on 4 KiB host pages: guest RAM beyond the
/// kernel heap plus this much is backed by transparent huge pages (see
/// [`prefer_huge_bulk_memory`]).
pub const SMALL_FRAMES: u64 = 4 << 20;

/// Asks for huge pages on the bulk part of guest RAM. The guest's frame allocator hands
/// out frames upward from the end of the kernel heap, so a small program stays within the
/// first [`SMALL_FRAMES`] and keeps a small footprint (RSS grows in 4 KiB steps there),
/// while bulk memory (a big heap, tmpfs data) takes one host fault and one shadow-MMU
/// fault per 2 MiB instead of one each per 4 KiB (measured, tmpfs write+read of 64 MiB:
/// 1.4 GB/s on 4 KiB pages, 7.7-8.8 GB/s on huge pages once the host has free ones).
fn prefer_huge_bulk_memory(mem: &GuestMemory, free_start: u64) -> Result<(), LayoutError> {
    if let Some(bulk) = bulk_memory_start(mem.size(), free_start) {
        mem.prefer_huge_pages(bulk, mem.size() - bulk)?;
    }
    Ok(())
}

/// Where the huge-page part of `ram` bytes of guest RAM starts, if anywhere: 2 MiB-aligned,
/// past the kernel heap (which starts at `free_start`) and [`SMALL_FRAMES`].
fn bulk_memory_start(ram: u64, free_start: u64) -> Option<u64> {
    let bulk = (free_start + hull_arch::layout::kernel_heap_size(ram) + SMALL_FRAMES)
        .next_multiple_of(LARGE_PAGE_SIZE);
    (bulk < ram).then_some(bulk)
}

/// The boot GDT: null, 64-bit kernel code (0x08), kernel data (0x10).
pub const BOOT_GDT: [u64; 3] = [0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// What the vCPU needs to start the kernel.
#[derive(Debug, Clone, Copy)]
pub struct BootImage {
    pub entry: u64,
}

/// Inputs for the boot-info block.
#[derive(Debug)]
pub struct BootParams<'a> {
    /// `--pids`: most tasks at once.
    pub max_tasks: u32,
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub exe_path: &'a [u8],
    pub program: &'a std::fs::File,
    pub program_len: u64,
    pub flags: u32,
    pub tsc_khz: u64,
    pub seed: [u8; 32],
    pub uid: u32,
    pub gid: u32,
    pub stdio_flags: [u32; 3],
    /// The mount records blob ([`crate::files::Mounts::boot_records`]).
    pub mounts: &'a [u8],
    pub nmounts: u32,
    pub tmpfs_size: u64,
    /// The initial working directory (absolute guest path).
    pub cwd: &'a [u8],
}

/// Loads the kernel ELF into guest memory; returns the entry point, its segments and the
/// end of its image.
pub fn load_kernel(
    mem: &GuestMemory,
    elf_bytes: &[u8],
) -> Result<(u64, [KernelSegment; MAX_KERNEL_SEGMENTS], u64), LayoutError> {
    let elf =
        goblin::elf::Elf::parse(elf_bytes).map_err(|e| LayoutError::KernelElf(e.to_string()))?;
    if !elf.is_64 || elf.header.e_machine != goblin::elf::header::EM_X86_64 {
        return Err(LayoutError::KernelElf("not an x86_64 ELF64".into()));
    }
    let mut segs = [KernelSegment::default(); MAX_KERNEL_SEGMENTS];
    let mut end = 0;
    let loads: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD && p.p_memsz > 0)
        .collect();
    if loads.is_empty() || loads.len() > MAX_KERNEL_SEGMENTS {
        return Err(LayoutError::KernelLayout(
            "expected 1 to 4 loadable segments",
        ));
    }
    for (slot, p) in segs.iter_mut().zip(&loads) {
        let pa = p.p_paddr;
        let file_end = p
            .p_offset
            .checked_add(p.p_filesz)
            .ok_or(LayoutError::KernelLayout("segment overflows"))?;
        if pa < KERNEL_PHYS_BASE
            || p.p_vaddr != KERNEL_VIRT_BASE + pa
            || p.p_filesz > p.p_memsz
            || file_end > elf_bytes.len() as u64
            || pa % PAGE_SIZE != 0
        {
            return Err(LayoutError::KernelLayout(
                "segment is not linked as linker.ld says",
            ));
        }
        let seg_end = pa
            .checked_add(p.p_memsz)
            .ok_or(LayoutError::KernelLayout("segment overflows"))?;
        if seg_end > KERNEL_WINDOW {
            return Err(LayoutError::KernelLayout(
                "kernel larger than its 1 GiB window",
            ));
        }
        *slot = KernelSegment {
            gpa: pa,
            len: p.p_memsz,
            flags: p.p_flags as u64,
        };
        end = end.max(seg_end);
    }
    // The kernel's text and rodata fill 2 MiB chunks of their own (linker.ld), which the
    // kernel maps with large pages: on a huge host page too, the shadow MMU maps each
    // with one fault instead of one per 4 KiB page the kernel touches. The data and what
    // follows it (the program) stay on 4 KiB host pages, which keeps the RSS small.
    let read_only_end = segs
        .iter()
        .filter(|s| s.len > 0 && s.flags & 2 != 0)
        .map(|s| s.gpa)
        .min()
        .unwrap_or(end);
    mem.prefer_huge_pages(KERNEL_PHYS_BASE, read_only_end - KERNEL_PHYS_BASE)?;
    for p in &loads {
        let range = p.p_offset as usize..(p.p_offset + p.p_filesz) as usize;
        mem.write(p.p_paddr, &elf_bytes[range])?;
    }
    Ok((elf.entry, segs, page_ceil(end)))
}

/// Writes the whole boot image: page tables, GDT, kernel, blobs, program and boot info.
pub fn build(
    mem: &GuestMemory,
    kernel_elf: &[u8],
    p: &BootParams<'_>,
) -> Result<BootImage, LayoutError> {
    let ram = mem.size();
    for (gpa, v) in boot_page_tables(ram, p.flags & hull_arch::abi::BOOT_FLAG_PVM != 0) {
        if gpa >= BOOT_TABLES_END {
            return Err(LayoutError::TooBig {
                what: "guest RAM's page tables",
                size: ram,
                ram: ram >> 20,
            });
        }
        mem.write_u64(gpa, v)?;
    }
    for (i, d) in BOOT_GDT.iter().enumerate() {
        mem.write_u64(BOOT_GDT_GPA + 8 * i as u64, *d)?;
    }
    let mut strings = Vec::new();
    for s in p.argv.iter().chain(p.envp) {
        strings.extend_from_slice(s);
        strings.push(0);
    }
    let (entry, kernel_segments, kernel_end) = load_kernel(mem, kernel_elf)?;
    let too_big = |what, size| LayoutError::TooBig {
        what,
        size,
        ram: ram >> 20,
    };
    let strings_gpa = kernel_end;
    let exe_path_gpa = strings_gpa + strings.len() as u64;
    let mounts_gpa = (exe_path_gpa + p.exe_path.len() as u64).next_multiple_of(8);
    let cwd_gpa = mounts_gpa + p.mounts.len() as u64;
    let program_gpa = page_ceil(cwd_gpa + p.cwd.len() as u64);
    let free_start = program_gpa
        .checked_add(page_ceil(p.program_len))
        .ok_or_else(|| too_big("the program", p.program_len))?;
    // Leave the kernel room for its heap and page tables and the program some memory.
    if free_start + (16 << 20) > ram {
        return Err(too_big("the program", p.program_len));
    }
    prefer_huge_bulk_memory(mem, free_start)?;
    mem.write(strings_gpa, &strings)?;
    mem.write(exe_path_gpa, p.exe_path)?;
    mem.write(mounts_gpa, p.mounts)?;
    mem.write(cwd_gpa, p.cwd)?;
    // Read in, not mapped: a file mapping inside guest RAM makes every guest access to it
    // markedly slower under kvm_pvm (measured: hello 6 ms read, 14 ms mapped).
    read_file_into(mem, p.program, program_gpa, p.program_len)?;

    let info = BootInfo {
        magic: BOOT_MAGIC,
        abi_version: ABI_VERSION,
        flags: p.flags,
        ram_size: ram,
        free_start,
        kernel_end,
        program_gpa,
        program_len: p.program_len,
        strings_gpa,
        strings_len: strings.len() as u64,
        argc: p.argv.len() as u64,
        envc: p.envp.len() as u64,
        exe_path_gpa,
        exe_path_len: p.exe_path.len() as u64,
        tsc_khz: p.tsc_khz,
        seed: p.seed,
        uid: p.uid,
        gid: p.gid,
        stdio_flags: p.stdio_flags,
        nmounts: p.nmounts,
        mounts_gpa,
        mounts_len: p.mounts.len() as u64,
        tmpfs_size: p.tmpfs_size,
        cwd_gpa,
        cwd_len: p.cwd.len() as u64,
        max_tasks: p.max_tasks,
        reserved: 0,
        kernel_segments,
    };
    mem.write(BOOT_INFO_GPA, &encode_boot_info(&info))?;
    Ok(BootImage { entry })
}

/// Fills in the TSC frequency once the vCPU exists (the boot image is built before the VM,
/// so the program's pages are mapped before the VM registers guest memory).
pub fn set_tsc_khz(mem: &GuestMemory, khz: u64) -> Result<(), MemoryError> {
    mem.write(
        BOOT_INFO_GPA + std::mem::offset_of!(BootInfo, tsc_khz) as u64,
        &khz.to_le_bytes(),
    )
}

/// Serializes the boot-info block field by field (its `#[repr(C)]` layout, no padding).
pub fn encode_boot_info(i: &BootInfo) -> Vec<u8> {
    let mut b = Vec::with_capacity(std::mem::size_of::<BootInfo>());
    b.extend_from_slice(&i.magic.to_le_bytes());
    b.extend_from_slice(&i.abi_version.to_le_bytes());
    b.extend_from_slice(&i.flags.to_le_bytes());
    for v in [
        i.ram_size,
        i.free_start,
        i.kernel_end,
        i.program_gpa,
        i.program_len,
        i.strings_gpa,
        i.strings_len,
        i.argc,
        i.envc,
        i.exe_path_gpa,
        i.exe_path_len,
        i.tsc_khz,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&i.seed);
    for v in [
        i.uid,
        i.gid,
        i.stdio_flags[0],
        i.stdio_flags[1],
        i.stdio_flags[2],
        i.nmounts,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for v in [
        i.mounts_gpa,
        i.mounts_len,
        i.tmpfs_size,
        i.cwd_gpa,
        i.cwd_len,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&i.max_tasks.to_le_bytes());
    b.extend_from_slice(&i.reserved.to_le_bytes());
    for s in &i.kernel_segments {
        for v in [s.gpa, s.len, s.flags] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    debug_assert_eq!(b.len(), std::mem::size_of::<BootInfo>());
    b
}

fn read_file_into(
    mem: &GuestMemory,
    file: &std::fs::File,
    gpa: u64,
    len: u64,
) -> Result<(), LayoutError> {
    mem.read_file(gpa, file, len)?
        .map_err(LayoutError::ProgramRead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_memory_starts_past_the_heap_and_the_first_frames() {
        // 512 MiB: a 16 MiB heap after a boot image ending at 3.4 MiB, 4 MiB of small
        // frames, rounded up to 2 MiB.
        assert_eq!(bulk_memory_start(512 << 20, 0x36_0000), Some(24 << 20));
        // 32 MiB: a 2 MiB heap.
        assert_eq!(bulk_memory_start(32 << 20, 0x36_0000), Some(10 << 20));
        // Nothing left for huge pages.
        assert_eq!(bulk_memory_start(32 << 20, 26 << 20), None);
    }

    #[test]
    fn page_tables_map_direct_and_kernel_windows() {
        let w = boot_page_tables(64 << 20, false);
        let get = |gpa: u64| w.iter().find(|(a, _)| *a == gpa).map(|(_, v)| *v);
        // PML4[273] -> direct-map PDPT, PML4[511] -> kernel PDPT.
        assert_eq!(get(0x4000 + 8 * 273), Some(0x5000 | 3));
        assert_eq!(get(0x4000 + 8 * 511), Some(0x6000 | 3));
        assert_eq!(get(0x6000 + 8 * 510), Some(0x7000 | 3));
        assert_eq!(get(0x5000), Some(0x8000 | 3));
        // 32 large pages of RAM, NX in the direct map, executable in the kernel window.
        assert_eq!(
            get(0x8000),
            Some(PTE_PRESENT | PTE_WRITABLE | PTE_HUGE | PTE_NX)
        );
        assert_eq!(
            get(0x8000 + 8 * 31),
            Some((31 << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE | PTE_NX)
        );
        assert_eq!(get(0x8000 + 8 * 32), None);
        assert_eq!(
            get(0x7000 + 8),
            Some((1 << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE)
        );
        assert!(
            w.iter()
                .all(|(a, _)| *a >= BOOT_TABLES_GPA && *a < BOOT_TABLES_END)
        );
    }

    #[test]
    fn large_ram_uses_one_pd_per_gib() {
        let w = boot_page_tables(3 << 30, false);
        let pdpt: Vec<_> = w
            .iter()
            .filter(|(a, _)| (0x5000..0x6000).contains(a))
            .collect();
        assert_eq!(pdpt.len(), 3);
        assert!(w.iter().all(|(a, _)| *a < BOOT_TABLES_END));
    }

    #[test]
    fn pvm_tables_mark_every_entry_user() {
        assert!(
            boot_page_tables(64 << 20, true)
                .iter()
                .all(|(_, v)| v & PTE_USER != 0)
        );
        assert!(
            boot_page_tables(64 << 20, false)
                .iter()
                .all(|(_, v)| v & PTE_USER == 0)
        );
    }

    #[test]
    fn boot_info_encoding_matches_the_repr_c_layout() {
        let info = BootInfo {
            magic: BOOT_MAGIC,
            abi_version: ABI_VERSION,
            flags: 1,
            ram_size: 2,
            free_start: 3,
            kernel_end: 4,
            program_gpa: 5,
            program_len: 6,
            strings_gpa: 7,
            strings_len: 8,
            argc: 9,
            envc: 10,
            exe_path_gpa: 11,
            exe_path_len: 12,
            tsc_khz: 13,
            seed: [14; 32],
            uid: 15,
            gid: 16,
            stdio_flags: [17, 18, 19],
            nmounts: 23,
            mounts_gpa: 24,
            mounts_len: 25,
            tmpfs_size: 26,
            cwd_gpa: 27,
            cwd_len: 28,
            max_tasks: 29,
            reserved: 0,
            kernel_segments: [KernelSegment {
                gpa: 20,
                len: 21,
                flags: 22,
            }; MAX_KERNEL_SEGMENTS],
        };
        let b = encode_boot_info(&info);
        assert_eq!(b.len(), std::mem::size_of::<BootInfo>());
        let at = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(at(std::mem::offset_of!(BootInfo, tsc_khz)), 13);
        assert_eq!(b[std::mem::offset_of!(BootInfo, seed)], 14);
        assert_eq!(at(std::mem::offset_of!(BootInfo, kernel_segments) + 8), 21);
        assert_eq!(at(std::mem::offset_of!(BootInfo, cwd_len)), 28);
        let off = std::mem::offset_of!(BootInfo, stdio_flags);
        assert_eq!(
            u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()),
            18
        );
    }

    #[test]
    fn refuses_a_malformed_kernel() {
        let mem = GuestMemory::new(64 << 20).unwrap();
        assert!(matches!(
            load_kernel(&mem, b"not an elf"),
            Err(LayoutError::KernelElf(_))
        ));
    }
}
