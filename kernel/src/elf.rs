//! The ELF loader: validates a program image (with goblin's header and program-header
//! parsers) into a [`Plan`], then maps the plan into an address space as demand-paged areas
//! backed by the image itself. Untrusted ELF parsing happens here, in the guest, never in
//! the host.
use alloc::vec::Vec;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header;
use goblin::elf::program_header::{self, ProgramHeader};
use goblin::elf64::header::{Header, SIZEOF_EHDR};
use goblin::elf64::program_header::SIZEOF_PHDR;

use crate::mm::frame::FrameAllocator;
use crate::mm::vma::{Backing, Label, Prot, Vma};
use crate::mm::{PAGE_SIZE, aspace::AddressSpace, page_ceil, page_floor};

/// Where a position-independent executable is placed (Linux's ELF_ET_DYN_BASE).
pub const PIE_BASE: u64 = 0x5555_5555_4000;
/// Largest span of loadable segments accepted (guards against absurd images).
pub const MAX_SPAN: u64 = 1 << 40;
/// Most program headers accepted.
pub const MAX_PHNUM: usize = 512;
/// Longest PT_INTERP accepted (Linux: PATH_MAX).
const MAX_INTERP_PATH: u64 = 4096;

/// Why an image cannot be run. The message is what the user sees after the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf,
    Not64Bit,
    BigEndian,
    WrongMachine(u16),
    NotExecutable(u16),
    Dynamic,
    Truncated,
    BadProgramHeaders,
    BadSegment(&'static str),
    NoLoadableSegment,
}

impl ElfError {
    /// A one-line explanation.
    pub fn message(self) -> alloc::string::String {
        use alloc::format;
        match self {
            ElfError::NotElf => "not an ELF executable (bad magic)".into(),
            ElfError::Not64Bit => "a 32-bit ELF; hull runs x86_64 (64-bit) programs only".into(),
            ElfError::BigEndian => "a big-endian ELF; hull runs x86_64 programs only".into(),
            ElfError::WrongMachine(m) => format!("an ELF for another machine ({}); hull runs x86_64 programs only", header::machine_to_str(m)),
            ElfError::NotExecutable(t) => format!("not an executable ELF (type {})", header::et_to_str(t)),
            ElfError::Dynamic => "a dynamically linked program whose interpreter (PT_INTERP) is not in the sandbox; mount it (--root, or --mount of its directories) or link with -static".into(),
            ElfError::Truncated => "a truncated ELF file".into(),
            ElfError::BadProgramHeaders => "a malformed ELF (bad program header table)".into(),
            ElfError::BadSegment(why) => format!("a malformed ELF ({why})"),
            ElfError::NoLoadableSegment => "a malformed ELF (no loadable segment)".into(),
        }
    }
}

/// One PT_LOAD segment, validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub filesz: u64,
    pub offset: u64,
    pub prot: Prot,
}

/// What loading an image will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u64,
    pub segments: Vec<Segment>,
    /// Position-independent (ET_DYN): relocate by [`Plan::bias`].
    pub pie: bool,
    /// PT_GNU_STACK asks for an executable stack.
    pub exec_stack: bool,
    /// PT_INTERP: (file offset, length) of the interpreter's path (NUL included).
    pub interp: Option<(u64, u64)>,
}

/// Reads the ELF header and program headers from `image` and checks every loadable
/// segment against the file and the user address range.
pub fn plan(image: &[u8]) -> Result<Plan, ElfError> {
    plan_with_len(image, image.len() as u64)
}

