//! The guest's file-system tree: a mount table of in-memory file systems (`/`, `/tmp`,
//! `/dev`), `/proc`, host directories reached through file hypercalls, and the `--root`
//! overlay. Paths are walked here, in the guest ([`walk`]); the host only ever sees paths
//! beneath one mount with every symlink already resolved.
//!
//! A location is named by its *canonical* absolute path (no `.`, `..` or symlinks), so
//! `..` is a lexical step and the mount holding a path is its longest mounted prefix.
pub mod cache;
pub mod devfs;
pub mod hostfs;
pub mod locks;
pub mod mapping;
pub mod memfs;
pub mod overlay;
pub mod path;
pub mod procfs;
pub mod setup;
pub mod walk;

use alloc::sync::Arc;
use alloc::vec::Vec;

use hull_arch::abi::HostStat;

use memfs::{Budget, MemNode};

/// What kind of file system a mount is.
#[derive(Debug)]
pub enum Fs {
    /// A host directory (mount id of the policy).
    Host { id: u32 },
    /// An in-memory tree (`/`, `/tmp`, `/dev`).
    Mem(Arc<MemNode>),
    /// `/proc`, generated from the kernel's state.
    Proc,
    /// `--root`: the host tree `lower`, read-only, under the in-memory `upper`.
    Overlay { lower: u32, upper: Arc<MemNode> },
}

/// One entry of the mount table.
#[derive(Debug)]
pub struct Mount {
    /// Canonical absolute path of the mount point.
    pub path: Vec<u8>,
    pub fs: Fs,
    pub readonly: bool,
    /// `st_dev` of in-guest objects on this mount.
    pub dev: u64,
}

/// What a resolved name is, per kind of file system.
#[derive(Clone, Debug)]
pub enum Node {
    /// Beneath a host mount: the path under its root, and its attributes when known.
    Host {
        rel: Vec<u8>,
        stat: Option<HostStat>,
    },
    Mem(Arc<MemNode>),
    Proc(procfs::ProcNode),
    /// In the overlay: the upper node if there is one, else the lower one's attributes.
    Overlay {
        rel: Vec<u8>,
        upper: Option<Arc<MemNode>>,
        lower: Option<HostStat>,
    },
}

/// A resolved location: mount index, canonical path and node.
#[derive(Clone, Debug)]
pub struct Loc {
    pub mount: usize,
    pub path: Vec<u8>,
    pub node: Node,
}

/// The mount table and the in-memory file systems' shared budget.
#[derive(Debug)]
pub struct Vfs {
    pub mounts: Vec<Mount>,
    pub budget: Arc<Budget>,
}

impl Vfs {
    /// The index of the mount holding canonical `path` (the longest mounted prefix).
    pub fn mount_of(&self, path: &[u8]) -> usize {
        let mut best = 0;
        let mut best_len = 0;
        for (i, m) in self.mounts.iter().enumerate() {
            if path::is_within(path, &m.path) && (m.path.len() >= best_len) {
                best = i;
                best_len = m.path.len();
            }
        }
        best
    }

    /// Whether canonical `path` is a mount point (other than `/`).
    pub fn is_mount_point(&self, path: &[u8]) -> Option<usize> {
        // The last mount at a path wins, as with Linux's stacking.
        self.mounts
            .iter()
            .rposition(|m| m.path == path && path != b"/")
    }

    /// The root location of mount `i`.
    pub fn mount_root(&self, i: usize) -> Loc {
        let m = &self.mounts[i];
        let node = match &m.fs {
            Fs::Host { .. } => Node::Host {
                rel: Vec::new(),
                stat: None,
            },
            Fs::Mem(root) => Node::Mem(root.clone()),
            Fs::Proc => Node::Proc(procfs::ProcNode::Root),
            Fs::Overlay { upper, .. } => Node::Overlay {
                rel: Vec::new(),
                upper: Some(upper.clone()),
                lower: None,
            },
        };
        Loc {
            mount: i,
            path: m.path.clone(),
            node,
        }
    }

    /// `/`.
    pub fn root(&self) -> Loc {
        self.mount_root(self.mount_of(b"/"))
    }

    /// The path of `loc` beneath its mount's root (no leading `/`).
    pub fn rel<'a>(&self, loc: &'a Loc) -> &'a [u8] {
        path::strip_mount(&loc.path, &self.mounts[loc.mount].path)
    }
}

/// A directory entry as `getdents64` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    /// `DT_*`.
    pub kind: u8,
    pub name: Vec<u8>,
}

/// `DT_*` for a mode.
pub fn dtype(mode: u32) -> u8 {
    ((mode >> 12) & 0o17) as u8
}
