//! `/proc`: its shape (which names exist, which are symlinks and where they point). The
//! files' contents are generated from the kernel's state when they are opened (see
//! `syscall::procfs`), so a read sees one consistent snapshot.
use alloc::vec::Vec;

use super::DirEntry;
use super::memfs::mode;

/// What `/proc` needs to know about the process.
pub trait ProcView {
    /// The caller's process (what `self` names).
    fn pid(&self) -> u32;
    /// The caller's thread (what `thread-self` names).
    fn tid(&self) -> u32;
    /// Every process of the sandbox (thread group leaders), ascending.
    fn pids(&self) -> Vec<u32>;
    /// The threads of process `pid`, ascending (empty if there is no such process).
    fn threads(&self, pid: u32) -> Vec<u32>;
    /// Whether a live task (process or thread) has id `id`.
    fn exists(&self, id: u32) -> bool;
    /// Open descriptors of `pid`, ascending.
    fn fds(&self, pid: u32) -> Vec<u32>;
    /// What `/proc/PID/fd/N` points at.
    fn fd_path(&self, pid: u32, fd: u32) -> Option<Vec<u8>>;
    fn exe(&self, pid: u32) -> Vec<u8>;
    fn cwd(&self, pid: u32) -> Vec<u8>;
}

/// Files directly in `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    Cpuinfo,
    Meminfo,
    Uptime,
    Loadavg,
    Stat,
    Version,
    Filesystems,
}

/// Files in `/proc/PID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidFile {
    Status,
    Stat,
    Statm,
    Cmdline,
    Environ,
    Maps,
    Mounts,
    Comm,
    Limits,
}

/// A name in `/proc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcNode {
    Root,
    /// `self` → `PID`.
    SelfLink,
    /// `thread-self` → `PID/task/TID`.
    ThreadSelfLink,
    /// `mounts` → `self/mounts`.
    MountsLink,
    Global(Global),
    Pid(u32),
    PidFile(u32, PidFile),
    FdDir(u32),
    /// `/proc/PID/task`: a `PID`-like directory per thread.
    TaskDir(u32),
    /// `/proc/PID/task/TID`: the thread's files (a `PID` directory without `task`).
    Task(u32),
    Fd(u32, u32),
    Exe(u32),
    Cwd(u32),
    RootLink(u32),
    /// What `exe` leads to when followed: the program file itself (a magic link, as on
    /// Linux, so it opens even when its path means nothing in the sandbox).
    ExeFile(u32),
    /// What `fd/N` leads to when its file has no path (stdio, pipes): that open file.
    FdTarget(u32, u32),
}

const GLOBALS: [(&str, Global); 7] = [
    ("cpuinfo", Global::Cpuinfo),
    ("meminfo", Global::Meminfo),
    ("uptime", Global::Uptime),
    ("loadavg", Global::Loadavg),
    ("stat", Global::Stat),
    ("version", Global::Version),
    ("filesystems", Global::Filesystems),
];

const PID_FILES: [(&str, PidFile); 9] = [
    ("status", PidFile::Status),
    ("stat", PidFile::Stat),
    ("statm", PidFile::Statm),
    ("cmdline", PidFile::Cmdline),
    ("environ", PidFile::Environ),
    ("maps", PidFile::Maps),
    ("mounts", PidFile::Mounts),
    ("comm", PidFile::Comm),
    ("limits", PidFile::Limits),
];

