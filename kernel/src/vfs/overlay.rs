//! The `--root` overlay: the host tree is the read-only lower layer, an in-memory tree the
//! upper one. Reads of untouched files go to the host; the first write copies the file
//! (and its parent directories) up; a deletion leaves a whiteout so the lower name stays
//! hidden; a directory made in the upper layer is opaque. Nothing is written to the host.
use alloc::sync::Arc;
use alloc::vec::Vec;

use hull_arch::abi::{self, HostStat, Segment};

use super::memfs::{Budget, Creator, DirEntries, FileData, MemBody, MemNode, mode};
use super::{DirEntry, path};
use crate::errno::Errno;
use crate::hypercall::{self, HostWalk};
use crate::mm::frame::FrameAllocator;

/// Makes sure `rel` exists in the upper layer rooted at `root`, copying it and its parents
/// up from lower mount `lower`; returns the upper node.
pub fn copy_up(
    frames: &mut FrameAllocator,
    budget: &Arc<Budget>,
    who: Creator,
    root: &Arc<MemNode>,
    lower: u32,
    rel: &[u8],
) -> Result<Arc<MemNode>, Errno> {
    let comps: Vec<&[u8]> = path::components(rel).collect();
    let mut dir = root.clone();
    let mut cur = Vec::new();
    for (i, c) in comps.iter().enumerate() {
        cur = path::rel_join(&cur, c);
        let last = i + 1 == comps.len();
        let present = dir.dir()?.get(c).cloned();
        let node = match present {
            Some(n) if matches!(n.body, MemBody::Whiteout) => return Err(Errno::ENOENT),
            Some(n) => n,
            None => {
                let (st, target) = match hypercall::fs_walk(lower, &cur) {
                    HostWalk::Found(st) => (st, None),
                    HostWalk::Symlink {
                        index,
                        stat,
                        target,
                    } if index == i => (stat, Some(target)),
                    HostWalk::Symlink { .. } => return Err(Errno::ELOOP),
                    HostWalk::Failed { errno, .. } => return Err(errno),
                };
                let n = copy_node(frames, budget, who, lower, &cur, &st, target)?;
                if n.is_dir() {
                    dir.meta.lock().nlink += 1;
                }
                dir.dir()?.insert(c, n.clone());
                n
            }
        };
        if last {
            return Ok(node);
        }
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        dir = node;
    }
    Ok(dir)
}

/// A copy of one lower object in the upper layer (a file with its data).
fn copy_node(
    frames: &mut FrameAllocator,
    budget: &Arc<Budget>,
    who: Creator,
    lower: u32,
    rel: &[u8],
    st: &HostStat,
    target: Option<Vec<u8>>,
) -> Result<Arc<MemNode>, Errno> {
    let kind = st.mode & mode::S_IFMT;
    let body = match (kind, target) {
        (_, Some(t)) => MemBody::Symlink(t),
        (mode::S_IFDIR, _) => MemBody::Dir(spin::Mutex::new(DirEntries::default())),
        (mode::S_IFREG, _) => {
            let mut data = FileData::new(budget.clone());
            copy_data(frames, &mut data, lower, rel, st.size)?;
            MemBody::File(spin::Mutex::new(data))
        }
        (mode::S_IFCHR, _) => MemBody::CharDev(st.rdev),
        (mode::S_IFIFO, _) => MemBody::Fifo,
        _ => return Err(Errno::EOPNOTSUPP),
    };
    let n = MemNode::new(st.ino, st.mode & 0o7777, body, who);
    {
        let mut m = n.meta.lock();
        m.atime = st.atime;
        m.mtime = st.mtime;
        m.ctime = st.ctime;
    }
    Ok(n)
}

