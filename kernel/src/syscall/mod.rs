//! The syscall layer: decode the x86_64 Linux convention from the trap frame, dispatch,
//! encode the result (`-errno` on failure), trace under `--strace`, and deliver signals
//! that became pending before returning to user mode.
pub mod epoll;
pub mod exec;
pub mod fs;
pub mod futex;
pub mod io;
pub mod mem;
pub mod misc;
pub mod pidfd;
pub mod poll;
pub mod procfs;
pub mod signals;
pub mod socket;
pub mod task;
pub mod time;
pub mod timers;

use hull_arch::trapframe::TrapFrame;

use crate::errno::{Errno, SysResult};
use crate::process::{KERNEL, Kernel};

/// The SYSCALL entry's handler.
pub fn handle(frame: &mut TrapFrame) {
    let mut guard = KERNEL.lock();
    let k = guard.as_mut().expect("syscall before the kernel booted");
    let (nr, args) = frame.syscall_args();
    crate::stats::SYSCALLS.add();
    // A syscall re-executed after its task blocked continues its wait (a sleep keeps its
    // deadline); any other starts afresh.
    if k.proc.in_syscall.take() != Some(nr) {
        k.proc.restart_deadline = None;
        k.proc.woken = false;
        k.proc.io_progress = 0;
    }
    if k.strace && nr_never_returns(nr) {
        crate::strace::log_call(k, nr, &args, None);
    }
    let result = dispatch(k, frame, nr, args);
    if result == Err(crate::sched::BLOCKED) {
        // Wait, then execute the same syscall again (see `sched`).
        crate::stats::BLOCKED.add();
        frame.rip -= 2;
        frame.rax = nr;
        k.proc.in_syscall = Some(nr);
    } else {
        if k.strace {
            crate::strace::log_call(k, nr, &args, Some(result));
        }
        frame.rax = match result {
            Ok(v) => v,
            Err(e) => (-(e.0 as i64)) as u64,
        };
        k.proc.restart_deadline = None;
        k.proc.woken = false;
        k.proc.host_wait.clear();
        k.proc.sleep_rem = None;
    }
    finish(k, frame);
}

/// The way back to user mode from any syscall or trap: pick the task to run, deliver its
/// signals (which may end or stop it, so pick again), and arm the timer.
pub fn finish(k: &mut Kernel, frame: &mut TrapFrame) {
    k.fs.vfs.budget.reclaim(&mut k.frames);
    if crate::vfs::mapping::pending() {
        for f in crate::vfs::mapping::collect(&mut k.frames) {
            io::release(k, f);
        }
    }
    loop {
        crate::sched::schedule(k, frame);
        signals::deliver_pending(k, frame);
        if k.proc.state == crate::sched::TaskState::Runnable {
            break;
        }
    }
    time::arm_user_timer(k);
}

fn nr_never_returns(nr: u64) -> bool {
    nr == 60 || nr == 231
}

