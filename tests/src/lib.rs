//! Harness for hull's integration tests.
//!
//! The tests are differential: a C program from `tests/programs/` is built with three
//! toolchains (glibc static, glibc static-pie, musl static), run natively and under
//! `hull run`, and the two runs must agree on stdout, stderr and exit status.
//!
//! Nothing here skips. A missing compiler, a missing hull binary or an unusable
//! `/dev/kvm` is a loud failure with a hint on how to fix it.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

pub mod files;
pub mod procs;

/// How long any single run may take before the harness kills it. A hang fails the
/// test instead of blocking the suite.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(60);

/// The `PATH` hull gives the guest, and so the one native runs get.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The `HOME` hull gives the guest.
pub const DEFAULT_HOME: &str = "/";

/// The workspace root: the parent of this crate's directory.
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// Where the C test programs live.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("programs")
}

/// Where compiled test programs and scratch files go: `<workspace>/target/hull-tests`.
pub fn cache_dir() -> PathBuf {
    workspace_dir().join("target").join("hull-tests")
}

/// A fresh scratch directory under the cache directory, unique to this call.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = cache_dir()
        .join("scratch")
        .join(format!("{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create scratch dir {}: {e}", dir.display()));
    dir
}

// ---------------------------------------------------------------------------------------
// Building the C programs
// ---------------------------------------------------------------------------------------

/// A way to build a C program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toolchain {
    /// `gcc -static -O2`: glibc, fixed load address.
    GccStatic,
    /// `gcc -static-pie -O2 -fPIE`: glibc, self-relocating.
    GccStaticPie,
    /// `musl-gcc -static -O2`.
    MuslStatic,
    /// `gcc -O2`: dynamically linked. Not supported by hull; used by the hostile tests.
    GccDynamic,
    /// `gcc -c -O2`: a relocatable object (ET_REL). Used by the hostile tests.
    GccObject,
}

impl Toolchain {
    /// The toolchains every differential test runs with.
    pub const ALL: [Toolchain; 3] = [
        Toolchain::GccStatic,
        Toolchain::GccStaticPie,
        Toolchain::MuslStatic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Toolchain::GccStatic => "gcc-static",
            Toolchain::GccStaticPie => "gcc-static-pie",
            Toolchain::MuslStatic => "musl-static",
            Toolchain::GccDynamic => "gcc-dynamic",
            Toolchain::GccObject => "gcc-object",
        }
    }

    fn compiler(self) -> &'static str {
        match self {
            Toolchain::MuslStatic => "musl-gcc",
            _ => "gcc",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Toolchain::GccStatic => &["-static", "-O2"],
            Toolchain::GccStaticPie => &["-static-pie", "-O2", "-fPIE"],
            Toolchain::MuslStatic => &["-static", "-O2"],
            Toolchain::GccDynamic => &["-O2"],
            Toolchain::GccObject => &["-c", "-O2"],
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Toolchain::MuslStatic => "apt-get install musl-tools",
            _ => "apt-get install gcc libc6-dev",
        }
    }
}

const COMMON_FLAGS: &[&str] = &[
    "-Wall",
    "-Wextra",
    "-D_GNU_SOURCE",
    "-fno-omit-frame-pointer",
];

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time among a program's source and the shared headers.
fn newest_input(src: &Path) -> SystemTime {
    let mut newest = mtime(src).unwrap_or(SystemTime::UNIX_EPOCH);
    if let Ok(entries) = fs::read_dir(programs_dir()) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension() == Some(OsStr::new("h"))
                && let Some(t) = mtime(&path)
            {
                newest = newest.max(t);
            }
        }
    }
    newest
}

