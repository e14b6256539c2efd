//! Path resolution, as Linux's `path_walk`: `.`, `..`, mount points, symlinks (at most
//! 40 per walk, ELOOP past that), ENAMETOOLONG for a name over 255 bytes, ENOTDIR through
//! a non-directory, and a trailing `/` that demands a directory. Runs of plain names
//! beneath a host directory go to the host as one `FsWalk`, which stops at the first
//! symlink, so a deep host path costs one exit rather than one per component.
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::hostfs::HostFs;
use super::memfs::{MemBody, mode};
use super::path::{self, NAME_MAX};
use super::procfs::{self, ProcView};
use super::{Fs, Loc, Node, Vfs};
use crate::errno::Errno;
use crate::hypercall::HostWalk;

/// Linux's limit on symlinks followed in one resolution.
pub const MAX_SYMLINKS: u32 = 40;

/// What a walk needs besides the mount table.
pub struct Ctx<'a> {
    pub vfs: &'a Vfs,
    pub host: &'a dyn HostFs,
    pub proc: &'a dyn ProcView,
}

/// The outcome of a resolution.
#[derive(Clone, Debug)]
pub enum Resolution {
    Found(Loc),
    /// Everything but the last name exists; the last does not (for O_CREAT, mkdir, …).
    Missing {
        parent: Loc,
        name: Vec<u8>,
    },
}

/// One step of a walk from a directory through some names.
enum Step {
    Found(Node),
    /// `names[index]` is a symlink to `target`; `node` is the link itself.
    Symlink {
        index: usize,
        target: Vec<u8>,
        node: Node,
    },
    /// `names[index]` failed; `parent` is the directory that should have held it.
    Fail {
        index: usize,
        errno: Errno,
        parent: Node,
    },
}

/// Whether `node` is (or, without attributes at hand, is taken to be) a directory.
pub fn is_dir(node: &Node) -> bool {
    match node {
        Node::Host { stat, .. } => stat.is_none_or(|s| s.mode & mode::S_IFMT == mode::S_IFDIR),
        Node::Mem(n) => n.is_dir(),
        Node::Proc(p) => p.is_dir(),
        Node::Overlay { upper, lower, .. } => match (upper, lower) {
            (Some(u), _) => u.is_dir(),
            (None, Some(s)) => s.mode & mode::S_IFMT == mode::S_IFDIR,
            (None, None) => true,
        },
    }
}

