//! Processes, threads and signals (issue 4), differential: each program runs natively and
//! under hull and stdout, stderr, exit status (and, for programs given a directory, the
//! tree they leave behind) must agree.
//!
//! - C programs in `tests/programs/` (`proc_*`, `sig2_*`, `thr_*`), built with glibc
//!   static, glibc static-pie and musl: fork/exec/wait, pipes between processes, exec and
//!   `#!` scripts, process groups and sessions, scheduling calls, signals between
//!   processes, EINTR and SA_RESTART, masks and handler frames, stop/continue, timers,
//!   pthreads, raw futexes, clone/clone3 and signals in threaded processes.
//! - A std-only Rust program (`tests/rust-programs/procs-demo`, built for
//!   x86_64-unknown-linux-musl): threads, channels, `Command` running itself, `std::fs`.
//! - busybox `sh` scripts on a generated tree (Debian's busybox-static, `/bin/busybox`):
//!   pipelines, subshells, command substitution, loops, `case`, functions, traps,
//!   background jobs, `xargs`, `find -exec`, here-documents, `$?`; and a `--root` tree
//!   whose `#!/bin/sh` script is found through the guest's PATH.
//!
//! Semantics that differ between a native run and the sandbox are designed around, not
//! compared: under hull the program is pid 1 (and leads its own session), natively it is
//! not. The orphan test makes the native root a child subreaper so that orphans come to
//! it as they come to pid 1 in the sandbox; `kill(-1)` is tested under hull only
//! (`hostile_procs.rs`).
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN), a usable /dev/kvm, gcc,
//! musl-gcc, the x86_64-unknown-linux-musl Rust target and busybox-static.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use hull_tests::files::{FsCase, FsDir, fs_differential};
use hull_tests::procs::{DirCase, assert_sane, dir_differential, rust_program};
use hull_tests::{Case, Run, differential, render_diff, scratch_dir};

fn single(program: &str) {
    differential(program, &[Case::new("", Run::new())]);
}

// ---------------------------------------------------------------------------------------
// C programs
// ---------------------------------------------------------------------------------------

/// fork/exit/wait: exit-status encoding (codes truncated to 8 bits, deaths by eleven
/// signals with the core bit off), waitpid for a pid / any / -pgid / 0, waitid (WNOHANG,
/// WNOWAIT, P_PID/P_PGID/P_ALL, its siginfo, EINVAL), wait4's rusage, ECHILD cases,
/// zombies kept until reaped, SIGCHLD ignored and SA_NOCLDWAIT (auto-reaping), and a
/// grandchild reparented to the root (subreaper natively, pid 1 under hull) when its
/// parent exits.
#[test]
fn fork_wait_and_exit_status() {
    single("proc_wait");
}

/// Pipes between processes: 1 MiB producer/consumer, 2000 ping-pong round trips,
/// PIPE_BUF-sized writes from four writers never interleaving, EOF only when every
/// process's write end is closed, SIGPIPE/EPIPE, and a gen | upper | count pipeline
/// built with fork + dup2 + exec of the program itself.
#[test]
fn pipes_between_processes() {
    single("proc_pipes");
}

/// Reads blocked on a pipe when data arrives: an untouched buffer, a read shorter than
/// the write (the rest stays), EOF, EFAULT (the data stays), a reader thread.
#[test]
fn blocked_pipe_reads() {
    single("proc_pipe_wake");
}

/// epoll and eventfd: errors, level/edge/one-shot on pipes, timeouts, a wait woken by
/// another process, registrations living as long as their open file, eventfd counters and
/// semaphores, an epoll fd in poll().
#[test]
fn epoll_and_eventfd() {
    single("fs_epoll");
}

/// socketpair(AF_UNIX, SOCK_STREAM): both directions, send/recv/sendmsg/recvmsg,
/// MSG_DONTWAIT, shutdown, the peer's close, readiness in poll and epoll, options, names.
#[test]
fn unix_socket_pairs() {
    single("fs_socketpair");
}

/// pidfds: pidfd_open, readable at the process's end (poll, epoll), pidfd_send_signal,
/// waitid(P_PIDFD), clone3(CLONE_PIDFD), pidfd_getfd, and their errors.
#[test]
fn pidfds() {
    single("proc_pidfd");
}

/// The program at its own path: stat, read, ETXTBSY for writing, listed in its
/// directory, exec'd by its absolute path and by a relative one.
#[test]
fn program_at_its_own_path() {
    single("proc_self_path");
}

/// sendfile into a pipe whose reader is slower: no byte lost or repeated.
#[test]
fn sendfile_into_a_slow_pipe() {
    single("fs_sendfile_pipe");
}

