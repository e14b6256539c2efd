//! The host directories' side of the walk: the [`HostFs`] seam lets the path walker run as
//! a host unit test against a fake, and in the guest it is the `FsWalk` hypercall.
use crate::hypercall::{self, HostWalk};

/// The host operations path resolution needs.
pub trait HostFs {
    /// Walks `rel` beneath host mount `mount`, stopping at the first symlink.
    fn walk(&self, mount: u32, rel: &[u8]) -> HostWalk;
}

/// The real host, through hypercalls.
pub struct Hypercalls;

impl HostFs for Hypercalls {
    fn walk(&self, mount: u32, rel: &[u8]) -> HostWalk {
        hypercall::fs_walk(mount, rel)
    }
}
