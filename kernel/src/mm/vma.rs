//! Virtual memory areas: what a range of user addresses should contain and allow. Pages
//! are created from this description on first touch (demand paging).

/// `PROT_*` bits as Linux defines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot(pub u32);

impl Prot {
    pub const NONE: Prot = Prot(0);
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const EXEC: u32 = 4;
    pub const RW: Prot = Prot(Self::READ | Self::WRITE);

    pub fn read(self) -> bool {
        self.0 & Self::READ != 0
    }
    pub fn write(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    pub fn exec(self) -> bool {
        self.0 & Self::EXEC != 0
    }
    /// x86 cannot map write-only or exec-only pages: either implies read.
    pub fn readable(self) -> bool {
        self.0 != 0
    }
}

/// Where a page's first contents come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Zero-filled.
    Anon,
    /// Zero-filled and shared (MAP_SHARED|MAP_ANONYMOUS): a fork shares the pages
    /// themselves, writable on both sides, instead of copying them on write.
    Shared,
    /// Bytes of the program image: the page at `va` holds image bytes at
    /// `pa_at_start + (va - start)` up to `data_end` (a virtual address), zeros after.
    Image { pa_at_start: u64, data_end: u64 },
    /// A file (mmap of a descriptor): the page at `va` holds the file's bytes from
    /// `offset + (va - start)`, read through the address space's page source `source`.
    /// A private mapping copies them; a shared one maps the file's own frames.
    File {
        source: u32,
        offset: u64,
        shared: bool,
    },
}

/// One area: [start, end), page aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub backing: Backing,
    /// A short label for /proc/self/maps (`[heap]`, `[stack]`).
    pub label: Label,
}

/// Names of special areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    None,
    Heap,
    Stack,
    Program,
    /// The vDSO's clock data page.
    Vvar,
    /// The vDSO.
    Vdso,
}

impl Vma {
    /// An anonymous area.
    pub fn anon(start: u64, end: u64, prot: Prot, label: Label) -> Self {
        Vma {
            start,
            end,
            prot,
            backing: Backing::Anon,
            label,
        }
    }

    /// The part of this area within [start, end) (which must overlap it).
    pub fn slice(&self, start: u64, end: u64) -> Vma {
        let s = start.max(self.start);
        let e = end.min(self.end);
        debug_assert!(s < e);
        let backing = match self.backing {
            Backing::Anon => Backing::Anon,
            Backing::Shared => Backing::Shared,
            Backing::Image {
                pa_at_start,
                data_end,
            } => Backing::Image {
                pa_at_start: pa_at_start + (s - self.start),
                data_end,
            },
            Backing::File {
                source,
                offset,
                shared,
            } => Backing::File {
                source,
                offset: offset + (s - self.start),
                shared,
            },
        };
        Vma {
            start: s,
            end: e,
            prot: self.prot,
            backing,
            label: self.label,
        }
    }

    /// Whether the area's pages are shared with every address space that maps them
    /// (MAP_SHARED): writes are never copied, and a fork keeps them shared.
    pub fn shares(&self) -> bool {
        matches!(
            self.backing,
            Backing::Shared | Backing::File { shared: true, .. }
        )
    }

    /// The page source of a file area.
    pub fn source(&self) -> Option<u32> {
        match self.backing {
            Backing::File { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether two adjacent areas can be one.
    pub fn joins(&self, next: &Vma) -> bool {
        self.end == next.start
            && self.prot == next.prot
            && self.label == next.label
            && self.backing == Backing::Anon
            && next.backing == Backing::Anon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing_an_image_area_moves_its_file_offset() {
        let v = Vma {
            start: 0x400000,
            end: 0x403000,
            prot: Prot(5),
            backing: Backing::Image {
                pa_at_start: 0x10000,
                data_end: 0x402800,
            },
            label: Label::Program,
        };
        let s = v.slice(0x401000, 0x500000);
        assert_eq!((s.start, s.end), (0x401000, 0x403000));
        assert_eq!(
            s.backing,
            Backing::Image {
                pa_at_start: 0x11000,
                data_end: 0x402800
            }
        );
    }
}
