//! Processes: fork/vfork/clone, exit, wait4/waitid, process groups and sessions, and
//! sending signals between processes. The sandbox's first process is pid 1; when it ends,
//! the sandbox ends with its status (as a container does).
use alloc::boxed::Box;
use alloc::vec::Vec;

use hull_arch::abi::ExitKind;
use hull_arch::trapframe::TrapFrame;

use crate::errno::{Errno, SysResult};
use crate::fd::FdTable;
use crate::hypercall;
use crate::platform;
use crate::process::{ChildReport, ITimer, Kernel, Process};
use crate::sched::{TaskState, Wait};
use crate::sigframe::{SigInfo, code};
use crate::signal::{self, SIGCHLD, SIGCONT, SIGKILL};

pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_DETACHED: u64 = 0x0040_0000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x100000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
pub const CLONE_CHILD_SETTID: u64 = 0x1000000;

/// `si_code`s of SIGCHLD.
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const CLD_STOPPED: i32 = 5;
const CLD_CONTINUED: i32 = 6;

/// fork, vfork, clone and threads: a new task with a copy-on-write copy of the address
/// space, or sharing it (CLONE_VM), and likewise the descriptor table (CLONE_FILES) and
/// the handlers (CLONE_SIGHAND); CLONE_THREAD puts it in the caller's thread group.
pub fn clone(
    k: &mut Kernel,
    frame: &TrapFrame,
    flags: u64,
    stack: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> SysResult {
    // clone(2) stores a CLONE_PIDFD descriptor where the parent's tid would go.
    if flags & CLONE_PIDFD != 0 && flags & CLONE_PARENT_SETTID != 0 {
        return Err(Errno::EINVAL);
    }
    let args = CloneArgs {
        flags,
        stack,
        ptid,
        ctid,
        tls,
        pidfd: ptid,
    };
    clone_task(k, frame, args)
}

/// What clone and clone3 ask for: flags (with the exit signal in the low byte), the new
/// stack's top, where to store the tids and a CLONE_PIDFD descriptor, and the TLS base.
struct CloneArgs {
    flags: u64,
    stack: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
    pidfd: u64,
}

fn clone_task(k: &mut Kernel, frame: &TrapFrame, args: CloneArgs) -> SysResult {
    let CloneArgs {
        flags,
        stack,
        ptid,
        ctid,
        tls,
        pidfd: pidfd_out,
    } = args;
    let exit_signal = (flags & 0xff) as u32;
    if flags & CLONE_PIDFD != 0 && flags & (CLONE_THREAD | CLONE_DETACHED) != 0 {
        return Err(Errno::EINVAL);
    }
    let thread = flags & CLONE_THREAD != 0;
    // vfork shares the memory too (the parent sleeps until the child execs or exits).
    let share_vm = flags & CLONE_VM != 0;
    if (thread && flags & CLONE_SIGHAND == 0)
        || (flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0)
        || (exit_signal != 0 && !signal::valid(exit_signal))
    {
        return Err(Errno::EINVAL);
    }
    if k.task_count() >= k.sched.max_tasks as usize {
        return Err(Errno::EAGAIN);
    }
    // A task costs kernel memory too (its state and 4 KiB of FPU state).
    crate::fd::kernel_memory_left().map_err(|_| Errno::EAGAIN)?;
    let aspace = if share_vm {
        // A placeholder: the shared one moves to whichever of them runs.
        crate::mm::aspace::AddressSpace::new(&k.kernel_pt, &mut k.frames, (0, 0), 0)
    } else {
        k.proc.aspace.fork(&k.kernel_pt, &mut k.frames)
    }
    .map_err(|_| Errno::ENOMEM)?;
    let pid = k.sched.next_pid;
    k.sched.next_pid += 1;
    let mut child_frame = *frame;
    child_frame.rax = 0;
    if stack != 0 {
        child_frame.rsp = stack;
    }
    let mut fpu = Box::<platform::XsaveArea>::default();
    platform::xsave(&mut fpu, k.machine.xcr0);
    let p = &k.proc;
    let me = p.pid;
    let mut signals = p.signals.clone();
    signals.pending = 0;
    signals.waiting_for = 0;
    if flags & CLONE_SIGHAND != 0 {
        // A placeholder too: the handlers are the caller's.
        signals.reset_all_actions();
    }
    let group = |own: u32, shared: bool| if shared { own } else { pid };
    let mut child = Process {
        pid,
        ppid: if thread || flags & CLONE_PARENT != 0 {
            p.ppid
        } else {
            p.tgid
        },
        aspace,
        fds: if flags & CLONE_FILES != 0 {
            FdTable::new(0)
        } else {
            p.fds.clone()
        },
        signals,
        altstack: if share_vm {
            crate::process::AltStack {
                sp: 0,
                flags: 2,
                size: 0,
            }
        } else {
            p.altstack
        },
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            ctid
        } else {
            0
        },
        robust_list: (0, 0),
        rlimits: p.rlimits,
        exe_path: p.exe_path.clone(),
        image: p.image,
        start_ns: k.clock.monotonic(),
        itimer: ITimer::default(),
        cmdline: p.cmdline.clone(),
        environ: p.environ.clone(),
        comm: p.comm.clone(),
        pgid: p.pgid,
        sid: p.sid,
        state: TaskState::Runnable,
        wake_at: 0,
        woken: false,
        host_wait: Vec::new(),
        restart_deadline: None,
        in_syscall: None,
        saved_mask: None,
        frame: child_frame,
        fpu,
        fs_base: if flags & CLONE_SETTLS != 0 {
            tls
        } else {
            p.fs_base
        },
        gs_base: p.gs_base,
        fs: if flags & CLONE_FS != 0 {
            p.fs.clone()
        } else {
            p.fs.lock().clone().shared()
        },
        children: Vec::new(),
        report: None,
        exit_signal: if thread { 0 } else { exit_signal },
        vfork_parent: (flags & CLONE_VFORK != 0).then_some(p.pid),
        nice: p.nice,
        sleep_rem: None,
        io_progress: 0,
        futex_bitset: 0,
        did_exec: false,
        autoreap: false,
        timers: Vec::new(),
        sched_policy: p.sched_policy,
        tgid: if thread { p.tgid } else { pid },
        vm_group: group(p.vm_group, share_vm),
        files_group: group(p.files_group, flags & CLONE_FILES != 0),
        sighand_group: group(p.sighand_group, flags & CLONE_SIGHAND != 0),
    };
    if flags & CLONE_PIDFD != 0 {
        // In the caller's table only (the child's copy was taken above), before anything
        // refers to the child: on failure it is simply dropped.
        let fd = match super::pidfd::install(k, pid, 0) {
            Ok(fd) => fd,
            Err(e) => {
                child.aspace.destroy(&mut k.frames);
                return Err(e);
            }
        };
        if let Err(e) = k.copy_out(pidfd_out, &fd.to_le_bytes()) {
            let _ = k.proc.fds.remove(fd);
            child.aspace.destroy(&mut k.frames);
            return Err(e);
        }
    }
    // The caller holds whatever it now shares.
    for r in [
        crate::sched::RES_VM,
        crate::sched::RES_FILES,
        crate::sched::RES_SIGHAND,
    ] {
        let g = crate::sched::group_of(&child, r);
        if g != pid {
            k.holders.entry((r, g)).or_insert(me);
        }
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        let space = if share_vm {
            &mut k.proc.aspace
        } else {
            &mut child.aspace
        };
        let _ = crate::mm::uaccess::copy_to_user(space, &mut k.frames, ctid, &pid.to_le_bytes());
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        k.copy_out(ptid, &pid.to_le_bytes())?;
    }
    if !thread {
        let parent = child.ppid;
        if let Some(pp) = k.process_mut(parent) {
            pp.children.push(pid);
        }
    }
    k.others.insert(pid, child);
    k.sched.queue.push_back(pid);
    if flags & CLONE_VFORK != 0 {
        // The call completes (it returns the child's pid), but the parent runs again only
        // once the child has exec'd or exited.
        k.proc.state = TaskState::Blocked(Wait::Vfork(pid));
    }
    Ok(pid as u64)
}

