//! The command line: `hull run [OPTIONS] PROGRAM [ARGS...]`, and the parsing of its values.
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hull",
    version,
    about = "Run an untrusted Linux x86_64 program in a KVM sandbox with its own kernel"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM (a static x86_64 ELF) in the sandbox.
    #[command(after_help = RUN_SIGNALS_HELP)]
    Run(RunArgs),
}

/// What `hull run --help` says about signals (see `host_signals`).
const RUN_SIGNALS_HELP: &str = "\
Signals: SIGINT, SIGTERM and SIGHUP sent to hull go to the program (the sandbox's init). \
Each one is forwarded; if the sandbox has not taken a SIGINT or SIGTERM within 2 s, or \
another one comes before it did, hull kills the sandbox and exits with 128+N (130 for SIGINT, 143 \
for SIGTERM). SIGQUIT and SIGKILL end hull at once; a signal hull was started with \
ignored (nohup) stays ignored.";

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Set KEY=VALUE in the program's environment, or pass the host's KEY with a bare KEY.
    #[arg(long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Print every syscall, its arguments and its result on stderr.
    #[arg(long)]
    pub strace: bool,
    /// Print where the run's time went (setup phases, time in the guest) and the VM exits
    /// per hypercall, on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// Guest RAM (e.g. 256M, 1G); backed lazily, so unused memory costs nothing.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub memory: u64,
    /// Wall-clock limit (e.g. 10s, 500ms, 2m); past it the program is killed (status 137).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Make host directory HOST visible at GUEST (an absolute guest path) in the sandbox:
    /// read-write, or read-only with :ro (enforced by hull on the host, not only by the
    /// guest). Repeatable; mounts may nest (/data and /data/sub). GUEST cannot be /, nor
    /// under /proc or /dev. Symlinks inside HOST are resolved in the guest's tree, never on
    /// the host, so nothing outside HOST is reachable through them.
    #[arg(long = "mount", value_name = "HOST:GUEST[:ro]", value_parser = parse_mount)]
    pub mounts: Vec<crate::files::MountSpec>,
    /// Use host directory DIR as the guest's / (like a container image): read-only, with an
    /// in-memory overlay that takes the program's writes and is discarded at exit. PROGRAM
    /// is then looked up in DIR as `docker run IMAGE CMD` does: an absolute path as is, a
    /// path with a '/' from --workdir, a bare name through the program's PATH.
    #[arg(long, value_name = "DIR")]
    pub root: Option<std::path::PathBuf>,
    /// Bytes that the in-memory file systems (/tmp, the --root overlay) may hold together,
    /// out of --memory (e.g. 64M, 1G); by default 64M or half of --memory if that is less.
    #[arg(long = "tmpfs-size", value_name = "SIZE", value_parser = parse_bytes)]
    pub tmpfs_size: Option<u64>,
    /// Most tasks (processes and threads) the sandbox may have at once; past it fork and
    /// clone fail with EAGAIN.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub pids: u32,
    /// The program's initial working directory, an absolute path in the guest.
    #[arg(long, short = 'w', value_name = "DIR", default_value = "/", value_parser = parse_workdir)]
    pub workdir: GuestPath,
    /// Use this guest kernel ELF instead of the embedded one (development).
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<std::path::PathBuf>,
    /// The program to run, then its arguments (everything after PROGRAM is the program's,
    /// including words that look like hull's options).
    #[arg(value_name = "PROGRAM [ARGS]", required = true, num_args = 1.., trailing_var_arg = true)]
    pub command: Vec<std::ffi::OsString>,
}

impl RunArgs {
    /// The program path (the first word of the command).
    pub fn program(&self) -> std::path::PathBuf {
        self.command[0].clone().into()
    }

    /// The in-memory file systems' bound: `--tmpfs-size`, else 64 MiB or half of guest RAM.
    pub fn tmpfs_size(&self) -> u64 {
        self.tmpfs_size.unwrap_or((64 << 20).min(self.memory / 2))
    }

    /// The program's arguments after argv[0].
    pub fn args(&self) -> &[std::ffi::OsString] {
        &self.command[1..]
    }
}

/// Parses a byte count like `64M`, `1G`, `256MiB`, `4096` (K, M and G are powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a number with an optional K, M or G suffix")
    })?;
    let mult: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {unit:?} (use K, M or G)"
            ));
        }
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or(format!("size {s:?} is too large"))?;
    if bytes == 0 {
        return Err(format!("invalid size {s:?}: must be positive"));
    }
    Ok(bytes)
}