/// execve on a mounted directory and in the guest's /tmp: argv/envp as the new image
/// sees them, the pid kept, /proc/self/exe of the new image, `#!` scripts (interpreter
/// argument, spaces, nested, relative), ENOENT/EACCES/ENOEXEC/ENOTDIR/ELOOP/EFAULT with
/// the caller intact, close-on-exec in all its forms, dispositions/mask/pending/altstack
/// across exec, execveat (AT_EMPTY_PATH, dirfd, AT_SYMLINK_NOFOLLOW), vfork + _exit and
/// vfork + exec, posix_spawn with file actions.
#[test]
fn exec_scripts_cloexec_and_vfork() {
    fs_differential(
        "proc_exec",
        &[
            FsCase::scratch("on a --mount"),
            FsCase::with_dirs("in /tmp", vec![FsDir::guest_tmp("/tmp/proc_exec")]),
        ],
    );
}

/// setpgid/getpgid/getpgrp/setsid/getsid and their errors; who kill(pid), kill(0) and
/// kill(-pgid) reach; kill(pid, 0) probes, ESRCH and EINVAL.
#[test]
fn process_groups_sessions_and_kill() {
    single("proc_pgrp");
}

/// sched_yield, sched_{get,set}affinity, getpriority/setpriority/nice (relative values,
/// inherited, on a child, on a group), sched_getscheduler/getparam/priority ranges.
#[test]
fn scheduling_and_priorities() {
    single("proc_sched");
}

/// Signals from another process: si_code/si_pid/si_uid for kill, tgkill, tkill and
/// sigqueue; forged si_code refused; real-time signals queue in order while standard
/// ones merge; SIGCHLD's siginfo to a handler and to sigwaitinfo; mask, pending set and
/// handlers across fork.
#[test]
fn signals_between_processes() {
    single("sig2_info");
}

/// EINTR versus SA_RESTART for pipe read/write, wait4 and futex; always EINTR for
/// nanosleep, poll, select, pause and sigsuspend; ignored signals interrupt nothing.
#[test]
fn eintr_and_sa_restart() {
    single("sig2_restart");
}

/// sigsuspend, sigtimedwait, SA_NODEFER nesting, sa_mask, SA_RESETHAND, sigaltstack
/// errors and a stack overflow caught on the alternate stack, SIGSEGV recovery with
/// siglongjmp (si_addr, si_code, trap number, error code), ucontext edits of registers,
/// RFLAGS and uc_sigmask, and argument errors of the signal calls.
#[test]
fn signal_masks_waits_and_frames() {
    single("sig2_mask");
}

/// SIGSTOP/SIGTSTP/SIGTTIN/SIGTTOU, WUNTRACED/WSTOPPED/WCONTINUED reports, signals held
/// while stopped, SIGCONT handlers, SIGKILL of a stopped process, a read surviving a
/// stop, CLD_STOPPED/CLD_CONTINUED and SA_NOCLDSTOP, a whole group stopped and continued.
#[test]
fn stop_and_continue() {
    single("sig2_stop");
}

/// alarm, setitimer/getitimer ITIMER_REAL, timer_create(CLOCK_MONOTONIC/CLOCK_REALTIME,
/// SIGEV_SIGNAL) one-shot/periodic/absolute with overruns, SIGEV_NONE, timer_delete, and
/// timers not inherited by fork.
#[test]
fn alarm_itimers_and_posix_timers() {
    single("sig2_timers");
}

/// 16 threads with mutexes, atomics, condition variables, barriers, rwlocks,
/// semaphores, TLS and keys, join values, mutex kinds and timed waits.
#[test]
fn pthreads_mutexes_condvars_barriers_tls() {
    single("thr_sync");
}

/// futex(2) directly: timeouts, errors, exact WAKE/REQUEUE/CMP_REQUEUE/WAKE_OP/
/// WAKE_BITSET counts, private versus shared across processes, robust futexes.
#[test]
fn futex_operations() {
    single("thr_futex");
}

/// clone/clone3 (thread flags, CLONE_VM processes, errors), signals in threaded processes
/// (tgkill, process-directed delivery, sigwait), exit_group and crashes from a thread,
/// fork in a threaded process, execve from a non-main thread.
#[test]
fn clone_and_threaded_processes() {
    single("thr_misc");
}

/// What a thread group shares besides memory: cwd and umask (CLONE_FS, and its absence
/// after fork or a plain CLONE_VM clone), and the process group and session that
/// setpgid/setsid from any thread change for all of them.
#[test]
fn threads_share_cwd_umask_and_groups() {
    single("thr_fs");
}