/// clone3: `struct clone_args` at `args` (`size` bytes).
pub fn clone3(k: &mut Kernel, frame: &TrapFrame, args: u64, size: u64) -> SysResult {
    if !(64..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let w = k.read_words::<8>(args)?;
    let [
        flags,
        pidfd,
        ctid,
        ptid,
        exit_signal,
        stack,
        stack_size,
        tls,
    ] = w;
    // Linux: the legacy flags, CLONE_CLEAR_SIGHAND and CLONE_INTO_CGROUP; the exit
    // signal in its own field.
    if flags & !0x3_ffff_ffff != 0 || flags & 0xff != 0 || exit_signal > 64 {
        return Err(Errno::EINVAL);
    }
    let top = if stack != 0 { stack + stack_size } else { 0 };
    let args = CloneArgs {
        flags: flags | exit_signal,
        stack: top,
        ptid,
        ctid,
        tls,
        pidfd,
    };
    clone_task(k, frame, args)
}

/// The wait status word of a normal exit with `code`.
pub fn exited(code: u64) -> u32 {
    ((code & 0xff) as u32) << 8
}

/// Ends the current thread group with wait status `status`: its other threads end
/// too. The sandbox's first process ends the whole run.
pub fn exit_current(k: &mut Kernel, status: u32, fault: Option<(u64, u64)>) {
    let tgid = k.proc.tgid;
    if tgid == 1 {
        let sig = status & 0x7f;
        if sig == 0 {
            hypercall::exit(
                ExitKind::Exited,
                ((status >> 8) & 0xff) as u64,
                None,
                0,
                b"",
            );
        }
        hypercall::exit(ExitKind::Signaled, 0, fault, sig as u64, b"");
    }
    let me = k.proc.pid;
    super::futex::exit_robust_list(k);
    // The other threads end at once (they hold only placeholders: the running thread
    // holds what they share); the leader's entry stays for the parent's wait.
    for t in crate::sched::other_threads(k) {
        if t == tgid {
            if let Some(l) = k.others.get_mut(&t) {
                l.state = TaskState::Zombie;
            }
        } else if let Some(p) = k.others.remove(&t) {
            p.aspace.destroy(&mut k.frames);
        }
    }
    crate::sched::hand_over(k);
    let fds = core::mem::replace(&mut k.proc.fds, FdTable::new(0));
    for f in fds.into_files() {
        super::io::release(k, f);
    }
    k.fs.locks
        .release(crate::vfs::locks::Owner::Process(tgid), None);
    // Cleared on the kernel's tables, which stay loaded: the zombie never runs user code
    // again, and the next switch loads its successor's (a CR3 load is a hypercall under
    // PVM).
    platform::load_cr3(k.kernel_pt.root());
    k.proc.aspace.clear(&mut k.frames);
    k.proc.state = TaskState::Zombie;
    k.proc.itimer = ITimer::default();
    if me != tgid {
        // A thread other than the leader: the leader's entry carries the status.
        k.proc.autoreap = true;
        if let Some(l) = k.others.get_mut(&tgid) {
            l.report = Some(ChildReport::Exited(status));
        }
    } else {
        k.proc.report = Some(ChildReport::Exited(status));
    }
    // Orphans go to the sandbox's init.
    let orphans = match k.process_mut(tgid) {
        Some(l) => core::mem::take(&mut l.children),
        None => Vec::new(),
    };
    for c in &orphans {
        if let Some(cp) = k.others.get_mut(c) {
            cp.ppid = 1;
        }
    }
    let zombie_orphan = orphans.iter().any(|c| {
        k.others
            .get(c)
            .is_some_and(|p| p.state == TaskState::Zombie)
    });
    if let Some(init) = k.process_mut(1) {
        init.children.extend(orphans);
    }
    if zombie_orphan {
        notify_waiter(k, 1);
    }
    if let Some(vp) = k.proc.vfork_parent.take() {
        k.make_runnable(vp);
    }
    let sig = status & 0x7f;
    let (code, st) = if sig == 0 {
        (CLD_EXITED, ((status >> 8) & 0xff) as i32)
    } else {
        (CLD_KILLED, sig as i32)
    };
    let (parent, exit_signal) = k
        .process(tgid)
        .map_or((1, SIGCHLD), |l| (l.ppid, l.exit_signal));
    // A parent that ignores SIGCHLD (or set SA_NOCLDWAIT) leaves nothing to wait for:
    // the child is freed at once.
    let no_wait = k.process(parent).is_some_and(|pp| {
        let a = pp.signals.action(SIGCHLD);
        a.handler == 1 || a.flags & 2 != 0
    });
    if no_wait {
        if me == tgid {
            k.proc.autoreap = true;
            k.proc.report = None;
        } else if let Some(l) = k.others.remove(&tgid) {
            l.aspace.destroy(&mut k.frames);
        }
        if let Some(pp) = k.process_mut(parent) {
            pp.children.retain(|&c| c != tgid);
        }
    }
    notify_parent(k, tgid, parent, exit_signal, code, st);
    // pidfds of this process are readable now: wake whoever polls them.
    k.wake_where(|w| *w == Wait::Poll);
}

/// exit: ends the calling thread; the last one ends the thread group (as exit_group).
pub fn exit_thread(k: &mut Kernel, code: u64) -> SysResult {
    let tgid = k.proc.tgid;
    let me = k.proc.pid;
    let others_alive = k
        .others
        .values()
        .any(|p| p.tgid == tgid && p.pid != me && p.state != TaskState::Zombie);
    if !others_alive {
        return exit_group(k, code);
    }
    super::futex::exit_robust_list(k);
    // CLONE_CHILD_CLEARTID: zero the word and wake a joiner waiting on it.
    let ctid = k.proc.clear_child_tid;
    if ctid != 0 && k.copy_out(ctid, &0u32.to_le_bytes()).is_ok() {
        super::futex::wake_at(k, ctid, 1);
    }
    crate::sched::hand_over(k);
    k.proc.state = TaskState::Zombie;
    // The leader's entry stays until the group ends (its status is the group's).
    k.proc.autoreap = me != tgid;
    Ok(0)
}

/// Sends a process-directed signal to thread group `tgid`: to a thread that does not
/// block it (the leader first), as Linux picks one.
pub fn signal_group(k: &mut Kernel, tgid: u32, info: SigInfo) {
    let bit = 1u64 << (info.signo - 1);
    // A thread in sigwait for it takes it first; then one that does not block it.
    let waiter = core::iter::once(&k.proc)
        .chain(k.others.values())
        .find(|p| {
            p.tgid == tgid && p.state != TaskState::Zombie && p.signals.waiting_for & bit != 0
        })
        .map(|p| p.pid);
    if let Some(w) = waiter {
        signal_process(k, w, info);
        return;
    }
    let members: Vec<(u32, bool)> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| p.tgid == tgid && p.state != TaskState::Zombie)
        .map(|p| (p.pid, p.signals.blocked & bit == 0))
        .collect();
    let target = members
        .iter()
        .find(|(pid, open)| *open && *pid == tgid)
        .or_else(|| members.iter().find(|(_, open)| *open))
        .or_else(|| members.first())
        .map(|(pid, _)| *pid)
        .unwrap_or(tgid);
    signal_process(k, target, info);
}