/// Builds `tests/programs/<program>.c` with `toolchain` into the cache and returns the
/// binary's path. The binary is rebuilt when the source or a shared header is newer.
/// Builds are atomic (compile to a temporary name, then rename), so concurrent tests may
/// ask for the same program.
pub fn compile(program: &str, toolchain: Toolchain) -> PathBuf {
    let src = programs_dir().join(format!("{program}.c"));
    assert!(
        src.is_file(),
        "no such test program: {} does not exist",
        src.display()
    );
    let compiler = toolchain.compiler();
    let mut key = String::from(compiler);
    for flag in toolchain.flags().iter().chain(COMMON_FLAGS) {
        key.push(' ');
        key.push_str(flag);
    }
    let dir = cache_dir().join(toolchain.name());
    let suffix = if toolchain == Toolchain::GccObject {
        ".o"
    } else {
        ""
    };
    let out = dir.join(format!(
        "{program}-{:08x}{suffix}",
        fnv1a(key.as_bytes()) as u32
    ));
    if let Some(built) = mtime(&out)
        && built >= newest_input(&src)
    {
        return out;
    }
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create build dir {}: {e}", dir.display()));
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{program}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut cmd = Command::new(compiler);
    cmd.args(toolchain.flags())
        .args(COMMON_FLAGS)
        .arg("-I")
        .arg(programs_dir())
        .arg("-o")
        .arg(&tmp)
        .arg(&src);
    if toolchain != Toolchain::GccObject {
        cmd.arg("-lm");
    }
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{compiler}` is not installed, and hull's tests need it to build their test \
             programs (toolchain {}). Install it: `{}`",
            toolchain.name(),
            toolchain.install_hint()
        ),
        Err(e) => panic!("cannot run `{compiler}`: {e}"),
    };
    if !output.status.success() {
        let _ = fs::remove_file(&tmp);
        panic!(
            "building {} with {} failed ({}):\n{}",
            src.display(),
            toolchain.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if !output.stderr.is_empty() {
        // Warnings are shown (with --nocapture or on failure) but do not fail the build.
        eprintln!(
            "warnings building {program} ({}):\n{}",
            toolchain.name(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    fs::rename(&tmp, &out)
        .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", tmp.display(), out.display()));
    out
}

// ---------------------------------------------------------------------------------------
// Finding hull and KVM
// ---------------------------------------------------------------------------------------

/// The hull binary: `$HULL_BIN`, else `<workspace>/target/release/hull`. Panics with a
/// hint when it is missing.
pub fn hull_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("HULL_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "HULL_BIN is set to {}, which does not exist",
            path.display()
        );
        return path;
    }
    let path = workspace_dir().join("target").join("release").join("hull");
    assert!(
        path.is_file(),
        "the hull binary is missing at {}: run `cargo build --release` in {} first \
         (or point HULL_BIN at a hull binary)",
        path.display(),
        workspace_dir().display()
    );
    path
}

/// Panics loudly if `/dev/kvm` cannot be opened for reading and writing. hull's tests
/// never skip for want of KVM: a machine without it fails them.
pub fn require_kvm() {
    static KVM: OnceLock<Result<(), String>> = OnceLock::new();
    let result = KVM.get_or_init(|| {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map(drop)
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        panic!(
            "/dev/kvm cannot be opened for reading and writing ({e}). hull needs KVM and its \
             tests do not skip: run them where /dev/kvm exists and this user may open it \
             (root, or a member of the kvm group)."
        );
    }
}

/// Limits the harness sets once on itself, so that every child inherits them: no core
/// dumps (the signal tests crash on purpose) and the default 8 MiB stack (the recursion
/// and stack-overflow tests depend on it).
fn init_process_limits() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let set = |resource, value: libc::rlim_t| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
            if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
                return;
            }
            lim.rlim_cur = if lim.rlim_max == libc::RLIM_INFINITY {
                value
            } else {
                value.min(lim.rlim_max)
            };
            // SAFETY: `lim` is a valid rlimit; setrlimit only reads it.
            unsafe { libc::setrlimit(resource, &lim) };
        };
        set(libc::RLIMIT_CORE, 0);
        set(libc::RLIMIT_STACK, 8 << 20);
    });
}

// ---------------------------------------------------------------------------------------
// Running programs
// ---------------------------------------------------------------------------------------

/// One `--env` entry of `hull run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvArg {
    /// `--env KEY=VALUE`: the guest gets KEY=VALUE.
    Set(String, String),
    /// `--env KEY`: the guest gets the host's value of KEY (hull's own environment).
    Pass(String),
}

/// What to run a program with. The same `Run` drives the native run and the hull run, so
/// the two see the same arguments, stdin and environment.
#[derive(Clone, Debug)]
pub struct Run {
    pub args: Vec<OsString>,
    pub stdin: Vec<u8>,
    pub env: Vec<EnvArg>,
    /// Changes to hull's own (host) environment: `Some(v)` sets, `None` removes. They
    /// matter only through `TERM` and `EnvArg::Pass`, as the guest inherits nothing else.
    pub host_env: Vec<(String, Option<String>)>,
    /// Extra flags for `hull run`, placed before PROGRAM.
    pub hull_flags: Vec<String>,
    pub kill_timeout: Duration,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            args: Vec::new(),
            stdin: Vec::new(),
            env: Vec::new(),
            host_env: Vec::new(),
            hull_flags: Vec::new(),
            kill_timeout: KILL_TIMEOUT,
        }
    }
}

