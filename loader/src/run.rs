//! One sandbox run: check the program, build guest memory and the VM, serve hypercalls
//! until the guest ends the run, and turn the ending into an exit status.
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kvm_ioctls::VcpuExit;

use crate::cli::{RunArgs, build_env};
use crate::files::{FileServer, Mounts, normalize_guest_path};
use crate::guest_memory::GuestMemory;
use crate::host_signals::{self, Kick};
use crate::hypercall::{HandleTable, RunEnd, Server};
use crate::layout::{self, BootParams};
use crate::vm::Machine;

/// hull itself failed (setup, host resources).
pub const EXIT_HULL_ERROR: i32 = 125;
/// The guest kernel failed or broke the protocol.
pub const EXIT_GUEST_FAILURE: i32 = 124;
/// Killed: --timeout or out of memory (as SIGKILL).
pub const EXIT_KILLED: i32 = 137;

/// The guest kernel embedded at build time.
static KERNEL_ELF: &[u8] = include_bytes!(env!("HULL_KERNEL_ELF"));

/// The program cannot be run; the status says why, as a shell would.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    #[error("{0}: is a directory")]
    IsDirectory(PathBuf),
    #[error("{0}: permission denied (not executable)")]
    NotExecutable(PathBuf),
    #[error("{path}: {err}")]
    Open { path: PathBuf, err: std::io::Error },
    #[error("{name}: not found in the guest's PATH ({path}) under --root")]
    NotInPath { name: String, path: String },
}

impl ProgramError {
    pub fn status(&self) -> i32 {
        match self {
            ProgramError::NotFound(_) | ProgramError::NotInPath { .. } => 127,
            _ => 126,
        }
    }
}

fn open_program(path: &Path) -> Result<(File, u64, PathBuf), ProgramError> {
    let file = File::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => ProgramError::NotFound(path.into()),
        _ => ProgramError::Open {
            path: path.into(),
            err,
        },
    })?;
    let meta = file.metadata().map_err(|err| ProgramError::Open {
        path: path.into(),
        err,
    })?;
    if meta.is_dir() {
        return Err(ProgramError::IsDirectory(path.into()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(ProgramError::NotExecutable(path.into()));
    }
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.into());
    Ok((file, meta.len(), abs))
}

/// The PATH `--root` lookups use when the program's environment has none (Docker's).
const DEFAULT_GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds PROGRAM in the guest's tree (`--root`), as `docker run IMAGE CMD` does: an absolute
/// path as is, a name with a '/' from the working directory, a bare name through `path_var`
/// (execvp's rules: a directory or non-executable file found on the way is remembered and
/// reported if nothing better comes). Returns the file, its length and its guest path.
pub fn find_program(
    mounts: &Mounts,
    word: &[u8],
    workdir: &[u8],
    path_var: Option<&str>,
) -> Result<(File, u64, Vec<u8>), ProgramError> {
    let shown = |p: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(p));
    let join = |dir: &[u8], name: &[u8]| {
        let mut p = dir.to_vec();
        p.push(b'/');
        p.extend_from_slice(name);
        normalize_guest_path(&p)
    };
    let search = !word.contains(&b'/');
    let candidates: Vec<Vec<u8>> = if word.is_empty() {
        Vec::new()
    } else if word.starts_with(b"/") {
        vec![normalize_guest_path(word)]
    } else if !search {
        vec![join(workdir, word)]
    } else {
        path_var
            .unwrap_or(DEFAULT_GUEST_PATH)
            .split(':')
            .map(|dir| match dir.as_bytes() {
                b"" => join(workdir, word),
                d if d.starts_with(b"/") => join(d, word),
                d => join(&join(workdir, d), word),
            })
            .collect()
    };
    let mut refused: Option<ProgramError> = None;
    for c in &candidates {
        let err = match mounts.open_program(c) {
            Ok((file, exe)) => {
                let len = file
                    .metadata()
                    .map_err(|err| ProgramError::Open {
                        path: shown(c),
                        err,
                    })?
                    .len();
                return Ok((file, len, exe));
            }
            Err(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::ENAMETOOLONG) => {
                ProgramError::NotFound(shown(c))
            }
            Err(libc::EISDIR) => ProgramError::IsDirectory(shown(c)),
            Err(libc::EACCES) => ProgramError::NotExecutable(shown(c)),
            Err(e) => ProgramError::Open {
                path: shown(c),
                err: std::io::Error::from_raw_os_error(e),
            },
        };
        if !search {
            return Err(err);
        }
        if !matches!(err, ProgramError::NotFound(_)) && refused.is_none() {
            refused = Some(err);
        }
    }
    Err(refused.unwrap_or_else(|| {
        if search {
            ProgramError::NotInPath {
                name: String::from_utf8_lossy(word).into_owned(),
                path: path_var.unwrap_or(DEFAULT_GUEST_PATH).to_string(),
            }
        } else {
            ProgramError::NotFound(shown(word))
        }
    }))
}

