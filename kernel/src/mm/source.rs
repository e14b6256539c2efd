//! Where the pages of a file mapping come from. The VFS implements [`PageSource`] for
//! each kind of file it can map (`vfs::mapping`); the address space only asks it for
//! bytes (private mappings) or for the file's own frames (shared ones).
use super::frame::FrameAllocator;
use crate::errno::Errno;
use hull_arch::abi::Segment;

/// Why a page of a file could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// The page lies wholly past the end of the file, or the file could not be read
    /// (Linux: SIGBUS).
    PastEnd,
    /// No memory for the page.
    OutOfMemory,
}

/// What a file mapping shows in /proc/PID/maps: the file's device, inode and path.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub path: alloc::vec::Vec<u8>,
}

/// A mapped file, as the address space sees it.
pub trait PageSource: Send + Sync + core::fmt::Debug {
    /// Copies the file's bytes from offset `off` into `segs` (private mappings); returns
    /// how many there were (fewer at the end of the file).
    fn read(&self, off: u64, segs: &[Segment]) -> Result<u64, Errno>;

    /// The frame that holds the file's page at `off` (page aligned), for a shared
    /// mapping: every mapping of the file maps this same frame. `write` says the caller
    /// maps it writable (the source then counts the page as modified). The source keeps
    /// its own reference; the address space takes another for its mapping. Sources whose
    /// mappings are always private have none.
    fn shared_frame(
        &self,
        _off: u64,
        _write: bool,
        _frames: &mut FrameAllocator,
    ) -> Result<u64, SourceError> {
        Err(SourceError::PastEnd)
    }

    /// Whether a shared page must be mapped read-only until its first write (so that the
    /// source learns which pages to write back); false when the frame is the file itself.
    fn tracks_writes(&self) -> bool {
        false
    }

    /// Whether the file was opened for writing, so a shared mapping may be writable.
    fn writable(&self) -> bool {
        false
    }

    /// Writes the modified pages of [start, end) (file offsets) back to the file
    /// (msync); nothing for files that live in memory.
    fn sync(&self, _start: u64, _end: u64) -> Result<(), Errno> {
        Ok(())
    }

    /// The file, for /proc/PID/maps.
    fn identity(&self) -> &Identity;
}
