//! Signal state: dispositions, the blocked mask and pending signals, with Linux's default
//! actions and its rules (SIGKILL and SIGSTOP cannot be caught, blocked or ignored).

pub const SIGHUP: u32 = 1;
pub const SIGINT: u32 = 2;
pub const SIGQUIT: u32 = 3;
pub const SIGILL: u32 = 4;
pub const SIGTRAP: u32 = 5;
pub const SIGABRT: u32 = 6;
pub const SIGBUS: u32 = 7;
pub const SIGFPE: u32 = 8;
pub const SIGKILL: u32 = 9;
pub const SIGUSR1: u32 = 10;
pub const SIGSEGV: u32 = 11;
pub const SIGUSR2: u32 = 12;
pub const SIGPIPE: u32 = 13;
pub const SIGALRM: u32 = 14;
pub const SIGTERM: u32 = 15;
pub const SIGSTKFLT: u32 = 16;
pub const SIGCHLD: u32 = 17;
pub const SIGCONT: u32 = 18;
pub const SIGSTOP: u32 = 19;
pub const SIGTSTP: u32 = 20;
pub const SIGTTIN: u32 = 21;
pub const SIGTTOU: u32 = 22;
pub const SIGURG: u32 = 23;
pub const SIGXCPU: u32 = 24;
pub const SIGXFSZ: u32 = 25;
pub const SIGVTALRM: u32 = 26;
pub const SIGPROF: u32 = 27;
pub const SIGWINCH: u32 = 28;
pub const SIGIO: u32 = 29;
pub const SIGPWR: u32 = 30;
pub const SIGSYS: u32 = 31;
/// Signals are 1..=NSIG.
pub const NSIG: u32 = 64;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// The name of a signal, as `kill -l` and the host's note print it.
pub use hull_arch::abi::signal_name as name;

/// What a signal does when its disposition is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    CoreDump,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::CoreDump,
        _ => DefaultAction::Terminate,
    }
}

fn bit(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// Signals that can never be blocked.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// `struct k_sigaction` as the kernel ABI has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// A process's signal state.
#[derive(Clone, Debug)]
pub struct SignalState {
    actions: [SigAction; NSIG as usize],
    pub blocked: u64,
    pub pending: u64,
    /// The siginfo of each pending standard signal (one instance per signal, as Linux
    /// keeps them).
    info: [crate::sigframe::SigInfo; NSIG as usize],
    /// Real-time signals (32 and up) queue every instance, in order.
    queue: alloc::collections::VecDeque<crate::sigframe::SigInfo>,
    /// Signals a sigtimedwait is waiting for (they wake the task even while blocked).
    pub waiting_for: u64,
}

/// Most queued real-time signals (RLIMIT_SIGPENDING's default).
pub const MAX_QUEUED: usize = 4096;
/// The first real-time signal.
pub const SIGRT_FIRST: u32 = 32;

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG as usize],
            blocked: 0,
            pending: 0,
            info: [Default::default(); NSIG as usize],
            queue: alloc::collections::VecDeque::new(),
            waiting_for: 0,
        }
    }
}

/// `sa_flags` bits.
pub const SA_SIGINFO: u64 = 4;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// Whether `sig` is a valid signal number.
pub fn valid(sig: u32) -> bool {
    (1..=NSIG).contains(&sig)
}

/// What delivering a signal amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing happens.
    Ignore,
    /// The default action ends the process (core dump or not).
    Kill,
    /// The default action stops or continues the process.
    StopOrContinue,
    /// A user handler runs.
    Handler(SigAction),
}

impl SignalState {
    /// `rt_sigaction`: returns the old action.
    pub fn set_action(
        &mut self,
        sig: u32,
        new: Option<SigAction>,
    ) -> Result<SigAction, crate::errno::Errno> {
        if !valid(sig) || (new.is_some() && (sig == SIGKILL || sig == SIGSTOP)) {
            return Err(crate::errno::Errno::EINVAL);
        }
        let old = self.actions[sig as usize - 1];
        if let Some(mut a) = new {
            a.mask &= !UNBLOCKABLE;
            self.actions[sig as usize - 1] = a;
            // Setting SIG_IGN (or SIG_DFL of an ignored-by-default signal) discards pending ones.
            if self.delivery(sig) == Delivery::Ignore {
                self.pending &= !bit(sig);
            }
        }
        Ok(old)
    }

