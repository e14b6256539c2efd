//! Helpers for the process, thread and signal tests (`tests/processes.rs`,
//! `tests/hostile_procs.rs`): building the Rust test programs in `tests/rust-programs/`
//! for `x86_64-unknown-linux-musl`, and differential runs of any binary on a directory
//! (natively on a fresh host directory, under hull on another fresh copy mounted into the
//! guest), with the trees left behind compared.
//!
//! Nothing here skips: a missing Rust target, cargo or compiler fails loudly with a hint.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::files::compare_trees;
use crate::{Outcome, Run, compare, indent, scratch_dir, workspace_dir};

/// The target the Rust test programs are built for: static, like everything hull runs.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// Where the Rust test programs live: `tests/rust-programs/<name>/`, each its own Cargo
/// workspace (not a member of hull's).
pub fn rust_programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rust-programs")
}

/// Panics with a hint unless the standard library for [`MUSL_TARGET`] is installed for
/// the workspace's toolchain.
fn require_musl_target() {
    let out = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", MUSL_TARGET])
        .current_dir(workspace_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run rustc: {e}"));
    let libdir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let has_std = out.status.success()
        && fs::read_dir(&libdir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
            })
            .unwrap_or(false);
    assert!(
        has_std,
        "the Rust target {MUSL_TARGET} is not installed for this toolchain (no libstd in \
         {}): the process tests build a Rust program for it. Install it: `rustup target add \
         {MUSL_TARGET}` in {} (`cargo xtask test` does this)",
        libdir.display(),
        workspace_dir().display()
    );
}

/// Builds `tests/rust-programs/<name>` with `cargo build --release --target
/// x86_64-unknown-linux-musl` into `target/rust-programs/` and returns the binary (named
/// like the package). Built once per test process; cargo decides whether anything needs
/// rebuilding.
pub fn rust_program(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    require_musl_target();
    let manifest = rust_programs_dir().join(name).join("Cargo.toml");
    assert!(
        manifest.is_file(),
        "no such Rust test program: {} does not exist",
        manifest.display()
    );
    let target_dir = workspace_dir().join("target").join("rust-programs");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            MUSL_TARGET,
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .current_dir(workspace_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&cargo).display()));
    assert!(
        out.status.success(),
        "building {} for {MUSL_TARGET} failed ({}):\n{}",
        manifest.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target_dir.join(MUSL_TARGET).join("release").join(name);
    assert!(
        bin.is_file(),
        "cargo built {} but {} is missing",
        manifest.display(),
        bin.display()
    );
    built.push((name.to_string(), bin.clone()));
    bin
}

/// Builds `tests/go-programs/<name>/main.go` with the system's Go (`go`, from Debian's
/// golang-go) as a static binary (CGO_ENABLED=0) into `target/go-programs/`, with its
/// build cache there too. Needs no network: the programs use the standard library only.
pub fn go_program(name: &str) -> PathBuf {
    let src = workspace_dir()
        .join("tests")
        .join("go-programs")
        .join(name)
        .join("main.go");
    assert!(src.is_file(), "no such Go test program: {}", src.display());
    let out_dir = workspace_dir().join("target").join("go-programs");
    fs::create_dir_all(&out_dir).expect("create target/go-programs");
    let bin = out_dir.join(name);
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&src)
        .env("CGO_ENABLED", "0")
        .env("GO111MODULE", "off")
        .env("GOCACHE", out_dir.join("cache"))
        .env("GOPATH", out_dir.join("gopath"))
        .env("GOFLAGS", "")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `go` ({e}): the Go tests need Debian's golang-go                  (`apt-get install golang-go`; `cargo xtask test` installs it)"
            )
        });
    assert!(
        out.status.success(),
        "go build of {} failed ({}):\n{}",
        src.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Fills a fresh directory before a run (called for the native and the hull copy alike).
pub type DirSetup<'a> = &'a dyn Fn(&Path);

/// A differential run of a binary on a directory.
pub struct DirCase<'a> {
    pub label: String,
    /// Where the directory is mounted in the guest.
    pub guest: String,
    /// The program's arguments; every `{DIR}` in them is replaced by the directory's path
    /// (the host path natively, `guest` under hull).
    pub args: Vec<String>,
    /// Run in the directory: natively as the cwd, under hull with `--workdir GUEST`.
    pub in_dir: bool,
    /// stdin, `--env`, extra hull flags and the kill timeout (its `args` are ignored).
    pub run: Run,
    pub setup: Option<DirSetup<'a>>,
    /// The status the native run must end with.
    pub expect_status: i32,
    /// Compare the trees left in the two directories.
    pub compare_trees: bool,
}

