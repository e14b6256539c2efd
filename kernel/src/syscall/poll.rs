//! poll, ppoll, select and pselect6. In-guest files answer at once (pipes from their
//! state; regular files, /dev and /proc are always ready); the sandbox's stdio is asked of
//! the host with one `Poll` hypercall, which is also where a wait blocks when stdio is in
//! the set (bounded by the guest's next timer, so alarms still fire).
use alloc::vec::Vec;

use hull_arch::abi::PollEntry;

use crate::errno::{Errno, SysResult};
use crate::fd::FileKind;
use crate::hypercall;
use crate::process::Kernel;

pub const POLLIN: u16 = 0x1;
pub const POLLPRI: u16 = 0x2;
pub const POLLOUT: u16 = 0x4;
pub const POLLERR: u16 = 0x8;
pub const POLLHUP: u16 = 0x10;
pub const POLLNVAL: u16 = 0x20;
const POLLRDNORM: u16 = 0x40;
const POLLWRNORM: u16 = 0x100;
const POLLRDHUP: u16 = 0x2000;

/// One descriptor being waited on.
#[derive(Clone, Copy, Debug)]
struct Want {
    fd: i32,
    events: u16,
    revents: u16,
}

/// The readiness of `fd` now, or the host handle to ask.
fn readiness(k: &Kernel, fd: i32, events: u16) -> Result<u16, u64> {
    let Ok(f) = k.proc.fds.get(fd) else {
        return Ok(POLLNVAL);
    };
    let always = POLLERR | POLLHUP | POLLNVAL;
    let r = match &f.kind {
        FileKind::Epoll(_) => super::epoll::readiness(f) as u16,
        FileKind::PidFd(pid) => pidfd_readiness(k, *pid),
        _ => file_readiness(f)?,
    };
    Ok(r & (events | always))
}

/// A pidfd is readable once its process has ended.
pub fn pidfd_readiness(k: &Kernel, pid: u32) -> u16 {
    if super::pidfd::ended(k, pid) {
        POLLIN | POLLRDNORM
    } else {
        0
    }
}

/// What an open file is ready for now (all bits, unmasked), or the host handle to ask.
pub fn file_readiness(f: &crate::fd::OpenFile) -> Result<u16, u64> {
    Ok(match &f.kind {
        FileKind::Host { handle } => return Err(*handle),
        FileKind::EventFd(e) => e.readiness(),
        FileKind::UnixStream(sock) => {
            let (shut_rd, shut_wr) = sock.shut();
            let rx = sock.rx.state.lock();
            let peer_done = rx.writers == 0;
            let mut r = 0;
            if !rx.data.is_empty() || peer_done || shut_rd {
                r |= POLLIN | POLLRDNORM;
            }
            if peer_done || shut_rd {
                r |= POLLRDHUP;
            }
            drop(rx);
            let tx = sock.tx.state.lock();
            if tx.readers == 0 && (peer_done || shut_rd) {
                r |= POLLHUP;
            }
            if !shut_wr && tx.readers > 0 && tx.data.room() > 0 {
                r |= POLLOUT | POLLWRNORM;
            }
            r
        }
        FileKind::Epoll(_) | FileKind::PidFd(_) => 0,
        FileKind::Pipe(end) => {
            let st = end.pipe.state.lock();
            if end.write {
                if st.readers == 0 {
                    POLLERR
                } else if st.data.room() > 0 {
                    POLLOUT | POLLWRNORM
                } else {
                    0
                }
            } else {
                let mut r = 0;
                if !st.data.is_empty() {
                    r |= POLLIN | POLLRDNORM;
                }
                if st.writers == 0 {
                    r |= POLLHUP;
                }
                r
            }
        }
        FileKind::Path => POLLNVAL,
        _ => POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
    })
}