fn dispatch(k: &mut Kernel, frame: &mut TrapFrame, nr: u64, a: [u64; 6]) -> SysResult {
    let fd = a[0] as i32;
    match nr {
        0 => io::read(k, fd, a[1], a[2]),
        1 => io::write(k, fd, a[1], a[2]),
        3 => io::close(k, fd),
        5 => io::fstat(k, fd, a[1]),
        8 => io::lseek(k, fd, a[1] as i64, a[2] as u32),
        9 => mem::mmap(k, a[0], a[1], a[2], a[3], a[4] as i32, a[5]),
        10 => mem::mprotect(k, a[0], a[1], a[2]),
        11 => mem::munmap(k, a[0], a[1]),
        12 => mem::brk(k, a[0]),
        13 => signals::rt_sigaction(k, a[0], a[1], a[2], a[3]),
        14 => signals::rt_sigprocmask(k, a[0], a[1], a[2], a[3]),
        15 => signals::rt_sigreturn(k, frame),
        16 => io::ioctl(k, fd, a[1], a[2]),
        17 => io::pread(k, fd, a[1], a[2], a[3] as i64),
        18 => io::pwrite(k, fd, a[1], a[2], a[3] as i64),
        19 => io::readv(k, fd, a[1], a[2]),
        20 => io::writev(k, fd, a[1], a[2]),
        22 => io::pipe2(k, a[0], 0),
        24 => {
            // sched_yield: to the back of the run queue.
            k.sched.slice_end = 0;
            Ok(0)
        }
        56 => task::clone(k, frame, a[0], a[1], a[2], a[3], a[4]),
        57 => task::clone(k, frame, crate::signal::SIGCHLD as u64, 0, 0, 0, 0),
        58 => task::clone(
            k,
            frame,
            task::CLONE_VM | task::CLONE_VFORK | crate::signal::SIGCHLD as u64,
            0,
            0,
            0,
            0,
        ),
        59 => exec::execve(k, frame, a[0], a[1], a[2]),
        322 => exec::execveat(k, frame, a[0] as i32, a[1], a[2], a[3], a[4] as u32),
        61 => task::wait4(k, a[0] as i32, a[1], a[2], a[3]),
        247 => task::waitid(k, a[0], a[1], a[2], a[3], a[4]),
        435 => task::clone3(k, frame, a[0], a[1]),
        109 => task::setpgid(k, a[0] as i32, a[1] as i32),
        112 => task::setsid(k),
        124 => task::getsid(k, a[0] as i32),
        25 => mem::mremap(k, a[0], a[1], a[2], a[3], a[4]),
        26 => mem::msync(k, a[0], a[1], a[2]),
        28 => mem::madvise(k, a[0], a[1], a[2]),
        32 => io::dup(k, fd),
        33 => io::dup3(k, fd, a[1] as i32, 0, true),
        34 => time::pause(k),
        35 => time::nanosleep(k, a[0], a[1]),
        36 => time::setitimer(k, a[0], 0, a[1]),
        37 => time::alarm(k, a[0]),
        38 => time::setitimer(k, a[0], a[1], a[2]),
        39 => Ok(k.proc.tgid as u64),
        186 => Ok(k.proc.pid as u64),
        60 => task::exit_thread(k, a[0]),
        231 => task::exit_group(k, a[0]),
        62 => task::kill(k, a[0] as i32, a[1]),
        63 => misc::uname(k, a[0]),
        72 => io::fcntl(k, fd, a[1] as u32, a[2]),
        7 => poll::poll(k, a[0], a[1], a[2] as i32),
        213 => epoll::epoll_create(k, a[0] as i32),
        291 => epoll::epoll_create1(k, a[0] as u32),
        233 => epoll::epoll_ctl(k, a[0] as i32, a[1] as i32, a[2] as i32, a[3]),
        232 => epoll::epoll_wait(
            k,
            a[0] as i32,
            a[1],
            a[2] as i32,
            epoll::timeout_ms(a[3] as i32),
        ),
        281 => epoll::epoll_pwait(
            k,
            a[0] as i32,
            a[1],
            a[2] as i32,
            epoll::timeout_ms(a[3] as i32),
            a[4],
            a[5],
        ),
        441 => epoll::epoll_pwait2(k, a[0] as i32, a[1], a[2] as i32, a[3], a[4], a[5]),
        53 => socket::socketpair(k, a[0], a[1], a[2], a[3]),
        434 => pidfd::pidfd_open(k, a[0] as i32, a[1] as u32),
        424 => pidfd::pidfd_send_signal(k, fd, a[1], a[2], a[3] as u32),
        438 => pidfd::pidfd_getfd(k, fd, a[1] as i32, a[2] as u32),
        48 => socket::shutdown(k, fd, a[1] as i32),
        44 => socket::sendrecv(k, a, io::Dir::Write),
        45 => socket::sendrecv(k, a, io::Dir::Read),
        46 => socket::sendmsg(k, fd, a[1], a[2]),
        47 => socket::recvmsg(k, fd, a[1], a[2]),
        54 => socket::setsockopt(k, fd, a[1] as i32, a[2] as i32),
        55 => socket::getsockopt(k, fd, a[1] as i32, a[2] as i32, a[3], a[4]),
        51 | 52 => socket::sockname(k, fd, a[1], a[2]),
        284 => epoll::eventfd2(k, a[0] as u32, 0),
        290 => epoll::eventfd2(k, a[0] as u32, a[1] as u32),
        23 => poll::select(k, a[0] as i32, a[1], a[2], a[3], a[4]),
        270 => poll::pselect6(k, a[0] as i32, a[1], a[2], a[3], a[4], a[5]),
        271 => poll::ppoll(k, a[0], a[1], a[2], a[3], a[4]),
        157 => misc::prctl(k, a[0], a[1]),
        2 => fs::open(k, a[0], a[1] as u32, a[2] as u32),
        4 => fs::stat(k, a[0], a[1]),
        6 => fs::lstat(k, a[0], a[1]),
        21 => fs::access(k, a[0], a[1] as u32),
        40 => io::sendfile(k, a[0] as i32, a[1] as i32, a[2], a[3]),
        73 => fs::flock(k, fd, a[1] as u32),
        74 => fs::fsync(k, fd, false),
        75 => fs::fsync(k, fd, true),
        76 => fs::truncate(k, a[0], a[1] as i64),
        77 => fs::ftruncate(k, fd, a[1] as i64),
        79 => fs::getcwd(k, a[0], a[1]),
        188 | 191 | 197 => fs::xattr(k, xattr_path(a[0], true), Some(a[1])),
        189 | 192 | 198 => fs::xattr(k, xattr_path(a[0], false), Some(a[1])),
        190 | 193 | 199 => fs::xattr(k, fs::XattrTarget::Fd(fd), Some(a[1])),
        194 => fs::xattr(k, xattr_path(a[0], true), None),
        195 => fs::xattr(k, xattr_path(a[0], false), None),
        196 => fs::xattr(k, fs::XattrTarget::Fd(fd), None),
        80 => fs::chdir(k, a[0]),
        81 => fs::fchdir(k, fd),
        82 => fs::rename(k, a[0], a[1]),
        83 => fs::mkdir(k, a[0], a[1] as u32),
        84 => fs::rmdir(k, a[0]),
        85 => fs::creat(k, a[0], a[1] as u32),
        86 => fs::link(k, a[0], a[1]),
        87 => fs::unlink(k, a[0]),
        88 => fs::symlink(k, a[0], a[1]),
        89 => fs::readlink(k, a[0], a[1], a[2]),
        90 => fs::chmod(k, a[0], a[1] as u32),
        91 => fs::fchmod(k, fd, a[1] as u32),
        92 => fs::chown(k, a[0], a[1] as u32, a[2] as u32, true),
        93 => fs::fchown(k, fd, a[1] as u32, a[2] as u32),
        94 => fs::chown(k, a[0], a[1] as u32, a[2] as u32, false),
        95 => fs::umask(k, a[0] as u32),
        132 => fs::utimes(k, fs::AT_FDCWD, a[0], a[1], true),
        235 => fs::utimes(k, fs::AT_FDCWD, a[0], a[1], false),
        261 => fs::utimes(k, a[0] as i32, a[1], a[2], false),
        137 => fs::statfs(k, a[0], a[1]),
        138 => fs::fstatfs(k, fd, a[1]),
        162 | 306 => fs::sync(k),
        217 => io::getdents64(k, fd, a[1], a[2]),
        257 => fs::openat(k, a[0] as i32, a[1], a[2] as u32, a[3] as u32),
        258 => fs::mkdirat(k, a[0] as i32, a[1], a[2] as u32),
        260 => fs::fchownat(k, a[0] as i32, a[1], a[2] as u32, a[3] as u32, a[4] as u32),
        262 => fs::newfstatat(k, a[0] as i32, a[1], a[2], a[3] as u32),
        263 => fs::unlinkat(k, a[0] as i32, a[1], a[2] as u32),
        264 => fs::renameat2(k, a[0] as i32, a[1], a[2] as i32, a[3], 0),
        265 => fs::linkat(k, a[0] as i32, a[1], a[2] as i32, a[3], a[4] as u32),
        266 => fs::symlinkat(k, a[0], a[1] as i32, a[2]),
        267 => fs::readlinkat(k, a[0] as i32, a[1], a[2], a[3]),
        268 => fs::fchmodat(k, a[0] as i32, a[1], a[2] as u32, 0),
        269 => fs::faccessat2(k, a[0] as i32, a[1], a[2] as u32, 0),
        280 => fs::utimensat(k, a[0] as i32, a[1], a[2], a[3] as u32),
        285 => fs::fallocate(k, fd, a[1] as u32, a[2] as i64, a[3] as i64),
        295 => io::prwv(k, fd, a[1], a[2], a[3] as i64, 0, false, false),
        296 => io::prwv(k, fd, a[1], a[2], a[3] as i64, 0, true, false),
        316 => fs::renameat2(k, a[0] as i32, a[1], a[2] as i32, a[3], a[4] as u32),
        326 => io::copy_file_range(k, fd, a[1], a[2] as i32, a[3], a[4], a[5] as u32),
        327 => io::prwv(k, fd, a[1], a[2], a[3] as i64, a[5], false, true),
        328 => io::prwv(k, fd, a[1], a[2], a[3] as i64, a[5], true, true),
        332 => fs::statx(k, a[0] as i32, a[1], a[2] as u32, a[3] as u32, a[4]),
        436 => io::close_range(k, a[0] as u32, a[1] as u32, a[2] as u32),
        439 => fs::faccessat2(k, a[0] as i32, a[1], a[2] as u32, a[3] as u32),
        452 => fs::fchmodat(k, a[0] as i32, a[1], a[2] as u32, a[3] as u32),
        96 => time::gettimeofday(k, a[0], a[1]),
        97 => misc::prlimit(k, 0, a[0], 0, a[1]),
        99 => misc::sysinfo(k, a[0]),
        102 | 107 => Ok(k.machine.uid as u64),
        104 | 108 => Ok(k.machine.gid as u64),
        110 => Ok(k.proc.ppid as u64),
        111 => Ok(k.proc.pgid as u64),
        115 => misc::getgroups(a[0] as i32),
        121 => task::getpgid(k, a[0] as i32),
        118 => misc::getres_ids(k, [a[0], a[1], a[2]], k.machine.uid),
        120 => misc::getres_ids(k, [a[0], a[1], a[2]], k.machine.gid),
        131 => signals::sigaltstack(k, a[0], a[1], frame.rsp),
        222 => timers::timer_create(k, a[0] as i32, a[1], a[2]),
        223 => timers::timer_settime(k, a[0] as i32, a[1], a[2], a[3]),
        224 => timers::timer_gettime(k, a[0] as i32, a[1]),
        225 => timers::timer_getoverrun(k, a[0] as i32),
        226 => timers::timer_delete(k, a[0] as i32),
        203 => misc::sched_setaffinity(k, a[0] as i32, a[1], a[2]),
        142 => misc::sched_setscheduler(k, a[0] as i32, None, a[1]),
        143 => misc::sched_getparam(k, a[0] as i32, a[1]),
        144 => misc::sched_setscheduler(k, a[0] as i32, Some(a[1] as i32), a[2]),
        145 => misc::sched_getscheduler(k, a[0] as i32),
        146 => misc::sched_get_priority(a[0] as i32, true),
        147 => misc::sched_get_priority(a[0] as i32, false),
        148 => misc::sched_rr_get_interval(k, a[0] as i32, a[1]),
        140 => misc::getpriority(k, a[0] as i32, a[1] as i32),
        141 => misc::setpriority(k, a[0] as i32, a[1] as i32, a[2] as i32),
        128 => signals::rt_sigtimedwait(k, a[0], a[1], a[2], a[3]),
        129 => signals::rt_sigqueueinfo(k, a[0] as i32, None, a[1], a[2]),
        130 => signals::rt_sigsuspend(k, a[0], a[1]),
        297 => signals::rt_sigqueueinfo(k, a[0] as i32, Some(a[1] as i32), a[2], a[3]),
        158 => misc::arch_prctl(k, a[0], a[1]),
        160 => misc::prlimit(k, 0, a[0], a[1], 0),
        200 => task::tgkill(k, None, a[0] as i32, a[1]),
        201 => time::time(k, a[0]),
        202 => futex::futex(k, a[0], a[1], a[2], a[3], a[4], a[5]),
        204 => misc::sched_getaffinity(k, a[0] as i32, a[1], a[2]),
        218 => {
            k.proc.clear_child_tid = a[0];
            Ok(k.proc.pid as u64)
        }
        228 => time::clock_gettime(k, a[0] as i32, a[1]),
        229 => time::clock_getres(k, a[0] as i32, a[1]),
        230 => time::clock_nanosleep(k, a[0] as i32, a[1], a[2], a[3]),
        234 => task::tgkill(k, Some(a[0] as i32), a[1] as i32, a[2]),
        273 => misc::set_robust_list(k, a[0], a[1]),
        274 => futex::get_robust_list(k, a[0] as i32, a[1], a[2]),
        292 => io::dup3(k, fd, a[1] as i32, a[2] as u32, false),
        293 => io::pipe2(k, a[0], a[1] as u32),
        127 => signals::rt_sigpending(k, a[0], a[1]),
        302 => misc::prlimit(k, a[0] as i32, a[1], a[2], a[3]),
        318 => misc::getrandom(k, a[0], a[1], a[2]),
        _ => Err(Errno::ENOSYS),
    }
}

fn xattr_path(va: u64, follow: bool) -> fs::XattrTarget {
    fs::XattrTarget::Path { va, follow }
}