/// Runs the program; returns its exit status.
pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let mut stats = crate::stats::Stats::new();
    if args.tmpfs_size() >= args.memory {
        anyhow::bail!(
            "--tmpfs-size ({} MiB) must be smaller than --memory ({} MiB)",
            args.tmpfs_size() >> 20,
            args.memory >> 20
        );
    }
    let env = build_env(&args.env, |k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
    let mounts = Mounts::open(args.root.as_deref(), &args.mounts)?;
    let program_path = args.program();
    let (program, program_len, exe_path) = match &args.root {
        None => {
            let (file, len, abs) = open_program(&program_path)?;
            (file, len, abs.into_os_string().into_vec())
        }
        Some(_) => find_program(
            &mounts,
            program_path.as_os_str().as_bytes(),
            &args.workdir.0,
            env.iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.as_str()),
        )?,
    };
    let kernel_elf: std::borrow::Cow<'static, [u8]> = match &args.kernel {
        Some(p) => std::fs::read(p)
            .with_context(|| format!("reading --kernel {}", p.display()))?
            .into(),
        None => KERNEL_ELF.into(),
    };
    let mut argv: Vec<Vec<u8>> = vec![program_path.as_os_str().as_bytes().to_vec()];
    argv.extend(args.args().iter().map(|a| a.as_bytes().to_vec()));
    let envp: Vec<Vec<u8>> = env
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect();
    // The file server's handle cap, not a low inherited soft limit, bounds the guest; and
    // the guest applies the program's umask itself.
    crate::host_io::raise_nofile_limit().context("raising the open-file limit")?;
    crate::host_io::clear_umask();

    let mem = GuestMemory::new(args.memory).context("reserving guest memory")?;
    let mut seed = [0u8; 32];
    getrandom(&mut seed).context("reading host randomness")?;
    let handles = HandleTable::with_stdio().context("duplicating stdio")?;
    let stdio_flags = [
        std::io::stdin().as_fd_flags(),
        std::io::stdout().as_fd_flags(),
        std::io::stderr().as_fd_flags(),
    ];
    let mount_records = mounts.boot_records();
    let params = BootParams {
        max_tasks: args.pids,
        argv: &argv,
        envp: &envp,
        exe_path: &exe_path,
        program: &program,
        program_len,
        flags: if args.strace {
            hull_arch::abi::BOOT_FLAG_STRACE
        } else {
            0
        } | if args.stats {
            hull_arch::abi::BOOT_FLAG_STATS
        } else {
            0
        } | if crate::vm::host_is_pvm() {
            hull_arch::abi::BOOT_FLAG_PVM
        } else {
            0
        } | if crate::vm::host_user_fsgsbase() {
            hull_arch::abi::BOOT_FLAG_USER_FSGSBASE
        } else {
            0
        },
        tsc_khz: 0,
        seed,
        uid: rustix_ids().0,
        gid: rustix_ids().1,
        stdio_flags,
        mounts: &mount_records,
        nmounts: mounts.len() as u32,
        tmpfs_size: args.tmpfs_size(),
        cwd: &args.workdir.0,
    };
    // Building the VM and filling guest memory are independent: do them on both cores.
    let (image, machine) = std::thread::scope(|scope| {
        let layout = scope.spawn(|| layout::build(&mem, &kernel_elf, &params));
        let machine = Machine::new(&mem);
        (
            layout.join().expect("the boot-image thread does not panic"),
            machine,
        )
    });
    let (image, mut machine) = (image?, machine?);
    if args.kernel.is_none() {
        // The copy in guest RAM is the kernel now (about 0.6 MiB less RSS).
        crate::host_io::drop_image_pages(KERNEL_ELF);
    }
    stats.phase("VM and guest memory");
    drop(program);
    layout::set_tsc_khz(&mem, machine.tsc_khz)?;
    machine.set_entry(image.entry)?;

    // From here on SIGINT, SIGTERM and SIGHUP go to the sandbox (see host_signals).
    crate::host_signals::install().context("installing the signal handlers")?;
    if let Some(limit) = args.timeout {
        // The watchdog finishes starting (its thread setup syscalls) before seccomp is on.
        // It blocks the forwarded signals, so they reach the vCPU (this) thread only.
        let (started, wait) = std::sync::mpsc::channel();
        crate::host_signals::with_blocked(|| {
            std::thread::spawn(move || {
                let _ = started.send(());
                std::thread::sleep(limit);
                eprintln!("hull: timed out after {limit:?} (--timeout); program killed");
                std::process::exit(EXIT_KILLED);
            })
        });
        let _ = wait.recv();
    }
    crate::host_signals::unblock_here();
    crate::seccomp::confine()?;
    stats.phase("seccomp, watchdog");
    let end = serve(
        &mut machine,
        &mem,
        handles,
        FileServer::new(mounts),
        &mut stats,
    )?;
    let code = report(end);
    if args.stats {
        stats.phase("run");
        eprint!("{}", stats.report());
    }
    Ok(code)
}

