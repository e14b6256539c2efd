//! The host file server: the mount table and the file hypercalls (`FsWalk` … `FsCopyRange`,
//! see `hull_arch::abi`).
//!
//! Each mount is an `O_PATH` descriptor of a host directory. A path from the guest is copied
//! out and checked first ([`RelPath`]): relative, components separated by single `/`, no
//! `.` or `..`, no NUL. Every resolution then goes through `openat2` beneath the mount's
//! root with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`, and operations
//! on a final name (`mkdirat`, `unlinkat`, `renameat2`, `linkat`, `symlinkat`) act relative
//! to an `O_PATH` descriptor of its parent obtained that way. So the host never follows a
//! symlink, never sees `..`, and cannot name anything outside the mount's directory, even
//! while someone swaps directories and symlinks underneath it. The guest resolves `..` and
//! symlinks itself (it reads symlinks with `FsWalk`).
//!
//! Read-only mounts are enforced here, not trusted to the guest: every write-side operation
//! fails with `EROFS` (after the lookup errors Linux reports first, so `mkdir -p` behaves
//! as on a read-only Linux mount), and handles opened beneath them are never writable and
//! refuse attribute changes.
//!
//! Only regular files and directories are opened: a FIFO would block the server and a
//! device node may act on open, so both fail with `EACCES`, as on a `nodev` mount. (The
//! type is checked on an `O_PATH` descriptor before the real open and again after it.)
//!
//! A path covered by a nested mount (`/data/sub` when `/data/sub` is a mount of its own,
//! asked for through `/data`) is a protocol error: a correct guest routes it to the nested
//! mount, and serving it through the outer one would bypass the nested mount's read-only
//! flag when the host directories nest too.
//!
//! A hard link inside a mount to a file outside it (made on the host before the run) is the
//! same file: the guest can read it, and write it on a read-write mount. Mount only
//! directories whose contents you mean to share; the guest cannot make such links itself,
//! since it can only name paths beneath its mounts.
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use hull_arch::abi::{
    self, HostStat, HostStatfs, MAX_PATH, MAX_SYMLINK_TARGET, MOUNT_READONLY, MOUNT_ROOT_LOWER,
    OFFSET_CURRENT, Op,
};

use crate::guest_memory::GuestMemory;
use crate::host_io;
use crate::hypercall::{HandleTable, ProtocolError, encode_stat, read_segments};

/// A Linux errno value (positive).
pub type Errno = i32;

/// Why the mount table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("{what} {path}: {err}; give an existing host directory")]
    Open {
        what: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("--mount: the guest path {0} is mounted twice; give each mount its own guest path")]
    Duplicate(String),
}

/// One `--mount` (or `--root`) as the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// The host directory.
    pub host: PathBuf,
    /// Where the guest sees it: absolute and normalized.
    pub guest: Vec<u8>,
    pub readonly: bool,
}

/// A host directory in the policy.
#[derive(Debug)]
pub struct Mount {
    root: OwnedFd,
    readonly: bool,
    flags: u32,
    guest: Vec<u8>,
    /// The host directory, canonical (for naming the program the guest runs).
    host: PathBuf,
    /// Paths relative to this mount that other mounts cover.
    covered: Vec<Vec<u8>>,
}

impl Mount {
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    fn covers(&self, raw: &[u8]) -> bool {
        self.covered
            .iter()
            .any(|c| raw.starts_with(c) && matches!(raw.get(c.len()), None | Some(b'/')))
    }
}

/// `path` strictly beneath `dir` (both absolute and normalized): the rest, relative.
fn beneath<'p>(dir: &[u8], path: &'p [u8]) -> Option<&'p [u8]> {
    if dir == b"/" {
        return path.get(1..).filter(|r| !r.is_empty());
    }
    path.strip_prefix(dir)?
        .strip_prefix(b"/")
        .filter(|r| !r.is_empty())
}

/// The mount table; a mount's id is its index.
#[derive(Debug, Default)]
pub struct Mounts {
    list: Vec<Mount>,
}

fn open_host_dir(path: &Path) -> std::io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)?;
    Ok(f.into())
}

