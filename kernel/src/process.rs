//! The process and the kernel state it lives in. Today there is one process with one
//! thread; the shape (pid, fd table, signal state, address space) is what fork and
//! threads will multiply.
use alloc::vec::Vec;

use alloc::boxed::Box;

use hull_arch::trapframe::TrapFrame;

use crate::errno::Errno;
use crate::fd::FdTable;
use crate::mm::aspace::AddressSpace;
use crate::mm::frame::FrameAllocator;
use crate::mm::paging::PageTable;
use crate::mm::uaccess;
use crate::platform::XsaveArea;
use crate::random::Rng;
use crate::sched::{Scheduler, TaskState};
use crate::signal::SignalState;
use crate::time::Clock;

/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Number of resource limits Linux has.
pub const RLIM_NLIMITS: usize = 16;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;

/// A soft and hard limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

/// Linux's defaults for a process started from a login shell.
pub fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let inf = Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    };
    let mut r = [inf; RLIM_NLIMITS];
    r[RLIMIT_STACK] = Rlimit {
        cur: 8 << 20,
        max: RLIM_INFINITY,
    };
    r[4] = Rlimit {
        cur: 0,
        max: RLIM_INFINITY,
    }; // RLIMIT_CORE
    r[6] = Rlimit {
        cur: 4096,
        max: 4096,
    }; // RLIMIT_NPROC
    r[RLIMIT_NOFILE] = Rlimit {
        cur: 1024,
        max: 4096,
    };
    r[8] = Rlimit {
        cur: 8 << 20,
        max: 8 << 20,
    }; // RLIMIT_MEMLOCK
    r[11] = Rlimit {
        cur: 4096,
        max: 4096,
    }; // RLIMIT_SIGPENDING
    r[12] = Rlimit {
        cur: 819200,
        max: 819200,
    }; // RLIMIT_MSGQUEUE
    r[13] = Rlimit { cur: 0, max: 0 }; // RLIMIT_NICE
    r[14] = Rlimit { cur: 0, max: 0 }; // RLIMIT_RTPRIO
    r
}

/// `sigaltstack` state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: u32,
    pub size: u64,
}

/// The ITIMER_REAL timer: next expiry (CLOCK_MONOTONIC ns, 0 = disarmed) and period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ITimer {
    pub deadline: u64,
    pub interval: u64,
}

/// A process (one thread for now).
#[derive(Debug)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub aspace: AddressSpace,
    pub fds: FdTable,
    pub signals: SignalState,
    pub altstack: AltStack,
    pub clear_child_tid: u64,
    pub robust_list: (u64, u64),
    pub rlimits: [Rlimit; RLIM_NLIMITS],
    /// The program's path in the guest (for /proc/self/exe).
    pub exe_path: Vec<u8>,
    /// The program file as loaded in guest memory (guest-physical start, length): what
    /// /proc/PID/exe opens.
    pub image: (u64, u64),
    /// CLOCK_MONOTONIC when the process started.
    pub start_ns: u64,
    pub itimer: ITimer,
    /// argv and envp as NUL-terminated strings (for /proc/self/cmdline and environ).
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    /// PR_SET_NAME's name (empty = the executable's base name).
    pub comm: Vec<u8>,
    /// Process group and session.
    pub pgid: u32,
    pub sid: u32,
    /// Running, blocked, stopped or exited (see `sched`).
    pub state: TaskState,
    /// When a blocked task wakes by itself (CLOCK_MONOTONIC ns, 0 = never).
    pub wake_at: u64,
    /// Set when an event it waited for woke it (a futex wake says so, for instance).
    pub woken: bool,
    /// Host stdio handles (and poll events) a blocked task waits on.
    pub host_wait: Vec<(u64, u16)>,
    /// The absolute deadline of a timed wait, kept across its restarts.
    pub restart_deadline: Option<u64>,
    /// The syscall whose `rip` was rewound because the task blocked in it.
    pub in_syscall: Option<u64>,
    /// The signal mask to restore after a sigsuspend's handler.
    pub saved_mask: Option<u64>,
    /// The user context while the task is not running.
    pub frame: TrapFrame,
    pub fpu: Box<XsaveArea>,
    pub fs_base: u64,
    pub gs_base: u64,
    /// The working directory and umask, shared with the tasks clone(CLONE_FS) links.
    pub fs: SharedFs,
    pub children: Vec<u32>,
    /// A state change its parent has not collected with wait: exit, stop or continue.
    pub report: Option<ChildReport>,
    /// The signal sent to the parent on exit (SIGCHLD, or clone's choice).
    pub exit_signal: u32,
    /// A vfork parent waits for this child to exec or exit.
    pub vfork_parent: Option<u32>,
    /// Nice value (recorded for getpriority/setpriority).
    pub nice: i32,
    /// It has called execve (its parent may no longer change its group).
    pub did_exec: bool,
    /// Exited with nobody to wait for it (SIGCHLD ignored): freed when switched out.
    pub autoreap: bool,
    /// Where an interrupted relative sleep reports the time left: (user pointer, deadline).
    pub sleep_rem: Option<(u64, u64)>,
    /// Bytes a blocked pipe write already wrote (kept across its restarts).
    pub io_progress: u64,
    /// The FUTEX_WAIT_BITSET mask of a task waiting on a futex.
    pub futex_bitset: u32,
    /// Thread group (the process's pid; getpid), and the groups that share the address
    /// space, the descriptor table and the signal handlers (see `sched::claim`).
    pub tgid: u32,
    pub vm_group: u32,
    pub files_group: u32,
    pub sighand_group: u32,
    /// Scheduling policy and real-time priority (recorded; one CPU, one policy in effect).
    pub sched_policy: (u32, u32),
    /// POSIX timers (timer_create).
    pub timers: Vec<crate::syscall::timers::PosixTimer>,
}

