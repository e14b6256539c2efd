//! futex: WAIT/WAKE and their bitset forms, REQUEUE/CMP_REQUEUE and WAKE_OP, with
//! timeouts. A waiter blocks on (address space, address); a wake ends its FUTEX_WAIT with
//! 0 without looking at the word again, as Linux's does (see `Kernel::complete_blocked`).
use crate::errno::{Errno, SysResult};
use crate::process::Kernel;
use crate::sched::{TaskState, Wait};

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_CLOCK_REALTIME: u64 = 256;
const MATCH_ANY: u32 = u32::MAX;

/// The address space a futex word lives in (tasks that share one share its futexes).
fn space(k: &Kernel) -> usize {
    k.proc.aspace.pt.root() as usize
}

const FUTEX_PRIVATE: u64 = 128;

/// The key of a futex word: (address space, address), as Linux keys private memory; a
/// shared futex in MAP_SHARED memory is keyed by its physical address (space 0), so
/// processes sharing the memory meet.
fn key(k: &mut Kernel, op: u64, uaddr: u64) -> Result<(usize, u64), Errno> {
    let shared_mem = k
        .proc
        .aspace
        .find(uaddr)
        .is_some_and(crate::mm::vma::Vma::shares);
    if op & FUTEX_PRIVATE != 0 || !shared_mem {
        return Ok((space(k), uaddr));
    }
    let pa = crate::mm::uaccess::user_page(
        &mut k.proc.aspace,
        &mut k.frames,
        uaddr,
        crate::mm::aspace::Access::Read,
    )?;
    Ok((0, pa))
}

fn read_word(k: &mut Kernel, uaddr: u64) -> Result<u32, Errno> {
    let mut w = [0u8; 4];
    k.copy_in(uaddr, &mut w)?;
    Ok(u32::from_le_bytes(w))
}

/// Wakes up to `n` waiters on `uaddr` of the current address space (thread exit's
/// CLONE_CHILD_CLEARTID).
pub fn wake_at(k: &mut Kernel, uaddr: u64, n: u64) -> u64 {
    wake(k, uaddr, n, MATCH_ANY)
}

/// Wakes up to `n` waiters on `uaddr` whose bitset meets `bits`; returns how many.
fn wake(k: &mut Kernel, uaddr: u64, n: u64, bits: u32) -> u64 {
    let key = Wait::Futex(space(k), uaddr);
    wake_key(k, key, n, bits)
}

fn wake_key(k: &mut Kernel, key: Wait, n: u64, bits: u32) -> u64 {
    let pids: alloc::vec::Vec<u32> = k
        .others
        .values()
        .filter(|p| p.state == TaskState::Blocked(key) && p.futex_bitset & bits != 0)
        .map(|p| p.pid)
        .take(n as usize)
        .collect();
    for &pid in &pids {
        // A woken FUTEX_WAIT returns 0, whatever the word holds by then.
        k.complete_blocked(pid, 0);
    }
    pids.len() as u64
}

/// Moves up to `n` waiters from key `from` to key `to`; returns how many.
fn requeue(k: &mut Kernel, from: (usize, u64), to: (usize, u64), n: u64) -> u64 {
    let mut moved = 0;
    for p in k.others.values_mut() {
        if moved == n {
            break;
        }
        if p.state == TaskState::Blocked(Wait::Futex(from.0, from.1)) {
            p.state = TaskState::Blocked(Wait::Futex(to.0, to.1));
            moved += 1;
        }
    }
    moved
}