/// Returns how many of `wants` are ready now; if none, blocks the task until the deadline
/// (CLOCK_MONOTONIC ns; kept across restarts; `None` = forever, `Some(now)` = do not
/// wait), a pipe change, host stdio readiness or a signal.
fn wait(k: &mut Kernel, wants: &mut [Want], deadline: Option<u64>) -> Result<usize, Errno> {
    let mut host: Vec<(usize, PollEntry)> = Vec::new();
    for (i, w) in wants.iter_mut().enumerate() {
        w.revents = 0;
        if w.fd < 0 {
            continue;
        }
        match readiness(k, w.fd, w.events) {
            Ok(r) => w.revents = r,
            Err(handle) => host.push((
                i,
                PollEntry {
                    handle,
                    events: w.events & (POLLIN | POLLOUT | POLLPRI),
                    ..Default::default()
                },
            )),
        }
    }
    if !host.is_empty() {
        let mut entries: Vec<PollEntry> = host.iter().map(|(_, e)| *e).collect();
        hypercall::poll(&mut entries, 0)?;
        for ((i, _), e) in host.iter().zip(entries.iter()) {
            wants[*i].revents = e.revents & (wants[*i].events | POLLERR | POLLHUP | POLLNVAL);
        }
    }
    let ready = wants.iter().filter(|w| w.revents != 0).count();
    let deadline = *k
        .proc
        .restart_deadline
        .get_or_insert(deadline.unwrap_or(u64::MAX));
    if ready > 0 || k.clock.monotonic() >= deadline {
        return Ok(ready);
    }
    k.proc.host_wait = host.iter().map(|(_, e)| (e.handle, e.events)).collect();
    let wake_at = if deadline == u64::MAX { 0 } else { deadline };
    Err(k.block(crate::sched::Wait::Poll, wake_at))
}

/// A relative timeout in ns → an absolute deadline (`None` = forever).
fn deadline_after(k: &Kernel, ns: Option<u64>) -> Option<u64> {
    ns.map(|n| k.clock.monotonic().saturating_add(n))
}

fn do_poll(k: &mut Kernel, fds: u64, nfds: u64, timeout_ns: Option<u64>) -> SysResult {
    if nfds > k.proc.rlimits[crate::process::RLIMIT_NOFILE].cur {
        return Err(Errno::EINVAL);
    }
    let mut raw = alloc::vec![0u8; 8 * nfds as usize];
    k.copy_in(fds, &mut raw)?;
    let mut wants: Vec<Want> = raw
        .chunks_exact(8)
        .map(|c| Want {
            fd: i32::from_le_bytes(c[..4].try_into().expect("4 bytes")),
            events: u16::from_le_bytes([c[4], c[5]]),
            revents: 0,
        })
        .collect();
    let deadline = deadline_after(k, timeout_ns);
    let n = wait(k, &mut wants, deadline)?;
    for (c, w) in raw.chunks_exact_mut(8).zip(&wants) {
        c[6..8].copy_from_slice(&w.revents.to_le_bytes());
    }
    k.copy_out(fds, &raw)?;
    Ok(n as u64)
}

pub fn poll(k: &mut Kernel, fds: u64, nfds: u64, timeout_ms: i32) -> SysResult {
    let t = (timeout_ms >= 0).then_some(timeout_ms as u64 * 1_000_000);
    do_poll(k, fds, nfds, t)
}

/// Reads a timespec timeout (null = forever).
pub fn timespec(k: &mut Kernel, va: u64) -> Result<Option<u64>, Errno> {
    if va == 0 {
        return Ok(None);
    }
    let [s, n] = k.read_words::<2>(va)?;
    if (s as i64) < 0 || n >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(s.saturating_mul(1_000_000_000).saturating_add(n)))
}