/// Parses a size like `512M`, `1G`, `256MiB` or a byte count; the result is rounded up to
/// 2 MiB (the kernel maps RAM in large pages).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = parse_bytes(s)?;
    let rounded = bytes.div_ceil(2 << 20) * (2 << 20);
    if rounded < hull_arch::layout::MIN_RAM {
        return Err(format!(
            "--memory {s}: at least {} MiB is needed",
            hull_arch::layout::MIN_RAM >> 20
        ));
    }
    if rounded > hull_arch::layout::MAX_RAM {
        return Err(format!(
            "--memory {s}: at most {} GiB is supported",
            hull_arch::layout::MAX_RAM >> 30
        ));
    }
    Ok(rounded)
}

/// An absolute, normalized path in the guest's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPath(pub Vec<u8>);

/// Checks a mount's guest path: absolute, no `.` or `..`, not `/`, not under `/proc` or
/// `/dev`; repeated and trailing `/` are dropped.
pub fn parse_mount_point(p: &str) -> Result<Vec<u8>, String> {
    if !p.starts_with('/') {
        return Err(format!("the guest path {p:?} must be absolute"));
    }
    let mut out = Vec::new();
    for c in p.split('/').filter(|c| !c.is_empty()) {
        if c == "." || c == ".." {
            return Err(format!(
                "the guest path {p:?} must not contain '.' or '..' components"
            ));
        }
        out.push(b'/');
        out.extend_from_slice(c.as_bytes());
    }
    if out.is_empty() {
        return Err("cannot mount over /; use --root DIR to give the guest another /".into());
    }
    for own in [&b"/proc"[..], b"/dev"] {
        if out.starts_with(own) && matches!(out.get(own.len()), None | Some(b'/')) {
            return Err(format!(
                "cannot mount at {p}: /proc and /dev belong to the sandbox's kernel"
            ));
        }
    }
    if out.len() > hull_arch::abi::MAX_PATH {
        return Err(format!("the guest path {p:?} is too long"));
    }
    Ok(out)
}

/// Parses `--mount HOST:GUEST[:ro|:rw]`. HOST may contain ':' (the guest path is after the
/// last one); whether HOST is a directory is checked when the sandbox is built.
pub fn parse_mount(s: &str) -> Result<crate::files::MountSpec, String> {
    let (rest, readonly) = if let Some(r) = s.strip_suffix(":ro") {
        (r, true)
    } else if let Some(r) = s.strip_suffix(":rw") {
        (r, false)
    } else {
        (s, false)
    };
    let usage = || format!("--mount {s:?}: expected HOST:GUEST or HOST:GUEST:ro");
    let (host, guest) = rest.rsplit_once(':').ok_or_else(usage)?;
    if host.is_empty() {
        return Err(usage());
    }
    if !guest.starts_with('/') && host.contains(':') {
        return Err(format!(
            "--mount {s:?}: {guest:?} is neither an absolute guest path nor a mode (ro, rw)"
        ));
    }
    let guest = parse_mount_point(guest).map_err(|e| format!("--mount {s:?}: {e}"))?;
    Ok(crate::files::MountSpec {
        host: host.into(),
        guest,
        readonly,
    })
}

/// Parses `--workdir`: an absolute guest path, normalized lexically (`.` and `..` are
/// resolved, `/` is the top).
pub fn parse_workdir(s: &str) -> Result<GuestPath, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "--workdir {s:?}: must be an absolute path in the guest"
        ));
    }
    let p = crate::files::normalize_guest_path(s.as_bytes());
    if p.len() > hull_arch::abi::MAX_PATH {
        return Err(format!("--workdir {s:?}: too long"));
    }
    Ok(GuestPath(p))
}

