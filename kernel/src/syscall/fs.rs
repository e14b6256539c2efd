//! Path syscalls over the VFS: open and create, stat, directories, links, renames,
//! attributes, the working directory, statfs, umask and advisory locks. Each call walks
//! the path in the guest (`vfs::walk`) and then acts on the file system that holds the
//! result: in guest memory for `/`, `/tmp`, `/dev`, `/proc` and the overlay's upper layer,
//! or with one file hypercall for a host mount.
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use hull_arch::abi::{self, HostStat};

use crate::errno::{Errno, SysResult};
use crate::fd::{FileKind, OpenFile, oflags::*};
use crate::hypercall::{self, HostWalk, SetattrTarget};
use crate::process::Kernel;
use crate::vfs::hostfs::Hypercalls;
use crate::vfs::locks::{Family, Lock, LockTable, Owner};
use crate::vfs::memfs::{Creator, DirEntries, FileData, MemBody, MemNode, mode::*};
use crate::vfs::procfs::{ProcNode, ProcView};
use crate::vfs::walk::{self, Ctx, Resolution};
use crate::vfs::{Fs, Loc, Node, Vfs, overlay, path};

pub const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
const AT_REMOVEDIR: u32 = 0x200;
const AT_EACCESS: u32 = 0x200;
const AT_SYMLINK_FOLLOW: u32 = 0x400;
const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// The file-system state of the sandbox: mount table, working directory, umask, locks
/// and ownership recorded for host files (chown never changes the host).
#[derive(Debug)]
pub struct FsState {
    pub vfs: Vfs,
    pub locks: LockTable,
    pub owners: BTreeMap<(u64, u64), (u32, u32)>,
    /// Inode numbers for in-memory nodes.
    pub next_ino: u64,
    /// Bumped on every change the sandbox makes on the host; cached attributes of open
    /// host files are valid only at the generation they were taken.
    pub host_gen: u64,
    /// Attributes and idle handles of host mounts.
    pub host_cache: spin::Mutex<crate::vfs::cache::HostCache>,
}

/// `/proc`'s view of the kernel.
pub struct ProcSelf<'a>(pub &'a Kernel);

impl ProcView for ProcSelf<'_> {
    // The process id is the thread group's, not the running thread's.
    #[allow(clippy::misnamed_getters)]
    fn pid(&self) -> u32 {
        self.0.proc.tgid
    }
    fn pids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = core::iter::once(&self.0.proc)
            .chain(self.0.others.values())
            .filter(|p| p.pid == p.tgid && p.state != crate::sched::TaskState::Zombie)
            .map(|p| p.pid)
            .collect();
        v.sort_unstable();
        v
    }
    fn tid(&self) -> u32 {
        self.0.proc.pid
    }
    fn threads(&self, pid: u32) -> Vec<u32> {
        let Some(tgid) = self.0.process(pid).map(|p| p.tgid) else {
            return Vec::new();
        };
        let mut v: Vec<u32> = core::iter::once(&self.0.proc)
            .chain(self.0.others.values())
            .filter(|p| p.tgid == tgid && p.state != crate::sched::TaskState::Zombie)
            .map(|p| p.pid)
            .collect();
        v.sort_unstable();
        v
    }
    fn exists(&self, id: u32) -> bool {
        self.0
            .process(id)
            .is_some_and(|p| p.state != crate::sched::TaskState::Zombie)
    }
    // A thread's descriptor table may be held by another thread of its group.
    fn fds(&self, pid: u32) -> Vec<u32> {
        crate::sched::holder_of(self.0, pid, crate::sched::RES_FILES)
            .map(|p| p.fds.open_fds())
            .unwrap_or_default()
    }
    fn fd_path(&self, pid: u32, fd: u32) -> Option<Vec<u8>> {
        let holder = crate::sched::holder_of(self.0, pid, crate::sched::RES_FILES)?;
        Some(describe(holder.fds.get(fd as i32).ok()?))
    }
    fn exe(&self, pid: u32) -> Vec<u8> {
        self.0
            .process(pid)
            .map(|p| p.exe_path.clone())
            .unwrap_or_default()
    }
    fn cwd(&self, pid: u32) -> Vec<u8> {
        self.0
            .process(pid)
            .map(|p| p.fs.lock().cwd.path.clone())
            .unwrap_or_else(|| b"/".to_vec())
    }
}

/// Descriptor `fd` of process `pid` (`/proc/PID/fd/N`), wherever its table is held.
fn proc_fd(k: &Kernel, pid: u32, fd: u32) -> Result<Arc<OpenFile>, Errno> {
    let holder = crate::sched::holder_of(k, pid, crate::sched::RES_FILES).ok_or(Errno::ENOENT)?;
    holder.fds.get(fd as i32).cloned()
}

/// What `/proc/self/fd/N` shows for an open file.
pub fn describe(f: &OpenFile) -> Vec<u8> {
    if let Some(loc) = &f.loc {
        return loc.path.clone();
    }
    match &f.kind {
        FileKind::Pipe(end) => alloc::format!("pipe:[{}]", end.pipe.ino).into_bytes(),
        FileKind::Host { handle } => alloc::format!(
            "hull:[{}]",
            ["stdin", "stdout", "stderr", "host"][(*handle as usize).min(3)]
        )
        .into_bytes(),
        FileKind::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
        FileKind::EventFd(_) => b"anon_inode:[eventfd]".to_vec(),
        FileKind::PidFd(_) => b"anon_inode:[pidfd]".to_vec(),
        FileKind::UnixStream(s) => alloc::format!("socket:[{}]", s.ino).into_bytes(),
        _ => b"anon_inode:[hull]".to_vec(),
    }
}

impl Kernel {
    /// A fresh inode number for an in-memory node.
    pub fn fs_ino(&mut self) -> u64 {
        self.fs.next_ino += 1;
        self.fs.next_ino
    }

    /// The owner and time a new node gets.
    pub fn creator(&self) -> Creator {
        Creator {
            uid: self.machine.uid,
            gid: self.machine.gid,
            now: self.now(),
        }
    }

    /// CLOCK_REALTIME as (seconds, nanoseconds).
    pub fn now(&self) -> [i64; 2] {
        let ns = self.clock.realtime();
        [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64]
    }
}

/// Reads a path argument (ENAMETOOLONG past PATH_MAX, EFAULT on a bad pointer).
fn path_arg(k: &mut Kernel, va: u64) -> Result<Vec<u8>, Errno> {
    k.read_path(va)
}

/// Where a relative path starts: the cwd or the directory `dirfd` refers to.
fn start(k: &Kernel, dirfd: i32, p: &[u8]) -> Result<Loc, Errno> {
    if p.first() == Some(&b'/') || dirfd == AT_FDCWD {
        return Ok(k.proc.fs.lock().cwd.clone());
    }
    let f = k.proc.fds.get(dirfd)?;
    match &f.loc {
        Some(loc) if walk::is_dir(&loc.node) => Ok(loc.clone()),
        _ => Err(Errno::ENOTDIR),
    }
}

/// Host walks through the attribute cache.
struct CachedHost<'a> {
    cache: &'a spin::Mutex<crate::vfs::cache::HostCache>,
    now: u64,
}

impl crate::vfs::hostfs::HostFs for CachedHost<'_> {
    fn walk(&self, mount: u32, rel: &[u8]) -> HostWalk {
        if let Some(st) = self.cache.lock().attrs(mount, rel, self.now) {
            return HostWalk::Found(st);
        }
        let r = Hypercalls.walk(mount, rel);
        if let HostWalk::Found(st) = r {
            self.cache.lock().put_attrs(mount, rel, st, self.now);
        }
        r
    }
}

/// Resolves `p` from `dirfd`.
pub fn resolve(
    k: &Kernel,
    dirfd: i32,
    p: &[u8],
    follow: bool,
) -> Result<(Resolution, bool), Errno> {
    let from = start(k, dirfd, p)?;
    let host = CachedHost {
        cache: &k.fs.host_cache,
        now: k.clock.monotonic(),
    };
    let ctx = Ctx {
        vfs: &k.fs.vfs,
        host: &host,
        proc: &ProcSelf(k),
    };
    walk::resolve(&ctx, &from, p, follow)
}

/// Resolves `p` to an existing location.
pub fn existing(k: &Kernel, dirfd: i32, p: &[u8], follow: bool) -> Result<Loc, Errno> {
    match resolve(k, dirfd, p, follow)?.0 {
        Resolution::Found(loc) => Ok(loc),
        Resolution::Missing { .. } => Err(Errno::ENOENT),
    }
}

/// The location named by (dirfd, path, flags) for the `*at` calls that take
/// AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW.
fn at_loc(k: &mut Kernel, dirfd: i32, path_va: u64, flags: u32) -> Result<Loc, Errno> {
    let p = path_arg(k, path_va)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return fd_loc(k, dirfd);
    }
    existing(k, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)
}

/// The location of an open descriptor (EBADF; files without one, like pipes, have none).
fn fd_loc(k: &Kernel, fd: i32) -> Result<Loc, Errno> {
    let f = k.proc.fds.get(fd)?;
    f.loc.clone().ok_or(Errno::EBADF)
}

