//! Tasks and the scheduler.
//!
//! The kernel runs every syscall and trap to completion on its one kernel stack, so a
//! task that must wait is never suspended inside the kernel. Instead its syscall is
//! *restarted*: the handler records what it waits for and returns [`BLOCKED`]; the
//! dispatcher rewinds the user `rip` onto the `syscall` instruction and leaves `rax` the
//! syscall number (as Linux's `-ERESTARTSYS` path does), and the task is switched out.
//! When something it waits for happens it becomes runnable, and returning to it simply
//! executes the syscall again, which then completes or waits again. A signal that arrives
//! meanwhile either restarts the syscall after its handler (SA_RESTART) or turns it into
//! `EINTR`, decided when the handler frame is built. Switching tasks is therefore just
//! exchanging the saved user context (registers, FPU state, FS/GS base, page table).
use alloc::collections::VecDeque;

use hull_arch::trapframe::TrapFrame;

use crate::errno::Errno;
use crate::platform;
use crate::process::{Kernel, Process};

/// What a syscall returns when its task must wait (never seen by user code).
pub const BLOCKED: Errno = Errno(-512);

/// A time slice before another runnable task gets the CPU.
pub const SLICE_NS: u64 = 10_000_000;

/// What a blocked task waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Only its wake-up time (or a signal).
    Sleep,
    /// A pipe (by the address of its shared state) to become readable or writable.
    Pipe(usize),
    /// One of several descriptors (poll/select): any pipe change, or the host's stdio.
    Poll,
    /// A child to change state (wait4/waitid).
    Child,
    /// A futex word (address space id, address).
    Futex(usize, u64),
    /// Only a signal (pause, sigsuspend, sigtimedwait).
    Signal,
    /// A vfork child to exec or exit.
    Vfork(u32),
    /// A file lock to be released.
    Lock,
    /// The host's stdio to become ready (the handles are in `Process::host_wait`).
    Host,
}

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Runnable,
    Blocked(Wait),
    /// Stopped by a signal (job control).
    Stopped,
    /// Exited; the wait status stays until the parent reaps it.
    Zombie,
}

/// The run queue and the pid allocator.
#[derive(Debug, Default)]
pub struct Scheduler {
    pub queue: VecDeque<u32>,
    pub next_pid: u32,
    /// Most tasks at once (`--pids`).
    pub max_tasks: u32,
    /// When the current task's slice ends (CLOCK_MONOTONIC ns).
    pub slice_end: u64,
    /// Changes of any pipe or eventfd so far (edge-triggered epoll, see `syscall::epoll`).
    pub io_events: u64,
}

impl Kernel {
    /// Number of tasks that exist (zombies included, as Linux counts them).
    pub fn task_count(&self) -> usize {
        1 + self.others.len()
    }

    /// The process with `pid`, current or not.
    pub fn process(&self, pid: u32) -> Option<&Process> {
        if self.proc.pid == pid {
            Some(&self.proc)
        } else {
            self.others.get(&pid)
        }
    }

    /// The process with `pid`, current or not, mutably.
    pub fn process_mut(&mut self, pid: u32) -> Option<&mut Process> {
        if self.proc.pid == pid {
            Some(&mut self.proc)
        } else {
            self.others.get_mut(&pid)
        }
    }

    /// Makes a blocked or stopped task runnable.
    pub fn make_runnable(&mut self, pid: u32) {
        let current = self.proc.pid == pid;
        let Some(p) = self.process_mut(pid) else {
            return;
        };
        if matches!(p.state, TaskState::Blocked(_) | TaskState::Stopped) {
            p.state = TaskState::Runnable;
            p.wake_at = 0;
            if !current {
                self.sched.queue.push_back(pid);
            }
        }
    }