impl Mounts {
    /// Opens the host directories: `root` (the `--root` tree, guest `/`, read-only lower
    /// layer) first, then each `--mount` in order.
    pub fn open(root: Option<&Path>, specs: &[MountSpec]) -> Result<Self, MountError> {
        let mut list: Vec<Mount> = Vec::new();
        let all = root
            .map(|r| {
                (
                    "--root",
                    MountSpec {
                        host: r.into(),
                        guest: b"/".to_vec(),
                        readonly: true,
                    },
                    MOUNT_ROOT_LOWER | MOUNT_READONLY,
                )
            })
            .into_iter()
            .chain(specs.iter().map(|s| {
                (
                    "--mount",
                    s.clone(),
                    if s.readonly { MOUNT_READONLY } else { 0 },
                )
            }));
        for (what, spec, flags) in all {
            if list.iter().any(|m| m.guest == spec.guest) {
                return Err(MountError::Duplicate(
                    String::from_utf8_lossy(&spec.guest).into_owned(),
                ));
            }
            let err = |err| MountError::Open {
                what,
                path: spec.host.clone(),
                err,
            };
            let fd = open_host_dir(&spec.host).map_err(err)?;
            let host = std::fs::canonicalize(&spec.host).unwrap_or_else(|_| spec.host.clone());
            list.push(Mount {
                root: fd,
                readonly: spec.readonly,
                flags,
                guest: spec.guest,
                host,
                covered: Vec::new(),
            });
        }
        let guests: Vec<Vec<u8>> = list.iter().map(|m| m.guest.clone()).collect();
        for m in &mut list {
            m.covered = guests
                .iter()
                .filter_map(|g| beneath(&m.guest, g).map(<[u8]>::to_vec))
                .collect();
        }
        Ok(Mounts { list })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The boot-info blob: one [`abi::MountRecord`] per mount (id, flags, path length as
    /// little-endian u32, then the guest path), back to back.
    pub fn boot_records(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for (id, m) in self.list.iter().enumerate() {
            b.extend_from_slice(&(id as u32).to_le_bytes());
            b.extend_from_slice(&m.flags.to_le_bytes());
            b.extend_from_slice(&(m.guest.len() as u32).to_le_bytes());
            b.extend_from_slice(&m.guest);
        }
        b
    }

    /// The mount that serves the absolute, normalized guest path `path` (the one with the
    /// longest guest path at or above it) and the rest of the path relative to it.
    pub fn route<'p>(&self, path: &'p [u8]) -> Option<(&Mount, &'p [u8])> {
        self.list
            .iter()
            .filter_map(|m| {
                if m.guest == path {
                    Some((m, &path[path.len()..]))
                } else {
                    beneath(&m.guest, path).map(|rest| (m, rest))
                }
            })
            .max_by_key(|(m, _)| m.guest.len())
    }

    /// Opens the program `path` (absolute, normalized, in the guest's tree) for reading.
    /// Resolution stays inside the mount that serves it: symlinks are followed with
    /// `RESOLVE_IN_ROOT`, so `/bin/ls -> /bin/busybox` means the mount's own `bin/busybox`.
    /// Returns the file and the guest path it resolved to (for `/proc/self/exe`).
    pub fn open_program(&self, path: &[u8]) -> Result<(std::fs::File, Vec<u8>), Errno> {
        let (m, rest) = self.route(path).ok_or(libc::ENOENT)?;
        let rel = RelPath::c_or_dot(rest)?;
        let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        let obj = sys::openat2(m.root(), &rel, O_PATH_FOLLOW, 0, resolve)?;
        let st = stat(obj.as_fd())?;
        match st.mode & libc::S_IFMT {
            libc::S_IFDIR => return Err(libc::EISDIR),
            libc::S_IFREG if st.mode & 0o111 != 0 => {}
            _ => return Err(libc::EACCES),
        }
        let flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
        let fd = sys::openat2(m.root(), &rel, flags, 0, resolve)?;
        let now = stat(fd.as_fd())?;
        if (now.dev, now.ino) != (st.dev, st.ino) {
            return Err(libc::EAGAIN);
        }
        let exe = std::fs::read_link(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            fd.as_raw_fd()
        }))
        .ok()
        .and_then(|host| {
            use std::os::unix::ffi::OsStrExt;
            let inner = host.strip_prefix(&m.host).ok()?;
            let mut g = m.guest.clone();
            for c in inner.components() {
                if g.last() != Some(&b'/') {
                    g.push(b'/');
                }
                g.extend_from_slice(c.as_os_str().as_bytes());
            }
            Some(g)
        })
        .unwrap_or_else(|| path.to_vec());
        Ok((std::fs::File::from(fd), exe))
    }
}

/// Normalizes an absolute guest path lexically: repeated `/` collapse, `.` goes, `..` drops
/// the previous component (and stays at `/`). The result is absolute, without a trailing
/// `/` (except `/` itself).
pub fn normalize_guest_path(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for c in parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

/// A checked path relative to a mount root.
#[derive(Debug)]
struct RelPath {
    raw: Vec<u8>,
    /// The whole path; `.` for the root.
    whole: CString,
    /// The parent of the final component; `.` for a top-level name or the root.
    parent: CString,
    comps: Vec<CString>,
}

impl RelPath {
    /// Checks a path as the guest sent it (see the module docs of `hull_arch::abi`).
    fn parse(raw: Vec<u8>) -> Result<Self, &'static str> {
        if raw.len() > MAX_PATH {
            return Err("path longer than MAX_PATH");
        }
        let mut comps = Vec::new();
        if !raw.is_empty() {
            for c in raw.split(|&b| b == b'/') {
                match c {
                    b"" => return Err("empty path component (leading, trailing or double '/')"),
                    b"." | b".." => return Err("'.' or '..' in a path"),
                    c => comps.push(CString::new(c).map_err(|_| "NUL in a path")?),
                }
            }
        }
        let whole = Self::c_or_dot(&raw).map_err(|_| "NUL in a path")?;
        let parent = match raw.iter().rposition(|&b| b == b'/') {
            Some(i) => CString::new(&raw[..i]).map_err(|_| "NUL in a path")?,
            None => c".".to_owned(),
        };
        Ok(RelPath {
            raw,
            whole,
            parent,
            comps,
        })
    }

    fn c_or_dot(p: &[u8]) -> Result<CString, Errno> {
        if p.is_empty() {
            Ok(c".".to_owned())
        } else {
            CString::new(p).map_err(|_| libc::EINVAL)
        }
    }

    /// The parent path and the final name; `None` for the root.
    fn split(&self) -> Option<(&CStr, &CStr)> {
        self.comps
            .last()
            .map(|name| (self.parent.as_c_str(), name.as_c_str()))
    }
}

