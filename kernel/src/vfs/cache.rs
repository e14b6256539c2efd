//! Caches for host mounts, because every hypercall is a VM exit (tens of µs under
//! kvm_pvm): the attributes of recently walked host paths, and idle read-only handles
//! kept after `close` so that reopening the same file costs nothing.
//!
//! Coherence: like gVisor's default ("exclusive") file access, hull assumes that the
//! sandbox is the main writer of its mounts. Every change the sandbox makes through a
//! mount drops that mount's entries; changes made by host processes are seen after at
//! most [`TTL_NS`].
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use hull_arch::abi::HostStat;

/// How long a cached attribute or idle handle stays valid.
pub const TTL_NS: u64 = 1_000_000_000;
/// Most cached attributes (the cache empties when full).
const MAX_ATTRS: usize = 32 * 1024;
/// Most idle handles kept.
const MAX_IDLE: usize = 32;

/// An idle read-only handle of a regular host file.
#[derive(Clone, Debug)]
struct Idle {
    mount: u32,
    rel: Vec<u8>,
    handle: u64,
    stat: HostStat,
    /// `FsState::host_gen` when `stat` was taken.
    generation: u64,
    expires: u64,
}

/// The caches of all host mounts.
#[derive(Debug, Default)]
pub struct HostCache {
    attrs: BTreeMap<(u32, Vec<u8>), (HostStat, u64)>,
    idle: Vec<Idle>,
    /// Lookups answered from the cache (for `--stats`-style diagnostics and tests).
    pub hits: u64,
}

impl HostCache {
    /// The cached attributes of `rel` in `mount`, if still valid at `now`.
    pub fn attrs(&mut self, mount: u32, rel: &[u8], now: u64) -> Option<HostStat> {
        let (st, expires) = *self.attrs.get(&(mount, rel.to_vec()))?;
        if now >= expires {
            return None;
        }
        self.hits += 1;
        Some(st)
    }

    /// Records the attributes of `rel` in `mount`.
    pub fn put_attrs(&mut self, mount: u32, rel: &[u8], st: HostStat, now: u64) {
        if self.attrs.len() >= MAX_ATTRS {
            self.attrs.clear();
        }
        self.attrs.insert((mount, rel.to_vec()), (st, now + TTL_NS));
    }

    /// Forgets one path's attributes (the sandbox wrote to it).
    pub fn forget(&mut self, mount: u32, rel: &[u8]) {
        self.attrs.remove(&(mount, rel.to_vec()));
    }

    /// The sandbox changed the tree of `mount`: forgets all of it. Returns the idle
    /// handles to close.
    pub fn changed(&mut self, mount: u32) -> Vec<u64> {
        self.attrs.retain(|(m, _), _| *m != mount);
        let (gone, kept): (Vec<Idle>, Vec<Idle>) =
            self.idle.drain(..).partition(|i| i.mount == mount);
        self.idle = kept;
        gone.into_iter().map(|i| i.handle).collect()
    }

    /// An idle handle of `rel` in `mount`, still valid at `now`, with its attributes and
    /// their generation.
    pub fn take_idle(&mut self, mount: u32, rel: &[u8], now: u64) -> Option<(u64, HostStat, u64)> {
        let i = self
            .idle
            .iter()
            .position(|i| i.mount == mount && i.rel == rel && now < i.expires)?;
        let idle = self.idle.remove(i);
        self.hits += 1;
        Some((idle.handle, idle.stat, idle.generation))
    }

    /// Keeps a handle that the sandbox closed; returns handles to close for real (the
    /// oldest past the limit, and expired ones).
    pub fn park(
        &mut self,
        mount: u32,
        rel: &[u8],
        handle: u64,
        (stat, generation): (HostStat, u64),
        now: u64,
    ) -> Vec<u64> {
        let mut close: Vec<u64> = Vec::new();
        self.idle.retain(|i| {
            let keep = now < i.expires;
            if !keep {
                close.push(i.handle);
            }
            keep
        });
        if self.idle.len() >= MAX_IDLE {
            close.push(self.idle.remove(0).handle);
        }
        self.idle.push(Idle {
            mount,
            rel: rel.to_vec(),
            handle,
            stat,
            generation,
            expires: now + TTL_NS,
        });
        close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_expire_and_changes_forget_a_mount() {
        let mut c = HostCache::default();
        let st = HostStat {
            size: 7,
            ..Default::default()
        };
        c.put_attrs(1, b"a/b", st, 100);
        c.put_attrs(2, b"a/b", st, 100);
        assert_eq!(
            c.attrs(1, b"a/b", 100 + TTL_NS - 1).map(|s| s.size),
            Some(7)
        );
        assert_eq!(c.attrs(1, b"a/b", 100 + TTL_NS), None);
        c.changed(1);
        assert_eq!(c.attrs(1, b"a/b", 101), None);
        assert!(c.attrs(2, b"a/b", 101).is_some());
    }

    #[test]
    fn idle_handles_are_reused_bounded_and_dropped_on_change() {
        let mut c = HostCache::default();
        let st = HostStat::default();
        assert!(c.park(1, b"f", 10, (st, 0), 0).is_empty());
        assert_eq!(c.take_idle(1, b"f", 1).map(|(h, _, _)| h), Some(10));
        assert_eq!(c.take_idle(1, b"f", 1), None, "taken once");
        let mut closed = Vec::new();
        for h in 0..(MAX_IDLE as u64 + 3) {
            closed.extend(c.park(1, b"g", 100 + h, (st, 0), 0));
        }
        assert_eq!(closed, [100, 101, 102], "oldest go first");
        closed = c.changed(1);
        assert_eq!(closed.len(), MAX_IDLE);
        c.park(2, b"h", 7, (st, 0), 0);
        assert_eq!(c.take_idle(2, b"h", TTL_NS), None, "expired");
    }
}
