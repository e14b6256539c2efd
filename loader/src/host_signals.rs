//! Forwarding hull's own SIGINT, SIGTERM and SIGHUP to the sandbox.
//!
//! Once the VM is built, hull handles the three signals (one that hull started with
//! ignored, as under `nohup` or in a background job of a non-interactive shell, stays
//! ignored). The handler is async-signal-safe: it sets the signal's bit in [`STATE`] and
//! makes the vCPU leave the guest; the vCPU loop then raises
//! [`HOST_SIGNAL_VECTOR`](hull_arch::abi::HOST_SIGNAL_VECTOR) in the guest, and the guest
//! fetches (and clears) the mask with the `HostSignals` hypercall.
//!
//! # Reaching the vCPU
//! The vCPU thread is the only hull thread that does not block the three signals (other
//! threads are started with them blocked, see [`with_blocked`]), so the host kernel
//! delivers them there:
//! - inside KVM_RUN (guest running or halted), the pending signal makes KVM_RUN return
//!   EINTR;
//! - outside it (serving a hypercall, or between the loop's check and the next KVM_RUN),
//!   the handler sets `kvm_run.immediate_exit`, so the next KVM_RUN returns EINTR at once.
//!   The loop clears that flag before it looks at [`State::take_raise`], so no signal is
//!   lost between the two;
//! - a blocking host call of the hypercall server (`Read` of the terminal or a pipe,
//!   `Poll`) is interrupted (no `SA_RESTART`) and returns `-EINTR` to the guest, which
//!   learns why from the interrupt or by asking. A blocking `Write` keeps retrying (a
//!   short write would be visible to the program).
//!
//! This needs no thread of its own, no `tgkill` kick and no `KVM_SET_SIGNAL_MASK`: the
//! signal itself is the kick. The interrupt is an MSI to the in-kernel local APIC
//! (`KVM_SIGNAL_MSI`, which the split irqchip accepts), checked on `kvm_pvm`: it reaches
//! user code at once and wakes a halted vCPU.
//!
//! # Escalation
//! A guest that never reacts must not keep hull alive. hull ends (from a handler: the VM
//! dies with the process) with status 128 + the signal's number, as a process killed by
//! it, when
//! - a SIGINT or SIGTERM arrives while an earlier SIGINT/SIGTERM is still unfetched by the
//!   guest;
//! - a SIGINT or SIGTERM is still unfetched [`GRACE_S`] seconds after it arrived (an
//!   `alarm`, so a guest stuck in its kernel, or a host call that cannot be interrupted
//!   such as a write to a full pipe, does not need a second signal).
//!
//! A guest that fetched the signal may take as long as it likes to act on it, and gets
//! every later one too: a program that handles Ctrl-C (a shell, a REPL) sees each press,
//! as natively. SIGHUP never escalates; SIGQUIT and SIGKILL are not handled and kill hull
//! at once (Ctrl-\\ ends a program that ignores Ctrl-C, as natively).
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicU64, Ordering};

/// The signals hull forwards.
pub const FORWARDED: [libc::c_int; 3] = [libc::SIGHUP, libc::SIGINT, libc::SIGTERM];

/// The signals only the vCPU thread takes: the forwarded ones and the grace alarm's.
const VCPU_ONLY: [libc::c_int; 4] = [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGALRM];

/// Seconds the guest has to fetch a SIGINT/SIGTERM before hull ends.
pub const GRACE_S: u32 = 2;

/// The mask bit of signal `signo` (bit N-1 for signal N), 0 for a number outside 1..=64.
pub const fn bit(signo: libc::c_int) -> u64 {
    if signo >= 1 && signo <= 64 {
        1 << (signo - 1)
    } else {
        0
    }
}

/// The signals that escalate.
const TERMINATING: u64 = bit(libc::SIGINT) | bit(libc::SIGTERM);