    pub fn action(&self, sig: u32) -> SigAction {
        self.actions[sig as usize - 1]
    }

    /// `rt_sigprocmask`: `how` is SIG_BLOCK (0), SIG_UNBLOCK (1) or SIG_SETMASK (2).
    pub fn procmask(&mut self, how: u64, set: Option<u64>) -> Result<u64, crate::errno::Errno> {
        let old = self.blocked;
        if let Some(set) = set {
            self.blocked = match how {
                0 => old | set,
                1 => old & !set,
                2 => set,
                _ => return Err(crate::errno::Errno::EINVAL),
            } & !UNBLOCKABLE;
        }
        Ok(old)
    }

    /// What `sig` would do now.
    pub fn delivery(&self, sig: u32) -> Delivery {
        let a = self.actions[sig as usize - 1];
        match a.handler {
            SIG_IGN if sig != SIGKILL && sig != SIGSTOP => Delivery::Ignore,
            SIG_DFL | SIG_IGN => match default_action(sig) {
                DefaultAction::Ignore => Delivery::Ignore,
                DefaultAction::Terminate | DefaultAction::CoreDump => Delivery::Kill,
                DefaultAction::Stop | DefaultAction::Continue => Delivery::StopOrContinue,
            },
            _ => Delivery::Handler(a),
        }
    }

    /// Makes `sig` pending unless it would be ignored.
    pub fn raise(&mut self, sig: u32) {
        self.raise_with(crate::sigframe::SigInfo {
            signo: sig,
            ..Default::default()
        });
    }

    /// Makes `info.signo` pending with its siginfo, unless it would be ignored.
    pub fn raise_with(&mut self, info: crate::sigframe::SigInfo) {
        let _ = self.queue_signal(info);
    }

    /// Like [`Self::raise_with`]; false when a real-time signal finds the queue full.
    pub fn queue_signal(&mut self, info: crate::sigframe::SigInfo) -> bool {
        let sig = info.signo;
        if self.delivery(sig) == Delivery::Ignore && self.blocked & bit(sig) == 0 {
            return true;
        }
        if sig >= SIGRT_FIRST {
            if self.queue.len() >= MAX_QUEUED {
                return false;
            }
            self.queue.push_back(info);
            self.pending |= bit(sig);
        } else if self.pending & bit(sig) == 0 {
            self.pending |= bit(sig);
            self.info[sig as usize - 1] = info;
        }
        true
    }

    /// Takes pending signal `sig` (the oldest instance of a real-time one).
    fn take(&mut self, sig: u32) -> crate::sigframe::SigInfo {
        if sig >= SIGRT_FIRST {
            let i = self
                .queue
                .iter()
                .position(|q| q.signo == sig)
                .expect("a pending real-time signal is queued");
            let info = self.queue.remove(i).expect("index exists");
            if !self.queue.iter().any(|q| q.signo == sig) {
                self.pending &= !bit(sig);
            }
            info
        } else {
            self.pending &= !bit(sig);
            self.info[sig as usize - 1]
        }
    }

    /// Adds `n` overruns to a pending expiry of POSIX timer `id` (its siginfo carries
    /// si_overrun where a sent signal has si_uid); false if none is pending.
    pub fn bump_timer_overrun(&mut self, sig: u32, id: u32, n: u32) -> bool {
        if self.pending & bit(sig) == 0 {
            return false;
        }
        let timer = |i: &crate::sigframe::SigInfo| {
            i.signo == sig && i.code == crate::sigframe::code::SI_TIMER && i.pid == id
        };
        if sig >= SIGRT_FIRST {
            if let Some(q) = self.queue.iter_mut().find(|q| timer(q)) {
                q.uid = q.uid.saturating_add(n);
                return true;
            }
            return false;
        }
        let i = &mut self.info[sig as usize - 1];
        if timer(i) {
            i.uid = i.uid.saturating_add(n);
            return true;
        }
        false
    }

    /// Exchanges the handlers with `other` (tasks sharing them take turns holding them).
    pub fn swap_actions(&mut self, other: &mut SignalState) {
        core::mem::swap(&mut self.actions, &mut other.actions);
    }