/// Parses a duration like `10s`, `500ms`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 500ms or 2m"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ));
        }
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The program's environment: the defaults (PATH, HOME=/, TERM if set), then each
/// `--env` (KEY=VALUE sets; a bare KEY copies the host's value, or is dropped if unset).
pub fn build_env(
    specs: &[String],
    host: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("HOME".into(), "/".into()),
    ];
    if let Some(term) = host("TERM") {
        env.push(("TERM".into(), term));
    }
    for spec in specs {
        let (key, value) = match spec.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (spec.clone(), host(spec)),
        };
        if key.is_empty() || key.contains('\0') {
            return Err(format!("--env {spec:?}: the name must be non-empty"));
        }
        env.retain(|(k, _)| *k != key);
        if let Some(v) = value {
            if v.contains('\0') {
                return Err(format!("--env {spec:?}: values cannot contain NUL"));
            }
            env.push((key, v));
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_after_program_belongs_to_it() {
        let cli = Cli::try_parse_from([
            "hull",
            "run",
            "--strace",
            "./p",
            "--env",
            "X=1",
            "--timeout",
            "1s",
            "-h",
            "--",
            "run",
        ])
        .unwrap();
        let Command::Run(r) = cli.command;
        assert!(r.strace);
        assert!(r.env.is_empty() && r.timeout.is_none());
        assert_eq!(r.program(), std::path::PathBuf::from("./p"));
        assert_eq!(
            r.args(),
            ["--env", "X=1", "--timeout", "1s", "-h", "--", "run"].map(std::ffi::OsString::from)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("33M"), Ok(34 << 20), "rounded up to 2 MiB");
        assert!(parse_size("1M").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn file_system_options() {
        let cli = Cli::try_parse_from(["hull", "run", "./p"]).unwrap();
        let Command::Run(r) = cli.command;
        assert_eq!(r.workdir, GuestPath(b"/".to_vec()));
        assert_eq!(r.tmpfs_size(), 64 << 20);
        assert!(r.mounts.is_empty() && r.root.is_none());
        let cli = Cli::try_parse_from([
            "hull",
            "run",
            "--mount",
            "/a:/data",
            "--mount",
            "/b:/data/sub:ro",
            "--root",
            "/img",
            "-w",
            "/data/./x/..",
            "--tmpfs-size",
            "1000",
            "./p",
        ])
        .unwrap();
        let Command::Run(r) = cli.command;
        assert_eq!(r.mounts.len(), 2);
        assert!(r.mounts[1].readonly && !r.mounts[0].readonly);
        assert_eq!(r.root, Some("/img".into()));
        assert_eq!(r.workdir, GuestPath(b"/data".to_vec()));
        assert_eq!(r.tmpfs_size(), 1000, "not rounded like --memory");
        let cli = Cli::try_parse_from(["hull", "run", "--memory", "64M", "./p"]).unwrap();
        let Command::Run(r) = cli.command;
        assert_eq!(r.tmpfs_size(), 32 << 20, "half of a small --memory");
        assert!(Cli::try_parse_from(["hull", "run", "--mount", "/a:/proc", "./p"]).is_err());
        assert!(Cli::try_parse_from(["hull", "run", "-w", "rel", "./p"]).is_err());
        assert!(Cli::try_parse_from(["hull", "run", "--tmpfs-size", "0", "./p"]).is_err());
    }

    #[test]
    fn mount_specs() {
        let m = |s: &str| {
            parse_mount(s).map(|m| (m.host, String::from_utf8(m.guest).unwrap(), m.readonly))
        };
        assert_eq!(m("/h:/data"), Ok(("/h".into(), "/data".into(), false)));
        assert_eq!(m("/h:/data:ro"), Ok(("/h".into(), "/data".into(), true)));
        assert_eq!(m("/h:/data:rw"), Ok(("/h".into(), "/data".into(), false)));
        assert_eq!(
            m("rel/h:/data//x/"),
            Ok(("rel/h".into(), "/data/x".into(), false))
        );
        assert_eq!(m("/a:b:/x:ro"), Ok(("/a:b".into(), "/x".into(), true)));
        assert_eq!(m("/h:/procfs"), Ok(("/h".into(), "/procfs".into(), false)));
        for bad in [
            "/h",
            ":/data",
            "/h:data",
            "/h:/",
            "/h://",
            "/h:/proc",
            "/h:/proc/sys",
            "/h:/dev",
            "/h:/dev/shm/",
            "/h:/data/../x",
            "/h:/./x",
            "/h:/data:xx",
            "/h:/data:ro:ro",
        ] {
            assert!(m(bad).is_err(), "{bad}");
        }
        assert!(
            m("/h:/data:xx").unwrap_err().contains("mode"),
            "an unknown mode is named as such"
        );
        assert_eq!(
            parse_workdir("/a/./b/../c//"),
            Ok(GuestPath(b"/a/c".to_vec()))
        );
        assert_eq!(parse_workdir("/.."), Ok(GuestPath(b"/".to_vec())));
        assert!(parse_workdir("a").is_err());
        assert_eq!(parse_bytes("64M"), Ok(64 << 20));
        assert_eq!(parse_bytes("4097"), Ok(4097));
        assert!(parse_bytes("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn environment() {
        let host = |k: &str| match k {
            "TERM" => Some("xterm".to_string()),
            "USER" => Some("me".to_string()),
            _ => None,
        };
        let env = build_env(
            &[
                "A=1".into(),
                "USER".into(),
                "MISSING".into(),
                "HOME=/root".into(),
            ],
            host,
        )
        .unwrap();
        assert_eq!(
            env,
            [
                ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
                ("TERM".into(), "xterm".into()),
                ("A".into(), "1".into()),
                ("USER".into(), "me".into()),
                ("HOME".into(), "/root".into())
            ]
        );
        assert!(build_env(&["=x".into()], host).is_err());
    }
}
