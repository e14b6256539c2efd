//! epoll and eventfd, in the guest.
//!
//! An epoll instance keeps its interest list keyed by (descriptor, open file description),
//! as Linux does, and holds the description weakly: closing the last reference to a file
//! drops its registration. Readiness is computed when `epoll_wait` looks (the same rules
//! as `poll`; the sandbox's stdio is asked of the host in one `Poll`), and a wait that
//! finds nothing blocks like `poll` until a pipe or eventfd changes, a host stdio event,
//! its timeout or a signal.
//!
//! Edge-triggered interests report a file when it is ready and something changed since
//! their last report: a bit newly ready, or any pipe or eventfd of the sandbox changed
//! (the kernel counts such changes in `Scheduler::io_events`). That can report an edge
//! twice, which edge-triggered users tolerate (they read until EAGAIN), but never misses
//! one. EPOLLONESHOT disables an interest after one report until EPOLL_CTL_MOD.
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::Mutex;

use crate::errno::{Errno, SysResult};
use crate::fd::{FileKind, OpenFile, oflags};
use crate::process::Kernel;

use super::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT};

const EPOLL_CTL_ADD: i32 = 1;
const EPOLL_CTL_DEL: i32 = 2;
const EPOLL_CTL_MOD: i32 = 3;
const EPOLLEXCLUSIVE: u32 = 1 << 28;
const EPOLLONESHOT: u32 = 1 << 30;
const EPOLLET: u32 = 1 << 31;
/// The event bits (EPOLLIN … EPOLLRDHUP) a caller may ask for. EPOLLWAKEUP is dropped
/// silently, as Linux does for a caller without CAP_BLOCK_SUSPEND.
const EPOLL_EVENTS: u32 = 0x3fff;
/// Reported whether asked for or not.
const ALWAYS: u32 = (POLLERR | POLLHUP) as u32;
/// `struct epoll_event` is packed: u32 events, u64 data.
const EVENT_SIZE: usize = 12;
/// Linux's bound on `maxevents` (INT_MAX / sizeof(struct epoll_event)).
const EP_MAX_EVENTS: i32 = i32::MAX / EVENT_SIZE as i32;
/// eventfd's counter never reaches this.
const EVENTFD_MAX: u64 = u64::MAX - 1;
const EFD_SEMAPHORE: u32 = 1;

/// One registration.
#[derive(Debug)]
struct Interest {
    file: Weak<OpenFile>,
    events: u32,
    data: u64,
    /// EPOLLONESHOT fired: silent until EPOLL_CTL_MOD.
    disabled: bool,
    /// For EPOLLET: what was last reported, and `io_events` then (`None`: never).
    last: Option<(u32, u64)>,
}

/// An epoll instance.
#[derive(Debug, Default)]
pub struct Epoll {
    interest: Mutex<BTreeMap<(i32, usize), Interest>>,
}

/// An eventfd: a 64-bit counter.
#[derive(Debug)]
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
}

impl EventFd {
    /// Its identity for waiting on it (shared with the pipes' wait keys, see `io::pipe_id`).
    pub fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// `poll` bits now: readable while the counter is non-zero, writable while one more
    /// can be added.
    pub fn readiness(&self) -> u16 {
        let c = *self.count.lock();
        let mut r = 0;
        if c > 0 {
            r |= POLLIN;
        }
        if c < EVENTFD_MAX {
            r |= POLLOUT;
        }
        r
    }
}

fn file_id(f: &Arc<OpenFile>) -> usize {
    Arc::as_ptr(f) as usize
}

fn epoll_of(k: &Kernel, epfd: i32) -> Result<Arc<Epoll>, Errno> {
    match &k.proc.fds.get(epfd)?.kind {
        FileKind::Epoll(ep) => Ok(ep.clone()),
        _ => Err(Errno::EINVAL),
    }
}

pub fn epoll_create1(k: &mut Kernel, flags: u32) -> SysResult {
    if flags & !oflags::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let f = OpenFile::new(FileKind::Epoll(Arc::default()), oflags::O_RDWR);
    let fd = k.proc.fds.install(f, 0, flags & oflags::O_CLOEXEC != 0)?;
    Ok(fd as u64)
}

pub fn epoll_create(k: &mut Kernel, size: i32) -> SysResult {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    epoll_create1(k, 0)
}