impl<'a> DirCase<'a> {
    pub fn new(label: &str, args: &[&str]) -> Self {
        DirCase {
            label: label.into(),
            guest: "/w".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            in_dir: true,
            run: Run::new(),
            setup: None,
            expect_status: 0,
            compare_trees: true,
        }
    }

    pub fn setup(mut self, setup: DirSetup<'a>) -> Self {
        self.setup = Some(setup);
        self
    }

    pub fn status(mut self, status: i32) -> Self {
        self.expect_status = status;
        self
    }

    pub fn run(mut self, run: Run) -> Self {
        self.run = run;
        self
    }
}

fn fresh_dir(tag: &str, setup: Option<DirSetup<'_>>) -> PathBuf {
    let dir = scratch_dir(tag).join("w");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    if let Some(setup) = setup {
        setup(&dir);
    }
    dir
}

/// Runs `bin` as `case` says natively and under hull; the error describes every
/// disagreement (outputs, status, trees). Scratch directories are removed on success and
/// kept for inspection on failure.
pub fn dir_check(bin: &Path, case: &DirCase<'_>) -> Result<(), String> {
    let tag = bin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = format!("{} {}", tag, case.label);
    let with_dir =
        |dir: &str| -> Vec<String> { case.args.iter().map(|a| a.replace("{DIR}", dir)).collect() };

    let native_dir = fresh_dir(&format!("{tag}-native"), case.setup);
    let mut native_run = case.run.clone();
    native_run.args = with_dir(&native_dir.to_string_lossy())
        .into_iter()
        .map(Into::into)
        .collect();
    let native = if case.in_dir {
        native_run.native_in(bin, &native_dir)
    } else {
        native_run.native(bin)
    };
    if native.status != case.expect_status || native.timed_out {
        return Err(format!(
            "{name}: the NATIVE run ended with status {} instead of {}: the test or the host \
             is broken, not hull\n{}\n",
            native.status,
            case.expect_status,
            indent(&native.summary())
        ));
    }

    let hull_dir = fresh_dir(&format!("{tag}-hull"), case.setup);
    let mut hull_run = case.run.clone();
    hull_run.args = with_dir(&case.guest).into_iter().map(Into::into).collect();
    let mut flags = vec![
        "--mount".to_string(),
        format!("{}:{}", hull_dir.display(), case.guest),
    ];
    if case.in_dir {
        flags.push("--workdir".into());
        flags.push(case.guest.clone());
    }
    flags.append(&mut hull_run.hull_flags);
    hull_run.hull_flags = flags;
    let hull = hull_run.hull(bin);

    let mut problems = Vec::new();
    if let Err(msg) = compare(&name, &native, &hull) {
        problems.push(msg);
    }
    if case.compare_trees
        && let Err(diff) = compare_trees(&native_dir, &hull_dir, false)
    {
        problems.push(format!(
            "{name}: the trees left behind differ (- native {}, + hull {}):\n{}",
            native_dir.display(),
            hull_dir.display(),
            indent(&diff)
        ));
    }
    if problems.is_empty() {
        for d in [&native_dir, &hull_dir] {
            crate::files::make_writable(d);
            let _ = fs::remove_dir_all(d.parent().unwrap_or(d));
        }
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Runs every case with [`dir_check`] and panics with all disagreements together.
pub fn dir_differential(bin: &Path, cases: &[DirCase<'_>]) {
    const SHOWN: usize = 6;
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| dir_check(bin, c).err())
        .collect();
    if failures.is_empty() {
        return;
    }
    let mut msg = format!(
        "{} of {} checks of {} failed:\n\n{}",
        failures.len(),
        cases.len(),
        bin.display(),
        failures[..failures.len().min(SHOWN)].join("\n")
    );
    if failures.len() > SHOWN {
        let _ = writeln!(msg, "\n…and {} more:", failures.len() - SHOWN);
        for f in &failures[SHOWN..] {
            let _ = writeln!(msg, "  {}", f.lines().next().unwrap_or_default());
        }
    }
    panic!("{msg}");
}

/// Panics with the run's summary unless it ended by itself, without a hull panic and
/// without the sandbox itself being killed by a signal.
pub fn assert_sane(what: &str, out: &Outcome) {
    let problem = if out.timed_out {
        Some("hull hung and was killed by the harness")
    } else if out.panicked() {
        Some("hull panicked")
    } else if out.signal.is_some() {
        Some("the hull process itself was killed by a signal")
    } else if out.status == 124 {
        Some("status 124: the guest kernel failed")
    } else {
        None
    };
    if let Some(p) = problem {
        panic!("{what}: {p}\n{}", out.summary());
    }
}
