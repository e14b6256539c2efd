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
        // With `..` in a symlink's target, openat2 fails with EAGAIN when anything on the
        // host was renamed meanwhile; so does the check below if the file changed.
        let mut r = Err(libc::EAGAIN);
        for _ in 0..64 {
            r = self.try_open_program(path);
            if r.as_ref().err() != Some(&libc::EAGAIN) {
                break;
            }
        }
        r
    }

    fn try_open_program(&self, path: &[u8]) -> Result<(std::fs::File, Vec<u8>), Errno> {
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

/// Copies `len` bytes at `offset` in the block's data area out of guest memory.
fn read_data(
    mem: &GuestMemory,
    op: Op,
    data_gpa: u64,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, ProtocolError> {
    match offset.checked_add(len) {
        Some(end) if end <= abi::DATA_SIZE as u64 => {
            let mut b = vec![0u8; len as usize];
            mem.read(data_gpa + offset, &mut b)?;
            Ok(b)
        }
        _ => Err(ProtocolError::Malformed {
            op,
            why: "arguments exceed the data area",
        }),
    }
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
                let (stat_gpa, stat_max) = (a[2], a[3]);
                if stat_max > abi::MAX_READDIR_STATS as u64 {
                    return Err(bad("stat_max exceeds MAX_READDIR_STATS"));
                }
                // Every address is checked before the directory position moves.
                for s in &segs {
                    mem.translate(s.gpa, s.len)?;
                }
                if stat_max > 0 {
                    mem.translate(stat_gpa, stat_max * abi::HOST_STAT_SIZE as u64)?;
                    out[0] = 0;
                }
                let total = segs
                    .iter()
                    .fold(0u64, |t, s| t.saturating_add(s.len))
                    .min(abi::MAX_READDIR as u64) as usize;
                let Some(fd) = handles.get(a[0]) else {
                    return Ok(-(libc::EBADF as i64));
                };
                let mut buf = vec![0u8; total];
                let r = sys::getdents64(fd, &mut buf).and_then(|n| {
                    if stat_max == 0 {
                        return Ok((n, Vec::new()));
                    }
                    let (n, names) = first_entries(fd, &buf[..n], stat_max as usize)?;
                    Ok((n, entry_stats(fd, &names)))
                });
                match r {
                    Ok((n, stats)) => {
                        let mut done = 0usize;
                        for s in &segs {
                            if done == n {
                                break;
                            }
                            let k = (n - done).min(s.len as usize);
                            mem.write(s.gpa, &buf[done..done + k])?;
                            done += k;
                        }
                        if stat_max > 0 {
                            mem.write(stat_gpa, &stats)?;
                            out[0] = (stats.len() / abi::HOST_STAT_SIZE) as u64;
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

/// Offset of `d_name` in a `linux_dirent64` record (after `d_ino`, `d_off`, `d_reclen`,
/// `d_type`).
const DIRENT_NAME: usize = 19;

/// The first `max` of the `linux_dirent64` records `getdents64` put in `recs`: how many
/// bytes they take and their names. When there were more, the directory position moves
/// back to just after the last one kept (its `d_off`), so the next read continues there.
fn first_entries(
    fd: BorrowedFd<'_>,
    recs: &[u8],
    max: usize,
) -> Result<(usize, Vec<Vec<u8>>), Errno> {
    let mut names = Vec::new();
    let (mut off, mut last_d_off) = (0usize, 0i64);
    while off < recs.len() && names.len() < max {
        let rec = recs.get(off..).ok_or(libc::EIO)?;
        let (Some(d_off), Some(reclen)) = (rec.get(8..16), rec.get(16..18)) else {
            return Err(libc::EIO);
        };
        let reclen = u16::from_le_bytes([reclen[0], reclen[1]]) as usize;
        let name = rec
            .get(DIRENT_NAME..reclen.max(DIRENT_NAME))
            .and_then(|n| n.iter().position(|&c| c == 0).map(|end| &n[..end]))
            .ok_or(libc::EIO)?;
        last_d_off = i64::from_le_bytes(d_off.try_into().map_err(|_| libc::EIO)?);
        names.push(name.to_vec());
        off += reclen;
    }
    if off < recs.len() {
        host_io::lseek(fd, last_d_off, libc::SEEK_SET).map_err(errno)?;
    }
    Ok((off, names))
}

/// The encoded [`HostStat`]s of the entries `names` of the directory `dir`, in order, not
/// following symlinks; all zero for one that cannot be looked at (removed meanwhile) and
/// for `..`, which may lie outside the mount (the parent of its root).
fn entry_stats(dir: BorrowedFd<'_>, names: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(names.len() * abi::HOST_STAT_SIZE);
    for name in names {
        let single = !name.is_empty() && name.as_slice() != b".." && !name.contains(&b'/');
        match CString::new(name.as_slice()) {
            Ok(c) if single => match sys::fstatat_nofollow(dir, &c) {
                Ok(st) => out.extend_from_slice(&encode_stat(&st)),
                Err(_) => out.resize(out.len() + abi::HOST_STAT_SIZE, 0),
            },
            _ => out.resize(out.len() + abi::HOST_STAT_SIZE, 0),
        }
    }
    out
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
        // SAFETY: `path` is NUL-terminated and `how` is a valid open_how of the size passed; both outlive the call, which returns a new descriptor or -1.
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
        let (o, n) = (od.as_raw_fd(), nd.as_raw_fd());
        // SAFETY: both names are NUL-terminated for the call.
        let r = unsafe { libc::linkat(o, on.as_ptr(), n, nn.as_ptr(), 0) };
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

#[cfg(test)]
pub(crate) mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use hull_arch::abi::DATA_SIZE;
    use hull_arch::layout::HYPERCALL_BLOCK_GPA;

    use super::*;
    use crate::hypercall::tests::{greeted_with, put_block};
    use crate::hypercall::{HandleTable, Server};

    const DATA: u64 = HYPERCALL_BLOCK_GPA + 64;
    /// A guest page the tests use as a transfer buffer.
    const BUF: u64 = 0x10000;
    const O_RDONLY: u64 = libc::O_RDONLY as u64;
    const O_WRONLY: u64 = libc::O_WRONLY as u64;
    const O_RDWR: u64 = libc::O_RDWR as u64;
    const O_CREAT: u64 = libc::O_CREAT as u64;
    const O_EXCL: u64 = libc::O_EXCL as u64;
    const O_TRUNC: u64 = libc::O_TRUNC as u64;
    const O_DIRECTORY: u64 = libc::O_DIRECTORY as u64;

    /// A unique directory under the system's temp dir, removed (made writable first) on
    /// drop.
    pub(crate) struct Scratch(pub PathBuf);

    impl Scratch {
        pub(crate) fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "hull-files-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }

        pub(crate) fn at(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }

        pub(crate) fn write(&self, rel: &str, data: &str) -> PathBuf {
            let p = self.at(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
            p
        }

        pub(crate) fn mkdir(&self, rel: &str) -> PathBuf {
            let p = self.at(rel);
            std::fs::create_dir_all(&p).unwrap();
            p
        }
    }

    fn make_writable(p: &Path) {
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                make_writable(&e.path());
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            make_writable(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    pub(crate) fn spec(host: &Path, guest: &str, readonly: bool) -> MountSpec {
        MountSpec {
            host: host.into(),
            guest: guest.as_bytes().to_vec(),
            readonly,
        }
    }

    pub(crate) fn server_for(specs: &[MountSpec]) -> FileServer {
        FileServer::new(Mounts::open(None, specs).unwrap())
    }

    /// A greeted hypercall server over `mem` with these mounts, driven like a guest does.
    struct Guest<'m> {
        mem: &'m GuestMemory,
        s: Server<'m>,
    }

    /// One reply: `ret`, the args and the data area.
    struct Reply {
        ret: i64,
        args: [u64; 6],
        data: Vec<u8>,
    }

    impl Reply {
        fn stat(&self) -> HostStat {
            let w = |o: usize| u64::from_le_bytes(self.data[o..o + 8].try_into().unwrap());
            HostStat {
                mode: u32::from_le_bytes(self.data[0..4].try_into().unwrap()),
                size: w(8),
                ino: w(40),
                dev: w(48),
                ..Default::default()
            }
        }
    }

    fn errno_ret(e: i32) -> i64 {
        -(e as i64)
    }

    impl<'m> Guest<'m> {
        fn new(mem: &'m GuestMemory, files: FileServer) -> Self {
            Guest {
                mem,
                s: greeted_with(mem, HandleTable::with_stdio().unwrap(), files),
            }
        }

        fn try_call(
            &mut self,
            op: Op,
            args: [u64; 6],
            data: &[u8],
        ) -> Result<Reply, ProtocolError> {
            put_block(self.mem, args);
            self.mem.write(DATA, data).unwrap();
            assert_eq!(self.s.handle(op as u32)?, None);
            let mut hdr = [0u8; 64];
            self.mem.read(HYPERCALL_BLOCK_GPA, &mut hdr).unwrap();
            let w = |i: usize| u64::from_le_bytes(hdr[8 * i..8 * i + 8].try_into().unwrap());
            let mut d = vec![0u8; DATA_SIZE];
            self.mem.read(DATA, &mut d).unwrap();
            Ok(Reply {
                ret: w(6) as i64,
                args: std::array::from_fn(w),
                data: d,
            })
        }

        fn call(&mut self, op: Op, args: [u64; 6], data: &[u8]) -> Reply {
            self.try_call(op, args, data)
                .unwrap_or_else(|e| panic!("{op:?} {args:?}: {e}"))
        }

        fn walk(&mut self, m: u64, path: &str) -> Reply {
            self.call(
                Op::FsWalk,
                [m, path.len() as u64, 0, 0, 0, 0],
                path.as_bytes(),
            )
        }

        fn open(&mut self, m: u64, path: &str, flags: u64, mode: u64) -> i64 {
            self.call(
                Op::FsOpen,
                [m, path.len() as u64, flags, mode, 0, 0],
                path.as_bytes(),
            )
            .ret
        }

        fn close(&mut self, h: i64) {
            assert_eq!(self.call(Op::Close, [h as u64, 0, 0, 0, 0, 0], &[]).ret, 0);
        }

        fn one_segment(&mut self, op: Op, h: i64, len: u64, offset: u64) -> i64 {
            let mut seg = BUF.to_le_bytes().to_vec();
            seg.extend_from_slice(&len.to_le_bytes());
            self.call(op, [h as u64, 1, offset, 0, 0, 0], &seg).ret
        }

        fn read(&mut self, h: i64) -> Vec<u8> {
            let n = self.one_segment(Op::Read, h, 4096, 0);
            assert!(n >= 0, "read: {n}");
            let mut b = vec![0u8; n as usize];
            self.mem.read(BUF, &mut b).unwrap();
            b
        }

        fn write(&mut self, h: i64, bytes: &[u8]) -> i64 {
            self.mem.write(BUF, bytes).unwrap();
            self.one_segment(Op::Write, h, bytes.len() as u64, OFFSET_CURRENT)
        }

        fn path_op(&mut self, op: Op, m: u64, path: &str, extra: u64) -> i64 {
            self.call(op, [m, path.len() as u64, extra, 0, 0, 0], path.as_bytes())
                .ret
        }

        fn two_paths(&mut self, op: Op, m: u64, a: &str, b: &str, flags: u64) -> i64 {
            let d = [a.as_bytes(), b.as_bytes()].concat();
            self.call(op, [m, a.len() as u64, b.len() as u64, flags, 0, 0], &d)
                .ret
        }

        fn symlink(&mut self, m: u64, target: &str, path: &str) -> i64 {
            self.two_paths(Op::FsSymlink, m, target, path, 0)
        }

        fn setattr(&mut self, m: u64, path: &str, attr: u64, value: u64) -> i64 {
            let mut d = path.as_bytes().to_vec();
            for t in [1_000_000i64, 0, 2_000_000, 0] {
                d.extend_from_slice(&t.to_le_bytes());
            }
            self.call(Op::FsSetattr, [m, path.len() as u64, attr, value, 0, 0], &d)
                .ret
        }

        fn setattr_handle(&mut self, h: i64, attr: u64, value: u64) -> i64 {
            let mut d = Vec::new();
            for t in [1_000_000i64, 0, 2_000_000, 0] {
                d.extend_from_slice(&t.to_le_bytes());
            }
            self.call(
                Op::FsSetattr,
                [h as u64, abi::SETATTR_BY_HANDLE, attr, value, 0, 0],
                &d,
            )
            .ret
        }

        /// Reads a directory handle to its end; the names, sorted.
        fn list(&mut self, h: i64) -> Vec<String> {
            let mut names = Vec::new();
            loop {
                // Two segments, so records straddle them.
                let mut segs = Vec::new();
                for (gpa, len) in [(BUF, 100u64), (BUF + 0x3000, 4000)] {
                    segs.extend_from_slice(&gpa.to_le_bytes());
                    segs.extend_from_slice(&len.to_le_bytes());
                }
                let n = self
                    .call(Op::FsReadDir, [h as u64, 2, 0, 0, 0, 0], &segs)
                    .ret;
                assert!(n >= 0, "readdir: {n}");
                if n == 0 {
                    break;
                }
                let mut b = vec![0u8; 4100];
                self.mem.read(BUF, &mut b[..100]).unwrap();
                self.mem.read(BUF + 0x3000, &mut b[100..]).unwrap();
                let mut off = 0;
                while off < n as usize {
                    let reclen = u16::from_le_bytes([b[off + 16], b[off + 17]]) as usize;
                    let name = &b[off + 19..off + reclen];
                    let name = &name[..name.iter().position(|&c| c == 0).unwrap()];
                    let name = String::from_utf8_lossy(name).into_owned();
                    if name != "." && name != ".." {
                        names.push(name);
                    }
                    off += reclen;
                }
            }
            names.sort();
            names
        }
    }

    /// Where the readdir-plus tests ask for attributes.
    const STATS: u64 = 0x40000;

    /// A whole encoded [`HostStat`].
    fn decode_stat(b: &[u8]) -> HostStat {
        let w = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let t = |o: usize| [w(o) as i64, w(o + 8) as i64];
        HostStat {
            mode: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            nlink: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            size: w(8),
            blksize: w(16),
            blocks: w(24),
            rdev: w(32),
            ino: w(40),
            dev: w(48),
            atime: t(56),
            mtime: t(72),
            ctime: t(88),
        }
    }

    /// One entry of a readdir-plus reply.
    #[derive(Debug)]
    struct Entry {
        name: String,
        d_ino: u64,
        st: HostStat,
    }

    impl Guest<'_> {
        /// One `FsReadDir` of `h` asking for up to `stat_max` attributes, records into
        /// 64 KiB (two segments): `ret`, `args[0]` and the entries with their attributes.
        fn readdir_plus(&mut self, h: i64, stat_max: u64) -> (i64, u64, Vec<Entry>) {
            let mut segs = Vec::new();
            let (first, second) = (100u64, 0x10000 - 100);
            for (gpa, len) in [(BUF, first), (BUF + 0x20000, second)] {
                segs.extend_from_slice(&gpa.to_le_bytes());
                segs.extend_from_slice(&len.to_le_bytes());
            }
            // Stale attributes must not pass for fresh ones.
            self.mem
                .write(STATS, &vec![0xa5; stat_max as usize * abi::HOST_STAT_SIZE])
                .unwrap();
            let r = self.call(Op::FsReadDir, [h as u64, 2, STATS, stat_max, 0, 0], &segs);
            if r.ret <= 0 {
                return (r.ret, r.args[0], Vec::new());
            }
            let mut b = vec![0u8; (first + second) as usize];
            self.mem.read(BUF, &mut b[..first as usize]).unwrap();
            self.mem
                .read(BUF + 0x20000, &mut b[first as usize..])
                .unwrap();
            let mut entries = Vec::new();
            let mut off = 0;
            while off < r.ret as usize {
                let d_ino = u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
                let reclen = u16::from_le_bytes([b[off + 16], b[off + 17]]) as usize;
                let name = &b[off + 19..off + reclen];
                let name = &name[..name.iter().position(|&c| c == 0).unwrap()];
                let mut st = [0u8; abi::HOST_STAT_SIZE];
                let i = entries.len() as u64;
                if i < r.args[0] {
                    self.mem
                        .read(STATS + i * abi::HOST_STAT_SIZE as u64, &mut st)
                        .unwrap();
                }
                entries.push(Entry {
                    name: String::from_utf8_lossy(name).into_owned(),
                    d_ino,
                    st: decode_stat(&st),
                });
                off += reclen;
            }
            assert_eq!(off, r.ret as usize, "whole records");
            (r.ret, r.args[0], entries)
        }
    }

    /// Checks an entry's attributes against the host's `symlink_metadata` of `dir/name`.
    fn check_entry(dir: &Path, e: &Entry) {
        if e.name == ".." {
            assert_eq!(e.st, HostStat::default(), "`..` may lie outside the mount");
            return;
        }
        let m = std::fs::symlink_metadata(dir.join(&e.name)).unwrap();
        assert_eq!(
            (e.st.ino, e.st.mode, e.st.size, e.st.nlink as u64),
            (m.ino(), m.mode(), m.size(), m.nlink()),
            "{}",
            e.name
        );
        assert_eq!(
            (e.st.dev, e.st.mtime[0]),
            (m.dev(), m.mtime()),
            "{}",
            e.name
        );
        assert_eq!(e.d_ino, m.ino(), "{}", e.name);
    }

    fn malformed(r: Result<Reply, ProtocolError>) -> bool {
        matches!(r, Err(ProtocolError::Malformed { .. }))
    }

    /// Host fds of this process whose target lies under `dir`.
    fn fds_under(dir: &Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read_link(e.path())
                    .map(|t| t.starts_with(dir))
                    .unwrap_or(false)
            })
            .count()
    }

    #[test]
    fn paths_are_checked_before_anything_else() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a/",
            "a//b",
            ".",
            "a/./b",
            "x\0y",
            "/",
        ] {
            assert!(RelPath::parse(bad.as_bytes().to_vec()).is_err(), "{bad:?}");
        }
        for good in ["", "a", "a/b", "...", "a..b/.x"] {
            assert!(RelPath::parse(good.as_bytes().to_vec()).is_ok(), "{good:?}");
        }
        assert!(RelPath::parse(vec![b'a'; MAX_PATH + 1]).is_err());
        let p = RelPath::parse(b"a/b/c".to_vec()).unwrap();
        let (parent, name) = p.split().unwrap();
        assert_eq!((parent, name), (c"a/b", c"c"));
        assert!(RelPath::parse(Vec::new()).unwrap().split().is_none());
    }

    #[test]
    fn malformed_requests_end_the_sandbox() {
        let root = Scratch::new("malformed");
        root.write("f", "x");
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/data", false)]));
        for bad in ["../f", "a/../../f", "/f", "f/", "a//f", ".", "./f", "f\0"] {
            let r = g.try_call(
                Op::FsOpen,
                [0, bad.len() as u64, 0, 0, 0, 0],
                bad.as_bytes(),
            );
            assert!(malformed(r), "{bad:?}");
        }
        // Unknown mount, overlong paths, lengths past the data area, bad flags.
        assert!(malformed(g.try_call(Op::FsWalk, [1, 1, 0, 0, 0, 0], b"f")));
        assert!(malformed(g.try_call(
            Op::FsWalk,
            [u64::MAX, 1, 0, 0, 0, 0],
            b"f"
        )));
        let n = (MAX_PATH + 1) as u64;
        assert!(malformed(g.try_call(Op::FsWalk, [0, n, 0, 0, 0, 0], &[])));
        assert!(malformed(g.try_call(
            Op::FsWalk,
            [0, u64::MAX, 0, 0, 0, 0],
            &[]
        )));
        assert!(malformed(g.try_call(
            Op::FsRename,
            [0, 4000, 100, 0, 0, 0],
            &[b'a'; 4000]
        )));
        assert!(malformed(g.try_call(
            Op::FsRename,
            [0, u64::MAX, 2, 0, 0, 0],
            &[]
        )));
        let o_cloexec = libc::O_CLOEXEC as u64;
        let o_path = libc::O_PATH as u64;
        for flags in [o_cloexec, o_path, libc::O_TMPFILE as u64, 1 << 40] {
            assert!(malformed(g.try_call(
                Op::FsOpen,
                [0, 1, flags, 0, 0, 0],
                b"f"
            )));
        }
        assert!(malformed(g.try_call(
            Op::FsUnlink,
            [0, 1, 1, 0, 0, 0],
            b"f"
        )));
        assert!(malformed(g.try_call(
            Op::FsRename,
            [0, 1, 1, 4, 0, 0],
            b"fg"
        )));
        assert!(malformed(g.try_call(
            Op::FsSetattr,
            [0, 1, 9, 0, 0, 0],
            b"f"
        )));
        assert!(malformed(g.try_call(Op::FsSync, [0, 2, 0, 0, 0, 0], &[])));
        assert!(malformed(g.try_call(
            Op::FsSymlink,
            [0, 2, 1, 0, 0, 0],
            b"a\0f"
        )));
        assert!(malformed(g.try_call(
            Op::FsReadDir,
            [0, (abi::MAX_SEGMENTS + 1) as u64, 0, 0, 0, 0],
            &[]
        )));
        // The file is untouched, and nothing outside was created.
        assert_eq!(std::fs::read_to_string(root.at("f")).unwrap(), "x");
    }

    #[test]
    fn bad_guest_addresses_in_segments_end_the_sandbox() {
        let root = Scratch::new("segments");
        root.write("d/a", "1");
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/data", false)]));
        let h = g.open(0, "d", O_RDONLY | O_DIRECTORY, 0);
        assert!(h >= 3);
        for (gpa, len) in [(1u64 << 20, 1u64), (u64::MAX - 8, 64), ((1 << 20) - 8, 64)] {
            let mut seg = BUF.to_le_bytes().to_vec();
            seg.extend_from_slice(&4096u64.to_le_bytes());
            seg.extend_from_slice(&gpa.to_le_bytes());
            seg.extend_from_slice(&len.to_le_bytes());
            let r = g.try_call(Op::FsReadDir, [h as u64, 2, 0, 0, 0, 0], &seg);
            assert!(matches!(r, Err(ProtocolError::Memory(_))), "{gpa:#x}+{len}");
        }
        // The directory position did not move: the whole listing is still there.
        assert_eq!(g.list(h), ["a"]);
    }

    #[test]
    fn symlinks_out_are_reported_and_never_followed() {
        let top = Scratch::new("symlinks");
        let outside = top.mkdir("outside");
        top.write("outside/secret", "OUTSIDE");
        let root = top.mkdir("root");
        top.write("root/d/inside", "INSIDE");
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("../../outside", root.join("d/up")).unwrap();
        let before = std::fs::metadata(outside.join("secret")).unwrap();
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root, "/data", false)]));

        let r = g.walk(0, "abs/secret");
        assert_eq!((r.ret, r.args[0]), (abi::WALK_SYMLINK, 0));
        let target = outside.as_os_str().as_encoded_bytes();
        assert_eq!(r.args[1] as usize, target.len());
        assert_eq!(&r.data[abi::HOST_STAT_SIZE..][..target.len()], target);
        assert_eq!(r.stat().mode & libc::S_IFMT, libc::S_IFLNK);
        let r = g.walk(0, "d/up/secret");
        assert_eq!((r.ret, r.args[0], r.args[1]), (abi::WALK_SYMLINK, 1, 13));
        assert_eq!(&r.data[abi::HOST_STAT_SIZE..][..13], b"../../outside");
        let r = g.walk(0, "rel");
        assert_eq!((r.ret, r.args[0]), (abi::WALK_SYMLINK, 0));

        let eloop = errno_ret(libc::ELOOP);
        for p in ["abs/secret", "rel/secret", "d/up/secret", "abs", "rel"] {
            assert_eq!(g.open(0, p, O_RDONLY, 0), eloop, "open {p}");
            assert_eq!(g.open(0, p, O_RDWR | O_TRUNC, 0), eloop, "open {p}");
        }
        assert_eq!(g.open(0, "abs/new", O_CREAT | O_WRONLY, 0o644), eloop);
        assert_eq!(g.path_op(Op::FsMkdir, 0, "abs/new", 0o755), eloop);
        assert_eq!(g.path_op(Op::FsUnlink, 0, "abs/secret", 0), eloop);
        assert_eq!(g.symlink(0, "x", "rel/new"), eloop);
        assert_eq!(
            g.two_paths(Op::FsRename, 0, "abs/secret", "stolen", 0),
            eloop
        );
        assert_eq!(
            g.two_paths(Op::FsRename, 0, "d/inside", "abs/planted", 0),
            eloop
        );
        assert_eq!(g.two_paths(Op::FsLink, 0, "abs/secret", "stolen", 0), eloop);
        for attr in [abi::SETATTR_MODE, abi::SETATTR_SIZE, abi::SETATTR_TIMES] {
            assert_eq!(g.setattr(0, "abs/secret", attr, 0), eloop);
        }
        // On the symlink itself: chmod is lchmod (unsupported), truncate refuses, times
        // change the link's own.
        assert_eq!(
            g.setattr(0, "abs", abi::SETATTR_MODE, 0o777),
            errno_ret(libc::EOPNOTSUPP)
        );
        assert_eq!(g.setattr(0, "abs", abi::SETATTR_SIZE, 0), eloop);
        assert_eq!(g.setattr(0, "abs", abi::SETATTR_TIMES, 0), 0);
        // Unlinking or renaming the link itself is fine: it is inside.
        assert_eq!(g.two_paths(Op::FsRename, 0, "rel", "rel2", 0), 0);
        assert_eq!(g.path_op(Op::FsUnlink, 0, "rel2", 0), 0);

        let after = std::fs::metadata(outside.join("secret")).unwrap();
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "OUTSIDE"
        );
        assert_eq!(
            (before.mode(), before.mtime(), before.mtime_nsec()),
            (after.mode(), after.mtime(), after.mtime_nsec())
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    }

    #[test]
    fn swapping_a_directory_for_a_symlink_never_leads_out() {
        let top = Scratch::new("swap");
        let outside = top.mkdir("outside");
        top.write("outside/f", "OUTSIDE");
        let root = top.mkdir("root");
        top.write("root/d/f", "INSIDE");
        std::os::unix::fs::symlink("/", root.join("l")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("l2")).unwrap();
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root, "/data", false)]));
        let dir = open_host_dir(&root).unwrap();
        let stop = AtomicBool::new(false);
        let (mut opened, mut refused) = (0, 0);
        std::thread::scope(|s| {
            s.spawn(|| {
                // d <-> l (to /) and d <-> l2 (to the outside dir), atomically, in a loop.
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let other = if i.is_multiple_of(2) { c"l" } else { c"l2" };
                    let _ = sys::renameat2(dir.as_fd(), c"d", dir.as_fd(), other, 2);
                    let _ = sys::renameat2(dir.as_fd(), c"d", dir.as_fd(), other, 2);
                    i += 1;
                }
            });
            for i in 0..20_000u32 {
                let path = if i.is_multiple_of(2) {
                    "d/f"
                } else {
                    "d/etc/passwd"
                };
                let h = g.open(0, path, O_RDONLY, 0);
                if h >= 0 {
                    assert_eq!(path, "d/f");
                    assert_eq!(g.read(h), b"INSIDE");
                    g.close(h);
                    opened += 1;
                } else {
                    assert!(
                        [libc::ELOOP, libc::ENOENT].contains(&(-h as i32)),
                        "{path}: {h}"
                    );
                    refused += 1;
                }
                let w = g.walk(0, path);
                if w.ret == abi::WALK_FOUND {
                    assert_eq!(w.stat().size, 6, "only the inside file is ever found");
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert!(
            opened > 0 && refused > 0,
            "{opened} opened, {refused} refused"
        );
    }

    /// A hard link made on the host from inside a mount to a file outside it is that file:
    /// the guest reads it (and could write it on a read-write mount). hull's policy is per
    /// path, like a bind mount's; the guest cannot create such links itself.
    #[test]
    fn a_premade_hard_link_is_the_same_file() {
        let top = Scratch::new("hardlink");
        let secret = top.write("outside/secret", "OUTSIDE");
        let root = top.mkdir("root");
        std::fs::hard_link(&secret, root.join("hl")).unwrap();
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root, "/data", true)]));
        let h = g.open(0, "hl", O_RDONLY, 0);
        assert!(h >= 3);
        assert_eq!(g.read(h), b"OUTSIDE");
        // Read-only still holds: no write handle, no attribute change.
        assert_eq!(g.open(0, "hl", O_WRONLY, 0), errno_ret(libc::EROFS));
        assert_eq!(g.write(h, b"x"), errno_ret(libc::EBADF));
        assert_eq!(
            g.setattr(0, "hl", abi::SETATTR_SIZE, 0),
            errno_ret(libc::EROFS)
        );
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "OUTSIDE");
    }

    #[test]
    fn proc_magic_links_are_not_followed() {
        let mem = GuestMemory::new(1 << 20).unwrap();
        let top = Scratch::new("proc");
        std::os::unix::fs::symlink("/proc/self/root", top.at("p")).unwrap();
        let mut g = Guest::new(
            &mem,
            server_for(&[
                spec(Path::new("/proc"), "/hostproc", true),
                spec(&top.0, "/t", false),
            ]),
        );
        let pid = std::process::id();
        let eloop = errno_ret(libc::ELOOP);
        for p in [
            "self/root/etc/passwd".to_string(),
            "thread-self/root/etc/passwd".into(),
            format!("{pid}/root/etc/passwd"),
            format!("{pid}/cwd"),
            format!("{pid}/exe"),
            format!("{pid}/fd/0"),
            format!("{pid}/root"),
        ] {
            assert_eq!(g.open(0, &p, O_RDONLY, 0), eloop, "{p}");
        }
        assert_eq!(g.open(1, "p/etc/passwd", O_RDONLY, 0), eloop);
        // The walk shows them as symlinks; the guest resolves the target in its own tree.
        let r = g.walk(0, "self");
        assert_eq!((r.ret, r.args[0]), (abi::WALK_SYMLINK, 0));
        let r = g.walk(0, &format!("{pid}/root/etc"));
        assert_eq!((r.ret, r.args[0], r.args[1]), (abi::WALK_SYMLINK, 1, 1));
        assert_eq!(r.data[abi::HOST_STAT_SIZE], b'/');
        let r = g.walk(1, "p/etc");
        assert_eq!((r.ret, r.args[0]), (abi::WALK_SYMLINK, 0));
    }

    #[test]
    fn fifos_and_devices_are_not_opened() {
        let root = Scratch::new("fifo");
        let fifo = CString::new(root.at("p").into_os_string().into_encoded_bytes()).unwrap();
        assert!(
            std::process::Command::new("mkfifo")
                .arg(root.at("p"))
                .status()
                .unwrap()
                .success()
        );
        drop(fifo);
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(
            &mem,
            server_for(&[
                spec(&root.0, "/r", false),
                spec(Path::new("/dev"), "/hostdev", false),
            ]),
        );
        let eacces = errno_ret(libc::EACCES);
        // Would block the server (a FIFO without a writer) or reach a device: refused.
        assert_eq!(g.open(0, "p", O_RDONLY, 0), eacces);
        assert_eq!(g.open(0, "p", O_WRONLY, 0), eacces);
        assert_eq!(g.open(1, "null", O_RDWR, 0), eacces);
        assert_eq!(g.open(1, "null", O_RDONLY | O_CREAT, 0), eacces);
        assert_eq!(
            g.setattr(1, "null", abi::SETATTR_SIZE, 0),
            errno_ret(libc::EINVAL)
        );
        // Their attributes are visible.
        let r = g.walk(1, "null");
        assert_eq!(r.ret, abi::WALK_FOUND);
        assert_eq!(r.stat().mode & libc::S_IFMT, libc::S_IFCHR);
        assert_eq!(g.walk(0, "p").stat().mode & libc::S_IFMT, libc::S_IFIFO);
    }

    #[test]
    fn read_only_mounts_refuse_every_write() {
        let root = Scratch::new("ro");
        let f = root.write("f", "DATA");
        root.mkdir("d");
        std::os::unix::fs::symlink("f", root.at("s")).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let before = std::fs::metadata(&f).unwrap();
        let listing = |p: &Path| {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            v.sort();
            v
        };
        let entries = listing(&root.0);
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/ro", true)]));
        let erofs = errno_ret(libc::EROFS);
        let eexist = errno_ret(libc::EEXIST);
        let enoent = errno_ret(libc::ENOENT);
        let (mode, time) = (abi::SETATTR_MODE, abi::SETATTR_TIMES);

        for flags in [
            O_WRONLY,
            O_RDWR,
            O_RDONLY | O_TRUNC,
            O_WRONLY | O_CREAT,
            O_RDWR | O_CREAT | O_TRUNC,
            3,
        ] {
            assert_eq!(g.open(0, "f", flags, 0o644), erofs, "flags {flags:#o}");
        }
        assert_eq!(g.open(0, "new", O_CREAT | O_RDONLY, 0o644), erofs);
        assert_eq!(g.open(0, "new", O_CREAT | O_WRONLY | O_EXCL, 0o644), erofs);
        assert_eq!(g.open(0, "nodir/new", O_CREAT, 0o644), enoent);
        assert_eq!(g.open(0, "f", O_CREAT | O_EXCL, 0o644), eexist);
        assert_eq!(g.open(0, "d", O_WRONLY, 0), errno_ret(libc::EISDIR));
        // As on Linux: O_CREAT of an existing file, read-only, just opens it.
        let h = g.open(0, "f", O_CREAT | O_RDONLY, 0o644);
        assert!(h >= 3);

        assert_eq!(g.path_op(Op::FsMkdir, 0, "new", 0o755), erofs);
        assert_eq!(
            g.path_op(Op::FsMkdir, 0, "d", 0o755),
            eexist,
            "mkdir -p works"
        );
        assert_eq!(g.path_op(Op::FsMkdir, 0, "", 0o755), eexist);
        assert_eq!(g.path_op(Op::FsMkdir, 0, "nodir/x", 0o755), enoent);
        assert_eq!(g.path_op(Op::FsUnlink, 0, "f", 0), erofs);
        assert_eq!(g.path_op(Op::FsUnlink, 0, "s", 0), erofs);
        assert_eq!(
            g.path_op(Op::FsUnlink, 0, "d", libc::AT_REMOVEDIR as u64),
            erofs
        );
        assert_eq!(g.path_op(Op::FsUnlink, 0, "nodir/x", 0), enoent);
        assert_eq!(g.two_paths(Op::FsRename, 0, "f", "g", 0), erofs);
        assert_eq!(g.two_paths(Op::FsRename, 0, "f", "d", 2), erofs);
        assert_eq!(g.two_paths(Op::FsLink, 0, "f", "g", 0), erofs);
        assert_eq!(g.two_paths(Op::FsLink, 0, "f", "d", 0), eexist);
        assert_eq!(g.two_paths(Op::FsLink, 0, "nope", "g", 0), enoent);
        assert_eq!(g.symlink(0, "f", "t"), erofs);
        assert_eq!(g.symlink(0, "f", "s"), eexist);
        for attr in [mode, abi::SETATTR_SIZE, time] {
            assert_eq!(g.setattr(0, "f", attr, 0o777), erofs, "attr {attr}");
            assert_eq!(
                g.setattr(0, "", attr, 0o777),
                if attr == abi::SETATTR_SIZE {
                    errno_ret(libc::EISDIR)
                } else {
                    erofs
                }
            );
        }
        // By handle: the handle is read-only, and its attributes are the mount's.
        assert_eq!(g.write(h, b"x"), errno_ret(libc::EBADF));
        assert_eq!(g.setattr_handle(h, mode, 0o777), erofs);
        assert_eq!(g.setattr_handle(h, time, 0), erofs);
        assert_eq!(
            g.setattr_handle(h, abi::SETATTR_SIZE, 0),
            errno_ret(libc::EINVAL)
        );
        let r = g.call(Op::FsAllocate, [h as u64, 0, 0, 4096, 0, 0], &[]);
        assert_eq!(r.ret, errno_ret(libc::EBADF));
        let r = g.call(Op::FsCopyRange, [h as u64, h as u64, 0, 8, 4, 0], &[]);
        assert_eq!(r.ret, errno_ret(libc::EBADF));
        assert_eq!(g.call(Op::FsSync, [h as u64, 0, 0, 0, 0, 0], &[]).ret, 0);
        assert_eq!(g.read(h), b"DATA");
        let r = g.call(Op::FsStatfs, [0, 0, 0, 0, 0, 0], &[]);
        assert_eq!(r.ret, 0);
        let flags = u64::from_le_bytes(r.data[72..80].try_into().unwrap());
        assert_eq!(flags & libc::ST_RDONLY, libc::ST_RDONLY);

        let after = std::fs::metadata(&f).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "DATA");
        assert_eq!(
            (
                before.mode(),
                before.mtime(),
                before.mtime_nsec(),
                // ctime, not atime: the reads above may update atime (relatime).
                (before.ctime(), before.ctime_nsec())
            ),
            (
                after.mode(),
                after.mtime(),
                after.mtime_nsec(),
                // ctime, not atime: the reads above may update atime (relatime).
                (after.ctime(), after.ctime_nsec())
            )
        );
        assert_eq!(listing(&root.0), entries);
        assert_eq!(listing(&root.at("d")).len(), 0);
    }

    #[test]
    fn read_write_mounts_serve_every_operation() {
        let root = Scratch::new("rw");
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/w", false)]));
        let h = g.open(0, "file", O_CREAT | O_EXCL | O_RDWR, 0o640);
        assert!(h >= 3, "{h}");
        assert_eq!(
            std::fs::metadata(root.at("file")).unwrap().mode() & 0o7777,
            0o640,
            "the guest's mode, no host umask"
        );
        assert_eq!(
            g.open(0, "file", O_CREAT | O_EXCL | O_RDWR, 0o640),
            errno_ret(libc::EEXIST)
        );
        assert_eq!(g.write(h, b"hello world"), 11);
        assert_eq!(
            g.call(Op::Stat, [h as u64, 0, 0, 0, 0, 0], &[]).stat().size,
            11
        );
        assert_eq!(g.read(h), b"hello world");
        assert_eq!(g.setattr_handle(h, abi::SETATTR_SIZE, 5), 0);
        assert_eq!(g.read(h), b"hello");
        assert_eq!(g.setattr_handle(h, abi::SETATTR_MODE, 0o600), 0);
        assert_eq!(g.setattr_handle(h, abi::SETATTR_TIMES, 0), 0);
        let m = std::fs::metadata(root.at("file")).unwrap();
        assert_eq!(
            (m.mode() & 0o7777, m.atime(), m.mtime()),
            (0o600, 1_000_000, 2_000_000)
        );
        assert_eq!(g.setattr(0, "file", abi::SETATTR_MODE, 0o604), 0);
        assert_eq!(g.setattr(0, "file", abi::SETATTR_SIZE, 3), 0);
        assert_eq!(
            g.setattr(0, "", abi::SETATTR_SIZE, 3),
            errno_ret(libc::EISDIR)
        );
        assert_eq!(
            g.setattr(0, "file", abi::SETATTR_SIZE, u64::MAX),
            errno_ret(libc::EINVAL)
        );
        let m = std::fs::metadata(root.at("file")).unwrap();
        assert_eq!((m.mode() & 0o7777, m.len()), (0o604, 3));
        // Stdio keeps its owner's mode and times.
        assert_eq!(
            g.setattr_handle(1, abi::SETATTR_MODE, 0o777),
            errno_ret(libc::EPERM)
        );
        assert_eq!(
            g.setattr_handle(99, abi::SETATTR_MODE, 0o777),
            errno_ret(libc::EBADF)
        );

        // Directories, symlinks, the walk.
        assert_eq!(g.path_op(Op::FsMkdir, 0, "dir", 0o750), 0);
        assert_eq!(
            std::fs::metadata(root.at("dir")).unwrap().mode() & 0o7777,
            0o750
        );
        assert_eq!(
            g.path_op(Op::FsMkdir, 0, "dir", 0o750),
            errno_ret(libc::EEXIST)
        );
        assert_eq!(
            g.path_op(Op::FsMkdir, 0, "", 0o750),
            errno_ret(libc::EEXIST)
        );
        assert_eq!(g.symlink(0, "../file", "dir/ln"), 0);
        assert_eq!(g.symlink(0, "", "dir/empty"), errno_ret(libc::ENOENT));
        let long = "x".repeat(abi::MAX_SYMLINK_TARGET + 1);
        assert_eq!(
            g.symlink(0, &long, "dir/long"),
            errno_ret(libc::ENAMETOOLONG)
        );
        let r = g.walk(0, "dir/ln/more");
        assert_eq!((r.ret, r.args[0], r.args[1]), (abi::WALK_SYMLINK, 1, 7));
        assert_eq!(&r.data[abi::HOST_STAT_SIZE..][..7], b"../file");
        let r = g.walk(0, "dir");
        assert_eq!(r.ret, abi::WALK_FOUND);
        assert_eq!(r.stat().mode & libc::S_IFMT, libc::S_IFDIR);
        let r = g.walk(0, "");
        assert_eq!(r.stat().ino, std::fs::metadata(&root.0).unwrap().ino());
        let r = g.walk(0, "dir/missing/x");
        assert_eq!((r.ret, r.args[0]), (errno_ret(libc::ENOENT), 1));
        let r = g.walk(0, "file/x/y");
        assert_eq!((r.ret, r.args[0]), (errno_ret(libc::ENOTDIR), 1));
        assert_eq!(
            g.open(0, "file", O_RDONLY | O_DIRECTORY, 0),
            errno_ret(libc::ENOTDIR)
        );
        assert_eq!(g.open(0, "dir", O_RDWR, 0), errno_ret(libc::EISDIR));
        assert_eq!(
            g.open(0, "x", O_CREAT | O_DIRECTORY, 0),
            errno_ret(libc::EINVAL)
        );

        // Rename, link, unlink.
        assert_eq!(g.two_paths(Op::FsRename, 0, "file", "dir/file2", 0), 0);
        assert_eq!(g.two_paths(Op::FsLink, 0, "dir/file2", "hard", 0), 0);
        assert_eq!(std::fs::metadata(root.at("hard")).unwrap().nlink(), 2);
        assert_eq!(g.two_paths(Op::FsLink, 0, "dir/ln", "ln2", 0), 0);
        assert!(
            std::fs::symlink_metadata(root.at("ln2"))
                .unwrap()
                .is_symlink()
        );
        let noreplace = libc::RENAME_NOREPLACE as u64;
        assert_eq!(
            g.two_paths(Op::FsRename, 0, "hard", "dir/file2", noreplace),
            errno_ret(libc::EEXIST)
        );
        assert_eq!(
            g.two_paths(Op::FsRename, 0, "hard", "ln2", libc::RENAME_EXCHANGE as u64),
            0
        );
        assert!(
            std::fs::symlink_metadata(root.at("hard"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            g.two_paths(Op::FsRename, 0, "", "x", 0),
            errno_ret(libc::EBUSY)
        );

        // Directory listing, seek back, list again.
        let d = g.open(0, "dir", O_RDONLY | O_DIRECTORY, 0);
        assert!(d >= 3);
        assert_eq!(g.list(d), ["file2", "ln"]);
        assert_eq!(g.call(Op::Seek, [d as u64, 0, 0, 0, 0, 0], &[]).ret, 0);
        assert_eq!(g.list(d), ["file2", "ln"]);
        let big = g.open(0, "", O_RDONLY | O_DIRECTORY, 0);
        for i in 0..300 {
            std::fs::write(root.at(&format!("many-{i:03}")), "").unwrap();
        }
        assert_eq!(
            g.list(big).len(),
            300 + 3,
            "dir, hard, ln2 and the new files"
        );
        assert_eq!(
            g.path_op(Op::FsUnlink, 0, "dir", libc::AT_REMOVEDIR as u64),
            errno_ret(libc::ENOTEMPTY)
        );
        assert_eq!(
            g.path_op(Op::FsUnlink, 0, "dir", 0),
            errno_ret(libc::EISDIR)
        );
        assert_eq!(g.path_op(Op::FsUnlink, 0, "dir/ln", 0), 0);
        assert_eq!(g.path_op(Op::FsUnlink, 0, "", 0), errno_ret(libc::EBUSY));

        // statfs, sync, allocate, copy_file_range (explicit offsets and the position).
        let r = g.call(Op::FsStatfs, [0, 0, 0, 0, 0, 0], &[]);
        assert_eq!(r.ret, 0);
        assert!(
            u64::from_le_bytes(r.data[8..16].try_into().unwrap()) > 0,
            "bsize"
        );
        let src = g.open(0, "src", O_CREAT | O_RDWR, 0o644);
        let dst = g.open(0, "dst", O_CREAT | O_RDWR, 0o644);
        assert_eq!(g.write(src, b"0123456789"), 10);
        assert_eq!(g.call(Op::FsSync, [src as u64, 1, 0, 0, 0, 0], &[]).ret, 0);
        assert_eq!(g.call(Op::FsSync, [src as u64, 0, 0, 0, 0, 0], &[]).ret, 0);
        let r = g.call(Op::FsCopyRange, [src as u64, dst as u64, 2, 0, 3, 0], &[]);
        assert_eq!(r.ret, 3);
        assert_eq!(std::fs::read(root.at("dst")).unwrap(), b"234");
        assert_eq!(g.call(Op::Seek, [src as u64, 8, 0, 0, 0, 0], &[]).ret, 8);
        let r = g.call(
            Op::FsCopyRange,
            [
                src as u64,
                dst as u64,
                OFFSET_CURRENT,
                OFFSET_CURRENT,
                100,
                0,
            ],
            &[],
        );
        assert_eq!(r.ret, 2);
        assert_eq!(
            std::fs::read(root.at("dst")).unwrap(),
            b"894",
            "at dst's own position (0): explicit offsets do not move it"
        );
        let r = g.call(Op::FsCopyRange, [src as u64, 77, 0, 0, 1, 0], &[]);
        assert_eq!(r.ret, errno_ret(libc::EBADF));
        let r = g.call(
            Op::FsCopyRange,
            [src as u64, dst as u64, 1 << 63, 0, 1, 0],
            &[],
        );
        assert_eq!(r.ret, errno_ret(libc::EINVAL));
        let r = g.call(Op::FsAllocate, [dst as u64, 0, 0, 1 << 16, 0, 0], &[]);
        assert_eq!(r.ret, 0);
        assert_eq!(std::fs::metadata(root.at("dst")).unwrap().len(), 1 << 16);
        assert!(malformed(g.try_call(
            Op::FsAllocate,
            [dst as u64, 1 << 32, 0, 1, 0, 0],
            &[]
        )));
    }

    #[test]
    fn chmod_works_without_fchmodat2() {
        let root = Scratch::new("chmod");
        root.write("f", "");
        std::os::unix::fs::symlink("f", root.at("s")).unwrap();
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut files = server_for(&[spec(&root.0, "/c", false)]);
        files.chmod2 = false;
        let mut g = Guest::new(&mem, files);
        assert_eq!(g.setattr(0, "f", abi::SETATTR_MODE, 0o600), 0);
        assert_eq!(
            std::fs::metadata(root.at("f")).unwrap().mode() & 0o7777,
            0o600
        );
        assert_eq!(g.setattr(0, "", abi::SETATTR_MODE, 0o711), 0);
        assert_eq!(std::fs::metadata(&root.0).unwrap().mode() & 0o7777, 0o711);
        assert_eq!(
            g.setattr(0, "s", abi::SETATTR_MODE, 0o777),
            errno_ret(libc::EOPNOTSUPP)
        );
        assert_eq!(
            std::fs::metadata(root.at("f")).unwrap().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn nested_mounts_cover_their_paths() {
        let root = Scratch::new("nested");
        root.write("sub/f", "ro data");
        root.write("subx/f", "");
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(
            &mem,
            server_for(&[
                spec(&root.0, "/data", false),
                spec(&root.at("sub"), "/data/sub", true),
            ]),
        );
        for p in ["sub", "sub/f", "sub/x/y"] {
            let r = g.try_call(
                Op::FsOpen,
                [0, p.len() as u64, O_RDWR, 0, 0, 0],
                p.as_bytes(),
            );
            assert!(malformed(r), "{p}");
        }
        let r = g.try_call(Op::FsRename, [0, 6, 5, 0, 0, 0], b"subx/fsub/g");
        assert!(malformed(r));
        assert!(g.open(0, "subx/f", O_RDWR, 0) >= 3);
        assert_eq!(g.open(1, "f", O_RDWR, 0), errno_ret(libc::EROFS));
        assert_eq!(
            std::fs::read_to_string(root.at("sub/f")).unwrap(),
            "ro data"
        );
    }

    #[test]
    fn open_handles_are_capped_and_no_host_fd_leaks() {
        crate::host_io::raise_nofile_limit().unwrap();
        let root = Scratch::new("cap");
        root.write("f", "x");
        std::os::unix::fs::symlink("/", root.at("s")).unwrap();
        let mem = GuestMemory::new(1 << 20).unwrap();
        assert_eq!(fds_under(&root.0), 0);
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/c", false)]));
        assert_eq!(fds_under(&root.0), 1, "the mount root");
        let mut handles = Vec::new();
        for _ in 0..abi::MAX_FILE_HANDLES {
            let h = g.open(0, "f", O_RDONLY, 0);
            assert!(h >= 3, "{h}");
            handles.push(h);
        }
        assert_eq!(fds_under(&root.0), 1 + abi::MAX_FILE_HANDLES);
        let emfile = errno_ret(libc::EMFILE);
        assert_eq!(g.open(0, "f", O_RDONLY, 0), emfile);
        assert_eq!(g.open(0, "new", O_CREAT | O_RDWR, 0o644), emfile);
        assert!(!root.at("new").exists());
        // Failing operations leave no descriptor behind either.
        assert_eq!(g.walk(0, "s/etc").ret, abi::WALK_SYMLINK);
        assert_eq!(g.walk(0, "nope/x").ret, errno_ret(libc::ENOENT));
        assert_eq!(
            g.path_op(Op::FsMkdir, 0, "s/x", 0o755),
            errno_ret(libc::ELOOP)
        );
        assert_eq!(
            g.setattr(0, "s", abi::SETATTR_SIZE, 0),
            errno_ret(libc::ELOOP)
        );
        assert_eq!(fds_under(&root.0), 1 + abi::MAX_FILE_HANDLES);
        // A closed handle is reused.
        g.close(handles[10]);
        assert_eq!(g.open(0, "f", O_RDONLY, 0), handles[10]);
        assert_eq!(g.open(0, "f", O_RDONLY, 0), emfile);
        drop(g);
        assert_eq!(fds_under(&root.0), 0);
    }

    #[test]
    fn mount_table_records_and_routes() {
        let root = Scratch::new("table");
        root.mkdir("a/b");
        let m = Mounts::open(
            Some(&root.0),
            &[
                spec(&root.at("a"), "/data", false),
                spec(&root.at("a/b"), "/data/b", true),
            ],
        )
        .unwrap();
        let b = m.boot_records();
        let mut want = Vec::new();
        for (id, flags, path) in [
            (0u32, MOUNT_ROOT_LOWER | MOUNT_READONLY, &b"/"[..]),
            (1, 0, b"/data"),
            (2, MOUNT_READONLY, b"/data/b"),
        ] {
            want.extend_from_slice(&id.to_le_bytes());
            want.extend_from_slice(&flags.to_le_bytes());
            want.extend_from_slice(&(path.len() as u32).to_le_bytes());
            want.extend_from_slice(path);
        }
        assert_eq!(b, want);
        let route = |p: &[u8]| m.route(p).map(|(m, rest)| (m.guest.clone(), rest.to_vec()));
        assert_eq!(
            route(b"/data/b/x"),
            Some((b"/data/b".to_vec(), b"x".to_vec()))
        );
        assert_eq!(
            route(b"/data/bx"),
            Some((b"/data".to_vec(), b"bx".to_vec()))
        );
        assert_eq!(route(b"/data"), Some((b"/data".to_vec(), Vec::new())));
        assert_eq!(route(b"/etc"), Some((b"/".to_vec(), b"etc".to_vec())));
        assert_eq!(m.list[0].covered, [b"data".to_vec(), b"data/b".to_vec()]);
        assert_eq!(m.list[1].covered, [b"b".to_vec()]);
        assert!(m.list[2].covered.is_empty());
        assert!(matches!(
            Mounts::open(
                None,
                &[spec(&root.0, "/x", false), spec(&root.0, "/x", true)]
            ),
            Err(MountError::Duplicate(_))
        ));
        let err = Mounts::open(None, &[spec(&root.at("nope"), "/x", false)]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        std::fs::write(root.at("file"), "").unwrap();
        assert!(Mounts::open(None, &[spec(&root.at("file"), "/x", false)]).is_err());
        assert_eq!(normalize_guest_path(b"/a//b/./c/../d/"), b"/a/b/d");
        assert_eq!(normalize_guest_path(b"/../.."), b"/");
    }

    #[test]
    fn readdir_plus_returns_each_entrys_attributes() {
        let root = Scratch::new("rdplus");
        root.write("d/empty", "");
        root.write("d/small", "12345");
        root.write("d/big", &"x".repeat(70_000));
        root.mkdir("d/sub/deeper");
        std::os::unix::fs::symlink("small", root.at("d/ln")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.at("d/out")).unwrap();
        std::fs::set_permissions(root.at("d/small"), std::fs::Permissions::from_mode(0o751))
            .unwrap();
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/data", false)]));
        let d = root.at("d");
        let h = g.open(0, "d", O_RDONLY | O_DIRECTORY, 0);
        assert!(h >= 3);
        let (n, count, entries) = g.readdir_plus(h, 64);
        assert!(n > 0);
        assert_eq!(count as usize, entries.len());
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [".", "..", "big", "empty", "ln", "out", "small", "sub"]
        );
        for e in &entries {
            check_entry(&d, e);
        }
        let ln = entries.iter().find(|e| e.name == "ln").unwrap();
        assert_eq!(ln.st.mode & libc::S_IFMT, libc::S_IFLNK, "not followed");
        assert_eq!(g.readdir_plus(h, 64).0, 0, "the end");
        assert_eq!(g.readdir_plus(h, 64).1, 0, "no stats at the end");
        // The mount root: `.` is the root itself, `..` (outside) is never looked at.
        let r = g.open(0, "", O_RDONLY | O_DIRECTORY, 0);
        let (_, _, entries) = g.readdir_plus(r, 64);
        assert_eq!(entries.len(), 3);
        for e in &entries {
            check_entry(&root.0, e);
        }
        // A name gone by the time it is looked at (a race) gets zero attributes, the
        // others theirs.
        let dir = std::fs::File::open(&d).unwrap();
        let zeros = entry_stats(dir.as_fd(), &[b"gone".to_vec(), b"small".to_vec()]);
        assert_eq!(zeros.len(), 2 * abi::HOST_STAT_SIZE);
        assert!(zeros[..abi::HOST_STAT_SIZE].iter().all(|&b| b == 0));
        assert_eq!(
            decode_stat(&zeros[abi::HOST_STAT_SIZE..]).ino,
            std::fs::metadata(d.join("small")).unwrap().ino()
        );
        // stat_max 0 is plain readdir: args[0] keeps the handle.
        assert_eq!(g.call(Op::Seek, [h as u64, 0, 0, 0, 0, 0], &[]).ret, 0);
        let mut seg = BUF.to_le_bytes().to_vec();
        seg.extend_from_slice(&4096u64.to_le_bytes());
        let r0 = g.call(Op::FsReadDir, [h as u64, 1, 0, 0, 0, 0], &seg);
        assert!(r0.ret > 0);
        assert_eq!(r0.args[0], h as u64);
        // On a file handle: the readdir error, and no stats.
        let f = g.open(0, "d/small", O_RDONLY, 0);
        let (n, count, _) = g.readdir_plus(f, 4);
        assert_eq!((n, count), (errno_ret(libc::ENOTDIR), 0));
    }

    #[test]
    fn readdir_plus_respects_stat_max_across_calls() {
        let root = Scratch::new("rdplus-many");
        root.mkdir("big");
        for i in 0..300 {
            std::fs::write(root.at(&format!("big/entry-{i:03}")), "y".repeat(i)).unwrap();
        }
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/data", true)]));
        let dir = root.at("big");
        for stat_max in [7u64, 1, 300, 301, 302, 4096] {
            let h = g.open(0, "big", O_RDONLY | O_DIRECTORY, 0);
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            let mut calls = 0;
            loop {
                let (n, count, entries) = g.readdir_plus(h, stat_max);
                assert!(n >= 0, "readdir: {n}");
                if n == 0 {
                    assert_eq!(count, 0);
                    break;
                }
                calls += 1;
                assert!(entries.len() as u64 <= stat_max);
                assert_eq!(count as usize, entries.len(), "one stat per entry");
                for e in &entries {
                    check_entry(&dir, e);
                    *seen.entry(e.name.clone()).or_default() += 1;
                }
            }
            assert_eq!(seen.len(), 302, "stat_max {stat_max}");
            assert!(seen.values().all(|&c| c == 1), "each once: {stat_max}");
            assert!(calls >= 302usize.div_ceil(stat_max as usize));
            g.close(h);
        }
        // Plain reads go on where a readdir-plus stopped, and vice versa.
        let h = g.open(0, "big", O_RDONLY | O_DIRECTORY, 0);
        let (_, _, first) = g.readdir_plus(h, 5);
        assert_eq!(first.len(), 5);
        let mut rest = g.list(h);
        rest.extend(first.into_iter().map(|e| e.name));
        rest.retain(|n| n != "." && n != "..");
        rest.sort();
        assert_eq!(rest.len(), 300);
        rest.dedup();
        assert_eq!(rest.len(), 300);
    }

    #[test]
    fn readdir_plus_checks_the_stat_range() {
        let root = Scratch::new("rdplus-range");
        root.write("d/a", "1");
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(&mem, server_for(&[spec(&root.0, "/data", false)]));
        let h = g.open(0, "d", O_RDONLY | O_DIRECTORY, 0);
        let mut seg = BUF.to_le_bytes().to_vec();
        seg.extend_from_slice(&4096u64.to_le_bytes());
        let size = abi::HOST_STAT_SIZE as u64;
        for (gpa, max) in [
            (1u64 << 20, 1u64),
            ((1 << 20) - size + 1, 1),
            ((1 << 20) - 2 * size, 3),
            (u64::MAX - 8, 1),
            (u64::MAX - size * 4095, 4096),
        ] {
            let r = g.try_call(Op::FsReadDir, [h as u64, 1, gpa, max, 0, 0], &seg);
            assert!(
                matches!(r, Err(ProtocolError::Memory(_))),
                "{gpa:#x} × {max}"
            );
        }
        for max in [abi::MAX_READDIR_STATS as u64 + 1, u64::MAX] {
            let r = g.try_call(Op::FsReadDir, [h as u64, 1, 0, max, 0, 0], &seg);
            assert!(malformed(r), "stat_max {max}");
        }
        // Nothing moved the directory position; a range ending at the end of RAM is fine,
        // and a bad range is refused even for an unknown handle.
        let r = g.call(
            Op::FsReadDir,
            [h as u64, 1, (1 << 20) - 3 * size, 3, 0, 0],
            &seg,
        );
        assert!(r.ret > 0);
        assert_eq!(r.args[0], 3, ". .. a");
        let r = g.try_call(Op::FsReadDir, [999, 1, 1 << 20, 1, 0, 0], &seg);
        assert!(matches!(r, Err(ProtocolError::Memory(_))));
        let r = g.call(Op::FsReadDir, [999, 1, 0, 1, 0, 0], &seg);
        assert_eq!((r.ret, r.args[0]), (errno_ret(libc::EBADF), 0));
    }

    #[test]
    fn appending_writes_go_to_the_end() {
        let root = Scratch::new("append");
        root.write("log", "abc");
        root.write("ro/f", "RO");
        let mem = GuestMemory::new(1 << 20).unwrap();
        let mut g = Guest::new(
            &mem,
            server_for(&[
                spec(&root.0, "/data", false),
                spec(&root.at("ro"), "/ro", true),
            ]),
        );
        let append = |g: &mut Guest<'_>, h: i64, bytes: &[u8], offset: u64, flags: u64| {
            g.mem.write(BUF, bytes).unwrap();
            // Two segments, the second one empty or holding the rest.
            let k = bytes.len() / 2;
            let mut segs = Vec::new();
            for (gpa, len) in [(BUF, k as u64), (BUF + k as u64, (bytes.len() - k) as u64)] {
                segs.extend_from_slice(&gpa.to_le_bytes());
                segs.extend_from_slice(&len.to_le_bytes());
            }
            let r = g.call(Op::Write, [h as u64, 2, offset, flags, 0, 0], &segs);
            (r.ret, r.args[1])
        };
        use std::io::Write;
        let h = g.open(0, "log", O_RDWR, 0);
        assert!(h >= 3);
        assert_eq!(append(&mut g, h, b"def", 0, abi::IO_APPEND), (3, 6));
        assert_eq!(std::fs::read_to_string(root.at("log")).unwrap(), "abcdef");
        // Another writer grows the file: the next append still lands at the end.
        std::fs::OpenOptions::new()
            .append(true)
            .open(root.at("log"))
            .unwrap()
            .write_all(b"XYZ")
            .unwrap();
        let flags = abi::IO_APPEND | abi::IO_NONBLOCK;
        assert_eq!(append(&mut g, h, b"ghij", 1, flags), (4, 13));
        assert_eq!(
            append(&mut g, h, b"", OFFSET_CURRENT, abi::IO_APPEND),
            (0, 13)
        );
        // A hostile offset does not matter to an append.
        assert_eq!(
            append(&mut g, h, b"k", u64::MAX - 1, abi::IO_APPEND),
            (1, 14)
        );
        // The position is the end: a plain write goes on from there; an offset write does
        // not append.
        assert_eq!(g.write(h, b"!"), 1);
        assert_eq!(append(&mut g, h, b"A", 0, 0).0, 1);
        assert_eq!(
            std::fs::read_to_string(root.at("log")).unwrap(),
            "AbcdefXYZghijk!"
        );
        // Never on a read-only handle, nor one from a read-only mount.
        let r = g.open(0, "log", O_RDONLY, 0);
        assert_eq!(
            append(&mut g, r, b"no", 0, abi::IO_APPEND).0,
            errno_ret(libc::EBADF)
        );
        let ro = g.open(1, "f", O_RDONLY, 0);
        assert_eq!(
            append(&mut g, ro, b"no", 0, abi::IO_APPEND).0,
            errno_ret(libc::EBADF)
        );
        assert_eq!(g.write(ro, b"no"), errno_ret(libc::EBADF));
        assert_eq!(
            append(&mut g, 999, b"no", 0, abi::IO_APPEND).0,
            errno_ret(libc::EBADF)
        );
        assert_eq!(std::fs::read_to_string(root.at("ro/f")).unwrap(), "RO");
        assert_eq!(std::fs::read_to_string(root.at("log")).unwrap().len(), 15);
    }
}
