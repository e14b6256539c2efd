//! Guest RAM and the one checked translation from guest-physical addresses to host
//! memory. Every access the host makes to guest memory goes through [`GuestMemory`]:
//! ranges are overflow- and bounds-checked and fail closed, values are copied out before
//! anyone looks at them, and no Rust reference into guest memory is ever created (the
//! guest may change it at any time), only raw copies and iovecs handed to the kernel.
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use hull_arch::abi::Segment;

/// A bad guest-physical access.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemoryError {
    #[error("guest address range {gpa:#x}+{len:#x} is outside guest RAM ({size:#x} bytes)")]
    OutOfRange { gpa: u64, len: u64, size: u64 },
    #[error("cannot reserve {size} bytes of guest RAM: {errno}")]
    Map { size: u64, errno: String },
}

/// The guest's RAM: one anonymous MAP_NORESERVE mapping, so untouched pages cost nothing.
#[derive(Debug)]
pub struct GuestMemory {
    base: NonNull<u8>,
    size: u64,
}

// SAFETY: GuestMemory owns its mapping; all access is through raw copies whose ranges are
// checked, so sharing the handle between threads cannot create aliasing references.
unsafe impl Send for GuestMemory {}
// SAFETY: as above.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Reserves `size` bytes (lazily backed).
    pub fn new(size: u64) -> Result<Self, MemoryError> {
        // SAFETY: an anonymous private mapping at an address the kernel picks; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(MemoryError::Map {
                size,
                errno: io::Error::last_os_error().to_string(),
            });
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or(MemoryError::Map {
            size,
            errno: "null mapping".into(),
        })?;
        Ok(GuestMemory { base, size })
    }

    /// Bytes of guest RAM.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The host address of guest-physical 0 (for KVM_SET_USER_MEMORY_REGION).
    pub fn host_base(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    /// The one checked translation: guest-physical [gpa, gpa+len) to a host pointer.
    pub fn translate(&self, gpa: u64, len: u64) -> Result<*mut u8, MemoryError> {
        match gpa.checked_add(len) {
            Some(end) if end <= self.size => Ok(self.base.as_ptr().wrapping_add(gpa as usize)),
            _ => Err(MemoryError::OutOfRange {
                gpa,
                len,
                size: self.size,
            }),
        }
    }

    /// Asks for transparent huge pages on the 2 MiB-aligned range covering
    /// [gpa, gpa+len): for a range the host fills whole at boot (the kernel and program
    /// images), one huge-page fault replaces hundreds of 4 KiB ones. Advisory: without THP
    /// support nothing changes.
    pub fn prefer_huge_pages(&self, gpa: u64, len: u64) -> Result<(), MemoryError> {
        const HUGE: u64 = 2 << 20;
        let start = gpa - gpa % HUGE;
        let end = gpa
            .checked_add(len)
            .and_then(|e| e.checked_next_multiple_of(HUGE))
            .map_or(self.size, |e| e.min(self.size));
        let host = self.translate(start, end.saturating_sub(start))?;
        // SAFETY: the range lies inside our own anonymous mapping (checked above); MADV_HUGEPAGE only changes how future faults in it are backed.
        unsafe { libc::madvise(host.cast(), (end - start) as usize, libc::MADV_HUGEPAGE) };
        Ok(())
    }

    /// Copies guest memory out.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let src = self.translate(gpa, buf.len() as u64)?;
        // SAFETY: the range is inside the mapping (checked); `buf` is host memory, never part of the guest mapping.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies into guest memory.
    pub fn write(&self, gpa: u64, buf: &[u8]) -> Result<(), MemoryError> {
        let dst = self.translate(gpa, buf.len() as u64)?;
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) };
        Ok(())
    }

    /// Reads a little-endian u64.
    #[cfg(test)]
    pub fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, gpa: u64, v: u64) -> Result<(), MemoryError> {
        self.write(gpa, &v.to_le_bytes())
    }

    /// Reads `len` bytes of `file` from offset 0 straight into guest memory at `gpa`.
    pub fn read_file(
        &self,
        gpa: u64,
        file: &std::fs::File,
        len: u64,
    ) -> Result<io::Result<()>, MemoryError> {
        use std::os::fd::AsRawFd;
        let dst = self.translate(gpa, len)?;
        let mut done = 0u64;
        while done < len {
            // SAFETY: [dst, dst+len) is inside the mapping (checked above); pread writes at most `len - done` bytes at `dst + done`.
            let n = unsafe {
                libc::pread(
                    file.as_raw_fd(),
                    dst.wrapping_add(done as usize).cast(),
                    (len - done) as usize,
                    done as i64,
                )
            };
            match n {
                n if n > 0 => done += n as u64,
                0 => {
                    return Ok(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while being read",
                    )));
                }
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Ok(Err(e));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    fn iovecs(&self, segs: &[Segment]) -> Result<Vec<libc::iovec>, MemoryError> {
        segs.iter()
            .map(|s| {
                Ok(libc::iovec {
                    iov_base: self.translate(s.gpa, s.len)?.cast(),
                    iov_len: s.len as usize,
                })
            })
            .collect()
    }

    /// `readv`/`preadv` from `fd` straight into guest segments (no bounce buffer).
    pub fn read_from(
        &self,
        fd: BorrowedFd<'_>,
        segs: &[Segment],
        offset: Option<i64>,
    ) -> Result<io::Result<usize>, MemoryError> {
        self.vectored(fd, segs, offset, false)
    }

    /// `writev`/`pwritev` from guest segments straight to `fd`.
    pub fn write_to(
        &self,
        fd: BorrowedFd<'_>,
        segs: &[Segment],
        offset: Option<i64>,
    ) -> Result<io::Result<usize>, MemoryError> {
        self.vectored(fd, segs, offset, true)
    }

    /// `pwritev2(fd, …, -1, RWF_APPEND)` from guest segments: appends at the file's end
    /// whatever the descriptor's position, and leaves the position after the bytes written.
    pub fn append_to(
        &self,
        fd: BorrowedFd<'_>,
        segs: &[Segment],
    ) -> Result<io::Result<usize>, MemoryError> {
        let iov = self.iovecs(segs)?;
        // SAFETY: every iovec was produced by `translate` and lies inside the mapping, which outlives the call; the kernel only reads within them.
        let n = unsafe {
            libc::pwritev2(
                fd.as_raw_fd(),
                iov.as_ptr(),
                iov.len() as i32,
                -1,
                libc::RWF_APPEND,
            )
        };
        Ok(if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        })
    }

    fn vectored(
        &self,
        fd: BorrowedFd<'_>,
        segs: &[Segment],
        offset: Option<i64>,
        write: bool,
    ) -> Result<io::Result<usize>, MemoryError> {
        let iov = self.iovecs(segs)?;
        let (fd, cnt) = (fd.as_raw_fd(), iov.len() as i32);
        // SAFETY: every iovec was produced by `translate` and lies inside the mapping, which outlives the call; the kernel reads or writes only within them.
        let n = unsafe {
            match (write, offset) {
                (false, Some(off)) => libc::preadv(fd, iov.as_ptr(), cnt, off),
                (false, None) => libc::readv(fd, iov.as_ptr(), cnt),
                (true, Some(off)) => libc::pwritev(fd, iov.as_ptr(), cnt, off),
                (true, None) => libc::writev(fd, iov.as_ptr(), cnt),
            }
        };
        Ok(if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        })
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping `new` created; no references into it exist.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_is_bounds_and_overflow_checked() {
        let m = GuestMemory::new(1 << 20).unwrap();
        assert!(m.translate(0, 1 << 20).is_ok());
        assert!(m.translate((1 << 20) - 1, 1).is_ok());
        assert!(m.translate(1 << 20, 1).is_err());
        assert!(m.translate((1 << 20) - 1, 2).is_err());
        assert!(m.translate(u64::MAX, 2).is_err(), "overflow fails closed");
        assert!(m.translate(2, u64::MAX - 1).is_err());
        assert!(
            m.translate(1 << 20, 0).is_ok(),
            "an empty range at the end is fine"
        );
    }

    #[test]
    fn copies_round_trip_and_refuse_out_of_range() {
        let m = GuestMemory::new(1 << 20).unwrap();
        m.write(0x1000, b"hello").unwrap();
        let mut b = [0u8; 5];
        m.read(0x1000, &mut b).unwrap();
        assert_eq!(&b, b"hello");
        assert!(m.write((1 << 20) - 2, b"abc").is_err());
        let mut big = [0u8; 4];
        assert!(m.read(u64::MAX - 1, &mut big).is_err());
    }

    #[test]
    fn vectored_io_moves_bytes_into_guest_segments() {
        let m = GuestMemory::new(1 << 20).unwrap();
        let (r, w) = std::io::pipe().unwrap();
        use std::io::Write;
        (&w).write_all(b"abcdef").unwrap();
        let segs = [
            Segment { gpa: 0x10, len: 3 },
            Segment {
                gpa: 0x2000,
                len: 3,
            },
        ];
        use std::os::fd::AsFd;
        assert_eq!(m.read_from(r.as_fd(), &segs, None).unwrap().unwrap(), 6);
        let mut b = [0u8; 3];
        m.read(0x2000, &mut b).unwrap();
        assert_eq!(&b, b"def");
        assert!(
            m.read_from(
                r.as_fd(),
                &[Segment {
                    gpa: 1 << 20,
                    len: 1
                }],
                None
            )
            .is_err()
        );
    }
}