fn host_id(vfs: &Vfs, mount: usize) -> u32 {
    match vfs.mounts[mount].fs {
        Fs::Host { id } => id,
        Fs::Overlay { lower, .. } => lower,
        _ => u32::MAX,
    }
}

/// Attributes of a location: (stat, uid, gid).
pub fn attr(k: &Kernel, loc: &Loc) -> Result<(HostStat, u32, u32), Errno> {
    let dev = k.fs.vfs.mounts[loc.mount].dev;
    let owner = |st: &HostStat| {
        k.fs.owners
            .get(&(st.dev, st.ino))
            .copied()
            .unwrap_or((k.machine.uid, k.machine.gid))
    };
    let host = |rel: &[u8]| -> Result<HostStat, Errno> {
        let cached = CachedHost {
            cache: &k.fs.host_cache,
            now: k.clock.monotonic(),
        };
        match crate::vfs::hostfs::HostFs::walk(&cached, host_id(&k.fs.vfs, loc.mount), rel) {
            HostWalk::Found(st) => Ok(st),
            HostWalk::Symlink { stat, .. } => Ok(stat),
            HostWalk::Failed { errno, .. } => Err(errno),
        }
    };
    let st = match &loc.node {
        Node::Host { stat: Some(st), .. } => *st,
        Node::Host { rel, stat: None } => host(rel)?,
        Node::Mem(n) => {
            let m = *n.meta.lock();
            return Ok((n.stat(dev), m.uid, m.gid));
        }
        Node::Overlay { upper: Some(n), .. } => {
            let m = *n.meta.lock();
            return Ok((n.stat(dev), m.uid, m.gid));
        }
        Node::Overlay {
            lower: Some(st), ..
        } => *st,
        Node::Overlay { rel, .. } => host(rel)?,
        Node::Proc(ProcNode::FdTarget(pid, fd)) => {
            return super::io::stat_of_open(k, &*proc_fd(k, *pid, *fd)?);
        }
        Node::Proc(ProcNode::ExeFile(pid)) => {
            let (_, len) = k.process(*pid).ok_or(Errno::ENOENT)?.image;
            let st = HostStat {
                mode: S_IFREG | 0o755,
                nlink: 1,
                size: len,
                blksize: 4096,
                blocks: len.div_ceil(512),
                ino: ProcNode::ExeFile(0).ino(),
                dev: k.fs.vfs.mounts[loc.mount].dev,
                ..Default::default()
            };
            return Ok((st, k.machine.uid, k.machine.gid));
        }
        Node::Proc(p) => {
            let boot = k.now()[0] - (k.clock.monotonic() / 1_000_000_000) as i64;
            let st = HostStat {
                mode: p.mode(),
                nlink: if p.is_dir() { 2 } else { 1 },
                blksize: 1024,
                ino: p.ino(),
                dev,
                atime: [boot, 0],
                mtime: [boot, 0],
                ctime: [boot, 0],
                ..Default::default()
            };
            return Ok((st, k.machine.uid, k.machine.gid));
        }
    };
    let (uid, gid) = owner(&st);
    Ok((st, uid, gid))
}

fn is_kind(st: &HostStat, kind: u32) -> bool {
    st.mode & S_IFMT == kind
}

/// Linux's permission check for the sandbox's user (root passes, except that execute needs
/// some x bit on a non-directory).
fn permitted(k: &Kernel, st: &HostStat, uid: u32, gid: u32, want: u32) -> bool {
    if k.machine.uid == 0 {
        return want & 1 == 0 || is_kind(st, S_IFDIR) || st.mode & 0o111 != 0;
    }
    let bits = if uid == k.machine.uid {
        (st.mode >> 6) & 7
    } else if gid == k.machine.gid {
        (st.mode >> 3) & 7
    } else {
        st.mode & 7
    };
    bits & want == want
}

/// Checks `want` (4 = r, 2 = w, 1 = x) on an in-memory node (host files are checked by the
/// host kernel itself).
fn check_mem(k: &Kernel, loc: &Loc, want: u32) -> Result<(), Errno> {
    if let Node::Mem(_) | Node::Overlay { upper: Some(_), .. } = loc.node {
        let (st, uid, gid) = attr(k, loc)?;
        if !permitted(k, &st, uid, gid, want) {
            return Err(Errno::EACCES);
        }
    }
    Ok(())
}