/// The working directory and umask (Linux's `fs_struct`).
#[derive(Clone, Debug)]
pub struct FsContext {
    pub cwd: crate::vfs::Loc,
    pub umask: u32,
}

/// An [`FsContext`] that tasks may share (CLONE_FS); one vCPU, so the lock never waits.
pub type SharedFs = alloc::sync::Arc<spin::Mutex<FsContext>>;

impl FsContext {
    /// A context of its own, as a task gets without CLONE_FS.
    pub fn shared(self) -> SharedFs {
        alloc::sync::Arc::new(spin::Mutex::new(self))
    }
}

/// What a parent learns from wait about a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildReport {
    /// Exited or killed: the wait status word.
    Exited(u32),
    /// Stopped by a signal.
    Stopped(u32),
    Continued,
}

/// Identity and sizes fixed at boot.
#[derive(Clone, Copy, Debug)]
pub struct Machine {
    pub uid: u32,
    pub gid: u32,
    pub ram_size: u64,
    /// Nanoseconds the vCPU spent halted (idle), for CPU-time clocks.
    pub idle_ns: u64,
    pub tsc_deadline: bool,
    /// XCR0 (0 without XSAVE) and the XSAVE area size for signal frames.
    pub xcr0: u64,
    pub xsave_size: u32,
    /// Last inode number handed out for in-guest objects.
    pub next_ino: u64,
    /// The TSC deadline the APIC timer is armed with (0 = off).
    pub armed_tsc: u64,
}

/// All kernel state, behind one lock.
#[derive(Debug)]
pub struct Kernel {
    pub frames: FrameAllocator,
    pub kernel_pt: PageTable,
    pub proc: Process,
    pub clock: Clock,
    pub rng: Rng,
    pub machine: Machine,
    pub strace: bool,
    /// Mounts, working directory, umask, locks.
    pub fs: crate::syscall::fs::FsState,
    /// Program images read by execve.
    pub images: crate::syscall::exec::ImageCache,
    /// Which task holds each shared resource: (kind, group) → task (see `sched::claim`).
    pub holders: alloc::collections::BTreeMap<(u8, u32), u32>,
    /// Every process but the running one (`proc`), zombies included.
    pub others: alloc::collections::BTreeMap<u32, Process>,
    pub sched: Scheduler,
}

/// The kernel, once booted.
/// Boxed, so the state (RNG key included) lives on the kernel heap rather than in the
/// kernel image.
pub static KERNEL: spin::Mutex<Option<alloc::boxed::Box<Kernel>>> = spin::Mutex::new(None);

impl Kernel {
    /// Copies user memory at `va` into `buf`.
    pub fn copy_in(&mut self, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
        uaccess::copy_from_user(&mut self.proc.aspace, &mut self.frames, va, buf)
    }

    /// Copies `buf` to user memory at `va`.
    pub fn copy_out(&mut self, va: u64, buf: &[u8]) -> Result<(), Errno> {
        uaccess::copy_to_user(&mut self.proc.aspace, &mut self.frames, va, buf)
    }

    /// Reads N consecutive u64s from user memory.
    pub fn read_words<const N: usize>(&mut self, va: u64) -> Result<[u64; N], Errno> {
        uaccess::read_u64s(&mut self.proc.aspace, &mut self.frames, va)
    }

    /// Writes consecutive u64s to user memory.
    pub fn write_words(&mut self, va: u64, words: &[u64]) -> Result<(), Errno> {
        let mut b = Vec::with_capacity(words.len() * 8);
        for w in words {
            b.extend_from_slice(&w.to_le_bytes());
        }
        self.copy_out(va, &b)
    }

    /// Reads a NUL-terminated path (ENAMETOOLONG past PATH_MAX).
    pub fn read_path(&mut self, va: u64) -> Result<Vec<u8>, Errno> {
        uaccess::read_cstring(
            &mut self.proc.aspace,
            &mut self.frames,
            va,
            4095,
            Errno::ENAMETOOLONG,
        )
    }

    /// A fresh inode number for an in-guest object (pipes).
    pub fn next_ino(&mut self) -> u64 {
        self.machine.next_ino += 1;
        self.machine.next_ino
    }

    /// CPU time used by the process, in ns: wall time since start minus idle time.
    pub fn cpu_time_ns(&self) -> u64 {
        self.clock
            .monotonic()
            .saturating_sub(self.proc.start_ns)
            .saturating_sub(self.machine.idle_ns)
    }
}