/// /proc of a threaded process: Threads: and num_threads, /proc/self/task and each
/// thread's status/stat/comm, /proc/thread-self, /proc/TID, /proc/self/fd read from a
/// non-main thread, SigIgn/SigCgt, nice and priority.
#[test]
fn proc_describes_threads() {
    single("thr_proc");
}

// ---------------------------------------------------------------------------------------
// A Rust program
// ---------------------------------------------------------------------------------------

/// `procs-demo DIR` (std only, x86_64-unknown-linux-musl): threads with mpsc channels,
/// Arc<Mutex>, scoped threads, a Barrier and an RwLock; `Command` running the program
/// itself (current_exe) with piped stdio, exit codes, a death by SIGABRT, env_clear,
/// current_dir, a missing program, a two-child pipeline, parallel children and children
/// spawned from threads; std::fs work in DIR, whose tree is compared afterwards.
#[test]
fn rust_std_threads_commands_and_fs() {
    let bin = rust_program("procs-demo");
    let mut case = DirCase::new("DIR", &["{DIR}"]);
    case.in_dir = false;
    case.guest = "/scratch".into();
    dir_differential(&bin, &[case]);
}

/// /proc/PID/exe is each process's own program: a parent's stays its own after a child
/// execs another program, and the child's is the other one. The programs come from a
/// read-only mount of the directory the harness compiled them into.
#[test]
fn proc_exe_is_per_process() {
    use hull_tests::Toolchain;
    for tc in Toolchain::ALL {
        let me = hull_tests::compile("proc_exe_images", tc);
        let other = hull_tests::compile("host_signal", tc);
        let dir = me.parent().expect("compiled into a directory");
        assert_eq!(Some(dir), other.parent(), "both programs in one directory");
        let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        let native = Run::new().arg(&me).arg(&other).native(&me);
        let hull = Run::new()
            .hull_flag("--mount")
            .hull_flag(&format!("{}:/progs:ro", dir.display()))
            .arg(format!("/progs/{}", name(&me)))
            .arg(format!("/progs/{}", name(&other)))
            .hull(&me);
        assert_sane("proc_exe_images", &hull);
        if let Err(e) = hull_tests::compare(&format!("proc_exe_images ({tc:?})"), &native, &hull) {
            panic!("{e}");
        }
        assert!(
            native.stdout_str().contains("all checks passed"),
            "{}",
            native.summary()
        );
    }
}

/// `async-demo` (tokio, x86_64-unknown-linux-musl): a four-worker runtime on epoll, with
/// an eventfd waker and a socket pair for its signal driver; tasks, timers, an interval,
/// channels, a timeout, async files, a child process with piped stdio.
#[test]
fn rust_tokio_runtime() {
    same_as_native("async-demo", &rust_program("async-demo"));
}

/// Runs `bin` natively and under hull, without arguments; stdout, stderr and the status
/// must agree.
fn same_as_native(label: &str, bin: &Path) {
    let run = Run::new();
    let native = run.native(bin);
    let hull = run.hull(bin);
    assert_sane(label, &hull);
    if let Err(e) = hull_tests::compare(label, &native, &hull) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// A Go program
// ---------------------------------------------------------------------------------------

/// A static Go program (tests/go-programs/runtime): goroutines on several threads,
/// channels, timers and a ticker (the runtime's epoll netpoller), asynchronous preemption
/// of a busy goroutine, files, os/exec of itself, signal.Notify.
#[test]
fn go_runtime_threads_timers_exec_and_signals() {
    same_as_native("go runtime", &hull_tests::procs::go_program("runtime"));
}

// ---------------------------------------------------------------------------------------
// busybox sh
// ---------------------------------------------------------------------------------------

const BUSYBOX: &str = "/bin/busybox";

fn busybox() -> &'static Path {
    let path = Path::new(BUSYBOX);
    assert!(
        path.is_file(),
        "{BUSYBOX} is missing: the busybox tests need Debian's busybox-static \
         (`apt-get update && apt-get install -y busybox-static`; `cargo xtask test` \
         installs it)"
    );
    path
}

fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>, mode: u32) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The tree the scripts work on.
fn sh_fixture(dir: &Path) {
    write(
        dir,
        "docs/a.txt",
        "banana\napple\ncherry\napple\nbanana\nbanana\ndate\n",
        0o644,
    );
    write(
        dir,
        "docs/b.txt",
        "The quick brown fox\njumps over\nthe lazy dog\n",
        0o644,
    );
    write(dir, "docs/notes/n1.txt", "note one\nTODO: fix\n", 0o644);
    write(dir, "docs/notes/n2.md", "# title\nTODO: more\nend\n", 0o644);
    write(dir, "src/main.c", "int main(void) { return 0; }\n", 0o644);
    write(dir, "src/util.h", "static int x;\n", 0o644);
    let numbers: String = (1..=50)
        .map(|i| format!("{}\n", (i * 37) % 50 + 1))
        .collect();
    write(dir, "numbers.txt", numbers, 0o644);
    write(
        dir,
        "args.sh",
        "echo \"argc $#\"\n\
         for a in \"$@\"; do echo \"arg [$a]\"; done\n\
         shift\n\
         echo \"after shift: $*\"\n\
         echo \"script: $(basename \"$0\")\"\n\
         . ./lib.sh\n\
         greet \"from a sourced function\"\n\
         echo \"status of a failing pipeline: $(false | true; echo $?)\"\n\
         exit 3\n",
        0o644,
    );
    write(dir, "lib.sh", "greet() { echo \"hello $1\"; }\n", 0o644);
    fs::create_dir_all(dir.join("empty")).unwrap();
}

/// Runs `busybox sh -c SCRIPT` natively in a fresh copy of the fixture and under hull
/// with another copy mounted at /w (`--workdir /w`); outputs, status and trees must agree.
fn sh(label: &str, script: &str, status: i32) {
    let case = DirCase::new(label, &["sh", "-c", script])
        .setup(&sh_fixture)
        .status(status);
    dir_differential(busybox(), &[case]);
}

/// Pipelines (up to six stages, tee into a file), command substitution (nested and
/// backticks), subshells with their own cwd.
#[test]
fn busybox_sh_pipelines_and_substitutions() {
    sh(
        "pipelines",
        r#"
cat docs/a.txt docs/a.txt | sort | uniq -c | sort -rn | head -3
find . -type f | sort | xargs wc -l | tail -1
grep -rn TODO . | sort | cut -d: -f1 | uniq
seq 1 2000 | awk '{print $1 % 7}' | sort -n | uniq -c | sort -k1,1nr -k2,2n | head -3
sort -r docs/a.txt | tee sorted.txt | wc -l
x=$(ls docs | wc -l); echo "count=$x"
echo "$(echo nested $(echo deep $(echo deeper)))" `echo backticks`
(cd docs && pwd | sed 's|.*/||'; echo "in a subshell")
echo "back in $(basename "$PWD")"
lines=$(cat numbers.txt | wc -l) && echo "numbers: $lines"
"#,
        0,
    );
}