/// Tells `parent` about a change in its child (the current process): the exit signal
/// (normally SIGCHLD), and a wake-up if it waits.
fn notify_parent(
    k: &mut Kernel,
    child: u32,
    parent: u32,
    exit_signal: u32,
    code: i32,
    status: i32,
) {
    let uid = k.machine.uid;
    if exit_signal != 0 {
        let info = SigInfo {
            signo: exit_signal,
            code,
            pid: child,
            uid,
            status,
            ..Default::default()
        };
        signal_group(k, parent, info);
    }
    notify_waiter(k, parent);
    crate::sched::wake_signalled(k);
}

/// Wakes `pid` if it waits for a child.
/// Wakes the threads of group `tgid` that wait for a child.
fn notify_waiter(k: &mut Kernel, tgid: u32) {
    let waiting: Vec<u32> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| p.tgid == tgid && p.state == TaskState::Blocked(Wait::Child))
        .map(|p| p.pid)
        .collect();
    for pid in waiting {
        k.make_runnable(pid);
    }
}

pub fn exit_group(k: &mut Kernel, code: u64) -> SysResult {
    exit_current(k, exited(code), None);
    Ok(0)
}

/// Which children a wait selects.
fn selects(k: &Kernel, spec: i64, child: &Process) -> bool {
    match spec {
        -1 => true,
        0 => child.pgid == k.proc.pgid,
        p if p > 0 => child.pid == p as u32,
        g => child.pgid == (-g) as u32,
    }
}