    /// Ends the syscall blocked task `pid` waits in with `result` and makes it runnable:
    /// the task resumes after its `syscall` instead of executing it again, which spares a
    /// user/kernel round trip per wake-up (a world switch under PVM). For waits whose
    /// wake-up is their whole result (a futex wake returns 0). Under `--strace` the call is
    /// left to restart, so its result is still logged where it is made.
    pub fn complete_blocked(&mut self, pid: u32, result: u64) {
        let strace = self.strace;
        let Some(p) = self.others.get_mut(&pid) else {
            return;
        };
        if !matches!(p.state, TaskState::Blocked(_)) {
            return;
        }
        if strace || p.in_syscall.is_none() {
            p.woken = true;
        } else {
            p.frame.rip += 2;
            p.frame.rax = result;
            p.in_syscall = None;
            p.restart_deadline = None;
            p.woken = false;
            p.host_wait.clear();
            p.sleep_rem = None;
        }
        self.make_runnable(pid);
    }

    /// Wakes every task blocked on something `which` accepts.
    pub fn wake_where(&mut self, which: impl Fn(&Wait) -> bool) {
        let pids: alloc::vec::Vec<u32> = self
            .others
            .values()
            .filter(|p| matches!(p.state, TaskState::Blocked(w) if which(&w)))
            .map(|p| p.pid)
            .collect();
        for pid in pids {
            if let Some(p) = self.others.get_mut(&pid) {
                p.woken = true;
            }
            self.make_runnable(pid);
        }
    }

    /// Blocks the current task on `wait` (until `wake_at`, CLOCK_MONOTONIC ns, if not 0);
    /// the syscall returns [`BLOCKED`].
    pub fn block(&mut self, wait: Wait, wake_at: u64) -> Errno {
        self.proc.state = TaskState::Blocked(wait);
        self.proc.wake_at = wake_at;
        BLOCKED
    }

    /// Wakes tasks whose wake-up time passed, and raises expired interval timers.
    pub fn expire_timers(&mut self) {
        let now = self.clock.monotonic();
        let due: alloc::vec::Vec<u32> = core::iter::once(&self.proc)
            .chain(self.others.values())
            .filter(|p| {
                matches!(p.state, TaskState::Blocked(_)) && p.wake_at != 0 && p.wake_at <= now
            })
            .map(|p| p.pid)
            .collect();
        for pid in due {
            self.make_runnable(pid);
        }
        crate::syscall::time::check_timers(self);
    }

    /// The earliest time anything is due: a wake-up or an interval timer (0 = none).
    pub fn next_deadline(&self) -> u64 {
        core::iter::once(&self.proc)
            .chain(self.others.values())
            .flat_map(|p| {
                let wake = if matches!(p.state, TaskState::Blocked(_)) {
                    p.wake_at
                } else {
                    0
                };
                [wake, p.itimer.deadline]
            })
            .chain([crate::syscall::timers::next_deadline(self)])
            .filter(|&d| d != 0)
            .min()
            .unwrap_or(0)
    }
}

/// Picks the task to return to user mode with: keeps the current one if it can run and its
/// slice has not ended (or nobody else can run), else switches. When nothing can run, the
/// vCPU idles until a wake-up time, a host event or an interrupt.
pub fn schedule(k: &mut Kernel, frame: &mut TrapFrame) {
    if k.others.is_empty() && k.proc.state == TaskState::Runnable {
        // The common case of one task that can run: only its timers matter.
        if k.proc.itimer.deadline != 0 || !k.proc.timers.is_empty() {
            crate::syscall::time::check_timers(k);
        }
        return;
    }
    loop {
        k.expire_timers();
        // A signal that is already pending wakes its task at once.
        wake_signalled(k);
        let runnable = k.proc.state == TaskState::Runnable;
        let now = k.clock.monotonic();
        let slice_over = now >= k.sched.slice_end;
        if runnable && (k.sched.queue.is_empty() || !slice_over) {
            return;
        }
        // The next queued task that can still run.
        while let Some(pid) = k.sched.queue.pop_front() {
            if k.others
                .get(&pid)
                .is_some_and(|p| p.state == TaskState::Runnable)
            {
                if runnable {
                    k.sched.queue.push_back(k.proc.pid);
                }
                switch_to(k, frame, pid);
                k.sched.slice_end = k.clock.monotonic() + SLICE_NS;
                return;
            }
        }
        if runnable {
            k.sched.slice_end = now + SLICE_NS;
            return;
        }
        idle(k);
    }
}