/// Resolves `path` from `start` (the cwd or a dirfd; ignored for an absolute path).
/// Returns the resolution and whether the path ended in `/`.
pub fn resolve(
    ctx: &Ctx<'_>,
    start: &Loc,
    path_bytes: &[u8],
    follow_last: bool,
) -> Result<(Resolution, bool), Errno> {
    if path_bytes.is_empty() {
        return Err(Errno::ENOENT);
    }
    let trailing = path_bytes.len() > 1 && path_bytes.ends_with(b"/");
    let mut comps: VecDeque<Vec<u8>> = path::components(path_bytes).map(|c| c.to_vec()).collect();
    let mut cur = if path_bytes[0] == b'/' {
        ctx.vfs.root()
    } else {
        start.clone()
    };
    let mut links = 0u32;
    while let Some(c) = comps.pop_front() {
        if c == b"." {
            if !is_dir(&cur.node) {
                return Err(Errno::ENOTDIR);
            }
            continue;
        }
        if c == b".." {
            if !is_dir(&cur.node) {
                return Err(Errno::ENOTDIR);
            }
            cur = node_for(ctx, path::parent(&cur.path))?;
            continue;
        }
        if c.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if !is_dir(&cur.node) {
            return Err(Errno::ENOTDIR);
        }
        let first = path::join(&cur.path, &c);
        if let Some(m) = ctx.vfs.is_mount_point(&first) {
            cur = ctx.vfs.mount_root(m);
            continue;
        }
        let mut names = alloc::vec![c];
        if batches(&cur.node) {
            let mut at = first;
            while let Some(n) = comps.front() {
                if n == b"." || n == b".." || n.len() > NAME_MAX {
                    break;
                }
                let next = path::join(&at, n);
                if ctx.vfs.is_mount_point(&next).is_some() {
                    break;
                }
                at = next;
                names.push(comps.pop_front().expect("front exists"));
            }
        }
        let walked = |names: &[Vec<u8>], upto: usize| {
            let mut p = cur.path.clone();
            for n in &names[..upto] {
                p = path::join(&p, n);
            }
            p
        };
        match step(ctx, &cur, &names) {
            Step::Found(node) => {
                cur = Loc {
                    mount: cur.mount,
                    path: walked(&names, names.len()),
                    node,
                };
            }
            Step::Fail {
                index,
                errno,
                parent,
            } => {
                if errno == Errno::ENOENT && index + 1 == names.len() && comps.is_empty() {
                    return Ok((
                        Resolution::Missing {
                            parent: Loc {
                                mount: cur.mount,
                                path: walked(&names, index),
                                node: parent,
                            },
                            name: names[index].clone(),
                        },
                        trailing,
                    ));
                }
                return Err(errno);
            }
            Step::Symlink {
                index,
                target,
                node,
            } => {
                for n in names.drain(index + 1..).rev() {
                    comps.push_front(n);
                }
                if comps.is_empty() && !follow_last && !trailing {
                    return Ok((
                        Resolution::Found(Loc {
                            mount: cur.mount,
                            path: walked(&names, index + 1),
                            node,
                        }),
                        false,
                    ));
                }
                if let Node::Proc(p) = &node
                    && let Some(target) = procfs::follow_magic(ctx.proc, p)
                {
                    if !comps.is_empty() {
                        return Err(Errno::ENOTDIR);
                    }
                    return Ok((
                        Resolution::Found(Loc {
                            mount: cur.mount,
                            path: walked(&names, index + 1),
                            node: Node::Proc(target),
                        }),
                        trailing,
                    ));
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                let parent_path = walked(&names, index);
                cur = if target[0] == b'/' {
                    ctx.vfs.root()
                } else if index == 0 {
                    cur
                } else {
                    lazy_descend(ctx, &cur, parent_path)
                };
                if target.len() > 1 && target.ends_with(b"/") {
                    comps.push_front(b".".to_vec());
                }
                let tc: Vec<Vec<u8>> = path::components(&target).map(|c| c.to_vec()).collect();
                for c in tc.into_iter().rev() {
                    comps.push_front(c);
                }
            }
        }
    }
    if trailing && !is_dir(&cur.node) {
        return Err(Errno::ENOTDIR);
    }
    Ok((Resolution::Found(cur), trailing))
}

/// Whether names beneath `node` go to the host in runs.
fn batches(node: &Node) -> bool {
    matches!(node, Node::Host { .. } | Node::Overlay { upper: None, .. })
}

/// The directory `path` reached from `cur` through plain directories of a host-backed
/// node (their attributes are not needed: the host walk proved they are directories).
fn lazy_descend(ctx: &Ctx<'_>, cur: &Loc, path_bytes: Vec<u8>) -> Loc {
    let rel = path::strip_mount(&path_bytes, &ctx.vfs.mounts[cur.mount].path).to_vec();
    let node = match cur.node {
        Node::Overlay { .. } => Node::Overlay {
            rel,
            upper: None,
            lower: None,
        },
        _ => Node::Host { rel, stat: None },
    };
    Loc {
        mount: cur.mount,
        path: path_bytes,
        node,
    }
}

/// The location of canonical `path` (for `..`, the cwd, and re-walks).
pub fn node_for(ctx: &Ctx<'_>, path_bytes: &[u8]) -> Result<Loc, Errno> {
    let mount = ctx.vfs.mount_of(path_bytes);
    let root = ctx.vfs.mount_root(mount);
    let rel = path::strip_mount(path_bytes, &ctx.vfs.mounts[mount].path);
    let node = match root.node {
        Node::Host { .. } => Node::Host {
            rel: rel.to_vec(),
            stat: None,
        },
        Node::Mem(mut n) => {
            for c in path::components(rel) {
                let next = n.dir()?.get(c).cloned().ok_or(Errno::ENOENT)?;
                n = next;
            }
            Node::Mem(n)
        }
        Node::Proc(mut p) => {
            for c in path::components(rel) {
                p = procfs::lookup(ctx.proc, &p, c).ok_or(Errno::ENOENT)?;
            }
            Node::Proc(p)
        }
        Node::Overlay { upper, .. } => {
            let mut u = upper;
            for c in path::components(rel) {
                u = match u {
                    Some(n) => match n.dir()?.get(c) {
                        Some(child) if matches!(child.body, MemBody::Whiteout) => {
                            return Err(Errno::ENOENT);
                        }
                        Some(child) => Some(child.clone()),
                        None => None,
                    },
                    None => None,
                };
            }
            Node::Overlay {
                rel: rel.to_vec(),
                upper: u,
                lower: None,
            }
        }
    };
    Ok(Loc {
        mount,
        path: path_bytes.to_vec(),
        node,
    })
}

fn step(ctx: &Ctx<'_>, cur: &Loc, names: &[Vec<u8>]) -> Step {
    let rel_of = |base: &[u8], upto: usize| {
        let mut r = base.to_vec();
        for n in &names[..upto] {
            r = path::rel_join(&r, n);
        }
        r
    };
    match &cur.node {
        Node::Host { rel, .. } => {
            let Fs::Host { id } = ctx.vfs.mounts[cur.mount].fs else {
                return fail(0, Errno::EIO, cur.node.clone());
            };
            let full = rel_of(rel, names.len());
            let skip = path::components(rel).count();
            match ctx.host.walk(id, &full) {
                HostWalk::Found(st) => Step::Found(Node::Host {
                    rel: full,
                    stat: Some(st),
                }),
                HostWalk::Symlink {
                    index,
                    stat,
                    target,
                } => {
                    let index = index.saturating_sub(skip).min(names.len() - 1);
                    Step::Symlink {
                        index,
                        target,
                        node: Node::Host {
                            rel: rel_of(rel, index + 1),
                            stat: Some(stat),
                        },
                    }
                }
                HostWalk::Failed { index, errno } => {
                    let index = index.saturating_sub(skip).min(names.len() - 1);
                    fail(
                        index,
                        errno,
                        Node::Host {
                            rel: rel_of(rel, index),
                            stat: None,
                        },
                    )
                }
            }
        }
        Node::Mem(dir) => {
            let child = match dir.dir() {
                Ok(d) => d.get(&names[0]).cloned(),
                Err(e) => return fail(0, e, cur.node.clone()),
            };
            match child {
                None => fail(0, Errno::ENOENT, cur.node.clone()),
                Some(n) if matches!(n.body, MemBody::Whiteout) => {
                    fail(0, Errno::ENOENT, cur.node.clone())
                }
                Some(n) => match &n.body {
                    MemBody::Symlink(t) => Step::Symlink {
                        index: 0,
                        target: t.clone(),
                        node: Node::Mem(n.clone()),
                    },
                    _ => Step::Found(Node::Mem(n)),
                },
            }
        }
        Node::Proc(p) => match procfs::lookup(ctx.proc, p, &names[0]) {
            None => fail(0, Errno::ENOENT, cur.node.clone()),
            Some(child) => match procfs::readlink(ctx.proc, &child) {
                Some(target) => Step::Symlink {
                    index: 0,
                    target,
                    node: Node::Proc(child),
                },
                None => Step::Found(Node::Proc(child)),
            },
        },
        Node::Overlay { rel, upper, .. } => {
            let Fs::Overlay { lower, .. } = ctx.vfs.mounts[cur.mount].fs else {
                return fail(0, Errno::EIO, cur.node.clone());
            };
            if let Some(u) = upper {
                let (child, opaque) = match u.dir() {
                    Ok(d) => (d.get(&names[0]).cloned(), d.opaque),
                    Err(e) => return fail(0, e, cur.node.clone()),
                };
                match child {
                    Some(n) if matches!(n.body, MemBody::Whiteout) => {
                        return fail(0, Errno::ENOENT, cur.node.clone());
                    }
                    Some(n) => {
                        let node = Node::Overlay {
                            rel: rel_of(rel, 1),
                            upper: Some(n.clone()),
                            lower: None,
                        };
                        return match &n.body {
                            MemBody::Symlink(t) => Step::Symlink {
                                index: 0,
                                target: t.clone(),
                                node,
                            },
                            _ => Step::Found(node),
                        };
                    }
                    None if opaque => return fail(0, Errno::ENOENT, cur.node.clone()),
                    None => {}
                }
            }
            let full = rel_of(rel, names.len());
            let skip = path::components(rel).count();
            let lower_node = |r: Vec<u8>, st| Node::Overlay {
                rel: r,
                upper: None,
                lower: Some(st),
            };
            match ctx.host.walk(lower, &full) {
                HostWalk::Found(st) => Step::Found(lower_node(full, st)),
                HostWalk::Symlink {
                    index,
                    stat,
                    target,
                } => {
                    let index = index.saturating_sub(skip).min(names.len() - 1);
                    Step::Symlink {
                        index,
                        target,
                        node: lower_node(rel_of(rel, index + 1), stat),
                    }
                }
                HostWalk::Failed { index, errno } => {
                    let index = index.saturating_sub(skip).min(names.len() - 1);
                    let parent = if index == 0 {
                        cur.node.clone()
                    } else {
                        Node::Overlay {
                            rel: rel_of(rel, index),
                            upper: None,
                            lower: None,
                        }
                    };
                    fail(index, errno, parent)
                }
            }
        }
    }
}

fn fail(index: usize, errno: Errno, parent: Node) -> Step {
    Step::Fail {
        index,
        errno,
        parent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::memfs::{Budget, Creator, DirEntries, MemNode};
    use crate::vfs::{Fs, Mount};
    use alloc::collections::BTreeMap;
    use alloc::sync::Arc;
    use hull_arch::abi::HostStat;
    use spin::Mutex;

    /// A host directory: path → (mode, symlink target).
    struct FakeHost(BTreeMap<Vec<u8>, (u32, Vec<u8>)>, core::cell::Cell<u32>);

    impl HostFs for FakeHost {
        fn walk(&self, _mount: u32, rel: &[u8]) -> HostWalk {
            self.1.set(self.1.get() + 1);
            let mut p = Vec::new();
            for (i, c) in path::components(rel).enumerate() {
                p = path::rel_join(&p, c);
                match self.0.get(&p) {
                    None => {
                        return HostWalk::Failed {
                            index: i,
                            errno: Errno::ENOENT,
                        };
                    }
                    Some((m, t)) if *m == mode::S_IFLNK => {
                        return HostWalk::Symlink {
                            index: i,
                            stat: HostStat::default(),
                            target: t.clone(),
                        };
                    }
                    Some((m, _)) if *m != mode::S_IFDIR && p.len() < rel.len() => {
                        return HostWalk::Failed {
                            index: i + 1,
                            errno: Errno::ENOTDIR,
                        };
                    }
                    _ => {}
                }
            }
            let m = self.0.get(&p).map_or(mode::S_IFDIR, |e| e.0);
            HostWalk::Found(HostStat {
                mode: m | 0o755,
                ..Default::default()
            })
        }
    }

    const NO_PROC: crate::vfs::procfs::TestView = crate::vfs::procfs::TestView { threads: &[1] };

    fn who() -> Creator {
        Creator {
            uid: 0,
            gid: 0,
            now: [0, 0],
        }
    }

    fn dir() -> Arc<MemNode> {
        MemNode::new(
            1,
            0o755,
            MemBody::Dir(Mutex::new(DirEntries::default())),
            who(),
        )
    }

    fn setup() -> (Vfs, FakeHost) {
        let root = dir();
        let tmp = dir();
        root.dir().unwrap().insert(b"tmp", dir());
        root.dir().unwrap().insert(b"data", dir());
        root.dir().unwrap().insert(
            b"lnk",
            MemNode::new(2, 0o777, MemBody::Symlink(b"/data/a".to_vec()), who()),
        );
        tmp.dir().unwrap().insert(
            b"loop",
            MemNode::new(3, 0o777, MemBody::Symlink(b"loop".to_vec()), who()),
        );
        let vfs = Vfs {
            mounts: alloc::vec![
                Mount {
                    path: b"/".to_vec(),
                    fs: Fs::Mem(root),
                    readonly: false,
                    dev: 1
                },
                Mount {
                    path: b"/tmp".to_vec(),
                    fs: Fs::Mem(tmp),
                    readonly: false,
                    dev: 2
                },
                Mount {
                    path: b"/data".to_vec(),
                    fs: Fs::Host { id: 0 },
                    readonly: false,
                    dev: 3
                },
            ],
            budget: Budget::new(0),
        };
        let mut h = BTreeMap::new();
        h.insert(b"a".to_vec(), (mode::S_IFDIR, Vec::new()));
        h.insert(b"a/b".to_vec(), (mode::S_IFDIR, Vec::new()));
        h.insert(b"a/b/f".to_vec(), (mode::S_IFREG, Vec::new()));
        h.insert(b"a/up".to_vec(), (mode::S_IFLNK, b"../../tmp".to_vec()));
        h.insert(b"a/abs".to_vec(), (mode::S_IFLNK, b"/data/a/b/f".to_vec()));
        (vfs, FakeHost(h, core::cell::Cell::new(0)))
    }

    fn found(r: Result<(Resolution, bool), Errno>) -> Loc {
        match r {
            Ok((Resolution::Found(l), _)) => l,
            other => panic!("expected a location, got {other:?}"),
        }
    }

    #[test]
    fn walks_mounts_dots_and_host_runs_in_one_exit() {
        let (vfs, host) = setup();
        let ctx = Ctx {
            vfs: &vfs,
            host: &host,
            proc: &NO_PROC,
        };
        let root = vfs.root();
        let l = found(resolve(&ctx, &root, b"/data/a/b/f", true));
        assert_eq!((l.mount, l.path.as_slice()), (2, b"/data/a/b/f".as_slice()));
        assert_eq!(host.1.get(), 1, "three host names, one walk");
        let l = found(resolve(&ctx, &root, b"/data/a/./b/../b//f", true));
        assert_eq!(l.path, b"/data/a/b/f");
        let l = found(resolve(&ctx, &root, b"/data/..", true));
        assert_eq!((l.mount, l.path.as_slice()), (0, b"/".as_slice()));
        let l = found(resolve(&ctx, &root, b"/../../tmp", true));
        assert_eq!(l.path, b"/tmp");
        assert_eq!(
            resolve(&ctx, &root, b"/data/a/b/f/x", true).err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            resolve(&ctx, &root, b"/data/a/b/f/", true).err(),
            Some(Errno::ENOTDIR)
        );
    }

    #[test]
    fn symlinks_resolve_in_the_guest_namespace() {
        let (vfs, host) = setup();
        let ctx = Ctx {
            vfs: &vfs,
            host: &host,
            proc: &NO_PROC,
        };
        let root = vfs.root();
        // A relative link climbing out of the host mount lands in the guest's /tmp.
        let l = found(resolve(&ctx, &root, b"/data/a/up", true));
        assert_eq!((l.mount, l.path.as_slice()), (1, b"/tmp".as_slice()));
        // An absolute link is the guest's absolute path, not the host's.
        let l = found(resolve(&ctx, &root, b"/data/a/abs", true));
        assert_eq!(l.path, b"/data/a/b/f");
        let l = found(resolve(&ctx, &root, b"/lnk/b", true));
        assert_eq!(l.path, b"/data/a/b");
        // Not following the last one gives the link itself.
        let l = found(resolve(&ctx, &root, b"/data/a/abs", false));
        assert_eq!(l.path, b"/data/a/abs");
        assert_eq!(
            resolve(&ctx, &root, b"/tmp/loop", true).err(),
            Some(Errno::ELOOP)
        );
        // A trailing slash follows even without follow_last.
        let l = found(resolve(&ctx, &root, b"/lnk/", false));
        assert_eq!(l.path, b"/data/a");
    }

    #[test]
    fn missing_last_names_and_errors() {
        let (vfs, host) = setup();
        let ctx = Ctx {
            vfs: &vfs,
            host: &host,
            proc: &NO_PROC,
        };
        let root = vfs.root();
        match resolve(&ctx, &root, b"/data/a/b/new", true) {
            Ok((Resolution::Missing { parent, name }, false)) => {
                assert_eq!(parent.path, b"/data/a/b");
                assert_eq!(name, b"new");
            }
            other => panic!("{other:?}"),
        }
        match resolve(&ctx, &root, b"/tmp/newdir/", true) {
            Ok((Resolution::Missing { parent, name }, true)) => {
                assert_eq!(
                    (parent.path.as_slice(), name.as_slice()),
                    (b"/tmp".as_slice(), b"newdir".as_slice())
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve(&ctx, &root, b"/data/x/y", true).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(resolve(&ctx, &root, b"", true).err(), Some(Errno::ENOENT));
        let long = alloc::vec![b'x'; 256];
        assert_eq!(
            resolve(&ctx, &root, &long, true).err(),
            Some(Errno::ENAMETOOLONG)
        );
    }
}
