//! The contents of `/proc` files, generated from the kernel's state at open time.
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::errno::Errno;
use crate::mm::vma::Label;
use crate::process::Kernel;
use crate::vfs::Fs;
use crate::vfs::procfs::{Global, PidFile, ProcNode};

const KB: u64 = 1024;

/// The process name: set by PR_SET_NAME, else the executable's base name (15 bytes).
pub fn comm(k: &Kernel) -> Vec<u8> {
    comm_of(&k.proc)
}

fn comm_of(p: &crate::process::Process) -> Vec<u8> {
    if !p.comm.is_empty() {
        return p.comm.clone();
    }
    let exe = &p.exe_path;
    let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    base[..base.len().min(15)].to_vec()
}

/// The bytes of a `/proc` file.
pub fn content(k: &mut Kernel, node: &ProcNode) -> Result<Vec<u8>, Errno> {
    let mut s = String::new();
    match node {
        ProcNode::ExeFile(pid) => {
            // The program file as loaded (by the loader, or by execve from the image cache).
            let (pa, len) = k.process(*pid).ok_or(Errno::ENOENT)?.image;
            let mut b = alloc::vec![0u8; len as usize];
            crate::platform::read(pa, &mut b);
            return Ok(b);
        }
        ProcNode::Global(g) => global(k, *g, &mut s),
        ProcNode::PidFile(pid, f) => return Ok(pid_file(k, *pid, *f)),
        _ => return Err(Errno::EISDIR),
    }
    Ok(s.into_bytes())
}

fn global(k: &Kernel, g: Global, s: &mut String) {
    let up = k.clock.monotonic();
    let total = k.machine.ram_size / KB;
    let free = k.frames.available() * crate::mm::PAGE_SIZE / KB;
    match g {
        Global::Cpuinfo => {
            let _ = write!(
                s,
                "processor\t: 0\nvendor_id\t: hull\ncpu family\t: 6\nmodel\t\t: 0\nmodel name\t: hull virtual CPU\nstepping\t: 0\ncpu MHz\t\t: {}.000\ncache size\t: 0 KB\nphysical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\nfpu\t\t: yes\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2\nbogomips\t: {}.00\nclflush size\t: 64\naddress sizes\t: 48 bits physical, 48 bits virtual\n\n",
                k.clock.khz() / 1000,
                k.clock.khz() / 500
            );
        }
        Global::Meminfo => {
            let (tmp, _) = k.fs.vfs.budget.usage();
            let _ = write!(
                s,
                "MemTotal:       {total:8} kB\nMemFree:        {free:8} kB\nMemAvailable:   {free:8} kB\nBuffers:               0 kB\nCached:         {:8} kB\nSwapCached:            0 kB\nShmem:          {:8} kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
                tmp / KB,
                tmp / KB
            );
        }
        Global::Uptime => {
            let cs = up / 10_000_000;
            let idle = k.machine.idle_ns / 10_000_000;
            let _ = writeln!(
                s,
                "{}.{:02} {}.{:02}",
                cs / 100,
                cs % 100,
                idle / 100,
                idle % 100
            );
        }
        Global::Loadavg => {
            let _ = writeln!(s, "0.00 0.00 0.00 1/1 {}", k.proc.pid);
        }
        Global::Stat => {
            let ticks = |ns: u64| ns / 10_000_000;
            let user = ticks(k.cpu_time_ns());
            let idle = ticks(k.machine.idle_ns);
            let boot = k.clock.realtime().saturating_sub(up) / 1_000_000_000;
            let _ = write!(
                s,
                "cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {user} 0 0 {idle} 0 0 0 0 0 0\nctxt 0\nbtime {boot}\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
            );
        }
        Global::Version => {
            s.push_str("Linux version 6.1.0-hull (hull) #1 SMP PREEMPT_DYNAMIC hull\n");
        }
        Global::Filesystems => {
            s.push_str("nodev\ttmpfs\nnodev\tproc\nnodev\toverlay\nnodev\thostfs\n");
        }
    }
}