const RESOLVE: u64 =
    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
/// An `O_PATH` descriptor of the object itself (a final symlink is returned, not followed).
const O_PATH_NOFOLLOW: u64 = (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
const O_PATH_FOLLOW: u64 = (libc::O_PATH | libc::O_CLOEXEC) as u64;
/// An `O_PATH` descriptor of a directory (any symlink on the way is ELOOP).
const O_PATH_DIR: u64 = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
/// Linux's cap on one transfer.
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// How often `FsOpen` retries when the file changes between its check and its open.
const OPEN_RETRIES: usize = 4;

fn errno(e: std::io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn stat(fd: BorrowedFd<'_>) -> Result<HostStat, Errno> {
    host_io::fstat(fd).map_err(errno)
}

fn kind(st: &HostStat) -> u32 {
    st.mode & libc::S_IFMT
}

/// The object at `path` beneath `root`, without following anything (O_PATH).
fn lookup(root: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    sys::openat2(root, path, O_PATH_NOFOLLOW, 0, RESOLVE)
}

/// The directory at `path` beneath `root` (O_PATH).
fn open_dir(root: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    sys::openat2(root, path, O_PATH_DIR, 0, RESOLVE)
}

/// The result of `FsWalk`.
#[derive(Debug, PartialEq, Eq)]
enum Walk {
    Found(HostStat),
    Symlink {
        index: usize,
        st: HostStat,
        target: Vec<u8>,
    },
    Failed {
        index: usize,
        errno: Errno,
    },
}

/// What the object behind `fd` (component `index`) is.
fn classify(fd: BorrowedFd<'_>, index: usize) -> Walk {
    let st = match stat(fd) {
        Ok(st) => st,
        Err(errno) => return Walk::Failed { index, errno },
    };
    if kind(&st) != libc::S_IFLNK {
        return Walk::Found(st);
    }
    let mut buf = vec![0u8; MAX_SYMLINK_TARGET + 1];
    match sys::readlinkat(fd, c"", &mut buf) {
        Ok(n) if n <= MAX_SYMLINK_TARGET => {
            buf.truncate(n);
            Walk::Symlink {
                index,
                st,
                target: buf,
            }
        }
        Ok(_) => Walk::Failed {
            index,
            errno: libc::ENAMETOOLONG,
        },
        Err(errno) => Walk::Failed { index, errno },
    }
}

/// Walks `p` beneath `root`: one `openat2` for the whole path, and on failure one step per
/// component to find the first symlink or the component that failed.
fn walk(root: BorrowedFd<'_>, p: &RelPath) -> Walk {
    let last = p.comps.len().saturating_sub(1);
    let first = match lookup(root, &p.whole) {
        Ok(fd) => return classify(fd.as_fd(), last),
        Err(e) => e,
    };
    let mut cur: Option<OwnedFd> = None;
    for (i, c) in p.comps.iter().enumerate() {
        let dir = cur.as_ref().map_or(root, |f| f.as_fd());
        let fd = match lookup(dir, c) {
            Ok(fd) => fd,
            Err(errno) => return Walk::Failed { index: i, errno },
        };
        match classify(fd.as_fd(), i) {
            Walk::Found(_) if i < last => cur = Some(fd),
            w => return w,
        }
    }
    Walk::Failed {
        index: 0,
        errno: first,
    }
}

/// Serves the file hypercalls of one sandbox.
#[derive(Debug)]
pub struct FileServer {
    mounts: Mounts,
    /// The host has `fchmodat2` (Linux ≥ 6.6); cleared on the first `ENOSYS`.
    chmod2: bool,
}

/// Reads `len` bytes at `offset` into the data area of the block.
fn read_data(
    mem: &GuestMemory,
    op: Op,
    data_gpa: u64,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, ProtocolError> {
    let bad = ProtocolError::Malformed {
        op,
        why: "arguments exceed the data area",
    };
    let end = offset.checked_add(len).ok_or(bad)?;
    if end > abi::DATA_SIZE as u64 {
        return Err(ProtocolError::Malformed {
            op,
            why: "arguments exceed the data area",
        });
    }
    let mut b = vec![0u8; len as usize];
    mem.read(data_gpa + offset, &mut b)?;
    Ok(b)
}

fn result(r: Result<i64, Errno>) -> i64 {
    r.unwrap_or_else(|e| -(e as i64))
}

impl FileServer {
    pub fn new(mounts: Mounts) -> Self {
        FileServer {
            mounts,
            chmod2: true,
        }
    }

    fn mount(&self, op: Op, id: u64) -> Result<&Mount, ProtocolError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.mounts.list.get(i))
            .ok_or(ProtocolError::Malformed {
                op,
                why: "unknown mount",
            })
    }

    /// Copies a path of `len` bytes at `offset` in the data area out and checks it.
    fn path(
        m: &Mount,
        mem: &GuestMemory,
        op: Op,
        data_gpa: u64,
        offset: u64,
        len: u64,
    ) -> Result<RelPath, ProtocolError> {
        if len > MAX_PATH as u64 {
            return Err(ProtocolError::Malformed {
                op,
                why: "path longer than MAX_PATH",
            });
        }
        let raw = read_data(mem, op, data_gpa, offset, len)?;
        let p = RelPath::parse(raw).map_err(|why| ProtocolError::Malformed { op, why })?;
        if m.covers(&p.raw) {
            return Err(ProtocolError::Malformed {
                op,
                why: "path is covered by a nested mount (send it to that mount)",
            });
        }
        Ok(p)
    }

    /// Serves file operation `op` (32–44); `out` holds the block's args for the reply.
    pub fn handle(
        &mut self,
        op: Op,
        a: [u64; abi::NARGS],
        out: &mut [u64; abi::NARGS],
        data_gpa: u64,
        mem: &GuestMemory,
        handles: &mut HandleTable,
    ) -> Result<i64, ProtocolError> {
        let bad = |why| ProtocolError::Malformed { op, why };
        Ok(match op {
            Op::FsWalk => {
                let m = self.mount(op, a[0])?;
                let p = Self::path(m, mem, op, data_gpa, 0, a[1])?;
                match walk(m.root(), &p) {
                    Walk::Found(st) => {
                        mem.write(data_gpa, &encode_stat(&st))?;
                        abi::WALK_FOUND
                    }
                    Walk::Symlink { index, st, target } => {
                        let mut d = encode_stat(&st);
                        d.extend_from_slice(&target);
                        mem.write(data_gpa, &d)?;
                        out[0] = index as u64;
                        out[1] = target.len() as u64;
                        abi::WALK_SYMLINK
                    }
                    Walk::Failed { index, errno } => {
                        out[0] = index as u64;
                        -(errno as i64)
                    }
                }
            }
            Op::FsOpen => {
                let m = self.mount(op, a[0])?;
                let p = Self::path(m, mem, op, data_gpa, 0, a[1])?;
                if a[2] & !abi::OPEN_FLAGS_ALLOWED != 0 {
                    return Err(bad("open flags outside OPEN_FLAGS_ALLOWED"));
                }
                match open(m, &p, a[2], a[3], handles) {
                    Ok((h, st)) => {
                        mem.write(data_gpa, &encode_stat(&st))?;
                        h as i64
                    }
                    Err(e) => -(e as i64),
                }
            }
            Op::FsReadDir => {
                let n = usize::try_from(a[1])
                    .ok()
                    .filter(|&n| n <= abi::MAX_SEGMENTS)
                    .ok_or(bad("too many segments"))?;
                let segs = read_segments(mem, data_gpa, n)?;
                // Every address is checked before the directory position moves.
                for s in &segs {
                    mem.translate(s.gpa, s.len)?;
                }
                let total = segs
                    .iter()
                    .fold(0u64, |t, s| t.saturating_add(s.len))
                    .min(abi::MAX_READDIR as u64) as usize;
                let Some(fd) = handles.get(a[0]) else {
                    return Ok(-(libc::EBADF as i64));
                };
                let mut buf = vec![0u8; total];
                match sys::getdents64(fd, &mut buf) {
                    Ok(n) => {
                        let mut done = 0usize;
                        for s in &segs {
                            if done == n {
                                break;
                            }
                            let k = (n - done).min(s.len as usize);
                            mem.write(s.gpa, &buf[done..done + k])?;
                            done += k;
                        }
                        n as i64
                    }
                    Err(e) => -(e as i64),
                }
            }
            Op::FsMkdir => {
                let m = self.mount(op, a[0])?;
                let p = Self::path(m, mem, op, data_gpa, 0, a[1])?;
                result(mkdir(m, &p, a[2]).map(|()| 0))
            }
            Op::FsUnlink => {
                let m = self.mount(op, a[0])?;
                let p = Self::path(m, mem, op, data_gpa, 0, a[1])?;
                let flags = match a[2] {
                    0 => 0,
                    f if f == libc::AT_REMOVEDIR as u64 => libc::AT_REMOVEDIR,
                    _ => return Err(bad("unlink flags other than AT_REMOVEDIR")),
                };
                result(unlink(m, &p, flags).map(|()| 0))
            }
            Op::FsRename | Op::FsLink => {
                let m = self.mount(op, a[0])?;
                let old = Self::path(m, mem, op, data_gpa, 0, a[1])?;
                let new = Self::path(m, mem, op, data_gpa, a[1], a[2])?;
                if op == Op::FsLink {
                    result(link(m, &old, &new).map(|()| 0))
                } else {
                    let allowed = (libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE) as u64;
                    if a[3] & !allowed != 0 {
                        return Err(bad("rename flags other than NOREPLACE and EXCHANGE"));
                    }
                    result(rename(m, &old, &new, a[3] as u32).map(|()| 0))
                }
            }
            Op::FsSymlink => {
                let m = self.mount(op, a[0])?;
                if a[1] > MAX_PATH as u64 {
                    return Err(bad("symlink target longer than MAX_PATH"));
                }
                let target = read_data(mem, op, data_gpa, 0, a[1])?;
                let p = Self::path(m, mem, op, data_gpa, a[1], a[2])?;
                let target = CString::new(target).map_err(|_| bad("NUL in a symlink target"))?;
                result(symlink(m, &target, &p).map(|()| 0))
            }
            Op::FsSetattr => {
                let attr = a[2];
                if !matches!(
                    attr,
                    abi::SETATTR_MODE | abi::SETATTR_SIZE | abi::SETATTR_TIMES
                ) {
                    return Err(bad("unknown attribute"));
                }
                let by_handle = a[1] == abi::SETATTR_BY_HANDLE;
                let path_len = if by_handle { 0 } else { a[1] };
                if path_len > MAX_PATH as u64 {
                    return Err(bad("path longer than MAX_PATH"));
                }
                let times = if attr == abi::SETATTR_TIMES {
                    let raw = read_data(mem, op, data_gpa, path_len, 32)?;
                    let v: [i64; 4] = std::array::from_fn(|i| {
                        let mut w = [0u8; 8];
                        w.copy_from_slice(&raw[8 * i..8 * i + 8]);
                        i64::from_le_bytes(w)
                    });
                    [
                        libc::timespec {
                            tv_sec: v[0],
                            tv_nsec: v[1],
                        },
                        libc::timespec {
                            tv_sec: v[2],
                            tv_nsec: v[3],
                        },
                    ]
                } else {
                    [libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    }; 2]
                };
                let value = a[3];
                if by_handle {
                    result(setattr_handle(handles, a[0], attr, value, &times).map(|()| 0))
                } else {
                    let chmod2 = self.chmod2;
                    let m = self.mount(op, a[0])?;
                    let p = Self::path(m, mem, op, data_gpa, 0, path_len)?;
                    let (r, has_chmod2) = setattr_path(m, &p, attr, value, &times, chmod2);
                    self.chmod2 = has_chmod2;
                    result(r.map(|()| 0))
                }
            }
            Op::FsStatfs => {
                let m = self.mount(op, a[0])?;
                match sys::fstatfs(m.root()) {
                    Ok(mut s) => {
                        if m.readonly {
                            s.flags |= libc::ST_RDONLY;
                        }
                        mem.write(data_gpa, &encode_statfs(&s))?;
                        0
                    }
                    Err(e) => -(e as i64),
                }
            }
            Op::FsSync => {
                if a[1] > 1 {
                    return Err(bad("datasync is neither 0 nor 1"));
                }
                match handles.get(a[0]) {
                    None => -(libc::EBADF as i64),
                    Some(fd) => result(sys::fsync(fd, a[1] == 1).map(|()| 0)),
                }
            }
            Op::FsAllocate => {
                let mode = u32::try_from(a[1]).map_err(|_| bad("fallocate mode"))?;
                match handles.get_file(a[0]) {
                    None => -(libc::EBADF as i64),
                    // Never writable: as Linux answers for a descriptor not open for writing.
                    Some((_, true)) => -(libc::EBADF as i64),
                    Some((fd, false)) => result(
                        sys::fallocate(fd, mode as i32, a[2] as i64, a[3] as i64).map(|()| 0),
                    ),
                }
            }
            Op::FsCopyRange => {
                let offset = |v: u64| match v {
                    OFFSET_CURRENT => Ok(None),
                    v => i64::try_from(v).map(Some).map_err(|_| libc::EINVAL),
                };
                let r = (|| {
                    let src = handles.get(a[0]).ok_or(libc::EBADF)?;
                    let (dst, ro) = handles.get_file(a[1]).ok_or(libc::EBADF)?;
                    if ro {
                        return Err(libc::EBADF);
                    }
                    let (in_off, out_off) = (offset(a[2])?, offset(a[3])?);
                    let len = a[4].min(MAX_RW_COUNT) as usize;
                    sys::copy_file_range(src, in_off, dst, out_off, len).map(|n| n as i64)
                })();
                result(r)
            }
            _ => return Err(ProtocolError::UnknownOp(op as u32)),
        })
    }
}