/// A child's collected state change: (pid, report, uid).
fn collect(
    k: &mut Kernel,
    spec: i64,
    exited: bool,
    stopped: bool,
    continued: bool,
    keep: bool,
) -> Result<Option<(u32, ChildReport)>, Errno> {
    // Children belong to the thread group (its leader's list).
    let leader = k.proc.tgid;
    let mine: Vec<u32> = k
        .process(leader)
        .map(|l| l.children.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| k.others.get(c).is_some_and(|p| selects(k, spec, p)))
        .collect();
    if mine.is_empty() {
        return Err(Errno::ECHILD);
    }
    for pid in mine {
        let Some(p) = k.others.get(&pid) else {
            continue;
        };
        let Some(r) = p.report else { continue };
        let wanted = match r {
            ChildReport::Exited(_) => exited,
            ChildReport::Stopped(_) => stopped,
            ChildReport::Continued => continued,
        };
        if !wanted {
            continue;
        }
        if !keep {
            if let ChildReport::Exited(_) = r {
                reap(k, pid);
            } else if let Some(p) = k.others.get_mut(&pid) {
                p.report = None;
            }
        }
        return Ok(Some((pid, r)));
    }
    Ok(None)
}

/// Frees a zombie.
fn reap(k: &mut Kernel, pid: u32) {
    if let Some(z) = k.others.remove(&pid) {
        z.aspace.destroy(&mut k.frames);
    }
    let leader = k.proc.tgid;
    if let Some(l) = k.process_mut(leader) {
        l.children.retain(|&c| c != pid);
    }
}