impl Run {
    pub fn new() -> Self {
        Run::default()
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = data.into();
        self
    }

    /// `--env KEY=VALUE`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(EnvArg::Set(key.into(), value.into()));
        self
    }

    /// `--env KEY`: pass the host's value through.
    pub fn pass_env(mut self, key: &str) -> Self {
        self.env.push(EnvArg::Pass(key.into()));
        self
    }

    /// Sets a variable in hull's own environment (and so in "the host" for native runs).
    pub fn host_env(mut self, key: &str, value: &str) -> Self {
        self.host_env.push((key.into(), Some(value.into())));
        self
    }

    /// Removes a variable from hull's own environment.
    pub fn host_env_remove(mut self, key: &str) -> Self {
        self.host_env.push((key.into(), None));
        self
    }

    pub fn hull_flag(mut self, flag: &str) -> Self {
        self.hull_flags.push(flag.into());
        self
    }

    pub fn kill_timeout(mut self, timeout: Duration) -> Self {
        self.kill_timeout = timeout;
        self
    }

    /// A host variable as hull's process will see it.
    fn host_var(&self, key: &str) -> Option<String> {
        if let Some((_, value)) = self.host_env.iter().rev().find(|(k, _)| k == key) {
            return value.clone();
        }
        std::env::var(key).ok()
    }

    /// The environment the program should see, in the order hull's contract lists it:
    /// PATH, HOME, TERM (if set on the host), then the `--env` entries, later entries
    /// replacing earlier ones of the same name.
    pub fn guest_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), DEFAULT_PATH.into()),
            ("HOME".into(), DEFAULT_HOME.into()),
        ];
        if let Some(term) = self.host_var("TERM") {
            env.push(("TERM".into(), term));
        }
        for entry in &self.env {
            let (key, value) = match entry {
                EnvArg::Set(k, v) => (k.clone(), v.clone()),
                EnvArg::Pass(k) => match self.host_var(k) {
                    Some(v) => (k.clone(), v),
                    None => continue,
                },
            };
            match env.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => env.push((key, value)),
            }
        }
        env
    }

    /// Runs `program` natively with a cleared environment set to what hull would give.
    pub fn native(&self, program: &Path) -> Outcome {
        let mut cmd = Command::new(program);
        cmd.args(&self.args).env_clear();
        for (k, v) in self.guest_env() {
            cmd.env(k, v);
        }
        let desc = describe_command(&[program.as_os_str()], &self.args);
        execute(cmd, &self.stdin, self.kill_timeout, desc)
    }

    /// Runs `program` under `hull run`.
    pub fn hull(&self, program: &Path) -> Outcome {
        require_kvm();
        let hull = hull_bin();
        let mut cmd = Command::new(&hull);
        cmd.arg("run");
        let mut shown: Vec<OsString> = vec![hull.clone().into_os_string(), "run".into()];
        for entry in &self.env {
            let value = match entry {
                EnvArg::Set(k, v) => format!("{k}={v}"),
                EnvArg::Pass(k) => k.clone(),
            };
            cmd.arg("--env").arg(&value);
            shown.push("--env".into());
            shown.push(value.into());
        }
        for flag in &self.hull_flags {
            cmd.arg(flag);
            shown.push(flag.into());
        }
        cmd.arg(program).args(&self.args);
        shown.push(program.as_os_str().to_owned());
        for (key, value) in &self.host_env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        let shown: Vec<&OsStr> = shown.iter().map(OsString::as_os_str).collect();
        let mut desc = describe_command(&shown, &self.args);
        if !self.host_env.is_empty() {
            let changes: Vec<String> = self
                .host_env
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v:?}"),
                    None => format!("{k} unset"),
                })
                .collect();
            desc = format!("{desc}  [hull's environment: {}]", changes.join(", "));
        }
        execute(cmd, &self.stdin, self.kill_timeout, desc)
    }
}