pub fn futex(
    k: &mut Kernel,
    uaddr: u64,
    op: u64,
    val: u64,
    timeout: u64,
    uaddr2: u64,
    val3: u64,
) -> SysResult {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let cmd = op & 127;
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bits = if cmd == FUTEX_WAKE {
                MATCH_ANY
            } else {
                val3 as u32
            };
            if bits == 0 {
                return Err(Errno::EINVAL);
            }
            let (sp, a) = key(k, op, uaddr)?;
            Ok(wake_key(k, Wait::Futex(sp, a), val as u32 as u64, bits))
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bits = if cmd == FUTEX_WAIT {
                MATCH_ANY
            } else {
                val3 as u32
            };
            if bits == 0 {
                return Err(Errno::EINVAL);
            }
            if k.proc.woken {
                return Ok(0);
            }
            let deadline = match k.proc.restart_deadline {
                Some(d) => d,
                None => {
                    if read_word(k, uaddr)? != val as u32 {
                        return Err(Errno::EAGAIN);
                    }
                    let d = if timeout == 0 {
                        0
                    } else {
                        let [s, n] = k.read_words::<2>(timeout)?;
                        if (s as i64) < 0 || n >= 1_000_000_000 {
                            return Err(Errno::EINVAL);
                        }
                        let t = s.saturating_mul(1_000_000_000).saturating_add(n);
                        if cmd == FUTEX_WAIT {
                            // Relative.
                            k.clock.monotonic().saturating_add(t).max(1)
                        } else if op & FUTEX_CLOCK_REALTIME != 0 {
                            k.clock
                                .monotonic()
                                .saturating_add(t.saturating_sub(k.clock.realtime()))
                                .max(1)
                        } else {
                            t.max(1)
                        }
                    };
                    k.proc.restart_deadline = Some(d);
                    d
                }
            };
            if deadline != 0 && k.clock.monotonic() >= deadline {
                return Err(Errno::ETIMEDOUT);
            }
            k.proc.futex_bitset = bits;
            let (sp, a) = key(k, op, uaddr)?;
            Err(k.block(Wait::Futex(sp, a), deadline))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && read_word(k, uaddr)? != val3 as u32 {
                return Err(Errno::EAGAIN);
            }
            let from = key(k, op, uaddr)?;
            let to = key(k, op, uaddr2)?;
            let woken = wake_key(k, Wait::Futex(from.0, from.1), val as u32 as u64, MATCH_ANY);
            let limit = timeout as u32 as u64; // val2 travels in the timeout slot
            let moved = requeue(k, from, to, limit);
            Ok(woken + moved)
        }
        FUTEX_WAKE_OP => {
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            let encoded = val3 as u32;
            let opcode = (encoded >> 28) & 7;
            let shift_arg = encoded & (8 << 28) != 0;
            let cmp = (encoded >> 24) & 15;
            let mut oparg = (encoded >> 12) & 0xfff;
            let cmparg = encoded & 0xfff;
            if shift_arg {
                oparg = 1u32.checked_shl(oparg).unwrap_or(0);
            }
            let old = read_word(k, uaddr2)?;
            let new = match opcode {
                0 => oparg,
                1 => old.wrapping_add(oparg),
                2 => old | oparg,
                3 => old & !oparg,
                4 => old ^ oparg,
                _ => return Err(Errno::ENOSYS),
            };
            k.copy_out(uaddr2, &new.to_le_bytes())?;
            let (o, c) = (old as i32, cmparg as i32);
            let hit = match cmp {
                0 => o == c,
                1 => o != c,
                2 => o < c,
                3 => o <= c,
                4 => o > c,
                5 => o >= c,
                _ => return Err(Errno::ENOSYS),
            };
            let (s1, a1) = key(k, op, uaddr)?;
            let (s2, a2) = key(k, op, uaddr2)?;
            let mut n = wake_key(k, Wait::Futex(s1, a1), val as u32 as u64, MATCH_ANY);
            if hit {
                n += wake_key(k, Wait::Futex(s2, a2), timeout as u32 as u64, MATCH_ANY);
            }
            Ok(n)
        }
        _ => Err(Errno::ENOSYS),
    }
}

const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Most entries walked, as Linux's ROBUST_LIST_LIMIT.
const ROBUST_LIST_LIMIT: usize = 2048;

/// A dying thread's robust futexes (set_robust_list): each lock word it still owns gets
/// FUTEX_OWNER_DIED, its tid cleared, and one waiter woken, as Linux's exit_robust_list.
pub fn exit_robust_list(k: &mut Kernel) {
    let (head, len) = k.proc.robust_list;
    if head == 0 || len != 24 {
        return;
    }
    let tid = k.proc.pid;
    let Ok([first, offset, pending]) = k.read_words::<3>(head) else {
        return;
    };
    let offset = offset as i64;
    let handle = |k: &mut Kernel, entry: u64| {
        let word = (entry as i64).wrapping_add(offset) as u64;
        let Ok(v) = read_word(k, word) else { return };
        if v & FUTEX_TID_MASK != tid {
            return;
        }
        let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if k.copy_out(word, &new.to_le_bytes()).is_ok() && v & FUTEX_WAITERS != 0 {
            let sp = space(k);
            wake_key(k, Wait::Futex(sp, word), 1, MATCH_ANY);
        }
    };
    let mut entry = first;
    let mut n = 0;
    while entry != head && entry != 0 && n < ROBUST_LIST_LIMIT {
        let next = match k.read_words::<1>(entry) {
            Ok([next]) => next,
            Err(_) => break,
        };
        if entry != pending {
            handle(k, entry);
        }
        entry = next;
        n += 1;
    }
    if pending != 0 {
        handle(k, pending);
    }
    k.proc.robust_list = (0, 0);
}

/// get_robust_list: the head and size a task registered.
pub fn get_robust_list(k: &mut Kernel, pid: i32, head_ptr: u64, len_ptr: u64) -> SysResult {
    let (head, len) = if pid == 0 {
        k.proc.robust_list
    } else {
        k.process(pid as u32).ok_or(Errno::ESRCH)?.robust_list
    };
    k.write_words(head_ptr, &[head])?;
    k.write_words(len_ptr, &[if len == 0 { 24 } else { len }])?;
    Ok(0)
}
