//! `/dev`: an in-memory tree of character devices and the stdio links. The devices'
//! behaviour (null, zero, full, random, tty) is in the syscall layer's file operations.
use alloc::sync::Arc;

use spin::Mutex;

use super::memfs::{Creator, DirEntries, MemBody, MemNode};

/// `makedev(major, minor)` as Linux encodes small numbers.
pub const fn makedev(major: u64, minor: u64) -> u64 {
    (major << 8) | minor
}

pub const NULL: u64 = makedev(1, 3);
pub const ZERO: u64 = makedev(1, 5);
pub const FULL: u64 = makedev(1, 7);
pub const RANDOM: u64 = makedev(1, 8);
pub const URANDOM: u64 = makedev(1, 9);
pub const TTY: u64 = makedev(5, 0);

/// Builds `/dev`; `ino` hands out inode numbers.
pub fn build(who: Creator, ino: &mut impl FnMut() -> u64) -> Arc<MemNode> {
    let dir = |ino: u64, perm| {
        MemNode::new(
            ino,
            perm,
            MemBody::Dir(Mutex::new(DirEntries::default())),
            who,
        )
    };
    let root = dir(ino(), 0o755);
    {
        let mut d = root.dir().expect("a directory");
        for (name, rdev) in [
            ("null", NULL),
            ("zero", ZERO),
            ("full", FULL),
            ("random", RANDOM),
            ("urandom", URANDOM),
            ("tty", TTY),
        ] {
            d.insert(
                name.as_bytes(),
                MemNode::new(ino(), 0o666, MemBody::CharDev(rdev), who),
            );
        }
        for (name, target) in [
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("fd", "/proc/self/fd"),
        ] {
            d.insert(
                name.as_bytes(),
                MemNode::new(
                    ino(),
                    0o777,
                    MemBody::Symlink(target.as_bytes().to_vec()),
                    who,
                ),
            );
        }
        d.insert(b"shm", dir(ino(), 0o1777));
        d.insert(b"pts", dir(ino(), 0o755));
    }
    root
}