fn readonly(k: &Kernel, loc: &Loc) -> Result<(), Errno> {
    let m = &k.fs.vfs.mounts[loc.mount];
    if m.readonly && !matches!(m.fs, Fs::Overlay { .. }) {
        return Err(Errno::EROFS);
    }
    if matches!(m.fs, Fs::Proc) {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// Whether a directory location has been removed (so nothing may be created in it).
fn removed(k: &Kernel, loc: &Loc) -> bool {
    match &loc.node {
        Node::Mem(n) | Node::Overlay { upper: Some(n), .. } => n.meta.lock().nlink == 0,
        // Asked afresh: the location's own attributes are from when it was reached.
        Node::Host { rel, .. } => match hypercall::fs_walk(host_id(&k.fs.vfs, loc.mount), rel) {
            HostWalk::Found(st) => st.nlink == 0,
            _ => true,
        },
        _ => false,
    }
}

/// The upper-layer node of an overlay location, copying it up first.
fn upper(k: &mut Kernel, loc: &Loc) -> Result<Arc<MemNode>, Errno> {
    let lower = host_id(&k.fs.vfs, loc.mount);
    let Fs::Overlay { upper: root, .. } = &k.fs.vfs.mounts[loc.mount].fs else {
        return Err(Errno::EIO);
    };
    let root = root.clone();
    let rel = k.fs.vfs.rel(loc).to_vec();
    let budget = k.fs.vfs.budget.clone();
    let who = k.creator();
    overlay::copy_up(&mut k.frames, &budget, who, &root, lower, &rel)
}

/// The in-memory node that holds `loc`'s data, for in-memory file systems and the
/// overlay (copied up); `None` for host and proc files.
fn mem_node(k: &mut Kernel, loc: &Loc) -> Result<Option<Arc<MemNode>>, Errno> {
    match &loc.node {
        Node::Mem(n) => Ok(Some(n.clone())),
        Node::Overlay { .. } => upper(k, loc).map(Some),
        _ => Ok(None),
    }
}

/// The directory an in-memory parent location stands for (copied up in the overlay).
fn mem_parent(k: &mut Kernel, parent: &Loc) -> Result<Option<Arc<MemNode>>, Errno> {
    let n = mem_node(k, parent)?;
    if let Some(n) = &n {
        if !n.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if n.meta.lock().nlink == 0 {
            return Err(Errno::ENOENT);
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// open
// ---------------------------------------------------------------------------------------

/// Flags passed on to the host for an open.
/// O_APPEND stays in the guest (F_SETFL may change it; writes then say IO_APPEND).
fn host_flags(flags: u32) -> u32 {
    flags & abi::OPEN_FLAGS_ALLOWED as u32 & !(O_NOFOLLOW | O_APPEND)
}

pub fn open(k: &mut Kernel, path_va: u64, flags: u32, mode: u32) -> SysResult {
    openat(k, AT_FDCWD, path_va, flags, mode)
}

pub fn creat(k: &mut Kernel, path_va: u64, mode: u32) -> SysResult {
    openat(k, AT_FDCWD, path_va, O_CREAT | O_WRONLY | O_TRUNC, mode)
}

pub fn openat(k: &mut Kernel, dirfd: i32, path_va: u64, flags: u32, mode: u32) -> SysResult {
    let p = path_arg(k, path_va)?;
    let file = open_path(k, dirfd, &p, flags, mode)?;
    match k.proc.fds.install(file.clone(), 0, flags & O_CLOEXEC != 0) {
        Ok(fd) => Ok(fd as u64),
        Err(e) => {
            super::io::release(k, file);
            Err(e)
        }
    }
}

/// The status flags an open description keeps.
fn kept(flags: u32) -> u32 {
    flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)
}

pub fn open_path(
    k: &mut Kernel,
    dirfd: i32,
    p: &[u8],
    flags: u32,
    perm: u32,
) -> Result<Arc<OpenFile>, Errno> {
    if flags & O_TMPFILE == O_TMPFILE {
        return open_tmpfile(k, dirfd, p, flags, perm);
    }
    let path_only = flags & O_PATH != 0;
    let acc = if path_only {
        O_RDONLY
    } else {
        flags & O_ACCMODE
    };
    if acc == O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    let creat = flags & O_CREAT != 0 && !path_only;
    let follow = flags & O_NOFOLLOW == 0 && !(creat && flags & O_EXCL != 0);
    let (res, trailing) = resolve(k, dirfd, p, follow)?;
    let loc = match res {
        Resolution::Found(loc) => {
            if creat && flags & O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            loc
        }
        Resolution::Missing { parent, name } => {
            if !creat {
                return Err(Errno::ENOENT);
            }
            if trailing {
                return Err(Errno::EISDIR);
            }
            let perm = perm & 0o7777 & !k.proc.fs.lock().umask;
            return create_file(k, parent, &name, flags, perm);
        }
    };
    if let Node::Proc(ProcNode::FdTarget(pid, fd)) = loc.node {
        // A magic link to a file without a path (stdio, pipes): the same open file.
        return proc_fd(k, pid, fd);
    }
    let (st, _, _) = attr(k, &loc)?;
    let kind = st.mode & S_IFMT;
    if kind == S_IFLNK {
        if flags & O_DIRECTORY != 0 && !path_only {
            return Err(Errno::ENOTDIR);
        }
        if path_only {
            return Ok(OpenFile::at(
                FileKind::Path,
                O_PATH | (flags & O_NOFOLLOW),
                Some(loc),
            ));
        }
        return Err(Errno::ELOOP);
    }
    if flags & O_DIRECTORY != 0 && kind != S_IFDIR {
        return Err(Errno::ENOTDIR);
    }
    if path_only {
        return Ok(OpenFile::at(
            FileKind::Path,
            O_PATH | (flags & (O_DIRECTORY | O_NOFOLLOW)),
            Some(loc),
        ));
    }
    let write = acc != O_RDONLY;
    if kind == S_IFDIR && (write || creat || flags & O_TRUNC != 0) {
        return Err(Errno::EISDIR);
    }
    let trunc = flags & O_TRUNC != 0 && write && kind == S_IFREG;
    if write && kind != S_IFCHR {
        readonly(k, &loc)?;
    }
    let want = match acc {
        O_RDONLY => 4,
        O_WRONLY => 2,
        _ => 6,
    };
    check_mem(k, &loc, want)?;
    let status = kept(flags);
    let kind = match &loc.node {
        Node::Host { rel, .. } => {
            let id = host_id(&k.fs.vfs, loc.mount);
            open_host(k, id, rel, flags, 0)?
        }
        Node::Proc(pn) => {
            if write {
                return Err(Errno::EACCES);
            }
            if pn.is_dir() {
                FileKind::Listing(spin::Mutex::new(None))
            } else {
                FileKind::Snapshot(super::procfs::content(k, pn)?)
            }
        }
        Node::Overlay {
            upper: None, rel, ..
        } if !write && !trunc => {
            if kind == S_IFDIR {
                FileKind::Listing(spin::Mutex::new(None))
            } else {
                let id = host_id(&k.fs.vfs, loc.mount);
                open_host(k, id, rel, flags, 0)?
            }
        }
        Node::Overlay { .. } | Node::Mem(_) => {
            let n = mem_node(k, &loc)?.ok_or(Errno::EIO)?;
            if matches!(n.body, MemBody::Image(..)) && (write || trunc) {
                // The running program's file: not writable while it runs (Linux).
                return Err(Errno::ETXTBSY);
            }
            mem_open(k, &loc, n, trunc)?
        }
    };
    let loc = match (&kind, loc.node) {
        (FileKind::Mem(n), Node::Overlay { rel, .. }) => Loc {
            mount: loc.mount,
            path: loc.path,
            node: Node::Overlay {
                rel,
                upper: Some(n.clone()),
                lower: None,
            },
        },
        (_, node) => Loc {
            mount: loc.mount,
            path: loc.path,
            node,
        },
    };
    let file = OpenFile::at(kind, status, Some(loc));
    if trunc {
        resized(k, &file, 0);
    }
    Ok(file)
}

/// O_TMPFILE: an unnamed file in directory `p`, in memory; host directories do not
/// offer it (EOPNOTSUPP), after Linux's own checks.
fn open_tmpfile(
    k: &mut Kernel,
    dirfd: i32,
    p: &[u8],
    flags: u32,
    perm: u32,
) -> Result<Arc<OpenFile>, Errno> {
    if flags & O_ACCMODE == O_RDONLY || flags & O_ACCMODE == O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    let loc = existing(k, dirfd, p, true)?;
    let (st, _, _) = attr(k, &loc)?;
    if !is_kind(&st, S_IFDIR) {
        return Err(Errno::ENOTDIR);
    }
    readonly(k, &loc)?;
    check_mem(k, &loc, 3)?;
    match &loc.node {
        Node::Mem(_) | Node::Overlay { .. } => {}
        _ => return Err(Errno::EOPNOTSUPP),
    }
    let perm = perm & 0o7777 & !k.proc.fs.lock().umask;
    // A new in-memory node costs kernel heap: ENOSPC (tmpfs out of inodes) when low.
    crate::fd::kernel_memory_for_node().map_err(|_| Errno::ENOSPC)?;
    let node = MemNode::new(
        k.fs_ino(),
        perm,
        MemBody::File(spin::Mutex::new(FileData::new(k.fs.vfs.budget.clone()))),
        k.creator(),
    );
    node.meta.lock().nlink = 0;
    let ino = node.ino;
    let file_loc = Loc {
        mount: loc.mount,
        path: alloc::format!(
            "{}/#{ino} (deleted)",
            alloc::string::String::from_utf8_lossy(&loc.path)
        )
        .into_bytes(),
        node: Node::Mem(node.clone()),
    };
    Ok(OpenFile::at(
        FileKind::Mem(node),
        kept(flags & !O_TMPFILE),
        Some(file_loc),
    ))
}

/// The open-file kind for an in-memory node.
fn mem_open(k: &mut Kernel, loc: &Loc, n: Arc<MemNode>, trunc: bool) -> Result<FileKind, Errno> {
    Ok(match &n.body {
        MemBody::File(data) => {
            if trunc {
                data.lock().truncate(0)?;
                n.touch(k.now());
                k.fs.vfs.budget.reclaim(&mut k.frames);
            }
            FileKind::Mem(n)
        }
        MemBody::Dir(_) => {
            if matches!(loc.node, Node::Overlay { .. }) {
                FileKind::Listing(spin::Mutex::new(None))
            } else {
                FileKind::Mem(n)
            }
        }
        MemBody::CharDev(rdev) => FileKind::Dev(*rdev),
        MemBody::Fifo => return Err(Errno::ENXIO),
        MemBody::Symlink(_) => return Err(Errno::ELOOP),
        MemBody::Whiteout => return Err(Errno::ENOENT),
        MemBody::Image(..) => FileKind::Mem(n),
    })
}

/// Opens a host file: a kept idle handle when one fits, else `FsOpen` (whose attributes
/// go into the cache). Creating or truncating changes the mount.
fn open_host(
    k: &mut Kernel,
    id: u32,
    rel: &[u8],
    flags: u32,
    perm: u32,
) -> Result<FileKind, Errno> {
    let plain = flags & !(O_LARGEFILE | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) == O_RDONLY;
    let now = k.clock.monotonic();
    let reused = if plain {
        k.fs.host_cache.lock().take_idle(id, rel, now)
    } else {
        None
    };
    let (handle, st, generation) = match reused {
        Some(hs) => hs,
        None => {
            let (h, st) = hypercall::fs_open(id, rel, host_flags(flags), perm)?;
            if flags & (O_CREAT | O_TRUNC) != 0 {
                host_changed(k, id);
            }
            k.fs.host_cache.lock().put_attrs(id, rel, st, now);
            (h, st, k.fs.host_gen)
        }
    };
    let regular = st.mode & S_IFMT == S_IFREG;
    Ok(FileKind::HostFile {
        handle,
        mount: id,
        stat: crate::fd::StatCache::new(st, generation),
        reuse: plain && regular,
        positional: regular,
    })
}

/// The sandbox is about to change a host file through its open description `f`.
fn changed_through(k: &mut Kernel, f: &OpenFile) {
    if let FileKind::HostFile { stat, mount, .. } = &f.kind {
        stat.clear();
        host_changed(k, *mount);
    }
}

/// The sandbox changed host mount `id`: drop what the caches hold for it.
pub fn host_changed(k: &mut Kernel, id: u32) {
    k.fs.host_gen += 1;
    let idle = k.fs.host_cache.lock().changed(id);
    for h in idle {
        let _ = hypercall::close(h);
    }
}

/// O_CREAT of a name that does not exist yet.
fn create_file(
    k: &mut Kernel,
    parent: Loc,
    name: &[u8],
    flags: u32,
    perm: u32,
) -> Result<Arc<OpenFile>, Errno> {
    readonly(k, &parent)?;
    check_mem(k, &parent, 3)?;
    let path = path::join(&parent.path, name);
    let status = kept(flags);
    if let Node::Host { rel, .. } = &parent.node {
        let id = host_id(&k.fs.vfs, parent.mount);
        let rel = path::rel_join(rel, name);
        let kind = open_host(k, id, &rel, flags | O_CREAT | O_EXCL, perm)?;
        let loc = Loc {
            mount: parent.mount,
            path,
            node: Node::Host { rel, stat: None },
        };
        return Ok(OpenFile::at(kind, status, Some(loc)));
    }
    let dir = mem_parent(k, &parent)?.ok_or(Errno::EACCES)?;
    // A new in-memory node costs kernel heap: ENOSPC (tmpfs out of inodes) when low.
    crate::fd::kernel_memory_for_node().map_err(|_| Errno::ENOSPC)?;
    let node = MemNode::new(
        k.fs_ino(),
        perm,
        MemBody::File(spin::Mutex::new(FileData::new(k.fs.vfs.budget.clone()))),
        k.creator(),
    );
    dir.dir()?.insert(name, node.clone());
    dir.touch(k.now());
    let node_loc = match parent.node {
        Node::Overlay { rel, .. } => Node::Overlay {
            rel: path::rel_join(&rel, name),
            upper: Some(node.clone()),
            lower: None,
        },
        _ => Node::Mem(node.clone()),
    };
    let loc = Loc {
        mount: parent.mount,
        path,
        node: node_loc,
    };
    Ok(OpenFile::at(FileKind::Mem(node), status, Some(loc)))
}

// ---------------------------------------------------------------------------------------
// stat
// ---------------------------------------------------------------------------------------

pub fn stat(k: &mut Kernel, path_va: u64, buf: u64) -> SysResult {
    newfstatat(k, AT_FDCWD, path_va, buf, 0)
}

pub fn lstat(k: &mut Kernel, path_va: u64, buf: u64) -> SysResult {
    newfstatat(k, AT_FDCWD, path_va, buf, AT_SYMLINK_NOFOLLOW)
}

pub fn newfstatat(k: &mut Kernel, dirfd: i32, path_va: u64, buf: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = path_arg(k, path_va)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return super::io::fstat(k, dirfd, buf);
    }
    let loc = existing(k, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    let (st, uid, gid) = attr(k, &loc)?;
    k.copy_out(buf, &super::io::encode_stat(&st, uid, gid))?;
    Ok(0)
}

pub fn statx(
    k: &mut Kernel,
    dirfd: i32,
    path_va: u64,
    flags: u32,
    mask: u32,
    buf: u64,
) -> SysResult {
    const AT_STATX_SYNC_TYPE: u32 = 0x6000;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & 0x8000_0000 != 0
    {
        return Err(Errno::EINVAL);
    }
    let p = path_arg(k, path_va)?;
    let (st, uid, gid) = if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        super::io::fstat_of(k, dirfd)?
    } else {
        let loc = existing(k, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        attr(k, &loc)?
    };
    let mut b = [0u8; 256];
    let put32 = |b: &mut [u8; 256], o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    let put64 = |b: &mut [u8; 256], o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    // STATX_BASIC_STATS; no birth time.
    put32(&mut b, 0, 0x7ff);
    put32(&mut b, 4, st.blksize as u32);
    put32(&mut b, 16, st.nlink);
    put32(&mut b, 20, uid);
    put32(&mut b, 24, gid);
    b[28..30].copy_from_slice(&(st.mode as u16).to_le_bytes());
    put64(&mut b, 32, st.ino);
    put64(&mut b, 40, st.size);
    put64(&mut b, 48, st.blocks);
    for (o, t) in [(64, st.atime), (96, st.ctime), (112, st.mtime)] {
        put64(&mut b, o, t[0] as u64);
        put32(&mut b, o + 8, t[1] as u32);
    }
    put32(&mut b, 128, (st.rdev >> 8) as u32 & 0xfff);
    put32(&mut b, 132, (st.rdev & 0xff) as u32);
    put32(&mut b, 136, (st.dev >> 8) as u32 & 0xfff);
    put32(&mut b, 140, (st.dev & 0xff) as u32);
    k.copy_out(buf, &b)?;
    Ok(0)
}

// ---------------------------------------------------------------------------------------
// directories, links, names
// ---------------------------------------------------------------------------------------

/// The parent and name for something to be created at `p` (EEXIST if it exists), after
/// the checks every creation makes: a writable file system and, in memory, write and
/// search permission on the parent.
fn new_name(k: &mut Kernel, dirfd: i32, p: &[u8]) -> Result<(Loc, Vec<u8>), Errno> {
    let (parent, name) = match resolve(k, dirfd, p, false)?.0 {
        Resolution::Found(_) => return Err(Errno::EEXIST),
        Resolution::Missing { parent, name } => (parent, name),
    };
    readonly(k, &parent)?;
    check_mem(k, &parent, 3)?;
    Ok((parent, name))
}

pub fn mkdirat(k: &mut Kernel, dirfd: i32, path_va: u64, perm: u32) -> SysResult {
    let p = path_arg(k, path_va)?;
    let (parent, name) = new_name(k, dirfd, &p)?;
    let perm = perm & 0o7777 & !k.proc.fs.lock().umask;
    if let Node::Host { rel, .. } = &parent.node {
        let id = host_id(&k.fs.vfs, parent.mount);
        host_changed(k, id);
        return hypercall::fs_mkdir(id, &path::rel_join(rel, &name), perm).map(|_| 0);
    }
    let dir = mem_parent(k, &parent)?.ok_or(Errno::EACCES)?;
    let entries = DirEntries::new(true);
    // A new in-memory node costs kernel heap: ENOSPC (tmpfs out of inodes) when low.
    crate::fd::kernel_memory_for_node().map_err(|_| Errno::ENOSPC)?;
    let node = MemNode::new(
        k.fs_ino(),
        perm,
        MemBody::Dir(spin::Mutex::new(entries)),
        k.creator(),
    );
    dir.dir()?.insert(&name, node);
    dir.meta.lock().nlink += 1;
    dir.touch(k.now());
    Ok(0)
}

pub fn mkdir(k: &mut Kernel, path_va: u64, perm: u32) -> SysResult {
    mkdirat(k, AT_FDCWD, path_va, perm)
}

/// Splits off the last component of a path argument for the calls that refuse `.` and `..`
/// there.
fn last_component(p: &[u8]) -> &[u8] {
    path::components(p).last().unwrap_or(b"/")
}

pub fn unlinkat(k: &mut Kernel, dirfd: i32, path_va: u64, flags: u32) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let rmdir = flags & AT_REMOVEDIR != 0;
    let p = path_arg(k, path_va)?;
    if rmdir {
        match last_component(&p) {
            b"." => return Err(Errno::EINVAL),
            b".." => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
    }
    let loc = existing(k, dirfd, &p, false)?;
    if loc.path == b"/" || k.fs.vfs.is_mount_point(&loc.path).is_some() {
        return Err(Errno::EBUSY);
    }
    let (st, _, _) = attr(k, &loc)?;
    let is_dir = is_kind(&st, S_IFDIR);
    if rmdir && !is_dir {
        return Err(Errno::ENOTDIR);
    }
    if !rmdir && is_dir {
        return Err(Errno::EISDIR);
    }
    if !rmdir && p.ends_with(b"/") {
        return Err(Errno::ENOTDIR);
    }
    readonly(k, &loc)?;
    let name = path::file_name(&loc.path).to_vec();
    let parent = node_at(k, path::parent(&loc.path))?;
    check_mem(k, &parent, 3)?;
    if let Node::Host { rel, .. } = &loc.node {
        let id = host_id(&k.fs.vfs, loc.mount);
        host_changed(k, id);
        hypercall::fs_unlink(id, rel, flags)?;
        if rmdir {
            // A working directory that is gone: `stat(".")` reports it with no links.
            for p in core::iter::once(&k.proc).chain(k.others.values()) {
                let mut fs = p.fs.lock();
                if fs.cwd.mount == loc.mount
                    && fs.cwd.path == loc.path
                    && let Node::Host { stat: Some(st), .. } = &mut fs.cwd.node
                {
                    st.nlink = 0;
                }
            }
        }
        return Ok(0);
    }
    if rmdir && !dir_is_empty(k, &loc)? {
        return Err(Errno::ENOTEMPTY);
    }
    let in_lower = overlay_has_lower(k, &loc);
    let dir = mem_parent(k, &parent)?.ok_or(Errno::EACCES)?;
    let removed = dir.dir()?.remove(&name);
    if let Some(n) = &removed {
        let mut m = n.meta.lock();
        m.nlink = m.nlink.saturating_sub(if n.is_dir() { 2 } else { 1 });
        m.ctime = k.now();
    }
    if in_lower {
        let wh = MemNode::new(k.fs_ino(), 0, MemBody::Whiteout, k.creator());
        dir.dir()?.insert(&name, wh);
    }
    if is_dir {
        let mut m = dir.meta.lock();
        m.nlink = m.nlink.saturating_sub(1);
    }
    dir.touch(k.now());
    drop(removed);
    k.fs.vfs.budget.reclaim(&mut k.frames);
    Ok(0)
}

/// Whether an overlay location also exists in the lower layer (so removing it needs a
/// whiteout).
fn overlay_has_lower(k: &Kernel, loc: &Loc) -> bool {
    match &loc.node {
        Node::Overlay { lower: Some(_), .. } => true,
        Node::Overlay { rel, .. } => matches!(
            hypercall::fs_walk(host_id(&k.fs.vfs, loc.mount), rel),
            HostWalk::Found(_) | HostWalk::Symlink { .. }
        ),
        _ => false,
    }
}

/// Whether a directory has no entries (merged, for the overlay).
fn dir_is_empty(k: &mut Kernel, loc: &Loc) -> Result<bool, Errno> {
    Ok(match &loc.node {
        Node::Mem(n) => !n.dir()?.has_visible(),
        Node::Overlay { .. } => super::io::list_dir(k, loc)?.len() <= 2,
        _ => true,
    })
}

/// The location of canonical `p` (for parents of resolved names).
fn node_at(k: &Kernel, p: &[u8]) -> Result<Loc, Errno> {
    let ctx = Ctx {
        vfs: &k.fs.vfs,
        host: &Hypercalls,
        proc: &ProcSelf(k),
    };
    walk::node_for(&ctx, p)
}

pub fn unlink(k: &mut Kernel, path_va: u64) -> SysResult {
    unlinkat(k, AT_FDCWD, path_va, 0)
}

pub fn rmdir(k: &mut Kernel, path_va: u64) -> SysResult {
    unlinkat(k, AT_FDCWD, path_va, AT_REMOVEDIR)
}

pub fn renameat2(
    k: &mut Kernel,
    olddirfd: i32,
    old_va: u64,
    newdirfd: i32,
    new_va: u64,
    flags: u32,
) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
        || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
    {
        return Err(Errno::EINVAL);
    }
    let oldp = path_arg(k, old_va)?;
    let newp = path_arg(k, new_va)?;
    for p in [&oldp, &newp] {
        if matches!(last_component(p), b"." | b"..") {
            return Err(Errno::EBUSY);
        }
    }
    let old = existing(k, olddirfd, &oldp, false)?;
    let (new_res, _) = resolve(k, newdirfd, &newp, false)?;
    let (new_parent, new_name, target) = match new_res {
        Resolution::Found(l) => {
            let parent = node_at(k, path::parent(&l.path))?;
            (parent, path::file_name(&l.path).to_vec(), Some(l))
        }
        Resolution::Missing { parent, name } => (parent, name, None),
    };
    if old.mount != new_parent.mount {
        return Err(Errno::EXDEV);
    }
    for l in [Some(&old), target.as_ref()].into_iter().flatten() {
        if l.path == b"/" || k.fs.vfs.is_mount_point(&l.path).is_some() {
            return Err(Errno::EBUSY);
        }
    }
    readonly(k, &old)?;
    if flags & RENAME_EXCHANGE != 0 && target.is_none() {
        return Err(Errno::ENOENT);
    }
    if let Node::Host { rel: old_rel, .. } = &old.node {
        let id = host_id(&k.fs.vfs, old.mount);
        let new_rel = path::rel_join(k.fs.vfs.rel(&new_parent), &new_name);
        host_changed(k, id);
        return hypercall::fs_rename(id, old_rel, &new_rel, flags).map(|_| 0);
    }
    let (ost, _, _) = attr(k, &old)?;
    let old_dir = is_kind(&ost, S_IFDIR);
    if old_dir && path::is_within(&path::join(&new_parent.path, &new_name), &old.path) {
        return Err(Errno::EINVAL);
    }
    if let Some(t) = &target {
        let same_node = match (&old.node, &t.node) {
            (Node::Mem(a), Node::Mem(b)) => Arc::ptr_eq(a, b),
            (Node::Overlay { upper: Some(a), .. }, Node::Overlay { upper: Some(b), .. }) => {
                Arc::ptr_eq(a, b)
            }
            _ => false,
        };
        // Two names of one file (or one name twice): Linux does nothing.
        if t.path == old.path || same_node {
            return Ok(0);
        }
        if flags & RENAME_NOREPLACE != 0 {
            return Err(Errno::EEXIST);
        }
        let (tst, _, _) = attr(k, t)?;
        let t_dir = is_kind(&tst, S_IFDIR);
        if flags & RENAME_EXCHANGE == 0 {
            if old_dir && !t_dir {
                return Err(Errno::ENOTDIR);
            }
            if !old_dir && t_dir {
                return Err(Errno::EISDIR);
            }
            if t_dir && !dir_is_empty(k, t)? {
                return Err(Errno::ENOTEMPTY);
            }
        }
    }
    if old_dir && matches!(old.node, Node::Overlay { .. }) && overlay_has_lower(k, &old) {
        // As overlayfs without redirect_dir: a lower directory cannot move; `mv` copies.
        return Err(Errno::EXDEV);
    }
    let old_parent = node_at(k, path::parent(&old.path))?;
    check_mem(k, &old_parent, 3)?;
    check_mem(k, &new_parent, 3)?;
    let old_in_lower = overlay_has_lower(k, &old);
    let node = mem_node(k, &old)?.ok_or(Errno::EIO)?;
    let src_dir = mem_parent(k, &old_parent)?.ok_or(Errno::EIO)?;
    let dst_dir = mem_parent(k, &new_parent)?.ok_or(Errno::EIO)?;
    let old_name = path::file_name(&old.path).to_vec();
    let now = k.now();
    if flags & RENAME_EXCHANGE != 0 {
        let other = mem_node(k, target.as_ref().expect("checked"))?.ok_or(Errno::EIO)?;
        dst_dir.dir()?.insert(&new_name, node);
        src_dir.dir()?.insert(&old_name, other);
    } else {
        let replaced = dst_dir.dir()?.get(&new_name).cloned();
        src_dir.dir()?.remove(&old_name);
        if old_in_lower {
            let wh = MemNode::new(k.fs_ino(), 0, MemBody::Whiteout, k.creator());
            src_dir.dir()?.insert(&old_name, wh);
        }
        dst_dir.dir()?.insert(&new_name, node.clone());
        if let Some(r) = replaced
            && !matches!(r.body, MemBody::Whiteout)
        {
            let mut m = r.meta.lock();
            m.nlink = m.nlink.saturating_sub(if r.is_dir() { 2 } else { 1 });
            if r.is_dir() {
                dst_dir.meta.lock().nlink -= 1;
            }
        }
        if old_dir && !Arc::ptr_eq(&src_dir, &dst_dir) {
            src_dir.meta.lock().nlink -= 1;
            dst_dir.meta.lock().nlink += 1;
        }
        node.meta.lock().ctime = now;
    }
    src_dir.touch(now);
    dst_dir.touch(now);
    k.fs.vfs.budget.reclaim(&mut k.frames);
    Ok(0)
}

pub fn rename(k: &mut Kernel, old: u64, new: u64) -> SysResult {
    renameat2(k, AT_FDCWD, old, AT_FDCWD, new, 0)
}

pub fn linkat(
    k: &mut Kernel,
    olddirfd: i32,
    old_va: u64,
    newdirfd: i32,
    new_va: u64,
    flags: u32,
) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let oldp = path_arg(k, old_va)?;
    let old = if oldp.is_empty() && flags & AT_EMPTY_PATH != 0 {
        fd_loc(k, olddirfd)?
    } else {
        existing(k, olddirfd, &oldp, flags & AT_SYMLINK_FOLLOW != 0)?
    };
    let newp = path_arg(k, new_va)?;
    let (parent, name) = match resolve(k, newdirfd, &newp, false)?.0 {
        Resolution::Found(_) => return Err(Errno::EEXIST),
        Resolution::Missing { parent, name } => (parent, name),
    };
    if old.mount != parent.mount {
        return Err(Errno::EXDEV);
    }
    let (st, _, _) = attr(k, &old)?;
    if is_kind(&st, S_IFDIR) {
        return Err(Errno::EPERM);
    }
    readonly(k, &parent)?;
    check_mem(k, &parent, 3)?;
    if let Node::Host { rel, .. } = &old.node {
        let id = host_id(&k.fs.vfs, old.mount);
        let new_rel = path::rel_join(k.fs.vfs.rel(&parent), &name);
        host_changed(k, id);
        return hypercall::fs_link(id, rel, &new_rel).map(|_| 0);
    }
    let node = mem_node(k, &old)?.ok_or(Errno::EPERM)?;
    let dir = mem_parent(k, &parent)?.ok_or(Errno::EACCES)?;
    dir.dir()?.insert(&name, node.clone());
    let now = k.now();
    {
        let mut m = node.meta.lock();
        m.nlink += 1;
        m.ctime = now;
    }
    dir.touch(now);
    Ok(0)
}

pub fn link(k: &mut Kernel, old: u64, new: u64) -> SysResult {
    linkat(k, AT_FDCWD, old, AT_FDCWD, new, 0)
}

pub fn symlinkat(k: &mut Kernel, target_va: u64, dirfd: i32, path_va: u64) -> SysResult {
    let target = path_arg(k, target_va)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let p = path_arg(k, path_va)?;
    let (parent, name) = new_name(k, dirfd, &p)?;
    if let Node::Host { rel, .. } = &parent.node {
        let id = host_id(&k.fs.vfs, parent.mount);
        host_changed(k, id);
        return hypercall::fs_symlink(id, &target, &path::rel_join(rel, &name)).map(|_| 0);
    }
    let dir = mem_parent(k, &parent)?.ok_or(Errno::EACCES)?;
    // A new in-memory node costs kernel heap: ENOSPC (tmpfs out of inodes) when low.
    crate::fd::kernel_memory_for_node().map_err(|_| Errno::ENOSPC)?;
    let node = MemNode::new(k.fs_ino(), 0o777, MemBody::Symlink(target), k.creator());
    dir.dir()?.insert(&name, node);
    dir.touch(k.now());
    Ok(0)
}

pub fn symlink(k: &mut Kernel, target: u64, path_va: u64) -> SysResult {
    symlinkat(k, target, AT_FDCWD, path_va)
}

/// The target of the symlink at `loc`.
pub fn link_target(k: &Kernel, loc: &Loc) -> Result<Vec<u8>, Errno> {
    let host = |rel: &[u8]| match hypercall::fs_walk(host_id(&k.fs.vfs, loc.mount), rel) {
        HostWalk::Symlink { target, .. } => Ok(target),
        HostWalk::Found(_) => Err(Errno::EINVAL),
        HostWalk::Failed { errno, .. } => Err(errno),
    };
    match &loc.node {
        Node::Host { rel, .. }
        | Node::Overlay {
            upper: None, rel, ..
        } => host(rel),
        Node::Mem(n) | Node::Overlay { upper: Some(n), .. } => match &n.body {
            MemBody::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        },
        Node::Proc(p) => crate::vfs::procfs::readlink(&ProcSelf(k), p).ok_or(Errno::EINVAL),
    }
}

pub fn readlinkat(k: &mut Kernel, dirfd: i32, path_va: u64, buf: u64, size: u64) -> SysResult {
    let p = path_arg(k, path_va)?;
    if (size as i32) <= 0 {
        return Err(Errno::EINVAL);
    }
    let loc = if p.is_empty() {
        match k.proc.fds.get(dirfd)?.loc.clone() {
            Some(l) if dirfd != AT_FDCWD => l,
            _ => return Err(Errno::ENOENT),
        }
    } else {
        existing(k, dirfd, &p, false)?
    };
    let target = link_target(k, &loc)?;
    let n = target.len().min(size as usize);
    k.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

pub fn readlink(k: &mut Kernel, path_va: u64, buf: u64, size: u64) -> SysResult {
    readlinkat(k, AT_FDCWD, path_va, buf, size)
}

// ---------------------------------------------------------------------------------------
// attributes
// ---------------------------------------------------------------------------------------

pub fn faccessat2(k: &mut Kernel, dirfd: i32, path_va: u64, want: u32, flags: u32) -> SysResult {
    if want & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = at_loc(k, dirfd, path_va, flags)?;
    let (st, uid, gid) = attr(k, &loc)?;
    if want & 2 != 0
        && !is_kind(&st, S_IFCHR)
        && k.fs.vfs.mounts[loc.mount].readonly
        && !matches!(k.fs.vfs.mounts[loc.mount].fs, Fs::Overlay { .. })
    {
        return Err(Errno::EROFS);
    }
    if want != 0 && !permitted(k, &st, uid, gid, want) {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

pub fn access(k: &mut Kernel, path_va: u64, want: u32) -> SysResult {
    faccessat2(k, AT_FDCWD, path_va, want, 0)
}

/// One attribute change on a location.
enum Change {
    Mode(u32),
    Size(u64),
    Times([i64; 4]),
    Owner(u32, u32),
}

fn change(k: &mut Kernel, loc: &Loc, handle: Option<u64>, c: Change) -> SysResult {
    let now = k.now();
    match &loc.node {
        Node::Proc(_) => return Err(Errno::EPERM),
        Node::Host { rel, .. } => {
            let id = host_id(&k.fs.vfs, loc.mount);
            host_changed(k, id);
            let target = match handle {
                Some(h) => SetattrTarget::Handle(h),
                None => SetattrTarget::Path(id, rel),
            };
            return match c {
                Change::Mode(m) => {
                    hypercall::fs_setattr(target, abi::SETATTR_MODE, m as u64, [0; 4])
                }
                Change::Size(s) => hypercall::fs_setattr(target, abi::SETATTR_SIZE, s, [0; 4]),
                Change::Times(t) => hypercall::fs_setattr(target, abi::SETATTR_TIMES, 0, t),
                Change::Owner(uid, gid) => {
                    let (st, ouid, ogid) = attr(k, loc)?;
                    let uid = if uid == u32::MAX { ouid } else { uid };
                    let gid = if gid == u32::MAX { ogid } else { gid };
                    k.fs.owners.insert((st.dev, st.ino), (uid, gid));
                    Ok(0)
                }
            }
            .map(|_| 0);
        }
        _ => {}
    }
    let n = mem_node(k, loc)?.ok_or(Errno::EIO)?;
    match c {
        Change::Mode(m) => {
            let mut meta = n.meta.lock();
            meta.mode = (meta.mode & S_IFMT) | (m & 0o7777);
            meta.ctime = now;
        }
        Change::Size(s) => {
            if matches!(n.body, MemBody::Image(..)) {
                return Err(Errno::ETXTBSY);
            }
            let MemBody::File(data) = &n.body else {
                return Err(if n.is_dir() {
                    Errno::EISDIR
                } else {
                    Errno::EINVAL
                });
            };
            data.lock().truncate(s)?;
            n.touch(now);
            k.fs.vfs.budget.reclaim(&mut k.frames);
        }
        Change::Times(t) => {
            let mut meta = n.meta.lock();
            if t[1] != UTIME_OMIT {
                meta.atime = if t[1] == UTIME_NOW { now } else { [t[0], t[1]] };
            }
            if t[3] != UTIME_OMIT {
                meta.mtime = if t[3] == UTIME_NOW { now } else { [t[2], t[3]] };
            }
            meta.ctime = now;
        }
        Change::Owner(uid, gid) => {
            let mut meta = n.meta.lock();
            if uid != u32::MAX {
                meta.uid = uid;
            }
            if gid != u32::MAX {
                meta.gid = gid;
            }
            meta.ctime = now;
        }
    }
    Ok(0)
}

/// Mode changes need ownership (or root), as on Linux.
fn owns(k: &Kernel, loc: &Loc) -> Result<(), Errno> {
    let (_, uid, _) = attr(k, loc)?;
    if k.machine.uid != 0 && uid != k.machine.uid {
        return Err(Errno::EPERM);
    }
    Ok(())
}

pub fn fchmodat(k: &mut Kernel, dirfd: i32, path_va: u64, m: u32, flags: u32) -> SysResult {
    if flags & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = at_loc(k, dirfd, path_va, flags)?;
    if flags & AT_SYMLINK_NOFOLLOW != 0 && is_kind(&attr(k, &loc)?.0, S_IFLNK) {
        return Err(Errno::EOPNOTSUPP);
    }
    owns(k, &loc)?;
    readonly(k, &loc)?;
    change(k, &loc, None, Change::Mode(m))
}

pub fn chmod(k: &mut Kernel, path_va: u64, m: u32) -> SysResult {
    fchmodat(k, AT_FDCWD, path_va, m, 0)
}

/// An open file's location and host handle, for the f* attribute calls.
fn fd_target(k: &Kernel, fd: i32) -> Result<(Loc, Option<u64>), Errno> {
    let f = k.proc.fds.get(fd)?;
    let loc = f.loc.clone().ok_or(Errno::EINVAL)?;
    let handle = match f.kind {
        FileKind::HostFile { handle, .. } => Some(handle),
        FileKind::Path => return Err(Errno::EBADF),
        _ => None,
    };
    Ok((loc, handle))
}

/// Drops the cached attributes of a host file after a change through it.
fn forget_stat(k: &Kernel, fd: i32) {
    if let Ok(f) = k.proc.fds.get(fd)
        && let FileKind::HostFile { stat, .. } = &f.kind
    {
        stat.clear();
    }
}

pub fn fchmod(k: &mut Kernel, fd: i32, m: u32) -> SysResult {
    let (loc, handle) = fd_target(k, fd)?;
    owns(k, &loc)?;
    readonly(k, &loc)?;
    forget_stat(k, fd);
    change(k, &loc, handle, Change::Mode(m))
}

pub fn fchownat(
    k: &mut Kernel,
    dirfd: i32,
    path_va: u64,
    uid: u32,
    gid: u32,
    flags: u32,
) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = at_loc(k, dirfd, path_va, flags)?;
    chown_loc(k, &loc, uid, gid)
}

fn chown_loc(k: &mut Kernel, loc: &Loc, uid: u32, gid: u32) -> SysResult {
    let (_, ouid, ogid) = attr(k, loc)?;
    if k.machine.uid != 0 {
        let uid_ok = uid == u32::MAX || uid == ouid;
        let gid_ok = gid == u32::MAX || gid == ogid || gid == k.machine.gid;
        if ouid != k.machine.uid || !uid_ok || !gid_ok {
            return Err(Errno::EPERM);
        }
    }
    readonly(k, loc)?;
    change(k, loc, None, Change::Owner(uid, gid))
}

pub fn fchown(k: &mut Kernel, fd: i32, uid: u32, gid: u32) -> SysResult {
    let (loc, _) = fd_target(k, fd)?;
    chown_loc(k, &loc, uid, gid)
}

pub fn chown(k: &mut Kernel, path_va: u64, uid: u32, gid: u32, follow: bool) -> SysResult {
    let flags = if follow { 0 } else { AT_SYMLINK_NOFOLLOW };
    fchownat(k, AT_FDCWD, path_va, uid, gid, flags)
}

/// utimensat; `times` null = now; a null path acts on `dirfd` itself.
pub fn utimensat(k: &mut Kernel, dirfd: i32, path_va: u64, times: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let t = if times == 0 {
        [0, UTIME_NOW, 0, UTIME_NOW]
    } else {
        let w = k.read_words::<4>(times)?;
        let t = [w[0] as i64, w[1] as i64, w[2] as i64, w[3] as i64];
        for ns in [t[1], t[3]] {
            if !(0..1_000_000_000).contains(&ns) && ns != UTIME_NOW && ns != UTIME_OMIT {
                return Err(Errno::EINVAL);
            }
        }
        t
    };
    set_times(k, dirfd, path_va, flags, t)
}

fn set_times(k: &mut Kernel, dirfd: i32, path_va: u64, flags: u32, t: [i64; 4]) -> SysResult {
    let (loc, handle) = if path_va == 0 {
        let r = fd_target(k, dirfd)?;
        forget_stat(k, dirfd);
        r
    } else {
        (at_loc(k, dirfd, path_va, flags)?, None)
    };
    if t[1] == UTIME_OMIT && t[3] == UTIME_OMIT {
        return Ok(0);
    }
    readonly(k, &loc)?;
    change(k, &loc, handle, Change::Times(t))
}

/// utimes/futimesat: timeval pairs; `utime` passes `utimbuf` seconds.
pub fn utimes(k: &mut Kernel, dirfd: i32, path_va: u64, tv: u64, seconds_only: bool) -> SysResult {
    let t = if tv == 0 {
        [0, UTIME_NOW, 0, UTIME_NOW]
    } else if seconds_only {
        let w = k.read_words::<2>(tv)?;
        [w[0] as i64, 0, w[1] as i64, 0]
    } else {
        let w = k.read_words::<4>(tv)?;
        if w[1] >= 1_000_000 || w[3] >= 1_000_000 {
            return Err(Errno::EINVAL);
        }
        [
            w[0] as i64,
            w[1] as i64 * 1000,
            w[2] as i64,
            w[3] as i64 * 1000,
        ]
    };
    set_times(k, dirfd, path_va, 0, t)
}

pub fn truncate(k: &mut Kernel, path_va: u64, len: i64) -> SysResult {
    let p = path_arg(k, path_va)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let loc = existing(k, AT_FDCWD, &p, true)?;
    let (st, _, _) = attr(k, &loc)?;
    if is_kind(&st, S_IFDIR) {
        return Err(Errno::EISDIR);
    }
    if !is_kind(&st, S_IFREG) {
        return Err(Errno::EINVAL);
    }
    readonly(k, &loc)?;
    check_mem(k, &loc, 2)?;
    change(k, &loc, None, Change::Size(len as u64))?;
    if crate::vfs::mapping::any_file_mapped(k) {
        crate::vfs::mapping::truncated(k, st.dev, st.ino, len as u64);
    }
    Ok(0)
}

pub fn ftruncate(k: &mut Kernel, fd: i32, len: i64) -> SysResult {
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let f = k.proc.fds.get(fd)?.clone();
    if *f.flags.lock() & O_ACCMODE == O_RDONLY || matches!(f.kind, FileKind::Path) {
        return Err(if matches!(f.kind, FileKind::Path) {
            Errno::EBADF
        } else {
            Errno::EINVAL
        });
    }
    match &f.kind {
        FileKind::HostFile { handle, .. } => {
            changed_through(k, &f);
            hypercall::fs_setattr(
                SetattrTarget::Handle(*handle),
                abi::SETATTR_SIZE,
                len as u64,
                [0; 4],
            )?;
        }
        FileKind::Mem(n) if !n.is_dir() => {
            let MemBody::File(data) = &n.body else {
                return Err(Errno::EINVAL);
            };
            data.lock().truncate(len as u64)?;
            n.touch(k.now());
            k.fs.vfs.budget.reclaim(&mut k.frames);
        }
        _ => return Err(Errno::EINVAL),
    }
    resized(k, &f, len as u64);
    Ok(0)
}

/// After the sandbox set the size of `file`: its mappings lose the pages past the end
/// (see [`crate::vfs::mapping::truncated`]).
fn resized(k: &mut Kernel, file: &OpenFile, size: u64) {
    if !crate::vfs::mapping::any_file_mapped(k) {
        return;
    }
    if let Ok((st, _, _)) = super::io::stat_of_open(k, file) {
        crate::vfs::mapping::truncated(k, st.dev, st.ino, size);
    }
}

pub fn fallocate(k: &mut Kernel, fd: i32, fmode: u32, offset: i64, len: i64) -> SysResult {
    let f = k.proc.fds.get(fd)?.clone();
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if *f.flags.lock() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    let end = (offset as u64)
        .checked_add(len as u64)
        .ok_or(Errno::EFBIG)?;
    if end > i64::MAX as u64 {
        return Err(Errno::EFBIG);
    }
    match &f.kind {
        FileKind::HostFile { handle, .. } => {
            changed_through(k, &f);
            hypercall::fs_allocate(*handle, fmode, offset as u64, len as u64).map(|_| 0)
        }
        FileKind::Mem(n) => {
            let MemBody::File(data) = &n.body else {
                return Err(Errno::ENODEV);
            };
            const KEEP_SIZE: u32 = 1;
            if fmode & !KEEP_SIZE != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            let mut d = data.lock();
            let size = d.size;
            d.allocate_with(offset as u64, len as u64, &mut k.frames, |_, _, _| Ok(()))?;
            if fmode & KEEP_SIZE != 0 {
                d.size = size;
            }
            Ok(0)
        }
        FileKind::Pipe(_) => Err(Errno::ESPIPE),
        _ => Err(Errno::ENODEV),
    }
}

pub fn fsync(k: &mut Kernel, fd: i32, datasync: bool) -> SysResult {
    let f = k.proc.fds.get(fd)?.clone();
    match &f.kind {
        FileKind::HostFile { handle, mount, .. } => {
            // What shared mappings wrote goes to the file first.
            if crate::vfs::mapping::any_host_shared() {
                let (st, _, _) = super::io::stat_of_open(k, &f)?;
                crate::vfs::mapping::sync_host_file(*mount, st.ino)?;
            }
            hypercall::fs_sync(*handle, datasync).map(|_| 0)
        }
        FileKind::Path => Err(Errno::EBADF),
        FileKind::Pipe(_) | FileKind::Host { .. } => Err(Errno::EINVAL),
        // In-memory files have nowhere further to go.
        _ => Ok(0),
    }
}

/// sync/syncfs: flush every open host file.
pub fn sync(k: &mut Kernel) -> SysResult {
    crate::vfs::mapping::sync_all_host();
    for fd in k.proc.fds.open_fds() {
        if let Ok(f) = k.proc.fds.get(fd as i32)
            && let FileKind::HostFile { handle, .. } = f.kind
        {
            let _ = hypercall::fs_sync(handle, false);
        }
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------
// cwd, statfs, umask, locks
// ---------------------------------------------------------------------------------------

pub fn chdir(k: &mut Kernel, path_va: u64) -> SysResult {
    let p = path_arg(k, path_va)?;
    let loc = existing(k, AT_FDCWD, &p, true)?;
    enter(k, loc)
}

fn enter(k: &mut Kernel, loc: Loc) -> SysResult {
    let (st, _, _) = attr(k, &loc)?;
    if !is_kind(&st, S_IFDIR) {
        return Err(Errno::ENOTDIR);
    }
    check_mem(k, &loc, 1)?;
    k.proc.fs.lock().cwd = loc;
    Ok(0)
}

pub fn fchdir(k: &mut Kernel, fd: i32) -> SysResult {
    k.proc.fds.get(fd)?;
    let loc = fd_loc(k, fd).map_err(|_| Errno::ENOTDIR)?;
    enter(k, loc)
}

pub fn getcwd(k: &mut Kernel, buf: u64, size: u64) -> SysResult {
    let cwd = k.proc.fs.lock().cwd.clone();
    if removed(k, &cwd) {
        return Err(Errno::ENOENT);
    }
    let mut p = cwd.path;
    p.push(0);
    if (size as usize) < p.len() {
        return Err(Errno::ERANGE);
    }
    k.copy_out(buf, &p)?;
    Ok(p.len() as u64)
}

pub fn umask(k: &mut Kernel, mask: u32) -> SysResult {
    let mut fs = k.proc.fs.lock();
    let old = fs.umask;
    fs.umask = mask & 0o777;
    Ok(old as u64)
}

/// `struct statfs` for a location's file system.
fn statfs_of(k: &Kernel, loc: &Loc) -> Result<[u8; 120], Errno> {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const PROC_SUPER_MAGIC: u64 = 0x9fa0;
    const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;
    const ST_RDONLY: u64 = 1;
    let m = &k.fs.vfs.mounts[loc.mount];
    let (used, limit) = k.fs.vfs.budget.usage();
    let mem = |magic| abi::HostStatfs {
        fs_type: magic,
        bsize: 4096,
        blocks: limit / 4096,
        bfree: (limit - used.min(limit)) / 4096,
        bavail: (limit - used.min(limit)) / 4096,
        files: 1 << 20,
        ffree: (1 << 20) - k.fs.next_ino.min(1 << 20),
        namelen: 255,
        frsize: 4096,
        flags: 0,
    };
    let s = match &m.fs {
        Fs::Host { id } => {
            let mut s = hypercall::fs_statfs(*id)?;
            if m.readonly {
                s.flags |= ST_RDONLY;
            }
            s
        }
        Fs::Overlay { lower, .. } => {
            let mut s = hypercall::fs_statfs(*lower)?;
            s.fs_type = OVERLAYFS_SUPER_MAGIC;
            s.flags &= !ST_RDONLY;
            s
        }
        Fs::Mem(_) => mem(TMPFS_MAGIC),
        Fs::Proc => abi::HostStatfs {
            fs_type: PROC_SUPER_MAGIC,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            ..Default::default()
        },
    };
    let mut b = [0u8; 120];
    let words = [
        s.fs_type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, m.dev, s.namelen,
        s.frsize, s.flags,
    ];
    for (i, w) in words.iter().enumerate() {
        b[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    Ok(b)
}

pub fn statfs(k: &mut Kernel, path_va: u64, buf: u64) -> SysResult {
    let p = path_arg(k, path_va)?;
    let loc = existing(k, AT_FDCWD, &p, true)?;
    let b = statfs_of(k, &loc)?;
    k.copy_out(buf, &b)?;
    Ok(0)
}

pub fn fstatfs(k: &mut Kernel, fd: i32, buf: u64) -> SysResult {
    let f = k.proc.fds.get(fd)?.clone();
    let b = match &f.loc {
        Some(loc) => statfs_of(k, loc)?,
        None => {
            // pipes and stdio: pipefs / the host's
            let mut b = [0u8; 120];
            b[..8].copy_from_slice(&0x5049_5045u64.to_le_bytes());
            b[8..16].copy_from_slice(&4096u64.to_le_bytes());
            b[64..72].copy_from_slice(&255u64.to_le_bytes());
            b
        }
    };
    k.copy_out(buf, &b)?;
    Ok(0)
}

/// F_GETLK / F_SETLK / F_SETLKW and the OFD forms: `struct flock` at `arg`.
pub fn record_lock(k: &mut Kernel, fd: i32, cmd: u32, arg: u64) -> SysResult {
    const F_GETLK: u32 = 5;
    const F_SETLKW: u32 = 7;
    const F_OFD_GETLK: u32 = 36;
    const F_OFD_SETLKW: u32 = 38;
    const F_RDLCK: u16 = 0;
    const F_WRLCK: u16 = 1;
    const F_UNLCK: u16 = 2;
    let f = k.proc.fds.get(fd)?.clone();
    let mut raw = [0u8; 32];
    k.copy_in(arg, &mut raw)?;
    let ltype = u16::from_le_bytes([raw[0], raw[1]]);
    let whence = u16::from_le_bytes([raw[2], raw[3]]);
    let start = i64::from_le_bytes(raw[8..16].try_into().expect("8 bytes"));
    let len = i64::from_le_bytes(raw[16..24].try_into().expect("8 bytes"));
    let l_pid = i32::from_le_bytes(raw[24..28].try_into().expect("4 bytes"));
    let ofd = cmd >= F_OFD_GETLK;
    if ltype > F_UNLCK || whence > 2 || (ofd && l_pid != 0) {
        return Err(Errno::EINVAL);
    }
    if matches!(f.kind, FileKind::Path) {
        return Err(Errno::EBADF);
    }
    let (st, _, _) = super::io::fstat_of(k, fd)?;
    let base = match whence {
        0 => 0,
        1 => super::io::position(k, &f)? as i64,
        _ => st.size as i64,
    };
    let from = base.checked_add(start).ok_or(Errno::EOVERFLOW)?;
    let (lo, hi) = match len {
        0 => (from, i64::MAX),
        l if l > 0 => (from, from.checked_add(l).ok_or(Errno::EOVERFLOW)?),
        l => (from + l, from),
    };
    if lo < 0 {
        return Err(Errno::EINVAL);
    }
    let owner = if ofd {
        Owner::File(Arc::as_ptr(&f) as usize)
    } else {
        Owner::Process(k.proc.pid)
    };
    let want = Lock {
        dev: st.dev,
        ino: st.ino,
        family: Family::Record,
        owner,
        write: ltype == F_WRLCK,
        start: lo as u64,
        end: if hi == i64::MAX { u64::MAX } else { hi as u64 },
    };
    if cmd == F_GETLK || cmd == F_OFD_GETLK {
        if ltype == F_UNLCK {
            return Err(Errno::EINVAL);
        }
        let mut out = raw;
        match k.fs.locks.conflict(&want) {
            None => out[..2].copy_from_slice(&F_UNLCK.to_le_bytes()),
            Some(l) => {
                let t = if l.write { F_WRLCK } else { F_RDLCK };
                out[..2].copy_from_slice(&t.to_le_bytes());
                out[2..4].copy_from_slice(&0u16.to_le_bytes());
                out[8..16].copy_from_slice(&(l.start as i64).to_le_bytes());
                let l_len = if l.end == u64::MAX {
                    0
                } else {
                    (l.end - l.start) as i64
                };
                out[16..24].copy_from_slice(&l_len.to_le_bytes());
                let pid = match l.owner {
                    Owner::Process(p) => p as i32,
                    Owner::File(_) => -1,
                };
                out[24..28].copy_from_slice(&pid.to_le_bytes());
            }
        }
        k.copy_out(arg, &out)?;
        return Ok(0);
    }
    let acc = *f.flags.lock() & O_ACCMODE;
    if (ltype == F_RDLCK && acc == O_WRONLY) || (ltype == F_WRLCK && acc == O_RDONLY) {
        return Err(Errno::EBADF);
    }
    if ltype != F_UNLCK && k.fs.locks.conflict(&want).is_some() {
        if cmd == F_SETLKW || cmd == F_OFD_SETLKW {
            // Wait for the holder to unlock (a lock of this process's other description
            // can deadlock, as on Linux).
            let _ = ofd;
            return Err(k.block(crate::sched::Wait::Lock, 0));
        }
        return Err(Errno::EAGAIN);
    }
    if ltype != F_UNLCK {
        // Each lock is kernel memory: ENOLCK when it runs low, as Linux when it cannot
        // allocate one.
        crate::fd::kernel_memory_left().map_err(|_| Errno::ENOLCK)?;
    }
    k.fs.locks.set(want, ltype == F_UNLCK)?;
    k.wake_where(|w| *w == crate::sched::Wait::Lock);
    Ok(0)
}

/// `flock`: whole-file locks owned by the open file description.
pub fn flock(k: &mut Kernel, fd: i32, op: u32) -> SysResult {
    const LOCK_SH: u32 = 1;
    const LOCK_EX: u32 = 2;
    const LOCK_NB: u32 = 4;
    const LOCK_UN: u32 = 8;
    let f = k.proc.fds.get(fd)?.clone();
    if matches!(f.kind, FileKind::Path) {
        return Err(Errno::EBADF);
    }
    let kind = op & !LOCK_NB;
    if !matches!(kind, LOCK_SH | LOCK_EX | LOCK_UN) {
        return Err(Errno::EINVAL);
    }
    let (st, _, _) = super::io::fstat_of(k, fd)?;
    let want = Lock {
        dev: st.dev,
        ino: st.ino,
        family: Family::Flock,
        owner: Owner::File(Arc::as_ptr(&f) as usize),
        write: kind == LOCK_EX,
        start: 0,
        end: u64::MAX,
    };
    if kind != LOCK_UN && k.fs.locks.conflict(&want).is_some() {
        if op & LOCK_NB != 0 {
            return Err(Errno::EAGAIN);
        }
        return Err(k.block(crate::sched::Wait::Lock, 0));
    }
    if kind != LOCK_UN {
        crate::fd::kernel_memory_left().map_err(|_| Errno::ENOLCK)?;
    }
    k.fs.locks.set(want, kind == LOCK_UN)?;
    k.wake_where(|w| *w == crate::sched::Wait::Lock);
    Ok(0)
}

// ---------------------------------------------------------------------------------------
// Extended attributes
// ---------------------------------------------------------------------------------------

/// Which file an xattr call names: a path (followed or not) or a descriptor.
pub enum XattrTarget {
    Path { va: u64, follow: bool },
    Fd(i32),
}

/// get/set/remove/list of extended attributes. hull's file systems keep none, which
/// Linux reports as EOPNOTSUPP for get, set and remove and as an empty list (0) for
/// list, after finding the file and checking the name (ERANGE for an empty or a longer
/// than 255-byte name). `name_va` is None for the list calls.
pub fn xattr(k: &mut Kernel, target: XattrTarget, name_va: Option<u64>) -> SysResult {
    match target {
        XattrTarget::Path { va, follow } => {
            let path = k.read_path(va)?;
            existing(k, AT_FDCWD, &path, follow)?;
        }
        XattrTarget::Fd(fd) => {
            if matches!(k.proc.fds.get(fd)?.kind, FileKind::Path) {
                return Err(Errno::EBADF);
            }
        }
    }
    let Some(va) = name_va else {
        return Ok(0);
    };
    let name = crate::mm::uaccess::read_cstring(
        &mut k.proc.aspace,
        &mut k.frames,
        va,
        255,
        Errno::ERANGE,
    )?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    Err(Errno::EOPNOTSUPP)
}