/// Runs the vCPU and serves its exits until the guest ends the run.
fn serve(
    machine: &mut Machine,
    mem: &GuestMemory,
    handles: HandleTable,
    files: FileServer,
    stats: &mut crate::stats::Stats,
) -> anyhow::Result<RunEnd> {
    let mut server = Server::new(mem, handles, files);
    let kick = Kick::new(&raw mut machine.vcpu.get_kvm_run().immediate_exit);
    let mut msi_failed = false;
    loop {
        // Clear the kick before looking for signals: one arriving after the look sets it
        // again and KVM_RUN returns at once, so none waits for the guest's next exit.
        kick.clear();
        if host_signals::STATE.take_raise() && !msi_failed {
            // The mask stays for the guest's HostSignals call, whatever happens here.
            if let Err(e) = machine.raise_interrupt(hull_arch::abi::HOST_SIGNAL_VECTOR) {
                eprintln!(
                    "hull: cannot interrupt the guest for a forwarded signal ({e}); it learns of \
                     signals at its next HostSignals call"
                );
                msi_failed = true;
            }
        }
        let entered = std::time::Instant::now();
        let exit = machine.vcpu.run();
        stats.guest(entered.elapsed());
        let exit = match exit {
            Ok(e) => e,
            // EINTR: a signal (forwarded above on the next turn) or the kick.
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => return Err(anyhow::anyhow!("KVM_RUN failed: {e}")),
        };
        match exit {
            VcpuExit::IoOut(hull_arch::abi::HYPERCALL_PORT, data) if data.len() == 4 => {
                let op = u32::from_le_bytes(data.try_into().expect("4 bytes"));
                stats.exit(op);
                match server.handle(op) {
                    Ok(None) => {}
                    Ok(Some(end)) => return Ok(end),
                    Err(e) => {
                        return Ok(RunEnd::KernelPanic(format!(
                            "guest broke the hypercall protocol: {e}"
                        )));
                    }
                }
            }
            VcpuExit::IoOut(port, _) | VcpuExit::IoIn(port, _) => {
                return Ok(RunEnd::KernelPanic(format!(
                    "guest accessed I/O port {port:#x}, which hull does not serve"
                )));
            }
            VcpuExit::MmioRead(addr, _) | VcpuExit::MmioWrite(addr, _) => {
                return Ok(RunEnd::KernelPanic(format!(
                    "guest accessed physical address {addr:#x} outside its RAM"
                )));
            }
            VcpuExit::Shutdown => {
                return Ok(RunEnd::KernelPanic(format!(
                    "guest triple fault (vCPU shutdown); {}",
                    regs_summary(machine)
                )));
            }
            VcpuExit::Hlt => {
                return Ok(RunEnd::KernelPanic(
                    "guest halted with interrupts off".into(),
                ));
            }
            VcpuExit::FailEntry(reason, _) => {
                return Ok(RunEnd::KernelPanic(format!(
                    "KVM could not enter the guest (hardware entry failure {reason:#x})"
                )));
            }
            VcpuExit::InternalError => {
                return Ok(RunEnd::KernelPanic(format!(
                    "KVM internal error; {}",
                    regs_summary(machine)
                )));
            }
            VcpuExit::Intr => continue,
            other => return Ok(RunEnd::KernelPanic(format!("unexpected VM exit {other:?}"))),
        }
    }
}

fn regs_summary(machine: &Machine) -> String {
    match machine.vcpu.get_regs() {
        Ok(r) => format!("rip {:#x} rsp {:#x} rax {:#x}", r.rip, r.rsp, r.rax),
        Err(_) => "registers unavailable".into(),
    }
}