/// Kinds of resources tasks may share (clone's CLONE_VM, CLONE_FILES, CLONE_SIGHAND).
pub const RES_VM: u8 = 0;
pub const RES_FILES: u8 = 1;
pub const RES_SIGHAND: u8 = 2;

/// The group of `p` that shares resource `r`.
pub fn group_of(p: &Process, r: u8) -> u32 {
    match r {
        RES_VM => p.vm_group,
        RES_FILES => p.files_group,
        _ => p.sighand_group,
    }
}

/// The task whose fields hold `pid`'s resource `r` (its own, or the member of its group
/// that holds the shared one).
pub fn holder_of(k: &Kernel, pid: u32, r: u8) -> Option<&Process> {
    let p = k.process(pid)?;
    match k.holders.get(&(r, group_of(p, r))) {
        Some(&h) => k.process(h),
        None => Some(p),
    }
}

/// Moves resource `r` from one task to the other (the giver keeps the receiver's
/// placeholder).
pub fn swap_resource(a: &mut Process, b: &mut Process, r: u8) {
    match r {
        RES_VM => core::mem::swap(&mut a.aspace, &mut b.aspace),
        RES_FILES => core::mem::swap(&mut a.fds, &mut b.fds),
        _ => a.signals.swap_actions(&mut b.signals),
    }
}

/// Makes the running task hold the resources it shares with others. A shared address
/// space, descriptor table or handler table lives in exactly one of the tasks sharing it
/// (its holder; the others keep an empty placeholder), and moves to whichever runs, so
/// the running task always reaches them through its own fields.
fn claim(k: &mut Kernel, outgoing: &mut Process) {
    for r in [RES_VM, RES_FILES, RES_SIGHAND] {
        let g = group_of(&k.proc, r);
        let Some(&h) = k.holders.get(&(r, g)) else {
            continue;
        };
        if h == k.proc.pid {
            continue;
        }
        if h == outgoing.pid {
            swap_resource(outgoing, &mut k.proc, r);
        } else if let Some(hp) = k.others.get_mut(&h) {
            swap_resource(hp, &mut k.proc, r);
        }
        k.holders.insert((r, g), k.proc.pid);
    }
}

/// Before the running task exits: hands each resource it shares to another live task
/// of the group (or forgets the group when nobody else is in it).
pub fn hand_over(k: &mut Kernel) {
    for r in [RES_VM, RES_FILES, RES_SIGHAND] {
        let g = group_of(&k.proc, r);
        hand_over_one(k, r, g);
    }
}

/// The running task stops sharing resource `r` (execve): the shared one goes to another
/// member, and the task gets a group of its own (with the placeholder it then holds).
pub fn leave_group(k: &mut Kernel, r: u8) {
    let g = group_of(&k.proc, r);
    if k.holders.contains_key(&(r, g)) {
        hand_over_one(k, r, g);
    }
    let own = k.proc.pid;
    match r {
        RES_VM => k.proc.vm_group = own,
        RES_FILES => k.proc.files_group = own,
        _ => k.proc.sighand_group = own,
    }
}

fn hand_over_one(k: &mut Kernel, r: u8, g: u32) {
    if k.holders.get(&(r, g)) != Some(&k.proc.pid) {
        return;
    }
    let heir = k
        .others
        .values()
        .find(|p| group_of(p, r) == g && p.state != TaskState::Zombie)
        .map(|p| p.pid);
    match heir {
        Some(h) => {
            let hp = k.others.get_mut(&h).expect("found above");
            swap_resource(hp, &mut k.proc, r);
            k.holders.insert((r, g), h);
        }
        None => {
            k.holders.remove(&(r, g));
        }
    }
}