    /// Queued real-time signals.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Takes the lowest pending signal of `set` (sigtimedwait).
    pub fn take_from(&mut self, set: u64) -> Option<crate::sigframe::SigInfo> {
        let ready = self.pending & set;
        (ready != 0).then(|| self.take(ready.trailing_zeros() + 1))
    }

    /// Whether a pending signal is not blocked, or is one a sigtimedwait waits for (a
    /// blocked task must wake for it).
    pub fn wants_attention(&self) -> bool {
        self.pending & (!self.blocked | self.waiting_for) != 0
    }

    /// Takes the lowest pending, unblocked signal and its siginfo.
    pub fn take_deliverable(&mut self) -> Option<crate::sigframe::SigInfo> {
        let ready = self.pending & !self.blocked;
        if ready == 0 {
            return None;
        }
        Some(self.take(ready.trailing_zeros() + 1))
    }

    /// A synchronous fault: like Linux's force_sig, a blocked or ignored signal is
    /// unblocked and reset to its default action so the fault cannot loop.
    pub fn force(&mut self, info: crate::sigframe::SigInfo) {
        let sig = info.signo;
        let a = &mut self.actions[sig as usize - 1];
        if a.handler == SIG_IGN || self.blocked & bit(sig) != 0 {
            a.handler = SIG_DFL;
            self.blocked &= !bit(sig);
        }
        self.pending |= bit(sig);
        self.info[sig as usize - 1] = info;
    }

    /// Every action back to SIG_DFL (a placeholder for shared handlers).
    pub fn reset_all_actions(&mut self) {
        self.actions = [SigAction::default(); NSIG as usize];
    }

    /// execve: handled signals go back to SIG_DFL; ignored ones stay ignored.
    pub fn reset_handlers(&mut self) {
        for a in self.actions.iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }

    /// Resets a handler to SIG_DFL (SA_RESETHAND).
    pub fn reset(&mut self, sig: u32) {
        self.actions[sig as usize - 1] = SigAction::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_and_stop_cannot_be_caught_or_blocked() {
        let mut s = SignalState::default();
        assert!(
            s.set_action(
                SIGKILL,
                Some(SigAction {
                    handler: 0x1000,
                    ..Default::default()
                })
            )
            .is_err()
        );
        s.procmask(2, Some(u64::MAX)).unwrap();
        assert_eq!(s.blocked & UNBLOCKABLE, 0);
        s.raise(SIGKILL);
        assert_eq!(s.take_deliverable().map(|i| i.signo), Some(SIGKILL));
    }

    #[test]
    fn blocked_signals_wait_and_ignored_ones_vanish() {
        let mut s = SignalState::default();
        s.procmask(0, Some(bit(SIGTERM))).unwrap();
        s.raise(SIGTERM);
        assert_eq!(s.take_deliverable(), None);
        s.procmask(1, Some(bit(SIGTERM))).unwrap();
        assert_eq!(s.take_deliverable().map(|i| i.signo), Some(SIGTERM));
        s.raise(SIGCHLD);
        assert_eq!(s.pending, 0);
        s.set_action(
            SIGUSR1,
            Some(SigAction {
                handler: SIG_IGN,
                ..Default::default()
            }),
        )
        .unwrap();
        s.raise(SIGUSR1);
        assert_eq!(s.take_deliverable(), None);
        assert_eq!(s.delivery(SIGSEGV), Delivery::Kill);
    }

    #[test]
    fn forced_faults_override_blocking_and_ignoring() {
        let mut s = SignalState::default();
        s.set_action(
            SIGSEGV,
            Some(SigAction {
                handler: SIG_IGN,
                ..Default::default()
            }),
        )
        .unwrap();
        s.procmask(0, Some(bit(SIGSEGV))).unwrap();
        s.force(crate::sigframe::SigInfo {
            signo: SIGSEGV,
            addr: 8,
            ..Default::default()
        });
        assert_eq!(
            s.take_deliverable().map(|i| (i.signo, i.addr)),
            Some((SIGSEGV, 8))
        );
        assert_eq!(s.delivery(SIGSEGV), Delivery::Kill);
    }
}