const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WCONTINUED: u64 = 8;
const WEXITED: u64 = 4;
const WNOWAIT: u64 = 0x0100_0000;

pub fn wait4(k: &mut Kernel, pid: i32, wstatus: u64, options: u64, rusage: u64) -> SysResult {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | 0x2000_0000 | 0x4000_0000 | 0x8000_0000) != 0
    {
        return Err(Errno::EINVAL);
    }
    match collect(
        k,
        pid as i64,
        true,
        options & WUNTRACED != 0,
        options & WCONTINUED != 0,
        false,
    )? {
        Some((child, r)) => {
            let status = match r {
                ChildReport::Exited(s) => s,
                ChildReport::Stopped(sig) => (sig << 8) | 0x7f,
                ChildReport::Continued => 0xffff,
            };
            if wstatus != 0 {
                k.copy_out(wstatus, &status.to_le_bytes())?;
            }
            if rusage != 0 {
                k.copy_out(rusage, &[0u8; 144])?;
            }
            Ok(child as u64)
        }
        None if options & WNOHANG != 0 => Ok(0),
        None => Err(k.block(Wait::Child, 0)),
    }
}

pub fn waitid(
    k: &mut Kernel,
    idtype: u64,
    id: u64,
    infop: u64,
    options: u64,
    rusage: u64,
) -> SysResult {
    const P_ALL: u64 = 0;
    const P_PID: u64 = 1;
    const P_PGID: u64 = 2;
    const P_PIDFD: u64 = 3;
    if options
        & !(WNOHANG
            | WUNTRACED
            | WEXITED
            | WCONTINUED
            | WNOWAIT
            | 0x2000_0000
            | 0x4000_0000
            | 0x8000_0000)
        != 0
        || options & (WEXITED | WUNTRACED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let spec = match idtype {
        P_ALL => -1,
        P_PID if id as i32 > 0 => id as i32 as i64,
        P_PIDFD => super::pidfd::pid_of(k, id as i32)? as i64,
        P_PGID if id as i32 >= 0 => {
            if id == 0 {
                0
            } else {
                -(id as i32 as i64)
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    let found = collect(
        k,
        spec,
        options & WEXITED != 0,
        options & WUNTRACED != 0,
        options & WCONTINUED != 0,
        options & WNOWAIT != 0,
    )?;
    let Some((child, r)) = found else {
        if options & WNOHANG != 0 {
            if infop != 0 {
                k.copy_out(infop, &[0u8; 128])?;
            }
            return Ok(0);
        }
        return Err(k.block(Wait::Child, 0));
    };
    let (code, status) = match r {
        ChildReport::Exited(s) if s & 0x7f == 0 => (CLD_EXITED, ((s >> 8) & 0xff) as i32),
        ChildReport::Exited(s) => (CLD_KILLED, (s & 0x7f) as i32),
        ChildReport::Stopped(sig) => (CLD_STOPPED, sig as i32),
        ChildReport::Continued => (CLD_CONTINUED, SIGCONT as i32),
    };
    if infop != 0 {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&SIGCHLD.to_le_bytes());
        b[8..12].copy_from_slice(&code.to_le_bytes());
        b[16..20].copy_from_slice(&child.to_le_bytes());
        b[20..24].copy_from_slice(&k.machine.uid.to_le_bytes());
        b[24..28].copy_from_slice(&status.to_le_bytes());
        k.copy_out(infop, &b)?;
    }
    if rusage != 0 {
        k.copy_out(rusage, &[0u8; 144])?;
    }
    Ok(0)
}

/// sigqueue: like [`signal_process`], but EAGAIN when the real-time queue is full.
pub fn queue_to(k: &mut Kernel, pid: u32, info: SigInfo) -> SysResult {
    let full = k.process(pid).is_some_and(|p| {
        info.signo >= signal::SIGRT_FIRST && p.signals.queued() >= signal::MAX_QUEUED
    });
    if full {
        return Err(Errno::EAGAIN);
    }
    signal_process(k, pid, info);
    Ok(0)
}

/// Raises `info` on process `pid` and wakes it if it must act on it; SIGCONT and SIGKILL
/// resume a stopped process.
pub fn signal_process(k: &mut Kernel, pid: u32, info: SigInfo) {
    let sig = info.signo;
    let Some(p) = k.process_mut(pid) else {
        return;
    };
    if p.state == TaskState::Zombie {
        return;
    }
    if signal::default_action(sig) == signal::DefaultAction::Stop {
        p.signals.pending &= !(1 << (SIGCONT - 1));
    }
    if sig == SIGCONT {
        // Pending stop signals are discarded.
        p.signals.pending &= !((1 << 18) | (1 << 19) | (1 << 20) | (1 << 21));
    }
    p.signals.raise_with(info);
    let stopped = p.state == TaskState::Stopped;
    let attention = p.signals.wants_attention();
    let blocked = matches!(p.state, TaskState::Blocked(_));
    if stopped && (sig == SIGCONT || sig == SIGKILL) {
        let (parent, tgid) = (p.ppid, p.tgid);
        // The whole thread group continues.
        let members: Vec<u32> = core::iter::once(&k.proc)
            .chain(k.others.values())
            .filter(|q| q.tgid == tgid && q.state == TaskState::Stopped)
            .map(|q| q.pid)
            .collect();
        for m in members {
            k.make_runnable(m);
        }
        if sig == SIGCONT {
            if let Some(l) = k.process_mut(tgid) {
                l.report = Some(ChildReport::Continued);
            }
            notify_stop(k, tgid, parent, CLD_CONTINUED, SIGCONT as i32);
        }
    } else if blocked && attention {
        k.make_runnable(pid);
    }
}

/// Tells the parent of `pid` that it stopped or continued.
fn notify_stop(k: &mut Kernel, pid: u32, parent: u32, code: i32, status: i32) {
    let uid = k.machine.uid;
    let nocldstop = k
        .process(parent)
        .is_some_and(|pp| pp.signals.action(SIGCHLD).flags & 1 != 0);
    if !nocldstop && let Some(pp) = k.process_mut(parent) {
        pp.signals.raise_with(SigInfo {
            signo: SIGCHLD,
            code,
            pid,
            uid,
            status,
            ..Default::default()
        });
    }
    notify_waiter(k, parent);
    crate::sched::wake_signalled(k);
}

/// The current process stops on `sig` (job control).
pub fn stop_current(k: &mut Kernel, sig: u32) {
    // The whole thread group stops (a blocked thread resumes its syscall on SIGCONT).
    for t in crate::sched::other_threads(k) {
        if let Some(p) = k.others.get_mut(&t)
            && p.state != TaskState::Zombie
        {
            p.state = TaskState::Stopped;
        }
    }
    k.proc.state = TaskState::Stopped;
    let tgid = k.proc.tgid;
    if let Some(l) = k.process_mut(tgid) {
        l.report = Some(ChildReport::Stopped(sig));
    }
    let parent = k.proc.ppid;
    notify_stop(k, tgid, parent, CLD_STOPPED, sig as i32);
}

/// kill: pid > 0 one process, 0 the caller's group, -1 everyone but init and the
/// caller, < -1 the group -pid.
pub fn kill(k: &mut Kernel, pid: i32, sig: u64) -> SysResult {
    if sig != 0 && !signal::valid(sig as u32) {
        return Err(Errno::EINVAL);
    }
    let me = k.proc.tgid;
    // Thread groups, by their leaders' entries.
    let mut targets: Vec<u32> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| p.pid == p.tgid)
        .filter(|p| match pid {
            p0 if p0 > 0 => p.pid == p0 as u32,
            0 => p.pgid == k.proc.pgid,
            -1 => p.pid != 1 && p.pid != me,
            g => p.pgid == g.unsigned_abs(),
        })
        .filter(|p| p.state != TaskState::Zombie || pid > 0)
        .map(|p| p.pid)
        .collect();
    targets.sort_unstable();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    if sig == 0 {
        return Ok(0);
    }
    let info = SigInfo {
        signo: sig as u32,
        code: code::SI_USER,
        pid: me,
        uid: k.machine.uid,
        ..Default::default()
    };
    for t in targets {
        signal_group(k, t, info);
    }
    Ok(0)
}

/// tgkill (with a thread group) and tkill: threads are processes here.
pub fn tgkill(k: &mut Kernel, tgid: Option<i32>, tid: i32, sig: u64) -> SysResult {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) || (sig != 0 && !signal::valid(sig as u32)) {
        return Err(Errno::EINVAL);
    }
    let exists = k
        .process(tid as u32)
        .is_some_and(|p| p.state != TaskState::Zombie && tgid.is_none_or(|g| g as u32 == p.tgid));
    if !exists {
        return Err(Errno::ESRCH);
    }
    if sig == 0 {
        return Ok(0);
    }
    let info = SigInfo {
        signo: sig as u32,
        code: code::SI_TKILL,
        pid: k.proc.tgid,
        uid: k.machine.uid,
        ..Default::default()
    };
    signal_process(k, tid as u32, info);
    Ok(0)
}

pub fn getpgid(k: &mut Kernel, pid: i32) -> SysResult {
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    let target = if pid == 0 { k.proc.pid } else { pid as u32 };
    k.process(target).map(|p| p.pgid as u64).ok_or(Errno::ESRCH)
}

pub fn getsid(k: &mut Kernel, pid: i32) -> SysResult {
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    let target = if pid == 0 { k.proc.pid } else { pid as u32 };
    k.process(target).map(|p| p.sid as u64).ok_or(Errno::ESRCH)
}

/// Process groups and sessions belong to thread groups: every thread carries its group's.
fn set_group_ids(k: &mut Kernel, tgid: u32, pgid: u32, sid: u32) {
    for p in core::iter::once(&mut k.proc).chain(k.others.values_mut()) {
        if p.tgid == tgid {
            p.pgid = pgid;
            p.sid = sid;
        }
    }
}

pub fn setpgid(k: &mut Kernel, pid: i32, pgid: i32) -> SysResult {
    if pgid < 0 || pid < 0 {
        return Err(Errno::EINVAL);
    }
    let (me, my_sid) = (k.proc.tgid, k.proc.sid);
    let target = if pid == 0 { me } else { pid as u32 };
    let p = k.process(target).ok_or(Errno::ESRCH)?;
    if p.tgid != p.pid {
        return Err(Errno::EINVAL);
    }
    if p.pid != me {
        if p.ppid != me {
            return Err(Errno::ESRCH);
        }
        if p.sid != my_sid {
            return Err(Errno::EPERM);
        }
        if p.did_exec {
            return Err(Errno::EACCES);
        }
    }
    let (t_pid, t_sid) = (p.pid, p.sid);
    if t_pid == t_sid {
        // A session leader cannot move.
        return Err(Errno::EPERM);
    }
    let new = if pgid == 0 { t_pid } else { pgid as u32 };
    if new != t_pid
        && !core::iter::once(&k.proc)
            .chain(k.others.values())
            .any(|p| p.pgid == new && p.sid == my_sid)
    {
        return Err(Errno::EPERM);
    }
    set_group_ids(k, t_pid, new, t_sid);
    Ok(0)
}

pub fn setsid(k: &mut Kernel) -> SysResult {
    let me = k.proc.tgid;
    if core::iter::once(&k.proc)
        .chain(k.others.values())
        .any(|p| p.pgid == me)
    {
        return Err(Errno::EPERM);
    }
    set_group_ids(k, me, me, me);
    Ok(me as u64)
}
