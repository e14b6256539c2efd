//! The vDSO: a small shared object (built from `vdso/vdso.c` by `build.rs`) mapped into
//! every process and named by AT_SYSINFO_EHDR, so libc's `clock_gettime`,
//! `gettimeofday`, `time` and `getcpu` run in user mode from the TSC and the clock
//! anchor in the `[vvar]` page below it. Under kvm_pvm every system call is a host world
//! switch, so programs that read the clock often (Go's and tokio's runtimes, loggers)
//! would otherwise pay one per reading.
//!
//! The frames (one `[vvar]` page, then the image) are set up once at boot, shared by
//! every address space, and never freed (`aspace::pin_frames`).
use crate::mm::aspace::AddressSpace;
use crate::mm::frame::FrameAllocator;
use crate::mm::vma::{Backing, Label, Prot, Vma};
use crate::mm::{PAGE_SIZE, page_ceil};
use crate::platform;
use crate::time::Clock;

/// The vDSO's bytes.
pub const IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Where the vDSO's frames are: the `[vvar]` page at `pa`, the image after it.
#[derive(Clone, Copy, Debug)]
pub struct Vdso {
    pa: u64,
    pages: u64,
}

static VDSO: spin::Once<Vdso> = spin::Once::new();

/// Copies the image and writes the clock anchor (`struct hull_vvar` in vdso.c); once, at
/// boot. Without frames for it, processes simply get no vDSO (libc then makes system
/// calls).
pub fn install(frames: &mut FrameAllocator, clock: &Clock) {
    let pages = page_ceil(IMAGE.len() as u64).expect("small") / PAGE_SIZE;
    let Some(pa) = frames.alloc_contiguous(1 + pages) else {
        return;
    };
    platform::fill(pa, 0, ((1 + pages) * PAGE_SIZE) as usize);
    let (tsc0, mono0, real0, mult) = clock.anchor();
    for (i, v) in [tsc0, mono0, real0, mult].into_iter().enumerate() {
        platform::write_u64(pa + 8 * i as u64, v);
    }
    platform::write(pa + PAGE_SIZE, IMAGE);
    crate::mm::aspace::pin_frames(pa, pa + (1 + pages) * PAGE_SIZE);
    VDSO.call_once(|| Vdso { pa, pages });
}

/// Maps `[vvar]` and `[vdso]` into a new address space; returns the vDSO's address for
/// AT_SYSINFO_EHDR (None if there is no vDSO or no room).
pub fn map(aspace: &mut AddressSpace, frames: &mut FrameAllocator) -> Option<u64> {
    let v = *VDSO.get()?;
    let len = (1 + v.pages) * PAGE_SIZE;
    let start = aspace.find_free(len)?;
    let base = start + PAGE_SIZE;
    let area = |start: u64, end: u64, prot: u32, pa: u64, label: Label| Vma {
        start,
        end,
        prot: Prot(prot),
        backing: Backing::Image {
            pa_at_start: pa,
            data_end: end,
        },
        label,
    };
    aspace.insert(area(start, base, Prot::READ, v.pa, Label::Vvar), frames);
    aspace.insert(
        area(
            base,
            start + len,
            Prot::READ | Prot::EXEC,
            v.pa + PAGE_SIZE,
            Label::Vdso,
        ),
        frames,
    );
    Some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_a_relocation_free_shared_object_with_the_time_calls() {
        let elf = goblin::elf::Elf::parse(IMAGE).expect("the vDSO parses");
        assert_eq!(elf.header.e_type, goblin::elf::header::ET_DYN);
        let loads: alloc::vec::Vec<_> = elf
            .program_headers
            .iter()
            .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD)
            .collect();
        assert_eq!(loads.len(), 1, "one segment");
        assert_eq!(loads[0].p_flags, 5, "read and execute only");
        assert!(loads[0].p_filesz <= IMAGE.len() as u64);
        assert!(elf.dynrelas.is_empty() && elf.dynrels.is_empty() && elf.pltrelocs.is_empty());
        let names: alloc::vec::Vec<&str> = elf
            .dynsyms
            .iter()
            .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
            .collect();
        for f in [
            "__vdso_clock_gettime",
            "__vdso_gettimeofday",
            "__vdso_time",
            "__vdso_clock_getres",
            "__vdso_getcpu",
        ] {
            assert!(names.contains(&f), "{f} exported");
        }
    }
}