/// The bookkeeping shared between the signal handler and the vCPU thread: plain atomics,
/// so the handler may touch it at any point of the thread it interrupts.
#[derive(Debug)]
pub struct State {
    /// Signals received since the guest last asked (`HostSignals`).
    pending: AtomicU64,
    /// A signal arrived since the vCPU loop last raised the interrupt.
    raise: AtomicBool,
    /// The number of the last SIGINT/SIGTERM.
    last_terminating: AtomicI32,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl State {
    pub const fn new() -> Self {
        State {
            pending: AtomicU64::new(0),
            raise: AtomicBool::new(false),
            last_terminating: AtomicI32::new(0),
        }
    }

    /// Records signal `signo`. Returns `true` when hull must end now (the escalation): a
    /// SIGINT/SIGTERM while an earlier one is still unfetched.
    pub fn record(&self, signo: libc::c_int) -> bool {
        let b = bit(signo);
        let before = self.pending.fetch_or(b, Ordering::AcqRel);
        self.raise.store(true, Ordering::Release);
        if b & TERMINATING == 0 {
            return false;
        }
        self.last_terminating.store(signo, Ordering::Release);
        before & TERMINATING != 0
    }

    /// The last SIGINT/SIGTERM, if the guest has not fetched it (nor a later one) yet.
    pub fn unfetched_terminating(&self) -> Option<libc::c_int> {
        (self.pending.load(Ordering::Acquire) & TERMINATING != 0)
            .then(|| self.last_terminating.load(Ordering::Acquire))
    }

    /// The signals received since the last call, as the guest's `HostSignals` gets them.
    pub fn take_pending(&self) -> u64 {
        self.pending.swap(0, Ordering::AcqRel)
    }

    /// [`take_pending`](Self::take_pending) for the guest: a SIGINT/SIGTERM it takes in
    /// time cancels the grace alarm. (A SIGINT/SIGTERM arriving meanwhile escalates at
    /// once: the one taken came less than the grace period ago.)
    pub fn take_for_guest(&self) -> u64 {
        let mask = self.take_pending();
        if mask & TERMINATING != 0 {
            // SAFETY: alarm touches no memory; 0 cancels the pending alarm.
            unsafe { libc::alarm(0) };
        }
        mask
    }

    /// Whether a signal arrived since the last call (the interrupt must be raised).
    pub fn take_raise(&self) -> bool {
        self.raise.swap(false, Ordering::AcqRel)
    }
}

/// The process's forwarding state (the signal handler's).
pub static STATE: State = State::new();

/// `kvm_run.immediate_exit` of the vCPU, while [`Kick`] is alive (else null).
static IMMEDIATE_EXIT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// Ends hull at once with status 128 + `signo`, after `msg` on stderr. Async-signal-safe.
fn die(signo: libc::c_int, msg: &[u8]) -> ! {
    // SAFETY: write and _exit are async-signal-safe; `msg` is a static byte string.
    unsafe {
        libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len());
        libc::_exit(128 + signo)
    }
}

/// The forwarded signals' handler: async-signal-safe (atomics, clock_gettime, alarm,
/// write, _exit), and it keeps the interrupted code's errno.
extern "C" fn on_signal(signo: libc::c_int) {
    // SAFETY: __errno_location returns this thread's errno cell, valid for its lifetime.
    let errno = unsafe { *libc::__errno_location() };
    if STATE.record(signo) {
        die(
            signo,
            if signo == libc::SIGINT {
                b"hull: SIGINT again and the sandbox has not ended: killed it\n"
            } else {
                b"hull: SIGTERM again and the sandbox has not ended: killed it\n"
            },
        );
    }
    if bit(signo) & TERMINATING != 0 {
        // SAFETY: alarm is async-signal-safe and touches no memory.
        unsafe { libc::alarm(GRACE_S) };
    }
    let p = IMMEDIATE_EXIT.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: a non-null pointer is `kvm_run.immediate_exit` of the vCPU, mapped for as long as the `Kick` that published it lives, which outlives every use on this (the only unblocked) thread; the byte is only ever accessed atomically by us.
        unsafe { AtomicU8::from_ptr(p) }.store(1, Ordering::Release);
    }
    // SAFETY: as above; restores the interrupted code's errno.
    unsafe { *libc::__errno_location() = errno };
}

/// The grace alarm's handler: ends hull if the guest has not fetched a SIGINT/SIGTERM.
extern "C" fn on_alarm(_: libc::c_int) {
    match STATE.unfetched_terminating() {
        Some(libc::SIGINT) => die(
            libc::SIGINT,
            b"hull: the sandbox did not take SIGINT within 2 s: killed it\n",
        ),
        Some(signo) => die(
            signo,
            b"hull: the sandbox did not take SIGTERM within 2 s: killed it\n",
        ),
        None => {}
    }
}

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value; sigemptyset/sigaddset only write it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn sigmask(how: libc::c_int, set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value for the out-parameter.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; pthread_sigmask cannot fail with a valid `how`.
    unsafe { libc::pthread_sigmask(how, set, &mut old) };
    old
}