/// Runs `f` with the signal mask at `sigmask` (if any) in place for the whole wait: a
/// handler that interrupts it returns to the old mask (as after sigsuspend), and so does
/// a call that completes.
pub fn with_mask(
    k: &mut Kernel,
    sigmask: u64,
    size: u64,
    f: impl FnOnce(&mut Kernel) -> SysResult,
) -> SysResult {
    if sigmask == 0 {
        return f(k);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let [mask] = k.read_words::<1>(sigmask)?;
    if k.proc.saved_mask.is_none() {
        k.proc.saved_mask = Some(k.proc.signals.blocked);
    }
    k.proc.signals.blocked = mask & !crate::signal::UNBLOCKABLE;
    let r = f(k);
    if r != Err(crate::sched::BLOCKED)
        && let Some(old) = k.proc.saved_mask.take()
    {
        k.proc.signals.blocked = old;
    }
    r
}

pub fn ppoll(k: &mut Kernel, fds: u64, nfds: u64, tsp: u64, sigmask: u64, size: u64) -> SysResult {
    let t = timespec(k, tsp)?;
    with_mask(k, sigmask, size, |k| do_poll(k, fds, nfds, t))
}

/// select/pselect6 over fd_set bitmaps.
fn do_select(k: &mut Kernel, nfds: i32, sets: [u64; 3], timeout_ns: Option<u64>) -> SysResult {
    if nfds < 0 || nfds as u64 > k.proc.rlimits[crate::process::RLIMIT_NOFILE].cur.max(1024) {
        return Err(Errno::EINVAL);
    }
    let bytes = (nfds as usize).div_ceil(64) * 8;
    let mut bits = [
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
        alloc::vec![0u8; bytes],
    ];
    for (i, &va) in sets.iter().enumerate() {
        if va != 0 {
            k.copy_in(va, &mut bits[i])?;
        }
    }
    let is_set = |b: &[u8], fd: usize| b[fd / 8] & (1 << (fd % 8)) != 0;
    let mut wants = Vec::new();
    for fd in 0..nfds as usize {
        let mut ev = 0;
        if is_set(&bits[0], fd) {
            ev |= POLLIN;
        }
        if is_set(&bits[1], fd) {
            ev |= POLLOUT;
        }
        if is_set(&bits[2], fd) {
            ev |= POLLPRI;
        }
        if ev != 0 {
            k.proc.fds.get(fd as i32)?;
            wants.push(Want {
                fd: fd as i32,
                events: ev,
                revents: 0,
            });
        }
    }
    let deadline = deadline_after(k, timeout_ns);
    wait(k, &mut wants, deadline)?;
    for b in bits.iter_mut() {
        b.fill(0);
    }
    let mut count = 0;
    for w in &wants {
        let fd = w.fd as usize;
        let mut mark = |i: usize| {
            bits[i][fd / 8] |= 1 << (fd % 8);
            count += 1;
        };
        if w.events & POLLIN != 0 && w.revents & (POLLIN | POLLHUP | POLLERR) != 0 {
            mark(0);
        }
        if w.events & POLLOUT != 0 && w.revents & (POLLOUT | POLLERR) != 0 {
            mark(1);
        }
        if w.events & POLLPRI != 0 && w.revents & POLLPRI != 0 {
            mark(2);
        }
    }
    for (i, &va) in sets.iter().enumerate() {
        if va != 0 {
            k.copy_out(va, &bits[i])?;
        }
    }
    Ok(count)
}

pub fn select(k: &mut Kernel, nfds: i32, r: u64, w: u64, e: u64, tv: u64) -> SysResult {
    let t = if tv == 0 {
        None
    } else {
        let [s, us] = k.read_words::<2>(tv)?;
        if (s as i64) < 0 || (us as i64) < 0 || us >= 1_000_000 {
            return Err(Errno::EINVAL);
        }
        Some(s.saturating_mul(1_000_000_000).saturating_add(us * 1000))
    };
    let start = k.clock.monotonic();
    let res = do_select(k, nfds, [r, w, e], t);
    if let (Some(t), true) = (t, tv != 0) {
        // Linux reports the time left.
        let left = t.saturating_sub(k.clock.monotonic() - start);
        k.write_words(tv, &[left / 1_000_000_000, (left % 1_000_000_000) / 1000])?;
    }
    res
}

pub fn pselect6(
    k: &mut Kernel,
    nfds: i32,
    r: u64,
    w: u64,
    e: u64,
    tsp: u64,
    sig: u64,
) -> SysResult {
    let t = timespec(k, tsp)?;
    let (mask, size) = if sig != 0 {
        let [m, s] = k.read_words::<2>(sig)?;
        (m, s)
    } else {
        (0, 8)
    };
    with_mask(k, mask, size, |k| do_select(k, nfds, [r, w, e], t))
}