fn pid_file(k: &Kernel, pid: u32, f: PidFile) -> Vec<u8> {
    let Some(p) = k.process(pid) else {
        return Vec::new();
    };
    let comm = String::from_utf8_lossy(&comm_of(p)).into_owned();
    let (state, state_name) = match p.state {
        crate::sched::TaskState::Runnable => ('R', "running"),
        crate::sched::TaskState::Blocked(_) => ('S', "sleeping"),
        crate::sched::TaskState::Stopped => ('T', "stopped"),
        crate::sched::TaskState::Zombie => ('Z', "zombie"),
    };
    // Threads share these; a thread that is not running may hold only a placeholder.
    let held = |r| crate::sched::holder_of(k, pid, r).unwrap_or(p);
    let (vm_of, files_of, handlers_of) = (
        held(crate::sched::RES_VM),
        held(crate::sched::RES_FILES),
        held(crate::sched::RES_SIGHAND),
    );
    let threads = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|t| t.tgid == p.tgid && t.state != crate::sched::TaskState::Zombie)
        .count()
        .max(1);
    let (mut ignored, mut caught) = (0u64, 0u64);
    for sig in 1..=64u32 {
        match handlers_of.signals.action(sig).handler {
            0 => {}
            1 => ignored |= 1 << (sig - 1),
            _ => caught |= 1 << (sig - 1),
        }
    }
    let vm = |label: Option<Label>| -> u64 {
        vm_of
            .aspace
            .vmas()
            .filter(|v| label.is_none_or(|l| v.label == l))
            .map(|v| v.end - v.start)
            .sum::<u64>()
            / KB
    };
    let rss = (k.frames.total() - k.frames.available()) * crate::mm::PAGE_SIZE / KB;
    let mut s = String::new();
    match f {
        PidFile::Cmdline => return p.cmdline.clone(),
        PidFile::Environ => return p.environ.clone(),
        PidFile::Comm => {
            let _ = writeln!(s, "{comm}");
        }
        PidFile::Status => {
            let (uid, gid) = (k.machine.uid, k.machine.gid);
            let _ = write!(
                s,
                "Name:\t{comm}\nUmask:\t{:04o}\nState:\t{state} ({state_name})\nTgid:\t{tgid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\nTracerPid:\t0\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{gid}\t{gid}\t{gid}\t{gid}\nFDSize:\t{}\nGroups:\t\nVmPeak:\t{:8} kB\nVmSize:\t{:8} kB\nVmRSS:\t{rss:8} kB\nVmData:\t{:8} kB\nVmStk:\t{:8} kB\nVmExe:\t{:8} kB\nThreads:\t{threads}\nSigQ:\t0/4096\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{ignored:016x}\nSigCgt:\t{caught:016x}\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n",
                p.fs.lock().umask,
                files_of.fds.limit,
                vm(None),
                vm(None),
                vm(Some(Label::Heap)) + vm(Some(Label::None)),
                vm(Some(Label::Stack)),
                vm(Some(Label::Program)),
                p.signals.pending,
                0,
                p.signals.blocked,
                pid = p.pid,
                tgid = p.tgid,
                ppid = p.ppid,
            );
        }
        PidFile::Stat => {
            let ticks = k.cpu_time_ns() / 10_000_000;
            let start = p.start_ns / 10_000_000;
            let _ = writeln!(
                s,
                "{pid} ({comm}) {state} {ppid} {pgid} {sid} 0 -1 4194560 0 0 0 0 {ticks} 0 0 0 {prio} {nice} {threads} 0 {start} {} {} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
                vm(None) * KB,
                rss / 4,
                pid = p.pid,
                ppid = p.ppid,
                pgid = p.pgid,
                sid = p.sid,
                prio = 20 + p.nice,
                nice = p.nice,
            );
        }
        PidFile::Statm => {
            let _ = writeln!(
                s,
                "{} {} 0 {} 0 {} 0",
                vm(None) / 4,
                rss / 4,
                vm(Some(Label::Program)) / 4,
                vm(Some(Label::Heap)) / 4
            );
        }
        PidFile::Maps => {
            for v in vm_of.aspace.vmas() {
                let (mut dev, mut ino, mut offset) = (0, 0, 0);
                let name = match v.label {
                    Label::Heap => String::from("[heap]"),
                    Label::Stack => String::from("[stack]"),
                    Label::Vvar => String::from("[vvar]"),
                    Label::Vdso => String::from("[vdso]"),
                    Label::Program => String::from_utf8_lossy(&p.exe_path).into_owned(),
                    Label::None => match (vm_of.aspace.source_of(v), v.backing) {
                        (Some(src), crate::mm::vma::Backing::File { offset: o, .. }) => {
                            let id = src.identity();
                            (dev, ino, offset) = (id.dev, id.ino, o);
                            String::from_utf8_lossy(&id.path).into_owned()
                        }
                        _ if v.backing == crate::mm::vma::Backing::Shared => {
                            String::from("/dev/zero (deleted)")
                        }
                        _ => String::new(),
                    },
                };
                let line = alloc::format!(
                    "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
                    v.start,
                    v.end,
                    if v.prot.read() { 'r' } else { '-' },
                    if v.prot.write() { 'w' } else { '-' },
                    if v.prot.exec() { 'x' } else { '-' },
                    if v.shares() { 's' } else { 'p' },
                    offset,
                    (dev >> 8) & 0xfff,
                    dev & 0xff,
                    ino
                );
                // Linux pads the name to column 73 (or one space past a longer line).
                let pad = if name.is_empty() {
                    0
                } else if line.len() < 73 {
                    73 - line.len()
                } else {
                    1
                };
                let _ = writeln!(s, "{line}{:pad$}{name}", "");
            }
        }
        PidFile::Mounts => {
            for m in &k.fs.vfs.mounts {
                let (dev, kind) = match m.fs {
                    Fs::Host { .. } => ("hostfs", "hostfs"),
                    Fs::Mem(_) if m.path == b"/dev" => ("devtmpfs", "devtmpfs"),
                    Fs::Mem(_) => ("tmpfs", "tmpfs"),
                    Fs::Proc => ("proc", "proc"),
                    Fs::Overlay { .. } => ("overlay", "overlay"),
                };
                let _ = writeln!(
                    s,
                    "{dev} {} {kind} {} 0 0",
                    String::from_utf8_lossy(&m.path),
                    if m.readonly { "ro" } else { "rw" }
                );
            }
        }
        PidFile::Limits => {
            s.push_str(
                "Limit                     Soft Limit           Hard Limit           Units     \n",
            );
            let names = [
                ("Max cpu time", "seconds"),
                ("Max file size", "bytes"),
                ("Max data size", "bytes"),
                ("Max stack size", "bytes"),
                ("Max core file size", "bytes"),
                ("Max resident set", "bytes"),
                ("Max processes", "processes"),
                ("Max open files", "files"),
                ("Max locked memory", "bytes"),
                ("Max address space", "bytes"),
                ("Max file locks", "locks"),
                ("Max pending signals", "signals"),
                ("Max msgqueue size", "bytes"),
                ("Max nice priority", ""),
                ("Max realtime priority", ""),
                ("Max realtime timeout", "us"),
            ];
            for (i, (n, unit)) in names.iter().enumerate() {
                let r = p.rlimits[i];
                let v = |x: u64| {
                    if x == u64::MAX {
                        String::from("unlimited")
                    } else {
                        format!("{x}")
                    }
                };
                let _ = writeln!(s, "{n:<26}{:<21}{:<21}{unit:<10}", v(r.cur), v(r.max));
            }
        }
    }
    s.into_bytes()
}
