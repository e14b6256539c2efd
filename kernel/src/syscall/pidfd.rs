//! pidfds: descriptors that name a process (pidfd_open, CLONE_PIDFD), readable once it has
//! ended, and usable with pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD). hull never
//! reuses a pid, so the pid itself identifies the process for the descriptor's lifetime.
use crate::errno::{Errno, SysResult};
use crate::fd::{FileKind, OpenFile, oflags};
use crate::process::Kernel;
use crate::sched::TaskState;

const PIDFD_NONBLOCK: u32 = oflags::O_NONBLOCK;

/// Whether every task of thread group `pid` has ended (what makes a pidfd readable).
pub fn ended(k: &Kernel, pid: u32) -> bool {
    !core::iter::once(&k.proc)
        .chain(k.others.values())
        .any(|p| p.tgid == pid && p.state != TaskState::Zombie)
}

/// A new pidfd for process `pid` in the caller's table (always close-on-exec, as Linux).
pub fn install(k: &mut Kernel, pid: u32, flags: u32) -> Result<i32, Errno> {
    let f = OpenFile::new(
        FileKind::PidFd(pid),
        oflags::O_RDWR | (flags & PIDFD_NONBLOCK),
    );
    k.proc.fds.install(f, 0, true)
}

pub fn pidfd_open(k: &mut Kernel, pid: i32, flags: u32) -> SysResult {
    if flags & !PIDFD_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = k.process(pid as u32).ok_or(Errno::ESRCH)?;
    if p.tgid != p.pid {
        // A thread that is not its group's leader (PIDFD_THREAD is not supported).
        return Err(Errno::EINVAL);
    }
    if ended(k, pid as u32) && p.state == TaskState::Zombie && p.report.is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(install(k, pid as u32, flags)? as u64)
}

/// The process a pidfd names (EBADF for anything else).
pub fn pid_of(k: &Kernel, fd: i32) -> Result<u32, Errno> {
    match k.proc.fds.get(fd)?.kind {
        FileKind::PidFd(pid) => Ok(pid),
        _ => Err(Errno::EBADF),
    }
}

/// pidfd_send_signal's scopes (Linux 6.9): the thread, its group (the default), or its
/// process group.
const PIDFD_SIGNAL_THREAD: u32 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u32 = 2;
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 4;

pub fn pidfd_send_signal(k: &mut Kernel, fd: i32, sig: u64, info: u64, flags: u32) -> SysResult {
    if !matches!(
        flags,
        0 | PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP
    ) {
        return Err(Errno::EINVAL);
    }
    let pid = pid_of(k, fd)?;
    if ended(k, pid) {
        return Err(Errno::ESRCH);
    }
    match flags {
        PIDFD_SIGNAL_THREAD if info == 0 => {
            super::task::tgkill(k, Some(pid as i32), pid as i32, sig)
        }
        PIDFD_SIGNAL_THREAD => {
            super::signals::rt_sigqueueinfo(k, pid as i32, Some(pid as i32), sig, info)
        }
        PIDFD_SIGNAL_PROCESS_GROUP => {
            let pgid = k.process(pid).map_or(0, |p| p.pgid);
            if pgid == 0 {
                return Err(Errno::ESRCH);
            }
            super::task::kill(k, -(pgid as i32), sig)
        }
        _ if info == 0 => super::task::kill(k, pid as i32, sig),
        _ => super::signals::rt_sigqueueinfo(k, pid as i32, None, sig, info),
    }
}

/// pidfd_getfd: a duplicate of descriptor `target` of the process, close-on-exec.
pub fn pidfd_getfd(k: &mut Kernel, fd: i32, target: i32, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = pid_of(k, fd)?;
    if ended(k, pid) {
        return Err(Errno::ESRCH);
    }
    let file = crate::sched::holder_of(k, pid, crate::sched::RES_FILES)
        .ok_or(Errno::ESRCH)?
        .fds
        .get(target)?
        .clone();
    Ok(k.proc.fds.install(file, 0, true)? as u64)
}
