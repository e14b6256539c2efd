//! execve and execveat: the file is found through the VFS, `#!` scripts run their
//! interpreter (with its optional argument, at most four levels deep), and an ELF image is
//! read into physically contiguous frames once per file version (an image cache: a shell
//! that runs busybox a thousand times reads it once), then mapped copy-on-write.
//! Close-on-exec descriptors close, handled signals reset to SIG_DFL, and
//! /proc/self/exe follows the new program.
use alloc::vec::Vec;

use hull_arch::abi::Segment;
use hull_arch::trapframe::TrapFrame;

use crate::errno::{Errno, SysResult};
use crate::hypercall;
use crate::mm::PAGE_SIZE;
use crate::platform;
use crate::process::Kernel;
use crate::vfs::memfs::{MemBody, mode::*};
use crate::vfs::{Loc, Node};

/// Linux's limit on argv + envp (MAX_ARG_STRLEN per string is 32 pages).
const MAX_ARGS_BYTES: usize = 2 << 20;
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Nested `#!` interpreters allowed.
const MAX_INTERP_DEPTH: u32 = 4;

/// A cached program image: the file version it came from, and its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageKey {
    pub mount: usize,
    pub path: Vec<u8>,
    pub ino: u64,
    pub size: u64,
    pub mtime: [i64; 2],
}

/// Images read so far; their frames are never freed (mapped images are shared and read
/// only, and a later exec of the same file reuses them).
#[derive(Debug, Default)]
pub struct ImageCache {
    entries: Vec<(ImageKey, u64, u64)>,
}

/// Reads a NULL-terminated array of string pointers (argv, envp).
fn read_strings(k: &mut Kernel, mut va: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if va == 0 {
        return Ok(out);
    }
    loop {
        let [p] = k.read_words::<1>(va)?;
        if p == 0 {
            return Ok(out);
        }
        let s = crate::mm::uaccess::read_cstring(
            &mut k.proc.aspace,
            &mut k.frames,
            p,
            MAX_ARG_STRLEN,
            Errno::E2BIG,
        )?;
        *total += s.len() + 1 + 8;
        if *total > MAX_ARGS_BYTES {
            return Err(Errno::E2BIG);
        }
        out.push(s);
        va += 8;
    }
}

/// The first bytes of a file (for `#!` and the ELF magic).
fn head(k: &mut Kernel, loc: &Loc, size: u64) -> Result<Vec<u8>, Errno> {
    let n = size.min(256) as usize;
    let mut b = alloc::vec![0u8; n];
    if n == 0 {
        return Ok(b);
    }
    let frame = k.frames.alloc().ok_or(Errno::ENOMEM)?;
    let r = read_into(k, loc, frame, n as u64);
    if r.is_ok() {
        platform::read(frame, &mut b);
    }
    k.frames.free(frame);
    r.map(|_| b)
}