/// Saves the current task's user context and loads `next`'s.
fn switch_to(k: &mut Kernel, frame: &mut TrapFrame, next: u32) {
    let Some(mut incoming) = k.others.remove(&next) else {
        return;
    };
    crate::stats::TASK_SWITCHES.add();
    k.proc.frame = *frame;
    platform::xsave(&mut k.proc.fpu, k.machine.xcr0);
    let outgoing_bases = (k.proc.fs_base, k.proc.gs_base);
    // FS/GS bases change only through the kernel (no FSGSBASE for user code), so the
    // task's own fields are current and the MSRs need no reading.
    core::mem::swap(&mut k.proc, &mut incoming);
    let mut outgoing = incoming;
    claim(k, &mut outgoing);
    if outgoing.autoreap {
        outgoing.aspace.destroy(&mut k.frames);
    } else {
        k.others.insert(outgoing.pid, outgoing);
    }
    *frame = k.proc.frame;
    platform::xrstor(&k.proc.fpu, k.machine.xcr0);
    // Each of these is a hypercall under PVM: skip what does not change (threads share
    // the page table; most tasks have GS base 0).
    if k.proc.fs_base != outgoing_bases.0 {
        platform::set_fs_base(k.proc.fs_base);
    }
    if k.proc.gs_base != outgoing_bases.1 {
        platform::set_user_gs_base(k.proc.gs_base);
    }
    if k.proc.aspace.pt.root() != platform::loaded_root() {
        crate::stats::PAGE_TABLE_SWITCHES.add();
        platform::load_cr3(k.proc.aspace.pt.root());
    }
}

/// Nothing can run: wait for the earliest deadline, a host event or an interrupt. Host
/// stdio waits are a host `Poll` (which is also how the vCPU waits); otherwise the vCPU
/// halts with the APIC timer armed.
fn idle(k: &mut Kernel) {
    let deadline = k.next_deadline();
    let host: alloc::vec::Vec<(u32, u64, u16)> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| matches!(p.state, TaskState::Blocked(_)))
        .flat_map(|p| p.host_wait.iter().map(move |&(h, e)| (p.pid, h, e)))
        .collect();
    let before = k.clock.monotonic();
    if host.is_empty() {
        let wait_until = if deadline == 0 { u64::MAX } else { deadline };
        crate::syscall::time::halt_until(k, wait_until);
    } else {
        let mut entries: alloc::vec::Vec<hull_arch::abi::PollEntry> = host
            .iter()
            .map(|&(_, handle, events)| hull_arch::abi::PollEntry {
                handle,
                events,
                ..Default::default()
            })
            .collect();
        let timeout = if deadline == 0 {
            1_000_000_000
        } else {
            deadline.saturating_sub(before).clamp(1, 1_000_000_000)
        };
        let polled = crate::hypercall::poll(&mut entries, timeout);
        if polled == Err(Errno::EINTR) {
            crate::trap::host_interrupted(k);
        }
        if polled.is_ok() {
            for (e, &(pid, _, _)) in entries.iter().zip(&host) {
                if e.revents != 0 {
                    if let Some(p) = k.process_mut(pid) {
                        p.woken = true;
                    }
                    k.make_runnable(pid);
                }
            }
        }
    }
    k.machine.idle_ns += k.clock.monotonic().saturating_sub(before);
    crate::trap::deliver_host_signals(k);
    // A signal may have arrived for a blocked task (host signals, timers).
    wake_signalled(k);
}

/// Wakes blocked tasks that have a signal to act on.
pub fn wake_signalled(k: &mut Kernel) {
    let pids: alloc::vec::Vec<u32> = core::iter::once(&k.proc)
        .chain(k.others.values())
        .filter(|p| matches!(p.state, TaskState::Blocked(_)) && p.signals.wants_attention())
        .map(|p| p.pid)
        .collect();
    for pid in pids {
        k.make_runnable(pid);
    }
}

/// The other tasks of the running task's thread group.
pub fn other_threads(k: &Kernel) -> alloc::vec::Vec<u32> {
    let (me, tgid) = (k.proc.pid, k.proc.tgid);
    k.others
        .values()
        .filter(|p| p.tgid == tgid && p.pid != me)
        .map(|p| p.pid)
        .collect()
}