fn parse_u32(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || (name.len() > 1 && name[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u64;
    }
    u32::try_from(v).ok()
}

fn decimal(v: u32) -> Vec<u8> {
    alloc::format!("{v}").into_bytes()
}

impl ProcNode {
    pub fn is_dir(&self) -> bool {
        matches!(
            self,
            ProcNode::Root
                | ProcNode::Pid(_)
                | ProcNode::FdDir(_)
                | ProcNode::TaskDir(_)
                | ProcNode::Task(_)
        )
    }

    /// `st_mode`.
    pub fn mode(&self) -> u32 {
        match self {
            n if n.is_dir() => mode::S_IFDIR | 0o555,
            ProcNode::SelfLink
            | ProcNode::ThreadSelfLink
            | ProcNode::MountsLink
            | ProcNode::Fd(..)
            | ProcNode::Exe(_)
            | ProcNode::Cwd(_)
            | ProcNode::RootLink(_) => mode::S_IFLNK | 0o777,
            ProcNode::PidFile(_, PidFile::Environ) => mode::S_IFREG | 0o400,
            ProcNode::ExeFile(_) => mode::S_IFREG | 0o755,
            _ => mode::S_IFREG | 0o444,
        }
    }

    /// A stable inode number.
    pub fn ino(&self) -> u64 {
        let (a, b, c): (u64, u64, u64) = match self {
            ProcNode::Root => (1, 0, 0),
            ProcNode::SelfLink => (2, 0, 0),
            ProcNode::MountsLink => (3, 0, 0),
            ProcNode::Global(g) => (4, *g as u64, 0),
            ProcNode::Pid(p) => (5, *p as u64, 0),
            ProcNode::PidFile(p, f) => (6, *p as u64, *f as u64),
            ProcNode::FdDir(p) => (7, *p as u64, 0),
            ProcNode::Fd(p, fd) => (8, *p as u64, *fd as u64),
            ProcNode::Exe(p) => (9, *p as u64, 0),
            ProcNode::Cwd(p) => (10, *p as u64, 0),
            ProcNode::RootLink(p) => (11, *p as u64, 0),
            ProcNode::ExeFile(p) => (12, *p as u64, 0),
            ProcNode::FdTarget(p, fd) => (13, *p as u64, *fd as u64),
            ProcNode::ThreadSelfLink => (14, 0, 0),
            ProcNode::TaskDir(p) => (15, *p as u64, 0),
            ProcNode::Task(p) => (16, *p as u64, 0),
        };
        0x1000 + (a << 40) + (b << 16) + c
    }
}

/// Looks `name` up in directory `dir`.
pub fn lookup(view: &dyn ProcView, dir: &ProcNode, name: &[u8]) -> Option<ProcNode> {
    let pid = view.pid();
    match dir {
        ProcNode::Root => match name {
            b"self" => Some(ProcNode::SelfLink),
            b"thread-self" => Some(ProcNode::ThreadSelfLink),
            b"mounts" => Some(ProcNode::MountsLink),
            _ => GLOBALS
                .iter()
                .find(|(n, _)| n.as_bytes() == name)
                .map(|&(_, g)| ProcNode::Global(g))
                .or_else(|| {
                    // A thread's id works too, though only processes are listed (as Linux).
                    let n = parse_u32(name)?;
                    (n == pid || view.exists(n)).then_some(ProcNode::Pid(n))
                }),
        },
        ProcNode::Pid(p) | ProcNode::Task(p) => match name {
            b"fd" => Some(ProcNode::FdDir(*p)),
            b"task" if matches!(dir, ProcNode::Pid(_)) => Some(ProcNode::TaskDir(*p)),
            b"exe" => Some(ProcNode::Exe(*p)),
            b"cwd" => Some(ProcNode::Cwd(*p)),
            b"root" => Some(ProcNode::RootLink(*p)),
            _ => PID_FILES
                .iter()
                .find(|(n, _)| n.as_bytes() == name)
                .map(|&(_, f)| ProcNode::PidFile(*p, f)),
        },
        ProcNode::FdDir(p) => parse_u32(name)
            .filter(|fd| view.fd_path(*p, *fd).is_some())
            .map(|fd| ProcNode::Fd(*p, fd)),
        ProcNode::TaskDir(p) => parse_u32(name)
            .filter(|t| view.threads(*p).contains(t))
            .map(ProcNode::Task),
        _ => None,
    }
}

/// Where a magic link leads when followed, if it is one that must not be followed by
/// its text: `exe`, and `fd/N` of a file without a path.
pub fn follow_magic(view: &dyn ProcView, node: &ProcNode) -> Option<ProcNode> {
    match node {
        ProcNode::Exe(p) => Some(ProcNode::ExeFile(*p)),
        ProcNode::Fd(p, fd) => match view.fd_path(*p, *fd) {
            Some(t) if t.first() == Some(&b'/') => None,
            _ => Some(ProcNode::FdTarget(*p, *fd)),
        },
        _ => None,
    }
}

/// The target of a symlink node; `None` for anything else.
pub fn readlink(view: &dyn ProcView, node: &ProcNode) -> Option<Vec<u8>> {
    match node {
        ProcNode::SelfLink => Some(decimal(view.pid())),
        ProcNode::ThreadSelfLink => {
            Some(alloc::format!("{}/task/{}", view.pid(), view.tid()).into_bytes())
        }
        ProcNode::MountsLink => Some(b"self/mounts".to_vec()),
        ProcNode::Fd(p, fd) => view.fd_path(*p, *fd),
        ProcNode::Exe(p) => Some(view.exe(*p)),
        ProcNode::Cwd(p) => Some(view.cwd(*p)),
        ProcNode::RootLink(_) => Some(b"/".to_vec()),
        _ => None,
    }
}

/// The entries of directory `dir` (without `.` and `..`).
pub fn list(view: &dyn ProcView, dir: &ProcNode) -> Vec<DirEntry> {
    let entry = |node: ProcNode, name: Vec<u8>| DirEntry {
        ino: node.ino(),
        kind: super::dtype(node.mode()),
        name,
    };
    let mut out = Vec::new();
    match dir {
        ProcNode::Root => {
            for pid in view.pids() {
                out.push(entry(ProcNode::Pid(pid), decimal(pid)));
            }
            for (n, g) in GLOBALS {
                out.push(entry(ProcNode::Global(g), n.as_bytes().to_vec()));
            }
            out.push(entry(ProcNode::MountsLink, b"mounts".to_vec()));
            out.push(entry(ProcNode::SelfLink, b"self".to_vec()));
            out.push(entry(ProcNode::ThreadSelfLink, b"thread-self".to_vec()));
        }
        ProcNode::Pid(p) | ProcNode::Task(p) => {
            out.push(entry(ProcNode::FdDir(*p), b"fd".to_vec()));
            if matches!(dir, ProcNode::Pid(_)) {
                out.push(entry(ProcNode::TaskDir(*p), b"task".to_vec()));
            }
            out.push(entry(ProcNode::Exe(*p), b"exe".to_vec()));
            out.push(entry(ProcNode::Cwd(*p), b"cwd".to_vec()));
            out.push(entry(ProcNode::RootLink(*p), b"root".to_vec()));
            for (n, f) in PID_FILES {
                out.push(entry(ProcNode::PidFile(*p, f), n.as_bytes().to_vec()));
            }
        }
        ProcNode::FdDir(p) => {
            for fd in view.fds(*p) {
                out.push(entry(ProcNode::Fd(*p, fd), decimal(fd)));
            }
        }
        ProcNode::TaskDir(p) => {
            for t in view.threads(*p) {
                out.push(entry(ProcNode::Task(t), decimal(t)));
            }
        }
        _ => {}
    }
    out
}

/// A `ProcView` for unit tests: process 1, running program `/prog` in `/`, with
/// `threads` (its own id first), the last of which is the caller.
#[cfg(test)]
pub(crate) struct TestView {
    pub threads: &'static [u32],
}

#[cfg(test)]
impl ProcView for TestView {
    fn pid(&self) -> u32 {
        1
    }
    fn tid(&self) -> u32 {
        *self.threads.last().unwrap_or(&1)
    }
    fn pids(&self) -> Vec<u32> {
        alloc::vec![1]
    }
    fn threads(&self, pid: u32) -> Vec<u32> {
        if self.threads.contains(&pid) {
            self.threads.to_vec()
        } else {
            Vec::new()
        }
    }
    fn exists(&self, id: u32) -> bool {
        self.threads.contains(&id)
    }
    fn fds(&self, _pid: u32) -> Vec<u32> {
        Vec::new()
    }
    fn fd_path(&self, _pid: u32, _fd: u32) -> Option<Vec<u8>> {
        None
    }
    fn exe(&self, _pid: u32) -> Vec<u8> {
        b"/prog".to_vec()
    }
    fn cwd(&self, _pid: u32) -> Vec<u8> {
        b"/".to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[DirEntry]) -> Vec<&[u8]> {
        v.iter().map(|e| e.name.as_slice()).collect()
    }

    #[test]
    fn threads_are_listed_under_task_and_have_no_task_of_their_own() {
        let view = TestView { threads: &[1, 7] };
        let root = list(&view, &ProcNode::Root);
        assert!(names(&root).contains(&b"1".as_slice()));
        assert!(
            !names(&root).contains(&b"7".as_slice()),
            "only processes are listed"
        );
        assert_eq!(
            lookup(&view, &ProcNode::Root, b"7"),
            Some(ProcNode::Pid(7)),
            "a thread's id still opens"
        );
        let task = lookup(&view, &ProcNode::Pid(1), b"task").unwrap();
        assert_eq!(
            names(&list(&view, &task)),
            [b"1".as_slice(), b"7".as_slice()]
        );
        let t7 = lookup(&view, &task, b"7").unwrap();
        assert!(t7.is_dir());
        assert_eq!(lookup(&view, &t7, b"task"), None, "no /proc/1/task/7/task");
        assert!(!names(&list(&view, &t7)).contains(&b"task".as_slice()));
        assert!(lookup(&view, &t7, b"status").is_some());
        assert_eq!(lookup(&view, &task, b"8"), None);
        assert_eq!(
            readlink(&view, &ProcNode::ThreadSelfLink),
            Some(b"1/task/7".to_vec())
        );
    }
}
