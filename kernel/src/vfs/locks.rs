//! Advisory file locks within the sandbox: POSIX record locks (owned by a process, released
//! when it closes any descriptor of the file), OFD record locks and `flock` locks (owned by
//! an open file description, released with it). Conflicts follow Linux: two locks of one
//! owner never conflict; a write lock conflicts with any other overlapping lock.
use alloc::vec::Vec;

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A process (POSIX `F_SETLK`).
    Process(u32),
    /// An open file description (`F_OFD_SETLK`, `flock`), by its address.
    File(usize),
}

/// Which family a lock belongs to (`flock` locks and record locks never interact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Record,
    Flock,
}

/// One lock on the byte range [start, end) of the file (dev, ino).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lock {
    pub dev: u64,
    pub ino: u64,
    pub family: Family,
    pub owner: Owner,
    pub write: bool,
    pub start: u64,
    /// Exclusive; `u64::MAX` = to the end of the file, however it grows.
    pub end: u64,
}

/// All locks of the sandbox.
#[derive(Debug, Default)]
pub struct LockTable {
    locks: Vec<Lock>,
}

impl LockTable {
    /// The first lock that conflicts with `want` (same file and family, another owner,
    /// overlapping, and one of the two a write lock).
    pub fn conflict(&self, want: &Lock) -> Option<Lock> {
        self.locks
            .iter()
            .find(|l| {
                l.dev == want.dev
                    && l.ino == want.ino
                    && l.family == want.family
                    && l.owner != want.owner
                    && l.start < want.end
                    && want.start < l.end
                    && (l.write || want.write)
            })
            .copied()
    }

    /// Sets (or with `unlock`, clears) `lock`'s owner's lock over its range, splitting the
    /// owner's existing locks at the edges, as F_SETLK does. The caller has checked
    /// conflicts.
    pub fn set(&mut self, lock: Lock, unlock: bool) -> Result<(), crate::errno::Errno> {
        // Fallible: a lock storm that exhausts kernel memory gets ENOLCK, as on Linux.
        let mut kept = Vec::new();
        kept.try_reserve_exact(self.locks.len() + 2)
            .map_err(|_| crate::errno::Errno::ENOLCK)?;
        for l in self.locks.drain(..) {
            let mine = l.dev == lock.dev
                && l.ino == lock.ino
                && l.family == lock.family
                && l.owner == lock.owner;
            if !mine || l.end <= lock.start || lock.end <= l.start {
                kept.push(l);
                continue;
            }
            if l.start < lock.start {
                kept.push(Lock {
                    end: lock.start,
                    ..l
                });
            }
            if lock.end < l.end {
                kept.push(Lock {
                    start: lock.end,
                    ..l
                });
            }
        }
        if !unlock {
            kept.push(lock);
        }
        self.locks = kept;
        Ok(())
    }

    /// Drops every lock `owner` holds (on one file, or on all with `file` = None).
    pub fn release(&mut self, owner: Owner, file: Option<(u64, u64)>) {
        self.locks
            .retain(|l| l.owner != owner || file.is_some_and(|(d, i)| (l.dev, l.ino) != (d, i)));
    }

    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(owner: Owner, write: bool, start: u64, end: u64) -> Lock {
        Lock {
            dev: 1,
            ino: 2,
            family: Family::Record,
            owner,
            write,
            start,
            end,
        }
    }

    #[test]
    fn conflicts_need_another_owner_an_overlap_and_a_writer() {
        let mut t = LockTable::default();
        let a = Owner::File(1);
        let b = Owner::File(2);
        t.set(lock(a, false, 0, 10), false).unwrap();
        assert_eq!(
            t.conflict(&lock(a, true, 0, 10)),
            None,
            "own locks never conflict"
        );
        assert_eq!(t.conflict(&lock(b, false, 5, 6)), None, "readers share");
        assert!(t.conflict(&lock(b, true, 9, 20)).is_some());
        assert_eq!(t.conflict(&lock(b, true, 10, 20)), None, "no overlap");
        let flock = Lock {
            family: Family::Flock,
            ..lock(b, true, 0, u64::MAX)
        };
        assert_eq!(
            t.conflict(&flock),
            None,
            "flock and record locks are separate"
        );
    }

    #[test]
    fn setting_splits_and_release_drops() {
        let mut t = LockTable::default();
        let p = Owner::Process(1);
        t.set(lock(p, true, 0, 100), false).unwrap();
        t.set(lock(p, true, 40, 60), true).unwrap();
        let other = Owner::Process(2);
        assert_eq!(
            t.conflict(&lock(other, true, 45, 50)),
            None,
            "the hole is free"
        );
        assert!(t.conflict(&lock(other, true, 30, 45)).is_some());
        assert!(t.conflict(&lock(other, true, 55, 70)).is_some());
        t.release(p, Some((1, 2)));
        assert!(t.is_empty());
    }
}
