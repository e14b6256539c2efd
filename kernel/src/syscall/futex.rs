//! futex: WAIT/WAKE and their bitset forms, REQUEUE/CMP_REQUEUE and WAKE_OP, with
//! timeouts. A waiter blocks on (address space, address); a wake marks it woken, so its
//! restarted FUTEX_WAIT returns 0 without looking at the word again, as Linux's does.
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

fn read_word(k: &mut Kernel, uaddr: u64) -> Result<u32, Errno> {
    let mut w = [0u8; 4];
    k.copy_in(uaddr, &mut w)?;
    Ok(u32::from_le_bytes(w))
}

/// Wakes up to `n` waiters on `uaddr` whose bitset meets `bits`; returns how many.
fn wake(k: &mut Kernel, uaddr: u64, n: u64, bits: u32) -> u64 {
    let key = Wait::Futex(space(k), uaddr);
    let pids: alloc::vec::Vec<u32> = k
        .others
        .values()
        .filter(|p| p.state == TaskState::Blocked(key) && p.futex_bitset & bits != 0)
        .map(|p| p.pid)
        .take(n as usize)
        .collect();
    for &pid in &pids {
        if let Some(p) = k.others.get_mut(&pid) {
            p.woken = true;
        }
        k.make_runnable(pid);
    }
    pids.len() as u64
}

/// Moves up to `n` waiters from `from` to `to`; returns how many.
fn requeue(k: &mut Kernel, from: u64, to: u64, n: u64) -> u64 {
    let s = space(k);
    let mut moved = 0;
    for p in k.others.values_mut() {
        if moved == n {
            break;
        }
        if p.state == TaskState::Blocked(Wait::Futex(s, from)) {
            p.state = TaskState::Blocked(Wait::Futex(s, to));
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
            Ok(wake(k, uaddr, val as u32 as u64, bits))
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
            let key = Wait::Futex(space(k), uaddr);
            Err(k.block(key, deadline))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && read_word(k, uaddr)? != val3 as u32 {
                return Err(Errno::EAGAIN);
            }
            let woken = wake(k, uaddr, val as u32 as u64, MATCH_ANY);
            let limit = timeout as u32 as u64; // val2 travels in the timeout slot
            let moved = requeue(k, uaddr, uaddr2, limit);
            Ok(woken + if cmd == FUTEX_CMP_REQUEUE { moved } else { 0 })
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
            let mut n = wake(k, uaddr, val as u32 as u64, MATCH_ANY);
            if hit {
                n += wake(k, uaddr2, timeout as u32 as u64, MATCH_ANY);
            }
            Ok(n)
        }
        _ => Err(Errno::ENOSYS),
    }
}