fn encode_statfs(s: &HostStatfs) -> Vec<u8> {
    [
        s.fs_type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namelen, s.frsize,
        s.flags,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect()
}

/// For a write-side operation on a read-only mount: the lookup error Linux reports first
/// (the parent of `p`), else `EROFS`.
fn ro_error(m: &Mount, p: &RelPath) -> Errno {
    match p.split() {
        Some((parent, _)) => open_dir(m.root(), parent).err().unwrap_or(libc::EROFS),
        None => libc::EROFS,
    }
}

/// For a create on a read-only mount: the parent's lookup error, `EEXIST` when the name
/// exists, else `EROFS` (Linux's order, which `mkdir -p` relies on).
fn ro_create_error(m: &Mount, p: &RelPath) -> Errno {
    let Some((parent, name)) = p.split() else {
        return libc::EEXIST;
    };
    match open_dir(m.root(), parent) {
        Err(e) => e,
        Ok(dir) => match sys::fstatat_nofollow(dir.as_fd(), name) {
            Ok(_) => libc::EEXIST,
            Err(libc::ENOENT) => libc::EROFS,
            Err(e) => e,
        },
    }
}

/// `FsOpen`: opens a regular file or directory; returns its handle and attributes.
fn open(
    m: &Mount,
    p: &RelPath,
    flags: u64,
    mode: u64,
    handles: &mut HandleTable,
) -> Result<(u64, HostStat), Errno> {
    // As Linux, a full descriptor table fails before the path is looked at.
    if handles.is_full() {
        return Err(libc::EMFILE);
    }
    let o = |f: i32| f as u64;
    let creat = flags & o(libc::O_CREAT) != 0;
    let excl = creat && flags & o(libc::O_EXCL) != 0;
    let directory = flags & o(libc::O_DIRECTORY) != 0;
    let writes = flags & o(libc::O_ACCMODE) != o(libc::O_RDONLY) || flags & o(libc::O_TRUNC) != 0;
    if creat && directory {
        return Err(libc::EINVAL);
    }
    let host_flags = (flags & !o(libc::O_CREAT | libc::O_EXCL))
        | o(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NOFOLLOW);
    for _ in 0..OPEN_RETRIES {
        let fd = match lookup(m.root(), &p.whole) {
            Err(libc::ENOENT) if creat => {
                if m.readonly {
                    return Err(ro_error(m, p));
                }
                let create = host_flags | o(libc::O_CREAT | libc::O_EXCL);
                match sys::openat2(m.root(), &p.whole, create, mode & 0o7777, RESOLVE) {
                    Err(libc::EEXIST) if !excl => continue,
                    Err(e) => return Err(e),
                    Ok(fd) => fd,
                }
            }
            Err(e) => return Err(e),
            Ok(obj) => {
                let st = stat(obj.as_fd())?;
                if excl {
                    return Err(libc::EEXIST);
                }
                match kind(&st) {
                    libc::S_IFLNK => return Err(libc::ELOOP),
                    libc::S_IFDIR if writes || creat => return Err(libc::EISDIR),
                    libc::S_IFDIR => {}
                    libc::S_IFREG if directory => return Err(libc::ENOTDIR),
                    libc::S_IFREG if m.readonly && writes => return Err(libc::EROFS),
                    libc::S_IFREG => {}
                    _ => return Err(libc::EACCES),
                }
                let fd = match sys::openat2(m.root(), &p.whole, host_flags, 0, RESOLVE) {
                    Err(libc::ENOENT) => continue,
                    Err(e) => return Err(e),
                    Ok(fd) => fd,
                };
                let now = stat(fd.as_fd())?;
                if (now.dev, now.ino) != (st.dev, st.ino) {
                    continue;
                }
                fd
            }
        };
        let st = stat(fd.as_fd())?;
        if !matches!(kind(&st), libc::S_IFREG | libc::S_IFDIR) {
            return Err(libc::EACCES);
        }
        let h = handles.insert(fd, m.readonly).ok_or(libc::EMFILE)?;
        return Ok((h, st));
    }
    Err(libc::EAGAIN)
}

fn mkdir(m: &Mount, p: &RelPath, mode: u64) -> Result<(), Errno> {
    if m.readonly {
        return Err(ro_create_error(m, p));
    }
    let (parent, name) = p.split().ok_or(libc::EEXIST)?;
    let dir = open_dir(m.root(), parent)?;
    sys::mkdirat(dir.as_fd(), name, (mode & 0o7777) as u32)
}

fn unlink(m: &Mount, p: &RelPath, flags: i32) -> Result<(), Errno> {
    let (parent, name) = p.split().ok_or(libc::EBUSY)?;
    let dir = open_dir(m.root(), parent)?;
    if m.readonly {
        return Err(libc::EROFS);
    }
    sys::unlinkat(dir.as_fd(), name, flags)
}

fn rename(m: &Mount, old: &RelPath, new: &RelPath, flags: u32) -> Result<(), Errno> {
    let (op, on) = old.split().ok_or(libc::EBUSY)?;
    let (np, nn) = new.split().ok_or(libc::EBUSY)?;
    let od = open_dir(m.root(), op)?;
    let nd = open_dir(m.root(), np)?;
    if m.readonly {
        return Err(libc::EROFS);
    }
    sys::renameat2(od.as_fd(), on, nd.as_fd(), nn, flags)
}

fn link(m: &Mount, old: &RelPath, new: &RelPath) -> Result<(), Errno> {
    if m.readonly {
        lookup(m.root(), &old.whole)?;
        return Err(ro_create_error(m, new));
    }
    let (op, on) = old.split().ok_or(libc::EPERM)?;
    let (np, nn) = new.split().ok_or(libc::EEXIST)?;
    let od = open_dir(m.root(), op)?;
    let nd = open_dir(m.root(), np)?;
    sys::linkat(od.as_fd(), on, nd.as_fd(), nn)
}

fn symlink(m: &Mount, target: &CStr, p: &RelPath) -> Result<(), Errno> {
    if target.is_empty() {
        return Err(libc::ENOENT);
    }
    if target.count_bytes() > MAX_SYMLINK_TARGET {
        return Err(libc::ENAMETOOLONG);
    }
    if m.readonly {
        return Err(ro_create_error(m, p));
    }
    let (parent, name) = p.split().ok_or(libc::EEXIST)?;
    let dir = open_dir(m.root(), parent)?;
    sys::symlinkat(target, dir.as_fd(), name)
}

/// `FsSetattr` on a handle. Stdio handles take only `SETATTR_SIZE`: the host's terminal or
/// output file keeps its owner's mode and times.
fn setattr_handle(
    handles: &HandleTable,
    handle: u64,
    attr: u64,
    value: u64,
    times: &[libc::timespec; 2],
) -> Result<(), Errno> {
    let (fd, readonly) = handles.get_file(handle).ok_or(libc::EBADF)?;
    let stdio = handle < crate::hypercall::FIRST_FILE_HANDLE as u64;
    match attr {
        abi::SETATTR_SIZE => {
            let len = i64::try_from(value).map_err(|_| libc::EINVAL)?;
            if readonly {
                // Never writable: Linux's answer for ftruncate on such a descriptor.
                return Err(libc::EINVAL);
            }
            sys::ftruncate(fd, len)
        }
        _ if stdio => Err(libc::EPERM),
        _ if readonly => Err(libc::EROFS),
        abi::SETATTR_MODE => sys::fchmod(fd, (value & 0o7777) as u32),
        _ => sys::utimens(fd, times),
    }
}

/// `FsSetattr` on a path; the object itself is changed, never a symlink's target. Returns
/// the result and whether `fchmodat2` is (still) known to exist.
fn setattr_path(
    m: &Mount,
    p: &RelPath,
    attr: u64,
    value: u64,
    times: &[libc::timespec; 2],
    chmod2: bool,
) -> (Result<(), Errno>, bool) {
    let mut has_chmod2 = chmod2;
    let r = (|| {
        if attr == abi::SETATTR_SIZE && i64::try_from(value).is_err() {
            return Err(libc::EINVAL);
        }
        let obj = lookup(m.root(), &p.whole)?;
        let st = stat(obj.as_fd())?;
        match attr {
            abi::SETATTR_MODE => {
                if kind(&st) == libc::S_IFLNK {
                    return Err(libc::EOPNOTSUPP);
                }
                if m.readonly {
                    return Err(libc::EROFS);
                }
                let mode = (value & 0o7777) as u32;
                if has_chmod2 {
                    match sys::fchmodat2_empty(obj.as_fd(), mode) {
                        Err(libc::ENOSYS) => has_chmod2 = false,
                        r => return r,
                    }
                }
                chmod_fallback(m, p, &st, mode)
            }
            abi::SETATTR_SIZE => {
                match kind(&st) {
                    libc::S_IFLNK => return Err(libc::ELOOP),
                    libc::S_IFDIR => return Err(libc::EISDIR),
                    libc::S_IFREG => {}
                    _ => return Err(libc::EINVAL),
                }
                if m.readonly {
                    return Err(libc::EROFS);
                }
                let flags =
                    (libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
                let fd = sys::openat2(m.root(), &p.whole, flags, 0, RESOLVE)?;
                let now = stat(fd.as_fd())?;
                if (now.dev, now.ino) != (st.dev, st.ino) {
                    return Err(libc::EAGAIN);
                }
                sys::ftruncate(fd.as_fd(), value as i64)
            }
            _ => {
                if m.readonly {
                    return Err(libc::EROFS);
                }
                sys::utimens(obj.as_fd(), times)
            }
        }
    })();
    (r, has_chmod2)
}

/// `chmod` without `fchmodat2` (Linux < 6.6): `fchmodat` on the name relative to its
/// parent's `O_PATH` descriptor, after checking that the name is still the object that was
/// resolved and not a symlink. The guest cannot race this (the server is single-threaded);
/// only a concurrent host-side rename could, and only on such old kernels.
fn chmod_fallback(m: &Mount, p: &RelPath, st: &HostStat, mode: u32) -> Result<(), Errno> {
    let Some((parent, name)) = p.split() else {
        let dir = sys::openat2(
            m.root(),
            c".",
            (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
            0,
            RESOLVE,
        )?;
        return sys::fchmod(dir.as_fd(), mode);
    };
    let dir = open_dir(m.root(), parent)?;
    let now = sys::fstatat_nofollow(dir.as_fd(), name)?;
    if kind(&now) == libc::S_IFLNK || (now.dev, now.ino) != (st.dev, st.ino) {
        return Err(libc::EAGAIN);
    }
    sys::fchmodat(dir.as_fd(), name, mode)
}

/// Thin wrappers over the host system calls the file server makes. Each returns the errno
/// on failure; none keeps a pointer past the call.
mod sys {
    use std::ffi::CStr;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

    use hull_arch::abi::{HostStat, HostStatfs};

    use super::Errno;

    fn last() -> Errno {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    }

    fn check(r: libc::c_long) -> Result<libc::c_long, Errno> {
        if r < 0 { Err(last()) } else { Ok(r) }
    }

    /// `struct open_how` (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }

    pub fn openat2(
        dir: BorrowedFd<'_>,
        path: &CStr,
        flags: u64,
        mode: u64,
        resolve: u64,
    ) -> Result<OwnedFd, Errno> {
        let how = OpenHow {
            flags,
            mode,
            resolve,
        };
        // SAFETY: `path` is NUL-terminated and `how` is a valid open_how of the size passed;
        // both outlive the call, which returns a new descriptor or -1.
        let r = check(unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        })?;
        // SAFETY: `r` is a descriptor the kernel just created; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
    }

    pub fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> Result<HostStat, Errno> {
        // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `name` is NUL-terminated and `st` a valid out-pointer for the call.
        let r = unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        check(r as libc::c_long)?;
        Ok(crate::host_io::host_stat(&st))
    }

    pub fn readlinkat(fd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let r = unsafe {
            libc::readlinkat(
                fd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        check(r as libc::c_long).map(|n| n as usize)
    }

    pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most `buf.len()` bytes of records into `buf`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        check(r).map(|n| n as usize)
    }

    pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
        // SAFETY: `name` is NUL-terminated for the call.
        let r = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) };
        check(r as libc::c_long).map(drop)
    }

    pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> Result<(), Errno> {
        // SAFETY: `name` is NUL-terminated for the call.
        let r = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) };
        check(r as libc::c_long).map(drop)
    }

    pub fn renameat2(
        od: BorrowedFd<'_>,
        on: &CStr,
        nd: BorrowedFd<'_>,
        nn: &CStr,
        flags: u32,
    ) -> Result<(), Errno> {
        // SAFETY: both names are NUL-terminated for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                od.as_raw_fd(),
                on.as_ptr(),
                nd.as_raw_fd(),
                nn.as_ptr(),
                flags,
            )
        };
        check(r).map(drop)
    }

    /// `linkat` without `AT_SYMLINK_FOLLOW`: a symlink is linked, not its target.
    pub fn linkat(
        od: BorrowedFd<'_>,
        on: &CStr,
        nd: BorrowedFd<'_>,
        nn: &CStr,
    ) -> Result<(), Errno> {
        // SAFETY: both names are NUL-terminated for the call.
        let r =
            unsafe { libc::linkat(od.as_raw_fd(), on.as_ptr(), nd.as_raw_fd(), nn.as_ptr(), 0) };
        check(r as libc::c_long).map(drop)
    }

    pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
        // SAFETY: both strings are NUL-terminated for the call.
        let r = unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) };
        check(r as libc::c_long).map(drop)
    }

    /// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)`: works on an `O_PATH` descriptor.
    pub fn fchmodat2_empty(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
        // SAFETY: the empty path is a static NUL-terminated string.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fchmodat2,
                fd.as_raw_fd(),
                c"".as_ptr(),
                mode,
                libc::AT_EMPTY_PATH,
            )
        };
        check(r).map(drop)
    }

    pub fn fchmodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
        // SAFETY: `name` is NUL-terminated for the call.
        let r = unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) };
        check(r as libc::c_long).map(drop)
    }

    pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
        // SAFETY: fchmod touches no memory.
        let r = unsafe { libc::fchmod(fd.as_raw_fd(), mode) };
        check(r as libc::c_long).map(drop)
    }

    pub fn ftruncate(fd: BorrowedFd<'_>, len: i64) -> Result<(), Errno> {
        // SAFETY: ftruncate touches no memory.
        let r = unsafe { libc::ftruncate(fd.as_raw_fd(), len) };
        check(r as libc::c_long).map(drop)
    }

    /// `utimensat(fd, "", times, AT_EMPTY_PATH)`: the object behind `fd` (an `O_PATH`
    /// descriptor included, a symlink itself included).
    pub fn utimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> Result<(), Errno> {
        // SAFETY: the empty path is NUL-terminated and `times` points at two timespecs.
        let r = unsafe {
            libc::utimensat(
                fd.as_raw_fd(),
                c"".as_ptr(),
                times.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        check(r as libc::c_long).map(drop)
    }

    /// The kernel's x86_64 `struct statfs` (libc's hides `f_flags`).
    #[repr(C)]
    #[derive(Default)]
    struct KernelStatfs {
        f_type: i64,
        f_bsize: i64,
        f_blocks: u64,
        f_bfree: u64,
        f_bavail: u64,
        f_files: u64,
        f_ffree: u64,
        f_fsid: [i32; 2],
        f_namelen: i64,
        f_frsize: i64,
        f_flags: i64,
        f_spare: [i64; 4],
    }

    pub fn fstatfs(fd: BorrowedFd<'_>) -> Result<HostStatfs, Errno> {
        let mut s = KernelStatfs::default();
        // SAFETY: `s` is a valid out-pointer of the kernel's struct statfs layout.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fstatfs,
                fd.as_raw_fd(),
                &mut s as *mut KernelStatfs,
            )
        };
        check(r)?;
        Ok(HostStatfs {
            fs_type: s.f_type as u64,
            bsize: s.f_bsize as u64,
            blocks: s.f_blocks,
            bfree: s.f_bfree,
            bavail: s.f_bavail,
            files: s.f_files,
            ffree: s.f_ffree,
            namelen: s.f_namelen as u64,
            frsize: s.f_frsize as u64,
            flags: s.f_flags as u64,
        })
    }

    pub fn fsync(fd: BorrowedFd<'_>, data_only: bool) -> Result<(), Errno> {
        // SAFETY: fsync and fdatasync touch no memory.
        let r = unsafe {
            if data_only {
                libc::fdatasync(fd.as_raw_fd())
            } else {
                libc::fsync(fd.as_raw_fd())
            }
        };
        check(r as libc::c_long).map(drop)
    }

    pub fn fallocate(fd: BorrowedFd<'_>, mode: i32, offset: i64, len: i64) -> Result<(), Errno> {
        // SAFETY: fallocate touches no memory.
        let r = unsafe { libc::fallocate(fd.as_raw_fd(), mode, offset, len) };
        check(r as libc::c_long).map(drop)
    }

    /// `copy_file_range`; a `None` offset uses (and advances) the descriptor's position.
    pub fn copy_file_range(
        src: BorrowedFd<'_>,
        src_off: Option<i64>,
        dst: BorrowedFd<'_>,
        dst_off: Option<i64>,
        len: usize,
    ) -> Result<usize, Errno> {
        let (mut so, mut d) = (src_off.unwrap_or(0), dst_off.unwrap_or(0));
        let sp: *mut i64 = if src_off.is_some() {
            &mut so
        } else {
            std::ptr::null_mut()
        };
        let dp: *mut i64 = if dst_off.is_some() {
            &mut d
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: each offset pointer is null or points at a local i64 live for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                src.as_raw_fd(),
                sp,
                dst.as_raw_fd(),
                dp,
                len,
                0u32,
            )
        };
        check(r).map(|n| n as usize)
    }
}