/// Reads a lower file's `size` bytes straight into newly allocated upper pages.
fn copy_data(
    frames: &mut FrameAllocator,
    data: &mut FileData,
    lower: u32,
    rel: &[u8],
    size: u64,
) -> Result<(), Errno> {
    if size == 0 {
        return Ok(());
    }
    let (handle, _) = hypercall::fs_open(lower, rel, 0, 0)?;
    let mut segs: Vec<Segment> = Vec::new();
    let r = data.allocate_with(0, size, frames, |pa, n, _| {
        segs.push(Segment { gpa: pa, len: n });
        Ok(())
    });
    let mut result = r.and_then(|n| {
        if n == size {
            Ok(())
        } else {
            Err(Errno::ENOSPC)
        }
    });
    let mut off = 0;
    for batch in segs.chunks(abi::MAX_SEGMENTS) {
        if result.is_err() {
            break;
        }
        let want: u64 = batch.iter().map(|s| s.len).sum();
        match hypercall::read(handle, batch, off, 0) {
            // A lower file that shrank meanwhile leaves zeros; it is not ours to fix.
            Ok(_) => off += want,
            Err(e) => result = Err(e),
        }
    }
    let _ = hypercall::close(handle);
    result
}

/// Decodes `linux_dirent64` records (as the host's `FsReadDir` writes them).
pub fn parse_dirents(buf: &[u8], out: &mut Vec<DirEntry>) {
    let mut at = 0;
    while at + 19 <= buf.len() {
        let ino = u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
        let kind = buf[at + 18];
        if reclen < 20 || at + reclen > buf.len() {
            break;
        }
        let name = &buf[at + 19..at + reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        out.push(DirEntry {
            ino,
            kind,
            name: name.to_vec(),
        });
        at += reclen;
    }
}

/// Merges an upper directory's entries over a lower listing: upper names win, whiteouts
/// hide lower names, an opaque upper directory hides the whole lower one.
pub fn merge(upper: Option<&DirEntries>, lower: Vec<DirEntry>) -> Vec<DirEntry> {
    let mut out = Vec::new();
    if let Some(u) = upper {
        for (name, node, _) in u.from(0) {
            if !matches!(node.body, MemBody::Whiteout) {
                out.push(DirEntry {
                    ino: node.ino,
                    kind: super::dtype(node.meta.lock().mode),
                    name: name.to_vec(),
                });
            }
        }
        if u.opaque {
            return out;
        }
    }
    for e in lower {
        if e.name == b"." || e.name == b".." || upper.is_some_and(|u| u.get(&e.name).is_some()) {
            continue;
        }
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_hides_whiteouts_and_prefers_upper() {
        let who = Creator {
            uid: 0,
            gid: 0,
            now: [0, 0],
        };
        let mut d = DirEntries::default();
        d.insert(b"gone", MemNode::new(9, 0, MemBody::Whiteout, who));
        d.insert(
            b"new",
            MemNode::new(10, 0o644, MemBody::Symlink(b"x".to_vec()), who),
        );
        d.insert(
            b"both",
            MemNode::new(11, 0o644, MemBody::Symlink(b"y".to_vec()), who),
        );
        let lower = |n: &str| DirEntry {
            ino: 1,
            kind: 8,
            name: n.as_bytes().to_vec(),
        };
        let got = merge(
            Some(&d),
            alloc::vec![lower("."), lower("gone"), lower("both"), lower("old")],
        );
        let names: Vec<&[u8]> = got.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, [b"new".as_slice(), b"both", b"old"]);
        assert_eq!(got[1].ino, 11);
        d.opaque = true;
        assert_eq!(merge(Some(&d), alloc::vec![lower("old")]).len(), 2);
    }

    #[test]
    fn dirent_records_parse_and_stop_at_garbage() {
        let mut buf = Vec::new();
        for (ino, name) in [(5u64, "a"), (6, "long-name")] {
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            let start = buf.len();
            buf.extend_from_slice(&ino.to_le_bytes());
            buf.extend_from_slice(&0u64.to_le_bytes());
            buf.extend_from_slice(&(reclen as u16).to_le_bytes());
            buf.push(8);
            buf.extend_from_slice(name.as_bytes());
            buf.resize(start + reclen, 0);
        }
        buf.extend_from_slice(&[1, 2, 3]);
        let mut out = Vec::new();
        parse_dirents(&buf, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, b"long-name");
        assert_eq!(out[1].ino, 6);
    }
}