/// Runs the hull binary with exactly `args` (no `run` added), for tests of hull's own
/// command line.
pub fn hull_raw<S: AsRef<OsStr>>(args: &[S], kill_timeout: Duration) -> Outcome {
    require_kvm();
    let hull = hull_bin();
    let mut cmd = Command::new(&hull);
    cmd.args(args);
    let args: Vec<OsString> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    let desc = describe_command(&[hull.as_os_str()], &args);
    execute(cmd, &[], kill_timeout, desc)
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The status as a shell reports it: the exit code, or 128 + the signal number.
    pub status: i32,
    /// The signal that killed the process itself, if one did.
    pub signal: Option<i32>,
    /// The harness killed the run after its kill timeout.
    pub timed_out: bool,
    pub elapsed: Duration,
    /// A readable (abbreviated) command line, for messages.
    pub command: String,
}

impl Outcome {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// stderr lines that start with `hull: `.
    pub fn hull_lines(&self) -> Vec<String> {
        self.stderr_str()
            .lines()
            .filter(|l| l.starts_with("hull: "))
            .map(str::to_owned)
            .collect()
    }

    /// Whether stderr shows a Rust panic.
    pub fn panicked(&self) -> bool {
        self.stderr_str().contains("panicked at")
    }

    /// A short report of this run for assertion messages.
    pub fn summary(&self) -> String {
        format!(
            "command: {}\nstatus: {}{}{}\nelapsed: {:.2?}\nstdout ({} bytes):\n{}\nstderr ({} bytes):\n{}",
            self.command,
            self.status,
            match self.signal {
                Some(s) => format!(" (killed by {})", signal_name(s)),
                None => String::new(),
            },
            if self.timed_out {
                " (KILLED BY THE HARNESS AFTER ITS TIMEOUT: the run hung)"
            } else {
                ""
            },
            self.elapsed,
            self.stdout.len(),
            indent(&head_tail(&self.stdout, 20)),
            self.stderr.len(),
            indent(&head_tail(&self.stderr, 20)),
        )
    }
}

fn describe_command(prefix: &[&OsStr], args: &[OsString]) -> String {
    let mut out = String::new();
    let mut push = |s: &OsStr| {
        let s = s.to_string_lossy();
        if !out.is_empty() {
            out.push(' ');
        }
        if s.chars().count() > 60 {
            let head: String = s.chars().take(24).collect();
            let _ = write!(out, "{head:?}…({} bytes)", s.len());
        } else if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            let _ = write!(out, "{s:?}");
        } else {
            out.push_str(&s);
        }
    };
    for p in prefix {
        push(p);
    }
    for a in args.iter().take(12) {
        push(a);
    }
    if args.len() > 12 {
        let _ = write!(out, " …({} more args)", args.len() - 12);
    }
    out
}