/// for/while/until loops, case, functions (recursive through command substitution),
/// break/continue, read from a redirected file.
#[test]
fn busybox_sh_loops_case_functions() {
    sh(
        "control flow",
        r#"
f() { case "$1" in *.txt) echo "text $1";; *.c|*.h) echo "code $1";; *) echo "other $1";; esac; }
for p in $(find . -type f | sort); do f "$p"; done
i=0; while [ $i -lt 7 ]; do i=$((i+1)); [ $((i%2)) -eq 0 ] && continue; echo "odd $i"; done
until [ $i -ge 10 ]; do i=$((i+1)); done; echo "until: $i"
n=0; while read line; do n=$((n+line)); [ $line -eq 13 ] && break; done < numbers.txt; echo "sum up to 13: $n"
fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1-1))) )); fi; }
echo "fact 10 = $(fact 10)"
for d in docs src empty; do set -- $d/*; echo "$d: $#"; done
"#,
        0,
    );
}

/// Traps on EXIT and on a signal sent with kill (to the shell itself and to a child
/// shell), background jobs with `&`, `$!`, `wait` and its status, a killed background
/// job.
#[test]
fn busybox_sh_traps_and_background_jobs() {
    sh(
        "traps and jobs",
        r#"
trap 'echo "exit trap, status $?"' EXIT
trap 'echo got USR1' USR1
kill -USR1 $$
echo after kill
sh -c 'trap "echo inner TERM; exit 7" TERM; kill -TERM $$; echo not reached'
echo "inner status $?"
sleep 10 & pid=$!
kill $pid
wait $pid
echo "sleep killed, status $?"
(exit 5) & p=$!
wait $p
echo "background (exit 5): $?"
for i in 1 2 3; do (sleep 0.0$i; echo job $i) & done | sort
for i in 1 2 3 4; do (echo "bg $i" > bg$i.txt) & done
wait
cat bg1.txt bg2.txt bg3.txt bg4.txt
echo all done
exit 4
"#,
        4,
    );
}

/// xargs (-n, -I), find -exec with `\;` and `+`, find -exec sh -c.
#[test]
fn busybox_xargs_and_find_exec() {
    sh(
        "xargs and find -exec",
        r#"
find . -name '*.txt' | sort | xargs -n 2 echo pair
printf 'a\nb\nc\n' | xargs -I{} echo item {}
find docs -type f | sort | xargs cat | wc -l
find . -name '*.txt' -exec wc -c {} \; | sort
find docs -type f -exec sh -c 'echo "$(basename "$1"): $(wc -l < "$1")"' _ {} \; | sort
find src -type f -exec cat {} + | wc -l
find . -name '*.md' -exec cp {} copied.md \;
ls *.md
"#,
        0,
    );
}

/// Here-documents (expanded, quoted, feeding a loop), `$?` after builtins, subshells,
/// child shells, failed greps, `!`, a missing command (127), redirections of the shell's
/// own descriptors.
#[test]
fn busybox_heredocs_and_exit_statuses() {
    sh(
        "heredocs and $?",
        r#"
cat <<END
heredoc $((1+2)) $(echo sub)
END
cat <<'END'
quoted $NOT_EXPANDED $(nope)
END
while read a b; do echo "$b $a"; done <<END | sort
one 1
two 2
three 3
END
cat > from_heredoc.txt <<END
written by a heredoc
END
false; echo "false: $?"; true; echo "true: $?"; (exit 42); echo "subshell: $?"
sh -c 'exit 3'; echo "sh -c exit 3: $?"
grep -q nomatch docs/a.txt; echo "grep -q miss: $?"
! true; echo "! true: $?"
nonexistent_cmd 2>/dev/null; echo "missing command: $?"
exec 3> fd3.txt; echo "via fd 3" >&3; exec 3>&-; cat fd3.txt
{ echo to stderr >&2; echo to stdout; } 2>&1 | sort
"#,
        0,
    );
}

/// A script file with arguments: `$#`, `"$@"`, shift, `$0`, sourcing another file, and
/// its exit status.
#[test]
fn busybox_script_file_with_arguments() {
    let case = DirCase::new(
        "sh args.sh",
        &["sh", "args.sh", "one two", "three", "", "four"],
    )
    .setup(&sh_fixture)
    .status(3);
    dir_differential(busybox(), &[case]);
}

/// A busybox root (`--root`): a `#!/bin/sh` script in /bin found through the guest's
/// PATH and run by the kernel's `#!` handling, a pipeline of applets (each a re-exec of
/// /bin/busybox), and a script calling another script. Checked against fixed output: a
/// native run cannot reproduce the root.
#[test]
fn busybox_root_shebang_scripts() {
    let bb = busybox();
    let root: PathBuf = scratch_dir("procs-bb-root").join("root");
    for d in ["bin", "etc", "tmp", "dev", "proc"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::copy(bb, root.join("bin/busybox")).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for applet in [
        "sh", "echo", "cat", "ls", "wc", "sort", "tr", "basename", "head",
    ] {
        symlink("/bin/busybox", root.join("bin").join(applet)).unwrap();
    }
    write(
        &root,
        "bin/hello.sh",
        "#!/bin/sh\necho \"hello from $(basename \"$0\") with $# args: $*\"\n",
        0o755,
    );
    write(
        &root,
        "bin/outer.sh",
        "#!/bin/sh\nhello.sh nested \"$1\"\necho \"outer got status $?\"\nexit 6\n",
        0o755,
    );
    write(&root, "etc/motd", "a busybox root\n", 0o644);
    let entries = fs::read_dir(root.join("bin")).unwrap().count();

    let out = Run::new()
        .hull_flag("--root")
        .hull_flag(&root.to_string_lossy())
        .args([
            "-c",
            "hello.sh a b; outer.sh x; echo \"outer: $?\"; ls /bin | wc -l; \
             cat /etc/motd | tr a-z A-Z; ls /bin | sort | head -2",
        ])
        .hull(Path::new("/bin/sh"));
    assert_sane("sh in a busybox root", &out);
    let want = format!(
        "hello from hello.sh with 2 args: a b\nhello from hello.sh with 2 args: nested x\n\
         outer got status 0\nouter: 6\n{entries}\nA BUSYBOX ROOT\nbasename\nbusybox\n"
    );
    if out.stdout != want.as_bytes() || out.status != 0 {
        panic!(
            "sh in a busybox root: expected status 0 and the stdout below\n{}\n{}",
            render_diff("stdout (- expected, + hull)", want.as_bytes(), &out.stdout),
            out.summary()
        );
    }
    let _ = fs::remove_dir_all(root.parent().unwrap());
}
