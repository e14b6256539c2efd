//! `cargo xtask …`: build, test and benchmark automation for hull.
//!
//! Std only on purpose: it has to build before anything else does.

mod bench;
mod proc;
mod util;

use std::process::ExitCode;

use util::{Result, Workspace};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build                 the release build of hull (statically linked);
                        prints the binary path
  demo [ARGS...]        installs what is missing, builds hull and the example
                        examples/hello.c, and runs it in the sandbox
  test [-- ARGS...]     the CI entry point: installs what is missing, checks
                        /dev/kvm, gcc, musl-gcc and go,
                        cargo fmt --check, the release build, then
                        cargo test --workspace --release with HULL_BIN set
                        (ARGS go to cargo test)
  bench [--quick] [CASE...]
                        builds bench/*.c and runs each case natively, under
                        hull and (if installed) under gVisor's runsc, and
                        prints ratios. HULL_BIN=PATH benchmarks that binary
                        instead of building target/release/hull.
  help                  this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let ws = Workspace::locate()?;
    match cmd.as_str() {
        "build" => {
            no_extra_args("build", rest)?;
            let bin = ws.build_hull()?;
            println!("{}", bin.display());
            Ok(ExitCode::SUCCESS)
        }
        "test" => {
            setup(Needs::Tests)?;
            test(&ws, rest)
        }
        "demo" => {
            setup(Needs::Demo)?;
            demo(&ws, rest)
        }
        "bench" => bench::main(&ws, &bench::Options::parse(rest)?),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("{USAGE}");
            Err(format!("unknown command `{other}`"))
        }
    }
}

/// Installs what a fresh machine lacks: the kernel's Rust target, the musl target the
/// tests build their Rust program for (tests/rust-programs), and the C toolchains the
/// tests build programs with (Debian packages, as root).
/// What `setup` installs: the demo needs the C toolchain; the tests also need busybox
/// and Go (they run Debian's busybox-static and a static Go program in the sandbox).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Demo,
    Tests,
}

fn setup(needs: Needs) -> Result<()> {
    const TARGETS: [&str; 2] = ["x86_64-unknown-none", "x86_64-unknown-linux-musl"];
    util::step(&format!("rustup target add {}", TARGETS.join(" ")));
    let status = std::process::Command::new("rustup")
        .args(["target", "add"])
        .args(TARGETS)
        .status();
    if !util::status_ok(status, "rustup target add")? {
        return Err(format!(
            "could not add the Rust targets (rustup target add {})",
            TARGETS.join(" ")
        ));
    }
    let missing: Vec<&str> = [
        ("gcc", "gcc", Needs::Demo),
        ("musl-gcc", "musl-tools", Needs::Demo),
        ("busybox", "busybox-static", Needs::Tests),
        ("go", "golang-go", Needs::Tests),
    ]
    .iter()
    .filter(|(_, _, n)| *n == Needs::Demo || needs == Needs::Tests)
    .filter(|(tool, _, _)| util::which(tool).is_none())
    .map(|(_, pkg, _)| *pkg)
    .collect();
    if !missing.is_empty() {
        util::step(&format!("apt-get install {}", missing.join(" ")));
        let update = std::process::Command::new("apt-get")
            .args(["update", "-qq"])
            .status();
        if !util::status_ok(update, "apt-get update")? {
            return Err("apt-get update failed; install the packages by hand".into());
        }
        let install = std::process::Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        if !util::status_ok(install, "apt-get install")? {
            return Err(format!(
                "apt-get install {} failed; install them by hand",
                missing.join(" ")
            ));
        }
    }
    Ok(())
}

/// `cargo xtask demo`: the README's first command.
fn demo(ws: &Workspace, rest: &[String]) -> Result<ExitCode> {
    let bin = ws.build_hull()?;
    let out = ws.root.join("target/examples");
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let hello = out.join("hello");
    util::step("gcc -static -O2 examples/hello.c");
    let status = std::process::Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&hello)
        .arg(ws.root.join("examples/hello.c"))
        .status();
    if !util::status_ok(status, "gcc")? {
        return Err("compiling examples/hello.c failed".into());
    }
    util::step(&format!("hull run {}", hello.display()));
    let args: Vec<String> = if rest.is_empty() {
        vec!["world".into()]
    } else {
        rest.to_vec()
    };
    let status = std::process::Command::new(&bin)
        .arg("run")
        .arg(&hello)
        .args(&args)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    Ok(util::exit_code(status))
}

fn no_extra_args(cmd: &str, rest: &[String]) -> Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(a) => Err(format!("`{cmd}` takes no arguments (got `{a}`)")),
    }
}

/// `cargo xtask test`: the single test entry point (CI runs this). Never
/// skips: a machine that cannot run hull's tests fails them, loudly.
fn test(ws: &Workspace, rest: &[String]) -> Result<ExitCode> {
    let extra: &[String] = match rest.split_first() {
        None => &[],
        Some((dd, extra)) if dd == "--" => extra,
        Some((a, _)) => return Err(format!("`test` takes only `-- ARGS...` (got `{a}`)")),
    };

    // Preflight: report every missing prerequisite at once.
    let mut problems = Vec::new();
    if let Err(e) = util::check_kvm() {
        problems.push(e);
    }
    for (tool, hint) in [
        ("gcc", "apt-get install gcc"),
        ("musl-gcc", "apt-get install musl-tools"),
        ("go", "apt-get install golang-go"),
    ] {
        if util::which(tool).is_none() {
            problems.push(format!("{tool} not found on PATH; install it ({hint})"));
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return Err("test prerequisites missing (see above); refusing to skip".into());
    }

    util::step("cargo fmt --all -- --check");
    let status = ws.cargo().args(["fmt", "--all", "--", "--check"]).status();
    if !util::status_ok(status, "cargo fmt")? {
        return Err("code is not formatted; run `cargo fmt --all`".into());
    }

    let bin = ws.build_hull()?;

    util::step(&format!(
        "cargo test --workspace --release (HULL_BIN={})",
        bin.display()
    ));
    let status = ws
        .cargo()
        .args(["test", "--workspace", "--release"])
        .args(extra)
        .env("HULL_BIN", &bin)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(util::exit_code(status))
}