/// The status as a shell reports it.
pub fn shell_status(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

/// Spawns `cmd` in its own process group with piped stdio, feeds `stdin`, collects
/// stdout and stderr, and kills the whole group if it outlives `timeout`.
fn execute(mut cmd: Command, stdin: &[u8], timeout: Duration, command: String) -> Outcome {
    init_process_limits();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    let pid = child.id() as libc::pid_t;

    let mut child_stdin = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // A program that exits without reading makes this fail with EPIPE, which is fine.
    let writer = thread::spawn(move || {
        let _ = child_stdin.write_all(&input);
    });
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });

    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(status);
    });
    let kill_group = || {
        // SAFETY: kill(2) with a negative pid signals the process group that the child
        // leads (process_group(0) above); it touches no memory of ours.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    };
    let (status, timed_out) = match rx.recv_timeout(timeout) {
        Ok(status) => (status, false),
        Err(_) => {
            kill_group();
            (
                rx.recv().expect("the waiter thread reports the status"),
                true,
            )
        }
    };
    let elapsed = start.elapsed();
    // Anything the program left behind in its group would hold the pipes open.
    kill_group();
    let status = status.unwrap_or_else(|e| panic!("waiting for `{command}` failed: {e}"));
    waiter.join().expect("waiter thread");
    writer.join().expect("stdin writer thread");
    let stdout = out_reader.join().expect("stdout reader thread");
    let stderr = err_reader.join().expect("stderr reader thread");
    Outcome {
        stdout,
        stderr,
        status: shell_status(status),
        signal: status.signal(),
        timed_out,
        elapsed,
        command,
    }
}

/// Runs `bin` natively with `args`, `stdin` and `--env`-style `env` entries on top of the
/// default environment hull gives.
pub fn run_native(bin: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Outcome {
    env.iter()
        .fold(Run::new().args(args).stdin(stdin), |r, (k, v)| r.env(k, v))
        .native(bin)
}

/// Runs `bin` under `hull run` with `args`, `stdin`, `--env KEY=VALUE` for each of `env`,
/// and `extra_hull_flags` before PROGRAM.
pub fn run_hull(
    bin: &Path,
    args: &[&str],
    stdin: &[u8],
    env: &[(&str, &str)],
    extra_hull_flags: &[&str],
) -> Outcome {
    let run = env
        .iter()
        .fold(Run::new().args(args).stdin(stdin), |r, (k, v)| r.env(k, v));
    extra_hull_flags
        .iter()
        .fold(run, |r, f| r.hull_flag(f))
        .hull(bin)
}

// ---------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------

/// The name of a signal number, as hull's "killed by" line spells it.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Drops the lines that start with `hull: `.
pub fn drop_hull_lines(stderr: &[u8]) -> Vec<u8> {
    stderr
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b"hull: "))
        .flatten()
        .copied()
        .collect()
}