/// Prints what needs saying and maps the ending to an exit status.
fn report(end: RunEnd) -> i32 {
    match end {
        RunEnd::Exited(code) => code as i32,
        RunEnd::Signaled { signo, fault } => {
            match fault {
                Some((addr, rip)) => eprintln!(
                    "hull: program killed by {} (address {addr:#x}, rip {rip:#x})",
                    hull_arch::abi::signal_name(signo)
                ),
                None => eprintln!(
                    "hull: program killed by {}",
                    hull_arch::abi::signal_name(signo)
                ),
            }
            128 + signo as i32
        }
        RunEnd::ExecFailed { status, message } => {
            eprintln!("hull: {message}");
            status as i32
        }
        RunEnd::KernelPanic(msg) => {
            eprintln!("hull: guest kernel failure: {msg}");
            EXIT_GUEST_FAILURE
        }
        RunEnd::OutOfMemory(msg) => {
            eprintln!("hull: {msg}");
            EXIT_KILLED
        }
    }
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    File::open("/dev/urandom")?.read_exact(buf)
}

fn rustix_ids() -> (u32, u32) {
    // SAFETY: getuid and getgid have no preconditions and cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

trait FdFlags {
    fn as_fd_flags(&self) -> u32;
}

impl<T: std::os::fd::AsFd> FdFlags for T {
    fn as_fd_flags(&self) -> u32 {
        crate::host_io::status_flags(self.as_fd()).unwrap_or(libc::O_RDWR as u32)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;
    use crate::files::tests::{Scratch, spec};

    fn tree() -> (Scratch, Scratch, Mounts) {
        let root = Scratch::new("root-tree");
        root.write("bin/busybox", "BUSYBOX");
        std::fs::set_permissions(root.at("bin/busybox"), PermissionsExt::from_mode(0o755)).unwrap();
        symlink("/bin/busybox", root.at("bin/ls")).unwrap();
        symlink("/../../../../etc/passwd", root.at("bin/esc")).unwrap();
        root.write("usr/bin/tool", "not executable");
        root.mkdir("bin/dir");
        root.mkdir("usr/local/bin");
        let data = Scratch::new("root-data");
        data.write("prog", "PROG");
        std::fs::set_permissions(data.at("prog"), PermissionsExt::from_mode(0o700)).unwrap();
        let mounts = Mounts::open(Some(&root.0), &[spec(&data.0, "/data", true)]).unwrap();
        (root, data, mounts)
    }

    fn find(m: &Mounts, word: &str, wd: &str, path: Option<&str>) -> Result<String, i32> {
        find_program(m, word.as_bytes(), wd.as_bytes(), path)
            .map(|(_, len, exe)| {
                assert!(len > 0);
                String::from_utf8(exe).unwrap()
            })
            .map_err(|e| e.status())
    }

    #[test]
    fn programs_are_found_in_the_guest_tree() {
        let (_root, _data, m) = tree();
        let path = Some("/usr/local/bin:/usr/bin:/bin");
        // /proc/self/exe names the file the symlinks led to, as Linux does.
        assert_eq!(find(&m, "ls", "/", path), Ok("/bin/busybox".into()));
        assert_eq!(find(&m, "/bin/ls", "/", None), Ok("/bin/busybox".into()));
        assert_eq!(find(&m, "bin/ls", "/", None), Ok("/bin/busybox".into()));
        assert_eq!(find(&m, "./ls", "/bin", None), Ok("/bin/busybox".into()));
        assert_eq!(
            find(&m, "../bin/ls", "/usr", None),
            Ok("/bin/busybox".into())
        );
        assert_eq!(find(&m, "ls", "/", Some("bin")), Ok("/bin/busybox".into()));
        assert_eq!(
            find(&m, "ls", "/", None),
            Ok("/bin/busybox".into()),
            "Docker's PATH"
        );
        assert_eq!(find(&m, "/data/prog", "/", None), Ok("/data/prog".into()));
        assert_eq!(
            find(&m, "prog", "/", Some("/nope:/data")),
            Ok("/data/prog".into())
        );
        // Not executable, a directory: 126; missing: 127.
        assert_eq!(find(&m, "tool", "/", path), Err(126));
        assert_eq!(find(&m, "/usr/bin/tool", "/", path), Err(126));
        assert_eq!(find(&m, "dir", "/", Some("/bin")), Err(126));
        assert_eq!(find(&m, "missing", "/", path), Err(127));
        assert_eq!(find(&m, "", "/", path), Err(127));
        // An absolute symlink resolves inside the tree, never to the host's /etc/passwd.
        assert_eq!(find(&m, "/bin/esc", "/", path), Err(127));
        let msg = find_program(&m, b"missing", b"/", None)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("missing") && msg.contains(DEFAULT_GUEST_PATH),
            "{msg}"
        );
    }
}