pub fn epoll_ctl(k: &mut Kernel, epfd: i32, op: i32, fd: i32, event: u64) -> SysResult {
    let ep = epoll_of(k, epfd)?;
    let target = k.proc.fds.get(fd)?.clone();
    if fd == epfd {
        return Err(Errno::EINVAL);
    }
    // Files without a poll operation (regular files, directories, /proc) are refused.
    match &target.kind {
        FileKind::HostFile { .. }
        | FileKind::Mem(_)
        | FileKind::Snapshot(_)
        | FileKind::Listing(_)
        | FileKind::Path => return Err(Errno::EPERM),
        FileKind::Host { .. }
        | FileKind::Pipe(_)
        | FileKind::Dev(_)
        | FileKind::Epoll(_)
        | FileKind::EventFd(_)
        | FileKind::UnixStream(_)
        | FileKind::PidFd(_) => {}
    }
    let key = (fd, file_id(&target));
    let read_event = |k: &mut Kernel| -> Result<(u32, u64), Errno> {
        let mut b = [0u8; EVENT_SIZE];
        k.copy_in(event, &mut b)?;
        let events = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let data = u64::from_le_bytes(b[4..].try_into().expect("8 bytes"));
        Ok((events, data))
    };
    match op {
        EPOLL_CTL_ADD => {
            let (events, data) = read_event(k)?;
            // Each interest is kernel memory (Linux bounds them by max_user_watches).
            crate::fd::kernel_memory_left()?;
            if events & EPOLLEXCLUSIVE != 0 && events & (EPOLLONESHOT) != 0 {
                return Err(Errno::EINVAL);
            }
            let mut list = ep.interest.lock();
            if list.contains_key(&key) {
                return Err(Errno::EEXIST);
            }
            list.insert(
                key,
                Interest {
                    file: Arc::downgrade(&target),
                    events: events & (EPOLL_EVENTS | EPOLLET | EPOLLONESHOT),
                    data,
                    disabled: false,
                    last: None,
                },
            );
        }
        EPOLL_CTL_MOD => {
            let (events, data) = read_event(k)?;
            if events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            let mut list = ep.interest.lock();
            let i = list.get_mut(&key).ok_or(Errno::ENOENT)?;
            i.events = events & (EPOLL_EVENTS | EPOLLET | EPOLLONESHOT);
            i.data = data;
            i.disabled = false;
            i.last = None;
        }
        EPOLL_CTL_DEL => {
            ep.interest.lock().remove(&key).ok_or(Errno::ENOENT)?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// `poll` bits of an epoll file: readable when one of its in-guest interests is ready (one
/// level deep: a nested epoll or the host's stdio counts as not ready here).
pub fn readiness(f: &OpenFile) -> u32 {
    let FileKind::Epoll(ep) = &f.kind else {
        return 0;
    };
    let any = ep.interest.lock().values().any(|i| {
        !i.disabled
            && i.file.upgrade().is_some_and(|g| {
                super::poll::file_readiness(&g)
                    .is_ok_and(|r| u32::from(r) & (i.events | ALWAYS) != 0)
            })
    });
    if any { POLLIN as u32 } else { 0 }
}

/// What an interest's file is ready for now, or the host handle to ask.
fn file_readiness(k: &Kernel, f: &OpenFile) -> Result<u32, u64> {
    match &f.kind {
        FileKind::Epoll(_) => Ok(readiness(f)),
        FileKind::PidFd(pid) => Ok(super::poll::pidfd_readiness(k, *pid) as u32),
        _ => super::poll::file_readiness(f).map(u32::from),
    }
}

pub fn epoll_wait(
    k: &mut Kernel,
    epfd: i32,
    events: u64,
    max: i32,
    timeout_ns: Option<u64>,
) -> SysResult {
    if max <= 0 || max > EP_MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let ep = epoll_of(k, epfd)?;
    let max = max as usize;
    // Linux checks the whole buffer is user memory before waiting.
    if events
        .checked_add((max * EVENT_SIZE) as u64)
        .is_none_or(|e| e > hull_arch::layout::USER_END)
    {
        return Err(Errno::EFAULT);
    }
    let now_events = k.sched.io_events;
    let mut out: Vec<u8> = Vec::new();
    let mut host: Vec<((i32, usize), u64, u32)> = Vec::new();
    {
        let mut list = ep.interest.lock();
        list.retain(|_, i| i.file.strong_count() > 0);
        let keys: Vec<(i32, usize)> = list.keys().copied().collect();
        let mut ready: Vec<((i32, usize), u32)> = Vec::new();
        for key in &keys {
            let i = &list[key];
            if i.disabled {
                continue;
            }
            let Some(f) = i.file.upgrade() else { continue };
            match file_readiness(k, &f) {
                Ok(r) => ready.push((*key, r)),
                Err(handle) => host.push((*key, handle, i.events)),
            }
        }
        if !host.is_empty() {
            let mut entries: Vec<hull_arch::abi::PollEntry> = host
                .iter()
                .map(|&(_, handle, ev)| hull_arch::abi::PollEntry {
                    handle,
                    events: (ev as u16) & (POLLIN | POLLOUT | super::poll::POLLPRI),
                    ..Default::default()
                })
                .collect();
            drop(list);
            crate::hypercall::poll(&mut entries, 0)?;
            list = ep.interest.lock();
            for ((key, _, _), e) in host.iter().zip(&entries) {
                ready.push((*key, e.revents as u32));
            }
        }
        for (key, r) in ready {
            if out.len() / EVENT_SIZE == max {
                break;
            }
            let Some(i) = list.get_mut(&key) else {
                continue;
            };
            let got = r & (i.events | ALWAYS);
            if got == 0 {
                i.last = None;
                continue;
            }
            if i.events & EPOLLET != 0
                && let Some((bits, seen)) = i.last
                && got & !bits == 0
                && seen == now_events
            {
                continue;
            }
            i.last = Some((got, now_events));
            if i.events & EPOLLONESHOT != 0 {
                i.disabled = true;
            }
            out.extend_from_slice(&got.to_le_bytes());
            out.extend_from_slice(&i.data.to_le_bytes());
        }
    }
    let deadline = *k
        .proc
        .restart_deadline
        .get_or_insert(timeout_ns.map_or(u64::MAX, |t| k.clock.monotonic().saturating_add(t)));
    if out.is_empty() && k.clock.monotonic() < deadline {
        k.proc.host_wait = host
            .iter()
            .map(|&(_, handle, ev)| (handle, (ev as u16) & (POLLIN | POLLOUT)))
            .collect();
        let wake_at = if deadline == u64::MAX { 0 } else { deadline };
        return Err(k.block(crate::sched::Wait::Poll, wake_at));
    }
    k.copy_out(events, &out)?;
    Ok((out.len() / EVENT_SIZE) as u64)
}

/// epoll_wait's timeout in ms (negative: forever).
pub fn timeout_ms(ms: i32) -> Option<u64> {
    (ms >= 0).then_some(ms as u64 * 1_000_000)
}

pub fn epoll_pwait(
    k: &mut Kernel,
    epfd: i32,
    events: u64,
    max: i32,
    timeout: Option<u64>,
    sigmask: u64,
    size: u64,
) -> SysResult {
    super::poll::with_mask(k, sigmask, size, |k| {
        epoll_wait(k, epfd, events, max, timeout)
    })
}

/// epoll_pwait2: the timeout is a timespec (null: forever).
pub fn epoll_pwait2(
    k: &mut Kernel,
    epfd: i32,
    events: u64,
    max: i32,
    timeout: u64,
    sigmask: u64,
    size: u64,
) -> SysResult {
    let t = super::poll::timespec(k, timeout)?;
    epoll_pwait(k, epfd, events, max, t, sigmask, size)
}

pub fn eventfd2(k: &mut Kernel, initval: u32, flags: u32) -> SysResult {
    if flags & !(oflags::O_CLOEXEC | oflags::O_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let efd = Arc::new(EventFd {
        count: Mutex::new(initval as u64),
        semaphore: flags & EFD_SEMAPHORE != 0,
    });
    let f = OpenFile::new(
        FileKind::EventFd(efd),
        oflags::O_RDWR | (flags & oflags::O_NONBLOCK),
    );
    let fd = k.proc.fds.install(f, 0, flags & oflags::O_CLOEXEC != 0)?;
    Ok(fd as u64)
}

/// read(2) of an eventfd: the counter (or 1, for a semaphore), which then drops to 0 (or
/// by 1); blocks (or EAGAIN) while it is 0.
pub fn eventfd_read(k: &mut Kernel, efd: &Arc<EventFd>, nonblock: bool) -> Result<u64, Errno> {
    let mut c = efd.count.lock();
    if *c == 0 {
        drop(c);
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        return Err(k.block(crate::sched::Wait::Pipe(efd.id()), 0));
    }
    let v = if efd.semaphore { 1 } else { *c };
    *c -= v;
    drop(c);
    super::io::pipe_changed(k, efd.id());
    Ok(v)
}

/// write(2) of an eventfd: adds `v`; blocks (or EAGAIN) while that would pass the maximum.
pub fn eventfd_write(
    k: &mut Kernel,
    efd: &Arc<EventFd>,
    v: u64,
    nonblock: bool,
) -> Result<(), Errno> {
    if v == u64::MAX {
        return Err(Errno::EINVAL);
    }
    let mut c = efd.count.lock();
    if EVENTFD_MAX - *c < v {
        drop(c);
        if nonblock {
            return Err(Errno::EAGAIN);
        }
        return Err(k.block(crate::sched::Wait::Pipe(efd.id()), 0));
    }
    *c += v;
    drop(c);
    super::io::pipe_changed(k, efd.id());
    Ok(())
}