/// Compares a native run with a hull run of the same program. On a mismatch the error
/// describes every difference with a readable diff.
///
/// When hull's status says the program was killed by a signal (above 128), lines of
/// hull's stderr that start with `hull: ` are hull's own report and are left out of the
/// stderr comparison; when the native run was killed by a signal, hull must have printed
/// exactly one `hull: program killed by SIG…` line naming that signal.
pub fn compare(name: &str, native: &Outcome, hull: &Outcome) -> Result<(), String> {
    let mut problems = Vec::new();
    if native.timed_out {
        problems.push(format!(
            "the NATIVE run hung and was killed after {:.0?}: the test itself is broken",
            native.elapsed
        ));
    }
    if hull.timed_out {
        problems.push(format!(
            "the hull run hung and was killed by the harness after {:.0?}",
            hull.elapsed
        ));
    }
    if hull.panicked() {
        problems.push("hull panicked (stderr contains \"panicked at\")".to_string());
    }
    if let Some(sig) = hull.signal
        && !hull.timed_out
    {
        problems.push(format!(
            "the hull process itself was killed by {} (a crash of the sandbox, not of the \
             program; SIGSYS suggests hull's own seccomp filter)",
            signal_name(sig)
        ));
    }
    if native.status != hull.status {
        problems.push(format!(
            "exit status differs: native {}{}, hull {}",
            native.status,
            native
                .signal
                .map(|s| format!(" ({})", signal_name(s)))
                .unwrap_or_default(),
            hull.status
        ));
    }
    if native.stdout != hull.stdout {
        problems.push(render_diff("stdout", &native.stdout, &hull.stdout));
    }
    let hull_stderr = if hull.status > 128 {
        drop_hull_lines(&hull.stderr)
    } else {
        hull.stderr.clone()
    };
    if native.stderr != hull_stderr {
        let what = if hull.status > 128 {
            "stderr (hull's own `hull: ` lines left out)"
        } else {
            "stderr"
        };
        problems.push(render_diff(what, &native.stderr, &hull_stderr));
    }
    if let Some(sig) = native.signal {
        let killed: Vec<String> = hull
            .hull_lines()
            .into_iter()
            .filter(|l| l.starts_with("hull: program killed by SIG"))
            .collect();
        let want = format!("hull: program killed by {}", signal_name(sig));
        if killed.len() != 1 || !killed[0].starts_with(&want) {
            problems.push(format!(
                "expected exactly one stderr line starting with {want:?}, got {killed:?}"
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = format!("{name}: native and hull disagree\n");
    let _ = writeln!(msg, "  native: {}", native.command);
    let _ = writeln!(msg, "  hull:   {}", hull.command);
    for p in problems {
        let _ = writeln!(msg, "  * {}", p.replace('\n', "\n    "));
    }
    if !hull.stderr.is_empty() && native.stderr != hull.stderr {
        let _ = writeln!(
            msg,
            "  hull's full stderr:\n{}",
            indent(&head_tail(&hull.stderr, 30))
        );
    }
    Err(msg)
}

/// Panics with a readable diff if the native and hull runs disagree.
pub fn assert_same(name: &str, native: &Outcome, hull: &Outcome) {
    if let Err(msg) = compare(name, native, hull) {
        panic!("{msg}");
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// At most `n` lines from each end of `data`, with the middle elided.
fn head_tail(data: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let clip = |l: &str| -> String {
        if l.chars().count() > 200 {
            let head: String = l.chars().take(200).collect();
            format!("{head}…({} bytes)", l.len())
        } else {
            l.to_string()
        }
    };
    if lines.len() <= 2 * n {
        return lines.iter().map(|l| clip(l)).collect::<Vec<_>>().join("\n");
    }
    let mut out: Vec<String> = lines[..n].iter().map(|l| clip(l)).collect();
    out.push(format!("…({} lines elided)…", lines.len() - 2 * n));
    out.extend(lines[lines.len() - n..].iter().map(|l| clip(l)));
    out.join("\n")
}

fn show_line(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.strip_suffix('\n').map_or_else(
        || format!("{} [no newline at end]", text.escape_debug()),
        |t| t.escape_debug().to_string(),
    );
    if text.chars().count() > 160 {
        let head: String = text.chars().take(160).collect();
        format!("{head}…")
    } else {
        text
    }
}

/// A line diff of two outputs: a full LCS diff when both are small, otherwise the region
/// around the first difference. `-` lines are native's, `+` lines hull's.
pub fn render_diff(what: &str, native: &[u8], hull: &[u8]) -> String {
    let a: Vec<&[u8]> = native.split_inclusive(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = hull.split_inclusive(|&b| b == b'\n').collect();
    let first_byte = native
        .iter()
        .zip(hull)
        .position(|(x, y)| x != y)
        .unwrap_or(native.len().min(hull.len()));
    let mut out = format!(
        "{what} differs: native {} bytes / {} lines, hull {} bytes / {} lines; first \
         difference at byte {first_byte}\n  (- native, + hull)\n",
        native.len(),
        a.len(),
        hull.len(),
        b.len()
    );
    if a.len() <= 200 && b.len() <= 200 {
        // LCS table over lines.
        let (n, m) = (a.len(), b.len());
        let mut lcs = vec![vec![0u16; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        let mut lines = Vec::new();
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                lines.push(format!("   {}", show_line(a[i])));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
                lines.push(format!(" - {}", show_line(a[i])));
                i += 1;
            } else {
                lines.push(format!(" + {}", show_line(b[j])));
                j += 1;
            }
        }
        // Keep changed lines and three lines of context around them.
        let changed: Vec<bool> = lines.iter().map(|l| !l.starts_with("   ")).collect();
        let mut last_shown = None;
        for (k, line) in lines.iter().enumerate() {
            let near = (k.saturating_sub(3)..=(k + 3).min(lines.len() - 1)).any(|x| changed[x]);
            if near {
                if let Some(prev) = last_shown {
                    if k > prev + 1 {
                        out.push_str("   …\n");
                    }
                } else if k > 0 {
                    out.push_str("   …\n");
                }
                out.push_str(line);
                out.push('\n');
                last_shown = Some(k);
            }
        }
    } else {
        let first_line = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let from = first_line.saturating_sub(3);
        let _ = writeln!(
            out,
            "  (large output: lines {from}.. around the first difference)"
        );
        for (k, line) in a.iter().enumerate().skip(from).take(12) {
            let mark = if k >= first_line { '-' } else { ' ' };
            let _ = writeln!(out, " {mark} {}", show_line(line));
        }
        for (k, line) in b.iter().enumerate().skip(from).take(12) {
            if k >= first_line {
                let _ = writeln!(out, " + {}", show_line(line));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Differential test driver
// ---------------------------------------------------------------------------------------

/// One way of running a program in a differential test.
#[derive(Clone, Debug)]
pub struct Case {
    pub label: String,
    pub run: Run,
    /// The status the native run must have. A native run that ends otherwise means the
    /// test (or the host) is broken, which is reported as such.
    pub expect_status: i32,
}

impl Case {
    pub fn new(label: impl Into<String>, run: Run) -> Self {
        Case {
            label: label.into(),
            run,
            expect_status: 0,
        }
    }

    pub fn status(mut self, status: i32) -> Self {
        self.expect_status = status;
        self
    }
}

/// Builds `program` with every toolchain in [`Toolchain::ALL`] and runs each case natively
/// and under hull. All disagreements are collected and reported together in one panic.
pub fn differential(program: &str, cases: &[Case]) {
    differential_with(program, &Toolchain::ALL, cases);
}

/// [`differential`] over a chosen set of toolchains.
pub fn differential_with(program: &str, toolchains: &[Toolchain], cases: &[Case]) {
    const SHOWN: usize = 10;
    let failures = differential_failures(program, toolchains, cases);
    if !failures.is_empty() {
        let mut msg = format!(
            "{} of {} differential checks of `{program}` failed:\n\n{}",
            failures.len(),
            toolchains.len() * cases.len(),
            failures[..failures.len().min(SHOWN)].join("\n")
        );
        if failures.len() > SHOWN {
            let _ = writeln!(
                msg,
                "\n…and {} more, of which the first lines are:",
                failures.len() - SHOWN
            );
            for f in &failures[SHOWN..] {
                let _ = writeln!(msg, "  {}", f.lines().next().unwrap_or_default());
            }
        }
        panic!("{msg}");
    }
}

/// Runs the differential checks and returns one message per failed check.
pub fn differential_failures(
    program: &str,
    toolchains: &[Toolchain],
    cases: &[Case],
) -> Vec<String> {
    let mut failures = Vec::new();
    for &toolchain in toolchains {
        let bin = compile(program, toolchain);
        for case in cases {
            let name = format!("[{}] {program} {}", toolchain.name(), case.label);
            let native = case.run.native(&bin);
            if native.status != case.expect_status || native.timed_out {
                failures.push(format!(
                    "{name}: the NATIVE run ended with status {} instead of {}: the test program \
                     or the host is broken, not hull\n{}\n",
                    native.status,
                    case.expect_status,
                    indent(&native.summary())
                ));
                continue;
            }
            let hull = case.run.hull(&bin);
            if let Err(msg) = compare(&name, &native, &hull) {
                failures.push(msg);
            }
        }
    }
    failures
}