/// Like [`plan`], where `image` holds only the start of a file of `file_len` bytes (at least
/// the ELF header and program headers, when they fit in the file).
pub fn plan_with_len(image: &[u8], file_len: u64) -> Result<Plan, ElfError> {
    if image.len() < 4 || &image[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    if image.len() < SIZEOF_EHDR {
        return Err(ElfError::Truncated);
    }
    if image[header::EI_CLASS] != header::ELFCLASS64 {
        return Err(ElfError::Not64Bit);
    }
    if image[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(ElfError::BigEndian);
    }
    let h: Header = Header::parse(image).map_err(|_| ElfError::Truncated)?;
    if h.e_machine != header::EM_X86_64 {
        return Err(ElfError::WrongMachine(h.e_machine));
    }
    if h.e_type != header::ET_EXEC && h.e_type != header::ET_DYN {
        return Err(ElfError::NotExecutable(h.e_type));
    }
    let phnum = h.e_phnum as usize;
    if h.e_phentsize as usize != SIZEOF_PHDR || phnum == 0 || phnum > MAX_PHNUM {
        return Err(ElfError::BadProgramHeaders);
    }
    let table_end = h
        .e_phoff
        .checked_add((phnum * SIZEOF_PHDR) as u64)
        .ok_or(ElfError::BadProgramHeaders)?;
    if table_end > file_len {
        return Err(ElfError::Truncated);
    }
    if table_end > image.len() as u64 {
        return Err(ElfError::BadProgramHeaders);
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(image, h.e_phoff as usize, phnum, ctx)
        .map_err(|_| ElfError::BadProgramHeaders)?;

    let mut segments = Vec::new();
    let mut exec_stack = false;
    let mut interp = None;
    for ph in &phdrs {
        match ph.p_type {
            program_header::PT_INTERP => {
                if ph.p_filesz < 2 || ph.p_filesz > MAX_INTERP_PATH || interp.is_some() {
                    return Err(ElfError::BadSegment("bad PT_INTERP"));
                }
                in_file(ph, file_len)?;
                interp = Some((ph.p_offset, ph.p_filesz));
            }
            program_header::PT_GNU_STACK => exec_stack = ph.p_flags & program_header::PF_X != 0,
            program_header::PT_TLS => {
                if ph.p_filesz > ph.p_memsz || (ph.p_align > 1 && !ph.p_align.is_power_of_two()) {
                    return Err(ElfError::BadSegment("bad TLS segment"));
                }
                in_file(ph, file_len)?;
            }
            program_header::PT_LOAD if ph.p_memsz > 0 => {
                if ph.p_filesz > ph.p_memsz {
                    return Err(ElfError::BadSegment(
                        "segment file size exceeds its memory size",
                    ));
                }
                in_file(ph, file_len)?;
                if ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
                    return Err(ElfError::BadSegment(
                        "segment offset and address are not congruent",
                    ));
                }
                if ph
                    .p_vaddr
                    .checked_add(ph.p_memsz)
                    .is_none_or(|e| e > hull_arch::layout::USER_END)
                {
                    return Err(ElfError::BadSegment("segment outside user space"));
                }
                let mut prot = 0;
                if ph.p_flags & program_header::PF_R != 0 {
                    prot |= Prot::READ;
                }
                if ph.p_flags & program_header::PF_W != 0 {
                    prot |= Prot::WRITE;
                }
                if ph.p_flags & program_header::PF_X != 0 {
                    prot |= Prot::EXEC;
                }
                segments.push(Segment {
                    vaddr: ph.p_vaddr,
                    memsz: ph.p_memsz,
                    filesz: ph.p_filesz,
                    offset: ph.p_offset,
                    prot: Prot(prot),
                });
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    for pair in segments.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.vaddr < a.vaddr {
            return Err(ElfError::BadSegment("loadable segments out of order"));
        }
        // Adjacent segments may share one boundary page, as linkers produce; more is overlap.
        if page_floor(b.vaddr) < page_floor(a.vaddr + a.memsz - 1) {
            return Err(ElfError::BadSegment("overlapping segments"));
        }
    }
    let first = page_floor(segments[0].vaddr);
    let last = segments
        .iter()
        .map(|s| s.vaddr + s.memsz)
        .max()
        .unwrap_or(0);
    if last - first > MAX_SPAN {
        return Err(ElfError::BadSegment("segments span too much memory"));
    }
    let pie = h.e_type == header::ET_DYN;
    if !pie && first < crate::mm::aspace::MMAP_MIN_ADDR {
        return Err(ElfError::BadSegment(
            "segment below the lowest mappable address",
        ));
    }
    Ok(Plan {
        entry: h.e_entry,
        phoff: h.e_phoff,
        phnum: phnum as u64,
        segments,
        pie,
        exec_stack,
        interp,
    })
}

/// Whether a segment's bytes lie within the file.
fn in_file(ph: &ProgramHeader, file_len: u64) -> Result<(), ElfError> {
    match ph.p_offset.checked_add(ph.p_filesz) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(ElfError::Truncated),
    }
}

/// The interpreter path of a dynamically linked image at guest-physical `image_pa` (its
/// PT_INTERP, up to the first NUL).
pub fn interp_path(plan: &Plan, image_pa: u64) -> Option<Vec<u8>> {
    let (off, len) = plan.interp?;
    let mut b = alloc::vec![0u8; len as usize];
    crate::platform::read(image_pa + off, &mut b);
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b.truncate(end);
    (!b.is_empty()).then_some(b)
}

/// Where a loaded image ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub entry: u64,
    /// Address of the program headers in memory (AT_PHDR).
    pub phdr: u64,
    pub phnum: u64,
    /// The load bias (0 for ET_EXEC).
    pub bias: u64,
    /// First address after the highest segment, page aligned: the initial program break.
    pub brk_start: u64,
    pub exec_stack: bool,
}

impl Plan {
    /// The load bias: 0 for ET_EXEC, [`PIE_BASE`] minus the first page for ET_DYN.
    pub fn bias(&self) -> u64 {
        if self.pie {
            PIE_BASE - page_floor(self.segments[0].vaddr)
        } else {
            0
        }
    }

    /// Maps the segments into `aspace` as areas backed by the image at guest-physical
    /// `image_pa` (page aligned). Nothing is copied now; pages fill on first touch.
    pub fn load(
        &self,
        image_pa: u64,
        aspace: &mut AddressSpace,
        frames: &mut FrameAllocator,
    ) -> Result<Loaded, ElfError> {
        self.load_at(self.bias(), image_pa, aspace, frames)
    }

    /// The span of the loadable segments, page aligned: what [`Plan::load_at`] needs free.
    pub fn span(&self) -> u64 {
        let first = page_floor(self.segments[0].vaddr);
        let last = self
            .segments
            .iter()
            .map(|s| s.vaddr + s.memsz)
            .max()
            .unwrap_or(first);
        page_ceil(last).unwrap_or(last) - first
    }

    /// Like [`Plan::load`], with load bias `bias` (an interpreter goes where there is room).
    pub fn load_at(
        &self,
        bias: u64,
        image_pa: u64,
        aspace: &mut AddressSpace,
        frames: &mut FrameAllocator,
    ) -> Result<Loaded, ElfError> {
        let mut brk = 0;
        for s in &self.segments {
            let start = page_floor(s.vaddr + bias);
            let end = page_ceil(s.vaddr + bias + s.memsz)
                .ok_or(ElfError::BadSegment("segment outside user space"))?;
            let pa_at_start = image_pa + s.offset - (s.vaddr + bias - start);
            let backing = Backing::Image {
                pa_at_start,
                data_end: s.vaddr + bias + s.filesz,
            };
            aspace.insert(
                Vma {
                    start,
                    end,
                    prot: s.prot,
                    backing,
                    label: Label::Program,
                },
                frames,
            );
            brk = brk.max(end);
        }
        // AT_PHDR: the headers' address inside the segment that maps file offset phoff.
        let phdr = self
            .segments
            .iter()
            .find(|s| s.offset <= self.phoff && self.phoff < s.offset + s.filesz)
            .map(|s| s.vaddr + bias + (self.phoff - s.offset))
            .unwrap_or(0);
        Ok(Loaded {
            entry: self.entry + bias,
            phdr,
            phnum: self.phnum,
            bias,
            brk_start: brk,
            exec_stack: self.exec_stack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with the given type, machine and program headers.
    pub(crate) fn image(
        e_type: u16,
        machine: u16,
        phdrs: &[(u32, u32, u64, u64, u64, u64)],
    ) -> Vec<u8> {
        let mut v = vec![0u8; 0x3000];
        v[..4].copy_from_slice(b"\x7fELF");
        v[4] = 2;
        v[5] = 1;
        v[6] = 1;
        v[16..18].copy_from_slice(&e_type.to_le_bytes());
        v[18..20].copy_from_slice(&machine.to_le_bytes());
        v[20..24].copy_from_slice(&1u32.to_le_bytes());
        v[24..32].copy_from_slice(&0x401000u64.to_le_bytes());
        v[32..40].copy_from_slice(&64u64.to_le_bytes());
        v[52..54].copy_from_slice(&64u16.to_le_bytes());
        v[54..56].copy_from_slice(&56u16.to_le_bytes());
        v[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &(ty, fl, off, va, filesz, memsz)) in phdrs.iter().enumerate() {
            let p = 64 + 56 * i;
            v[p..p + 4].copy_from_slice(&ty.to_le_bytes());
            v[p + 4..p + 8].copy_from_slice(&fl.to_le_bytes());
            v[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            v[p + 16..p + 24].copy_from_slice(&va.to_le_bytes());
            v[p + 32..p + 40].copy_from_slice(&filesz.to_le_bytes());
            v[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
        }
        v
    }

    const LOAD: u32 = program_header::PT_LOAD;

    #[test]
    fn accepts_a_static_executable() {
        let img = image(
            2,
            62,
            &[
                (LOAD, 4, 0, 0x400000, 0x1000, 0x1000),
                (LOAD, 5, 0x1000, 0x401000, 0x800, 0x800),
                (LOAD, 6, 0x2000, 0x402000, 0x100, 0x5000),
            ],
        );
        let p = plan(&img).unwrap();
        assert_eq!(p.segments.len(), 3);
        assert!(!p.pie);
        assert_eq!(p.bias(), 0);
        assert_eq!(p.segments[2].prot, Prot::RW);
    }

    #[test]
    fn static_pie_is_relocated() {
        let img = image(3, 62, &[(LOAD, 5, 0, 0, 0x1000, 0x1000)]);
        let p = plan(&img).unwrap();
        assert!(p.pie);
        assert_eq!(p.bias(), PIE_BASE);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        assert_eq!(plan(b"#!/bin/sh\necho hi\n"), Err(ElfError::NotElf));
        assert_eq!(plan(b""), Err(ElfError::NotElf));
        assert_eq!(
            plan(&image(2, 183, &[(LOAD, 5, 0, 0x400000, 0x10, 0x10)])),
            Err(ElfError::WrongMachine(183))
        );
        assert_eq!(
            plan(&image(1, 62, &[(LOAD, 5, 0, 0x400000, 0x10, 0x10)])),
            Err(ElfError::NotExecutable(1))
        );
        assert_eq!(
            plan(&image(
                2,
                62,
                &[
                    (program_header::PT_INTERP, 4, 0, 0, 1, 1),
                    (LOAD, 5, 0, 0x400000, 0x10, 0x10)
                ]
            )),
            Err(ElfError::BadSegment("bad PT_INTERP"))
        );
        let dynamic = plan(&image(
            2,
            62,
            &[
                (program_header::PT_INTERP, 4, 0x200, 0, 28, 28),
                (LOAD, 5, 0, 0x400000, 0x10, 0x10),
            ],
        ))
        .unwrap();
        assert_eq!(dynamic.interp, Some((0x200, 28)));
        assert_eq!(plan(&image(2, 62, &[])), Err(ElfError::BadProgramHeaders));
        let full = image(2, 62, &[(LOAD, 5, 0, 0x400000, 0x10, 0x10)]);
        assert_eq!(plan(&full[..100]), Err(ElfError::Truncated));
        assert_eq!(plan(&full[..40]), Err(ElfError::Truncated));
    }

    #[test]
    fn refuses_malformed_segments() {
        let bad = |ph: &[(u32, u32, u64, u64, u64, u64)]| plan(&image(2, 62, ph));
        assert!(matches!(
            bad(&[(LOAD, 5, 0, 0x400000, 0x20, 0x10)]),
            Err(ElfError::BadSegment(_))
        ));
        assert_eq!(
            bad(&[(LOAD, 5, 0x2f00, 0x400f00, 0x1000, 0x1000)]),
            Err(ElfError::Truncated)
        );
        assert!(matches!(
            bad(&[(LOAD, 5, 0x10, 0x400000, 0x10, 0x10)]),
            Err(ElfError::BadSegment(_))
        ));
        assert!(matches!(
            bad(&[(LOAD, 5, 0, 0x7fff_ffff_f000, 0x10, 0x10_0000)]),
            Err(ElfError::BadSegment(_))
        ));
        assert!(matches!(
            bad(&[(LOAD, 5, 0, 0x400000, 0x10, u64::MAX)]),
            Err(ElfError::BadSegment(_))
        ));
        assert!(matches!(
            bad(&[
                (LOAD, 5, 0, 0x400000, 0x10, 0x3000),
                (LOAD, 6, 0x1000, 0x401000, 0x10, 0x10)
            ]),
            Err(ElfError::BadSegment(_))
        ));
        assert!(matches!(
            bad(&[(LOAD, 5, 0, 0x1000, 0x10, 0x10)]),
            Err(ElfError::BadSegment(_))
        ));
    }
}