fn set_handler(
    signo: libc::c_int,
    handler: extern "C" fn(libc::c_int),
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags).
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler as libc::sighandler_t;
    // The handlers exclude each other, so one runs at a time.
    act.sa_mask = sigset(&VCPU_ONLY);
    act.sa_flags = flags;
    // SAFETY: `act` is fully initialized and the handlers are async-signal-safe.
    if unsafe { libc::sigaction(signo, &act, std::ptr::null_mut()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Installs the handler for each forwarded signal that hull did not start with ignored,
/// and the grace alarm's. Returns the signals forwarded.
pub fn install() -> io::Result<Vec<libc::c_int>> {
    // SA_RESTART: the alarm interrupts no host call of the server that can restart.
    set_handler(libc::SIGALRM, on_alarm, libc::SA_RESTART)?;
    let mut handled = Vec::new();
    for signo in FORWARDED {
        // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags).
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `old`.
        if unsafe { libc::sigaction(signo, std::ptr::null(), &mut old) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if old.sa_sigaction == libc::SIG_IGN {
            continue;
        }
        // No SA_RESTART: a blocking host call of the server is interrupted too.
        set_handler(signo, on_signal, 0)?;
        handled.push(signo);
    }
    Ok(handled)
}

/// Runs `f` (which starts threads) with the forwarded signals (and SIGALRM) blocked in
/// this thread, so the threads it starts inherit them blocked and the signals reach only
/// the vCPU thread.
pub fn with_blocked<T>(f: impl FnOnce() -> T) -> T {
    let old = sigmask(libc::SIG_BLOCK, &sigset(&VCPU_ONLY));
    let r = f();
    sigmask(libc::SIG_SETMASK, &old);
    r
}

/// Unblocks the forwarded signals in the calling thread (the vCPU thread), whatever mask
/// hull inherited.
pub fn unblock_here() {
    sigmask(libc::SIG_UNBLOCK, &sigset(&VCPU_ONLY));
}

/// Publishes the vCPU's `kvm_run.immediate_exit` to the handler while alive.
#[derive(Debug)]
pub struct Kick(());

impl Kick {
    /// `immediate_exit` must point into the vCPU's `kvm_run` mapping and stay valid for the
    /// `Kick`'s lifetime; the `Kick` must live on the vCPU thread.
    pub fn new(immediate_exit: *mut u8) -> Kick {
        IMMEDIATE_EXIT.store(immediate_exit, Ordering::Release);
        Kick(())
    }

    /// Clears `immediate_exit`; call before [`State::take_raise`] and the next KVM_RUN.
    pub fn clear(&self) {
        let p = IMMEDIATE_EXIT.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: published by `new`, valid while `self` lives; accessed atomically.
            unsafe { AtomicU8::from_ptr(p) }.store(0, Ordering::Release);
        }
    }
}

impl Drop for Kick {
    fn drop(&mut self) {
        IMMEDIATE_EXIT.store(std::ptr::null_mut(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_signal_minus_one() {
        assert_eq!(bit(libc::SIGHUP), 1);
        assert_eq!(bit(libc::SIGINT), 2);
        assert_eq!(bit(libc::SIGTERM), 1 << 14);
        assert_eq!(bit(64), 1 << 63);
        assert_eq!(bit(0), 0);
        assert_eq!(bit(65), 0);
        assert_eq!(bit(-1), 0);
    }

    #[test]
    fn the_mask_accumulates_until_the_guest_asks() {
        let s = State::new();
        assert_eq!(s.take_pending(), 0);
        assert!(!s.take_raise());
        assert!(!s.record(libc::SIGHUP));
        assert!(s.take_raise(), "every arrival raises the interrupt");
        assert!(!s.take_raise(), "once");
        assert!(!s.record(libc::SIGHUP), "SIGHUP never escalates");
        assert!(!s.record(libc::SIGINT));
        assert!(s.take_raise());
        assert_eq!(s.take_pending(), bit(libc::SIGHUP) | bit(libc::SIGINT));
        assert_eq!(s.take_pending(), 0, "the call clears the mask");
        assert!(!s.record(libc::SIGTERM));
        assert_eq!(s.take_pending(), bit(libc::SIGTERM));
    }

    #[test]
    fn a_second_terminating_signal_escalates_only_when_the_guest_did_not_react() {
        // Unfetched: escalates.
        let s = State::new();
        assert!(!s.record(libc::SIGTERM));
        assert!(s.record(libc::SIGTERM));
        let s = State::new();
        assert!(!s.record(libc::SIGINT));
        assert!(!s.record(libc::SIGHUP));
        assert!(s.record(libc::SIGTERM), "SIGINT then SIGTERM");
        // Fetched: forwarded again, however soon (a program that handles Ctrl-C keeps
        // getting it).
        let s = State::new();
        for _ in 0..5 {
            assert!(!s.record(libc::SIGINT));
            assert_eq!(s.take_pending(), bit(libc::SIGINT));
        }
        // A SIGHUP in between is no reason.
        let s = State::new();
        assert!(!s.record(libc::SIGHUP));
        assert!(!s.record(libc::SIGTERM));
    }

    #[test]
    fn the_grace_alarm_sees_only_unfetched_terminating_signals() {
        let s = State::new();
        assert_eq!(s.unfetched_terminating(), None);
        s.record(libc::SIGHUP);
        assert_eq!(
            s.unfetched_terminating(),
            None,
            "SIGHUP has no grace period"
        );
        s.record(libc::SIGTERM);
        assert_eq!(s.unfetched_terminating(), Some(libc::SIGTERM));
        s.take_pending();
        assert_eq!(s.unfetched_terminating(), None, "fetched in time");
        s.record(libc::SIGINT);
        assert_eq!(s.unfetched_terminating(), Some(libc::SIGINT));
    }

    #[test]
    fn with_blocked_restores_the_mask() {
        let before = sigmask(libc::SIG_BLOCK, &sigset(&[]));
        let inside = with_blocked(|| sigmask(libc::SIG_BLOCK, &sigset(&[])));
        let after = sigmask(libc::SIG_BLOCK, &sigset(&[]));
        for s in VCPU_ONLY {
            // SAFETY: the sets are valid sigset_t values.
            unsafe {
                assert_eq!(libc::sigismember(&inside, s), 1);
                assert_eq!(libc::sigismember(&after, s), libc::sigismember(&before, s));
            }
        }
    }
}