/// Reads `len` bytes of the file at `loc` into physically contiguous memory at `pa`.
fn read_into(k: &mut Kernel, loc: &Loc, pa: u64, len: u64) -> Result<(), Errno> {
    let mem = match &loc.node {
        Node::Mem(n) | Node::Overlay { upper: Some(n), .. } => Some(n.clone()),
        _ => None,
    };
    if let Some(n) = mem {
        if let MemBody::Image(src, l) = n.body {
            platform::copy(pa, src, len.min(l) as usize);
            return Ok(());
        }
        let MemBody::File(data) = &n.body else {
            return Err(Errno::EACCES);
        };
        let d = data.lock();
        let got = d.read_with(0, len, |src, m, done| {
            match src {
                Some(s) => platform::copy(pa + done, s, m as usize),
                None => platform::fill(pa + done, 0, m as usize),
            }
            Ok(())
        })?;
        return if got == len { Ok(()) } else { Err(Errno::EIO) };
    }
    if let Node::Proc(crate::vfs::procfs::ProcNode::ExeFile(pid)) = loc.node {
        let (src, l) = k.process(pid).ok_or(Errno::ENOENT)?.image;
        platform::copy(pa, src, len.min(l) as usize);
        return Ok(());
    }
    let id = match k.fs.vfs.mounts[loc.mount].fs {
        crate::vfs::Fs::Host { id } | crate::vfs::Fs::Overlay { lower: id, .. } => id,
        _ => return Err(Errno::EACCES),
    };
    let rel = k.fs.vfs.rel(loc).to_vec();
    let (h, _) = hypercall::fs_open(id, &rel, 0, 0)?;
    let mut done = 0;
    let mut result = Ok(());
    while done < len {
        let seg = [Segment {
            gpa: pa + done,
            len: (len - done).min(64 << 20),
        }];
        match hypercall::read(h, &seg, done, 0) {
            Ok(0) => {
                result = Err(Errno::EIO);
                break;
            }
            Ok(n) => done += n,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = hypercall::close(h);
    result
}

/// The cache key of the file at `loc`.
fn image_key(loc: &Loc, st: &hull_arch::abi::HostStat) -> ImageKey {
    ImageKey {
        mount: loc.mount,
        path: loc.path.clone(),
        ino: st.ino,
        size: st.size,
        mtime: st.mtime,
    }
}

/// The cached image of the file at `loc`, if this version was read before.
fn cached(k: &Kernel, loc: &Loc, st: &hull_arch::abi::HostStat) -> Option<(u64, u64)> {
    let key = image_key(loc, st);
    k.images
        .entries
        .iter()
        .find(|(k2, _, _)| *k2 == key)
        .map(|(_, pa, len)| (*pa, *len))
}

/// The image of the file at `loc` in contiguous frames, from the cache or read now.
fn image(k: &mut Kernel, loc: &Loc, st: &hull_arch::abi::HostStat) -> Result<(u64, u64), Errno> {
    // The first program's node is its loaded image already.
    if let Node::Mem(n) = &loc.node
        && let MemBody::Image(pa, len) = n.body
    {
        return Ok((pa, len));
    }
    if let Some(hit) = cached(k, loc, st) {
        return Ok(hit);
    }
    let key = image_key(loc, st);
    let pages = st.size.div_ceil(PAGE_SIZE).max(1);
    let pa = k.frames.alloc_contiguous(pages).ok_or(Errno::ENOMEM)?;
    if let Err(e) = read_into(k, loc, pa, st.size) {
        for i in 0..pages {
            k.frames.free(pa + i * PAGE_SIZE);
        }
        return Err(e);
    }
    // The tail of the last page is zero (the ELF loader maps whole pages).
    let end = pa + st.size;
    platform::fill(end, 0, (pa + pages * PAGE_SIZE - end) as usize);
    k.images.entries.push((key, pa, st.size));
    Ok((pa, st.size))
}

/// Parses a `#!` line: (interpreter, optional single argument).
fn shebang(head: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let line = head.strip_prefix(b"#!")?;
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let line = &line[..end];
    let trim = |s: &[u8]| -> Vec<u8> {
        let s: &[u8] = match s.iter().position(|&b| b != b' ' && b != b'\t') {
            Some(i) => &s[i..],
            None => &[],
        };
        let e = s
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        s[..e].to_vec()
    };
    let line = trim(line);
    if line.is_empty() {
        return None;
    }
    let split = line.iter().position(|&b| b == b' ' || b == b'\t');
    Some(match split {
        None => (line, None),
        Some(i) => {
            let arg = trim(&line[i..]);
            (line[..i].to_vec(), (!arg.is_empty()).then_some(arg))
        }
    })
}

pub fn execve(k: &mut Kernel, frame: &mut TrapFrame, path: u64, argv: u64, envp: u64) -> SysResult {
    execveat(k, frame, super::fs::AT_FDCWD, path, argv, envp, 0)
}

pub fn execveat(
    k: &mut Kernel,
    frame: &mut TrapFrame,
    dirfd: i32,
    path_va: u64,
    argv_va: u64,
    envp_va: u64,
    flags: u32,
) -> SysResult {
    const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    if flags & !(AT_SYMLINK_NOFOLLOW | super::fs::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = k.read_path(path_va)?;
    let mut total = 0;
    let argv = read_strings(k, argv_va, &mut total)?;
    let envp = read_strings(k, envp_va, &mut total)?;
    let found = if path.is_empty() && flags & super::fs::AT_EMPTY_PATH != 0 {
        k.proc.fds.get(dirfd)?.loc.clone().ok_or(Errno::EACCES)
    } else {
        super::fs::existing(k, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)
    };
    exec_at(k, frame, found?, path, argv, envp)
}

/// The sandbox's first program when it is dynamically linked: boot cannot load its
/// interpreter before the kernel exists, so it starts through execve of its own path.
pub fn exec_first(
    k: &mut Kernel,
    frame: &mut TrapFrame,
    path: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> SysResult {
    let loc = super::fs::existing(k, super::fs::AT_FDCWD, &path, true)?;
    exec_at(k, frame, loc, path, argv, envp)
}

/// execve of the file at `loc` (named `path`), after its arguments were read.
fn exec_at(
    k: &mut Kernel,
    frame: &mut TrapFrame,
    loc: Loc,
    path: Vec<u8>,
    mut argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> SysResult {
    let mut loc = loc;
    let mut filename = path.clone();
    let mut depth = 0;
    let (img, exe_path) = loop {
        let (st, uid, gid) = super::fs::attr(k, &loc)?;
        if st.mode & S_IFMT == S_IFLNK {
            return Err(Errno::ELOOP);
        }
        if st.mode & S_IFMT != S_IFREG {
            return Err(Errno::EACCES);
        }
        let x = if uid == k.machine.uid {
            st.mode & 0o100
        } else if gid == k.machine.gid {
            st.mode & 0o010
        } else {
            st.mode & 0o001
        };
        if x == 0 && !(k.machine.uid == 0 && st.mode & 0o111 != 0) {
            return Err(Errno::EACCES);
        }
        // A cached image answers the first bytes too (no host read for a repeat exec).
        let h = match cached(k, &loc, &st) {
            Some((pa, len)) => {
                let mut b = alloc::vec![0u8; len.min(256) as usize];
                platform::read(pa, &mut b);
                b
            }
            None => head(k, &loc, st.size)?,
        };
        if let Some((interp, arg)) = shebang(&h) {
            depth += 1;
            if depth > MAX_INTERP_DEPTH {
                return Err(Errno::ELOOP);
            }
            // argv becomes: interpreter, [argument], the script's path, argv[1..].
            let mut new = alloc::vec![interp.clone()];
            new.extend(arg);
            new.push(filename.clone());
            new.extend(argv.iter().skip(1).cloned());
            argv = new;
            loc = super::fs::existing(k, super::fs::AT_FDCWD, &interp, true)?;
            filename = interp;
            continue;
        }
        if h.len() < 4 || &h[..4] != b"\x7fELF" {
            return Err(Errno::ENOEXEC);
        }
        // /proc/self/exe names the program that is running, not the link.
        let path = match loc.node {
            Node::Proc(crate::vfs::procfs::ProcNode::ExeFile(_)) => k.proc.exe_path.clone(),
            _ => loc.path.clone(),
        };
        break (image(k, &loc, &st)?, path);
    };
    finish_exec(k, frame, img, exe_path, filename, argv, envp)
}

/// The image of a dynamically linked program's interpreter (its PT_INTERP, looked up in
/// the sandbox's tree: ENOENT if it is not there, as on Linux); None for a static program
/// (and for a malformed one, which the loader then refuses).
fn interpreter_image(k: &mut Kernel, img: (u64, u64)) -> Result<Option<(u64, u64)>, Errno> {
    let Ok(plan) = crate::boot::plan_image(img.0, img.1) else {
        return Ok(None);
    };
    let Some(path) = crate::elf::interp_path(&plan, img.0) else {
        return Ok(None);
    };
    let loc = super::fs::existing(k, super::fs::AT_FDCWD, &path, true)?;
    let (st, _, _) = super::fs::attr(k, &loc)?;
    if st.mode & S_IFMT != S_IFREG {
        return Err(Errno::EACCES);
    }
    image(k, &loc, &st).map(Some)
}

/// Loads image `img` and replaces the calling task's program with it.
fn finish_exec(
    k: &mut Kernel,
    frame: &mut TrapFrame,
    img: (u64, u64),
    exe_path: Vec<u8>,
    filename: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> SysResult {
    let arg_refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let env_refs: Vec<&[u8]> = envp.iter().map(|a| a.as_slice()).collect();
    let interp = interpreter_image(k, img)?;
    let mut random = [0u8; 16];
    k.rng.fill(&mut random);
    let prog = crate::boot::Program {
        image: img,
        interp,
        argv: &arg_refs,
        envp: &env_refs,
        exe_path: &filename,
        random,
        ids: (k.machine.uid, k.machine.gid),
        hwcap: platform::cpuid_edx1(),
    };
    let (aspace, entry, sp) = crate::boot::load_program(&mut k.frames, &k.kernel_pt, &prog)
        .map_err(|e| match e {
            crate::boot::StartError::Elf(_) => Errno::ENOEXEC,
            crate::boot::StartError::TooBig => Errno::E2BIG,
            crate::boot::StartError::NoMemory => Errno::ENOMEM,
        })?;

    // The point of no return: the old program is gone, and so are the other threads;
    // the calling thread takes over the thread group's id, as on Linux.
    let (me, tgid) = (k.proc.pid, k.proc.tgid);
    for t in crate::sched::other_threads(k) {
        if let Some(p) = k.others.remove(&t) {
            p.aspace.destroy(&mut k.frames);
        }
    }
    if me != tgid {
        k.proc.pid = tgid;
        for h in k.holders.values_mut() {
            if *h == me {
                *h = tgid;
            }
        }
    }
    // A vfork child (or a thread) stops sharing the memory: the shared address space
    // stays with the others, this task drops only its placeholder.
    crate::sched::leave_group(k, crate::sched::RES_VM);
    platform::load_cr3(aspace.pt.root());
    let old = core::mem::replace(&mut k.proc.aspace, aspace);
    old.destroy(&mut k.frames);
    for f in k.proc.fds.take_cloexec() {
        super::io::release(k, f);
    }
    k.proc.signals.reset_handlers();
    k.proc.altstack = crate::process::AltStack {
        sp: 0,
        flags: 2,
        size: 0,
    };
    k.proc.exe_path = exe_path;
    k.proc.cmdline = argv
        .iter()
        .flat_map(|a| a.iter().copied().chain([0]))
        .collect();
    k.proc.environ = envp
        .iter()
        .flat_map(|a| a.iter().copied().chain([0]))
        .collect();
    k.proc.comm = Vec::new();
    k.proc.clear_child_tid = 0;
    k.proc.did_exec = true;
    k.proc.robust_list = (0, 0);
    k.proc.image = img;
    // Each is a hypercall under PVM: only what changes.
    if k.proc.fs_base != 0 {
        platform::set_fs_base(0);
        k.proc.fs_base = 0;
    }
    if k.proc.gs_base != 0 {
        platform::set_user_gs_base(0);
        k.proc.gs_base = 0;
    }
    // A fresh FPU state (FCW and MXCSR at their defaults).
    let mut init = platform::XsaveArea::default();
    init.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    init.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    platform::xrstor(&init, k.machine.xcr0);
    let (cs, ss) = (frame.cs, frame.ss);
    *frame = TrapFrame {
        rip: entry,
        rsp: sp,
        rflags: 0x202,
        cs,
        ss,
        ..Default::default()
    };
    if let Some(parent) = k.proc.vfork_parent.take() {
        k.make_runnable(parent);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(
            shebang(b"#!/bin/sh\necho"),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(
            shebang(b"#! /usr/bin/env  python3 -u \n"),
            Some((b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())))
        );
        assert_eq!(shebang(b"#!\n"), None);
        assert_eq!(shebang(b"\x7fELF"), None);
    }
}
