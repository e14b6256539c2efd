//! `cargo xtask bench`: hull beside native (and gVisor's runsc, if present),
//! measured in one run and reported as ratios.
//!
//! Adding a benchmark: write `bench/NAME.c` (static, deterministic, exit 0;
//! a self-timed one prints `bench: <value> <unit>`, see `bench/bench.h`) and
//! add a row to [`CASES`].
//!
//! The file cases take a data directory as their first argument (see
//! [`Data`]): the host files are generated once into `target/bench-data/`.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::Duration;

use crate::proc::{self, MemSample};
use crate::util::{self, Result, Workspace};

/// The benchmarks, in report order.
const CASES: &[Case] = &[
    Case {
        name: "getppid",
        program: "getppid",
        args: &["1000000"],
        // gVisor spends 3–50 µs per system call; keep its run short.
        peer_args: Some(&["100000"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(0.5),
        reps: [5, 3],
        ..Case::PLAIN
    },
    Case {
        name: "clock",
        program: "clock",
        args: &["1000000"],
        peer_args: Some(&["100000"]),
        kind: Kind::SelfTimed,
        // Not an issue's target: a clock reading should not leave user mode (vDSO).
        target: Target::RatioAtMost(1.5),
        reps: [5, 3],
        ..Case::PLAIN
    },
    Case {
        name: "hello",
        program: "hello",
        args: &[],
        peer_args: None,
        kind: Kind::Wall { warmups: [3, 1] },
        target: Target::RatioAtMost(5.0),
        reps: [30, 10],
        ..Case::PLAIN
    },
    Case {
        name: "sleeper",
        program: "sleeper",
        args: &["2000"],
        peer_args: None,
        kind: Kind::Memory {
            after: Duration::from_millis(700),
        },
        target: Target::HullAtMost(6.0),
        reps: [3, 1],
        ..Case::PLAIN
    },
    Case {
        name: "file_read",
        program: "file_read",
        args: &[],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::RatioAtLeast(0.8),
        reps: [7, 3],
        data: Data::Files,
        exits: true,
        ..Case::PLAIN
    },
    Case {
        name: "mmap_read",
        program: "mmap_read",
        args: &[],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::None,
        reps: [5, 3],
        data: Data::Files,
        exits: true,
        ..Case::PLAIN
    },
    Case {
        name: "anon_touch",
        program: "anon_touch",
        args: &["256"],
        peer_args: None,
        kind: Kind::SelfTimed,
        // Not an issue's target: fresh memory should cost about what it costs natively.
        target: Target::RatioAtLeast(0.5),
        reps: [5, 3],
        exits: true,
        hull_flags: &["--memory", "1G"],
        ..Case::PLAIN
    },
    Case {
        name: "file_open",
        program: "file_open",
        args: &["10000"],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(8.0),
        reps: [5, 3],
        data: Data::Files,
        exits: true,
        ..Case::PLAIN
    },
    Case {
        name: "file_stat",
        program: "file_stat",
        args: &[],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(8.0),
        reps: [5, 3],
        data: Data::Files,
        exits: true,
        ..Case::PLAIN
    },
    Case {
        name: "pipe",
        program: "pipe",
        args: &["1024", "64"],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::RatioAtLeast(1.0),
        reps: [5, 3],
        exits: true,
        ..Case::PLAIN
    },
    Case {
        name: "tmpfs",
        program: "tmpfs",
        args: &["64"],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::RatioAtLeast(1.0),
        reps: [5, 3],
        data: Data::Tmpfs,
        hull_flags: &["--memory", "1G", "--tmpfs-size", "160M"],
        exits: true,
        ..Case::PLAIN
    },
    // Processes and threads. hull's guest has one vCPU, so these run on one
    // CPU under every runner (`one_cpu`): see `Case::one_cpu`.
    Case {
        name: "fork_exec",
        program: "fork_exec",
        args: &["1000"],
        peer_args: Some(&["100"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.0),
        reps: [5, 3],
        data: Data::Programs,
        exits: true,
        one_cpu: true,
        ..Case::PLAIN
    },
    Case {
        name: "fork_cow",
        program: "fork_cow",
        args: &["100", "64"],
        peer_args: Some(&["50", "64"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.0),
        reps: [5, 3],
        hull_flags: &["--memory", "1G"],
        exits: true,
        one_cpu: true,
        ..Case::PLAIN
    },
    Case {
        name: "thread",
        program: "thread",
        args: &["10000"],
        peer_args: Some(&["2000"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.5),
        reps: [5, 3],
        exits: true,
        one_cpu: true,
        ..Case::PLAIN
    },
    Case {
        name: "futex_pingpong",
        program: "futex_pingpong",
        args: &["50000"],
        peer_args: Some(&["5000"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.5),
        reps: [5, 3],
        exits: true,
        one_cpu: true,
        ..Case::PLAIN
    },
    Case {
        name: "signal",
        program: "signal",
        args: &["100000"],
        peer_args: Some(&["10000"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.0),
        reps: [5, 3],
        exits: true,
        one_cpu: true,
        ..Case::PLAIN
    },
    Case {
        name: "pipe_pingpong",
        program: "pipe_pingpong",
        args: &["50000"],
        peer_args: Some(&["5000"]),
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.0),
        reps: [5, 3],
        exits: true,
        one_cpu: true,
        ..Case::PLAIN
    },
];

/// The generated host files of the [`Data::Files`] cases, under the target
/// directory; regenerated when [`FILES_STAMP`] is missing.
const FILES_DIR: &str = "bench-data";
/// Written last: its presence means the data is complete. Bump the version
/// when the layout changes.
const FILES_STAMP: &str = ".complete-v1";
/// `big`: the sequentially read file.
const BIG_FILE_MIB: usize = 256;
/// `tree/dNN/fNN`: directories and files per directory.
const TREE_DIRS: usize = 100;
const TREE_FILES: usize = 100;
/// Where hull mounts the data directory (read-only).
const GUEST_DATA: &str = "/data";
/// hull's in-guest tmpfs.
const GUEST_TMPFS: &str = "/tmp";
/// runsc's own tmpfs (runsc do mounts the host's / as an overlay).
const RUNSC_TMPFS: &str = "/dev/shm";
/// Where hull mounts `target/bench/` (read-only) for [`Data::Programs`].
const GUEST_PROGRAMS: &str = "/bench";

/// Per-run time limits: a hung sandbox must not hang the bench.
const SELF_TIMED_TIMEOUT: Duration = Duration::from_secs(120);
const WALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One benchmark: a program from `bench/` and how to measure it.
struct Case {
    /// Row label; also what `cargo xtask bench CASE` selects.
    name: &'static str,
    /// `bench/PROGRAM.c`, built to `target/bench/PROGRAM`.
    program: &'static str,
    args: &'static [&'static str],
    /// Arguments under runsc instead of `args`, for a case that would take
    /// too long there (the result must stay comparable, e.g. per-call).
    peer_args: Option<&'static [&'static str]>,
    kind: Kind,
    /// Applies to the case's first metric.
    target: Target,
    /// Measured repetitions, `[full, quick]`; the median is reported.
    reps: [usize; 2],
    /// The data directory passed as the first argument, if any.
    data: Data,
    /// Extra `hull run` options (before the program).
    hull_flags: &'static [&'static str],
    /// Run hull once more with `--stats` and report VM exits per operation
    /// (the program prints `ops: <count>`).
    exits: bool,
    /// Every runner runs the program under `taskset -c CPU` (one CPU, the
    /// first xtask may use). hull's guest has a single vCPU, so all its tasks
    /// share one CPU; unpinned, native tasks handing work to each other sit
    /// on two CPUs and every wake-up is a cross-CPU interrupt, a different
    /// (and, nested, a much noisier) thing to measure.
    one_cpu: bool,
}

/// A case's data directory, passed to the program as its first argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Data {
    None,
    /// `target/bench-data/` (generated once): natively and under runsc its
    /// host path (runsc do sees the host's files through its overlay), under
    /// hull the same directory mounted read-only at [`GUEST_DATA`].
    Files,
    /// A tmpfs: natively /dev/shm (or /tmp, whichever is a tmpfs), under
    /// hull its in-guest [`GUEST_TMPFS`], under runsc [`RUNSC_TMPFS`].
    Tmpfs,
    /// `target/bench/`, the built programs (for a program that execs
    /// another): natively and under runsc its host path, under hull the
    /// same directory mounted read-only at [`GUEST_PROGRAMS`].
    Programs,
}

enum Kind {
    /// The program times itself and prints `bench: <value> <unit>`.
    SelfTimed,
    /// Wall time from spawn to exit, stdout to /dev/null. Untimed warm-ups
    /// (`[full, quick]`) come first; their stdout must equal native's.
    Wall { warmups: [usize; 2] },
    /// Memory of the process tree `after` its start (VmRSS, VmHWM, PSS,
    /// summed over the tree); then the tree is killed.
    Memory { after: Duration },
}

enum Target {
    /// hull/native at most this (times, lower is better).
    RatioAtMost(f64),
    /// hull/native at least this (throughputs, higher is better).
    RatioAtLeast(f64),
    /// hull's own value at most this (in the metric's unit).
    HullAtMost(f64),
    /// Measured and reported, with no target.
    None,
}

impl Case {
    /// The defaults of the optional fields.
    const PLAIN: Case = Case {
        name: "",
        program: "",
        args: &[],
        peer_args: None,
        kind: Kind::SelfTimed,
        target: Target::RatioAtMost(1.0),
        reps: [1, 1],
        data: Data::None,
        hull_flags: &[],
        exits: false,
        one_cpu: false,
    };

    /// Metric names and units; the first is the one the target is about.
    fn metrics(&self, self_timed_unit: &str) -> Vec<(String, String)> {
        match self.kind {
            Kind::SelfTimed => vec![(String::new(), self_timed_unit.to_owned())],
            Kind::Wall { .. } => vec![(String::new(), "ms".to_owned())],
            Kind::Memory { .. } => ["VmRSS", "VmHWM", "PSS"]
                .iter()
                .map(|m| ((*m).to_owned(), "MiB".to_owned()))
                .collect(),
        }
    }

    fn args_for(&self, runner: &Runner) -> &'static [&'static str] {
        match (runner, self.peer_args) {
            (Runner::Runsc(_), Some(a)) => a,
            _ => self.args,
        }
    }
}

#[derive(Debug, Default)]
pub struct Options {
    quick: bool,
    /// Filter words (`cargo xtask bench WORD...`).
    only: Vec<String>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut o = Self::default();
        for a in args {
            match a.as_str() {
                "--quick" => o.quick = true,
                s if s.starts_with('-') => return Err(format!("bench: unknown option `{s}`")),
                s => {
                    if !CASES.iter().any(|c| c.name.contains(s)) {
                        let names: Vec<_> = CASES.iter().map(|c| c.name).collect();
                        return Err(format!(
                            "bench: no case matches `{s}` (cases: {})",
                            names.join(", ")
                        ));
                    }
                    o.only.push(s.to_owned());
                }
            }
        }
        Ok(o)
    }

    fn mode(&self) -> usize {
        usize::from(self.quick)
    }

    /// Whether `case` is selected: every case without filters, else every
    /// case whose name contains one of the words (`file` selects the
    /// `file_*` cases).
    fn selects(&self, case: &Case) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| case.name.contains(w.as_str()))
    }
}

/// Who runs the program.
enum Runner {
    Native,
    Hull(PathBuf),
    Runsc(Runsc),
}

struct Runsc {
    bin: PathBuf,
    /// `--root` state directory, ours alone.
    root: PathBuf,
    platform: &'static str,
}

/// A directory removed (with its contents) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Runner {
    fn label(&self) -> &'static str {
        match self {
            Runner::Native => "native",
            Runner::Hull(_) => "hull",
            Runner::Runsc(_) => "runsc",
        }
    }

    /// The command line of `program` with `args`; `hull_opts` go between
    /// `hull run` and the program (other runners ignore them).
    fn command(
        &self,
        bench_dir: &Path,
        program: &str,
        hull_opts: &[String],
        args: &[String],
    ) -> Command {
        let mut cmd = match self {
            Runner::Native => Command::new(bench_dir.join(program)),
            Runner::Hull(bin) => {
                // As a person would type it: `hull run ./prog`.
                let mut c = Command::new(bin);
                c.arg("run").args(hull_opts).arg(format!("./{program}"));
                c
            }
            Runner::Runsc(r) => {
                let mut c = Command::new(&r.bin);
                c.arg("--root")
                    .arg(&r.root)
                    .arg(format!("--platform={}", r.platform))
                    .arg("--network=none")
                    .arg("do")
                    .arg(bench_dir.join(program));
                c
            }
        };
        cmd.args(args).current_dir(bench_dir);
        cmd
    }
}

/// The results of one runner on one case.
struct Column {
    /// Per metric, the values of each repetition.
    samples: Vec<Vec<f64>>,
    error: Option<String>,
    /// Processes counted in a memory sample (the last one).
    procs: usize,
    /// VM exits per operation (hull, cases with `exits`).
    exits: Option<Result<Exits>>,
}

impl Column {
    fn new() -> Self {
        Self {
            samples: Vec::new(),
            error: None,
            procs: 0,
            exits: None,
        }
    }

    fn push(&mut self, values: Vec<f64>) {
        if self.samples.is_empty() {
            self.samples = vec![Vec::new(); values.len()];
        }
        for (s, v) in self.samples.iter_mut().zip(values) {
            s.push(v);
        }
    }

    fn median(&self, metric: usize) -> Option<f64> {
        if self.error.is_some() {
            return None;
        }
        median(self.samples.get(metric)?)
    }
}

pub fn main(ws: &Workspace, opts: &Options) -> Result<ExitCode> {
    let bench_src = ws.root.join("bench");
    let bench_dir = ws.target_dir.join("bench");
    let hull = match std::env::var_os("HULL_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => {
            let bin = PathBuf::from(bin);
            fs::canonicalize(&bin).map_err(|e| format!("HULL_BIN={}: {e}", bin.display()))?
        }
        None => ws.build_hull()?,
    };
    build_programs(&bench_src, &bench_dir)?;

    let mode = opts.mode();
    let cases: Vec<&Case> = CASES.iter().filter(|c| opts.selects(c)).collect();
    let setup = Setup {
        files: cases
            .iter()
            .any(|c| c.data == Data::Files)
            .then(|| prepare_files(&ws.target_dir.join(FILES_DIR))),
        tmpfs: cases.iter().any(|c| c.data == Data::Tmpfs).then(host_tmpfs),
        cpu: cases.iter().any(|c| c.one_cpu).then(pick_cpu),
        bench_dir,
    };

    let mut runners = vec![Runner::Native, Runner::Hull(hull.clone())];
    let runsc_root = TempDir::new("hull-bench-runsc")?;
    let runsc_note = match find_runsc(&setup.bench_dir, &runsc_root.0) {
        Ok((runsc, note)) => {
            runners.push(runsc);
            note
        }
        Err(why) => why,
    };

    let mut table = Table::default();
    let mut notes = vec![
        format!("hull: {}", hull.display()),
        runsc_note,
        format!(
            "mode: {}; each value is the median of its repetitions, ratios are of medians",
            if opts.quick { "--quick" } else { "full" }
        ),
    ];
    if let Some(Ok(dir)) = &setup.files {
        notes.push(format!(
            "file cases: data in {} (under hull: --mount {}:{GUEST_DATA}:ro)",
            dir.display(),
            dir.display()
        ));
    }
    if let Some(Ok(dir)) = &setup.tmpfs {
        notes.push(format!(
            "tmpfs: native {}, hull {GUEST_TMPFS} (its in-guest tmpfs), runsc {RUNSC_TMPFS}",
            dir.display()
        ));
    }
    let names = |f: fn(&Case) -> bool| -> String {
        let v: Vec<&str> = cases.iter().filter(|c| f(c)).map(|c| c.name).collect();
        v.join(", ")
    };
    if cases.iter().any(|c| c.data == Data::Programs) {
        let dir = setup.bench_dir.display();
        notes.push(format!(
            "{}: programs in {dir} (under hull: --mount {dir}:{GUEST_PROGRAMS}:ro)",
            names(|c| c.data == Data::Programs)
        ));
    }
    if let Some(Ok(cpu)) = &setup.cpu {
        notes.push(format!(
            "{}: every runner under `taskset -c {cpu}` (hull's guest has one vCPU)",
            names(|c| c.one_cpu)
        ));
    }
    if cases.iter().any(|c| c.exits) {
        notes.push(
            "exits/op: VM exits (hypercalls to the host) of one more `hull run --stats`, \
             over the operations the program reports; start-up (~4 exits) included"
                .to_owned(),
        );
    }
    let mut failed = false;

    for case in cases {
        util::step(&format!(
            "bench {} ({} repetitions{})",
            case.name,
            case.reps[mode],
            match case.kind {
                Kind::Wall { warmups } => format!(", {} warm-ups", warmups[mode]),
                _ => String::new(),
            }
        ));
        let (cols, unit) = measure(case, &runners, &setup, mode);
        for (runner, col) in runners.iter().zip(&cols) {
            if let Some(e) = &col.error {
                let msg = format!("{}: {} failed: {e}", case.name, runner.label());
                eprintln!("    {msg}");
                notes.push(msg);
                if !matches!(runner, Runner::Runsc(_)) {
                    failed = true;
                }
            } else if col.procs > 1 {
                notes.push(format!(
                    "{} under {}: memory summed over {} processes",
                    case.name,
                    runner.label(),
                    col.procs
                ));
            }
        }
        match &cols[1].exits {
            Some(Ok(e)) => notes.push(format!("{}: hull exits/op: {}", case.name, e.breakdown())),
            Some(Err(e)) => notes.push(format!("{}: hull --stats run failed: {e}", case.name)),
            None => {}
        }
        if let (Some(peer), true) = (case.peer_args, runners.len() > 2) {
            notes.push(format!(
                "{} under runsc ran with args {:?} instead of {:?}",
                case.name, peer, case.args
            ));
        }
        table.add_case(case, &unit, &cols, runners.len() > 2);
    }

    println!();
    print!("{}", table.render());
    println!();
    for n in &notes {
        println!("  {n}");
    }
    if failed {
        eprintln!("xtask: some measurements failed (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the runs of the selected cases need besides the runners.
struct Setup {
    /// `target/bench/`, the built programs (and the working directory).
    bench_dir: PathBuf,
    /// The generated data directory, if a selected case uses it.
    files: Option<Result<PathBuf>>,
    /// The host's tmpfs directory, if a selected case uses it.
    tmpfs: Option<Result<PathBuf>>,
    /// The CPU the `one_cpu` cases run on, if one is selected.
    cpu: Option<Result<usize>>,
}

impl Setup {
    /// The command of one run of `case` under `runner`, with `--stats` for
    /// hull if `stats`. Fails if the case's data directory is unavailable.
    fn command(&self, case: &Case, runner: &Runner, stats: bool) -> Result<Command> {
        let mut hull_opts: Vec<String> = Vec::new();
        if stats {
            hull_opts.push("--stats".to_owned());
        }
        let mut args: Vec<String> = Vec::new();
        let available = |d: &Option<Result<PathBuf>>| match d {
            Some(Ok(dir)) => Ok(dir.display().to_string()),
            Some(Err(e)) => Err(e.clone()),
            None => Err("data directory not prepared".to_owned()),
        };
        match (case.data, runner) {
            (Data::None, _) => {}
            (Data::Files, Runner::Hull(_)) => {
                let host = available(&self.files)?;
                hull_opts.push("--mount".to_owned());
                hull_opts.push(format!("{host}:{GUEST_DATA}:ro"));
                args.push(GUEST_DATA.to_owned());
            }
            (Data::Files, _) => args.push(available(&self.files)?),
            (Data::Tmpfs, Runner::Native) => args.push(available(&self.tmpfs)?),
            (Data::Tmpfs, Runner::Hull(_)) => args.push(GUEST_TMPFS.to_owned()),
            (Data::Tmpfs, Runner::Runsc(_)) => args.push(RUNSC_TMPFS.to_owned()),
            (Data::Programs, Runner::Hull(_)) => {
                hull_opts.push("--mount".to_owned());
                hull_opts.push(format!("{}:{GUEST_PROGRAMS}:ro", self.bench_dir.display()));
                args.push(GUEST_PROGRAMS.to_owned());
            }
            (Data::Programs, _) => args.push(self.bench_dir.display().to_string()),
        }
        hull_opts.extend(case.hull_flags.iter().map(|s| (*s).to_owned()));
        args.extend(case.args_for(runner).iter().map(|s| (*s).to_owned()));
        let cmd = runner.command(&self.bench_dir, case.program, &hull_opts, &args);
        if !case.one_cpu {
            return Ok(cmd);
        }
        let cpu = match &self.cpu {
            Some(Ok(cpu)) => *cpu,
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("CPU to pin to not chosen".to_owned()),
        };
        Ok(pinned(&cmd, cpu))
    }
}

/// `cmd` run as `taskset -c CPU PROGRAM ARGS...` (taskset execs the program,
/// so the process is the same and the watchdog still finds its tree).
fn pinned(cmd: &Command, cpu: usize) -> Command {
    let mut c = Command::new("taskset");
    c.arg("-c")
        .arg(cpu.to_string())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        c.current_dir(dir);
    }
    c
}

/// The CPU of the `one_cpu` cases: the first this process may run on.
fn pick_cpu() -> Result<usize> {
    if util::which("taskset").is_none() {
        return Err("taskset not found on PATH; install util-linux".to_owned());
    }
    let status =
        fs::read_to_string("/proc/self/status").map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(first_cpu)
        .ok_or_else(|| "no Cpus_allowed_list in /proc/self/status".to_owned())
}

/// The first CPU of a list such as `0-3,8` or `2,5-6`.
fn first_cpu(list: &str) -> Option<usize> {
    let first = list.trim().split([',', '-']).next()?;
    first.parse().ok()
}

/// Generates the file cases' data in `dir` unless a complete copy is there,
/// then reads it once so that every runner finds it in the page cache.
fn prepare_files(dir: &Path) -> Result<PathBuf> {
    let big = dir.join("big");
    let big_len = (BIG_FILE_MIB as u64) << 20;
    let complete =
        dir.join(FILES_STAMP).is_file() && fs::metadata(&big).is_ok_and(|m| m.len() == big_len);
    let io_err = |p: &Path, e: io::Error| format!("{}: {e}", p.display());
    if !complete {
        util::step(&format!(
            "generating {} (a {BIG_FILE_MIB} MiB file, {TREE_DIRS}x{TREE_FILES} small files)",
            dir.display()
        ));
        match fs::remove_dir_all(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(dir, e)),
            _ => {}
        }
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        // Pseudo-random bytes (xorshift), so no layer can shortcut zeros.
        let mut f = fs::File::create(&big).map_err(|e| io_err(&big, e))?;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..BIG_FILE_MIB {
            for word in buf.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                word.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&buf).map_err(|e| io_err(&big, e))?;
        }
        f.sync_all().map_err(|e| io_err(&big, e))?;
        for d in 0..TREE_DIRS {
            let sub = dir.join("tree").join(format!("d{d:02}"));
            fs::create_dir_all(&sub).map_err(|e| io_err(&sub, e))?;
            for i in 0..TREE_FILES {
                let file = sub.join(format!("f{i:02}"));
                fs::write(&file, format!("d{d:02}/f{i:02}\n")).map_err(|e| io_err(&file, e))?;
            }
        }
        let stamp = dir.join(FILES_STAMP);
        fs::write(&stamp, "").map_err(|e| io_err(&stamp, e))?;
    }
    // Warm the page cache and the dentry cache.
    let mut f = fs::File::open(&big).map_err(|e| io_err(&big, e))?;
    io::copy(&mut f, &mut io::sink()).map_err(|e| io_err(&big, e))?;
    let tree = dir.join("tree");
    for d in fs::read_dir(&tree).map_err(|e| io_err(&tree, e))? {
        let d = d.map_err(|e| io_err(&tree, e))?.path();
        for e in fs::read_dir(&d).map_err(|e| io_err(&d, e))? {
            let p = e.map_err(|e| io_err(&d, e))?.path();
            fs::symlink_metadata(&p).map_err(|e| io_err(&p, e))?;
        }
    }
    fs::canonicalize(dir).map_err(|e| io_err(dir, e))
}

/// The host's tmpfs for the tmpfs case: /dev/shm, else /tmp, whichever is
/// a tmpfs (the file system type of the mount it is on, as statfs would say).
fn host_tmpfs() -> Result<PathBuf> {
    let mounts =
        fs::read_to_string("/proc/self/mounts").map_err(|e| format!("/proc/self/mounts: {e}"))?;
    for cand in ["/dev/shm", "/tmp"] {
        let Ok(path) = fs::canonicalize(cand) else {
            continue;
        };
        if fs_type_of(&mounts, &path) == Some("tmpfs") {
            return Ok(path);
        }
    }
    Err("neither /dev/shm nor /tmp is a tmpfs on this host".to_owned())
}

/// The file system type of the mount holding `path` (the longest mount
/// point that is a prefix of it; the last one mounted if several).
fn fs_type_of<'a>(mounts: &'a str, path: &Path) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for line in mounts.lines() {
        let mut w = line.split_whitespace();
        let (Some(_), Some(point), Some(fstype)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        // Mount points escape space, tab, newline and backslash as octal.
        let point = point
            .replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\012", "\n")
            .replace("\\134", "\\");
        let depth = Path::new(&point).components().count();
        if path.starts_with(&point) && best.is_none_or(|(d, _)| depth >= d) {
            best = Some((depth, fstype));
        }
    }
    best.map(|(_, t)| t)
}

/// `gcc -static -O2` of every `bench/*.c` into `target/bench/`.
fn build_programs(src: &Path, out: &Path) -> Result<()> {
    if util::which("gcc").is_none() {
        return Err("gcc not found on PATH; install it (apt-get install gcc libc6-dev)".into());
    }
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut sources: Vec<PathBuf> = fs::read_dir(src)
        .map_err(|e| format!("{}: {e}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    for case in CASES {
        if !sources
            .iter()
            .any(|s| s.file_stem() == Some(case.program.as_ref()))
        {
            return Err(format!(
                "case {}: bench/{}.c is missing",
                case.name, case.program
            ));
        }
    }
    util::step(&format!(
        "gcc -static -O2: {} programs into {}",
        sources.len(),
        out.display()
    ));
    for s in &sources {
        let stem = s.file_stem().ok_or("source without a name")?;
        let status = Command::new("gcc")
            .args(["-static", "-O2", "-Wall", "-Wextra", "-o"])
            .arg(out.join(stem))
            .arg(s)
            .status();
        if !util::status_ok(status, "gcc")? {
            return Err(format!("gcc failed on {}", s.display()));
        }
    }
    Ok(())
}

/// The gVisor peer, if runsc is installed and runs a static binary on
/// systrap (preferred) or ptrace. `Err` is the note explaining its absence.
fn find_runsc(bench_dir: &Path, root: &Path) -> Result<(Runner, String), String> {
    let Some(bin) = util::which("runsc") else {
        let msg = "runsc not found; install the Debian package runsc \
                   (bookworm-backports has systrap) — skipping the gVisor column";
        return Err(msg.to_owned());
    };
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "runsc (unknown version)".to_owned());
    let mut rejected = Vec::new();
    for platform in ["systrap", "ptrace"] {
        let runsc = Runner::Runsc(Runsc {
            bin: bin.clone(),
            root: root.to_owned(),
            platform,
        });
        let mut cmd = runsc.command(bench_dir, "hello", &[], &[]);
        match proc::run(&mut cmd, true, WALL_TIMEOUT) {
            Ok(t) if t.status.success() && t.stdout == b"hello, world\n" => {
                if !rejected.is_empty() {
                    eprintln!(
                        "runsc: using --platform={platform} ({})",
                        rejected.join("; ")
                    );
                }
                let note = format!("runsc: {version} ({}), platform {platform}", bin.display());
                return Ok((runsc, note));
            }
            Ok(t) => rejected.push(format!(
                "--platform={platform} failed a trial run: {}{}: {}",
                util::describe_status(t.status),
                if t.timed_out { " (timed out)" } else { "" },
                util::tail(&t.stderr, 200)
            )),
            Err(e) => rejected.push(format!("--platform={platform}: {e}")),
        }
    }
    let msg = format!(
        "runsc ({version}) unusable — skipping the gVisor column: {}",
        rejected.join("; ")
    );
    Err(msg)
}

/// Runs one case under every runner, repetitions interleaved so that drift
/// (frequency, cache, other load) hits all runners alike. Returns a column
/// per runner and the self-timed unit.
fn measure(case: &Case, runners: &[Runner], setup: &Setup, mode: usize) -> (Vec<Column>, String) {
    let mut cols: Vec<Column> = runners.iter().map(|_| Column::new()).collect();
    let mut unit = String::new();

    if let Kind::Wall { warmups } = case.kind {
        let mut expected: Option<Vec<u8>> = None;
        for _ in 0..warmups[mode] {
            for (runner, col) in runners.iter().zip(&mut cols) {
                if col.error.is_some() {
                    continue;
                }
                let run = setup
                    .command(case, runner, false)
                    .and_then(|mut cmd| proc::run(&mut cmd, true, WALL_TIMEOUT));
                match run {
                    Err(e) => col.error = Some(e),
                    Ok(r) if !r.status.success() || r.timed_out => col.error = Some(failure(&r)),
                    Ok(r) => match &expected {
                        None => expected = Some(r.stdout),
                        Some(exp) if *exp != r.stdout => {
                            col.error = Some(format!(
                                "stdout differs from native: {:?} vs {:?}",
                                util::tail(&r.stdout, 80),
                                util::tail(exp, 80)
                            ));
                        }
                        Some(_) => {}
                    },
                }
            }
        }
    }

    for _ in 0..case.reps[mode] {
        for (runner, col) in runners.iter().zip(&mut cols) {
            if col.error.is_some() {
                continue;
            }
            match measure_once(case, runner, setup, &mut unit) {
                Ok((values, procs)) => {
                    col.push(values);
                    col.procs = procs;
                }
                Err(e) => col.error = Some(e),
            }
        }
    }

    if case.exits {
        let (runner, col) = (&runners[1], &mut cols[1]);
        if col.error.is_none() {
            col.exits = Some(count_exits(case, runner, setup));
        }
    }
    (cols, unit)
}

/// VM exits of one `hull run --stats` of the case, and the program's
/// operation count.
#[derive(Debug, PartialEq)]
struct Exits {
    /// Per hypercall name (as `--stats` prints it), most first.
    by_op: Vec<(String, u64)>,
    ops: u64,
}

impl Exits {
    fn total(&self) -> u64 {
        self.by_op.iter().map(|(_, n)| n).sum()
    }

    fn per_op(&self) -> f64 {
        self.total() as f64 / self.ops as f64
    }

    /// `2.00 over 257 ops (Read 1.00, other 0.98, …)`.
    fn breakdown(&self) -> String {
        let parts: Vec<String> = self
            .by_op
            .iter()
            .map(|(name, n)| format!("{name} {}", num(*n as f64 / self.ops as f64)))
            .collect();
        format!(
            "{} over {} ops ({})",
            num(self.per_op()),
            self.ops,
            parts.join(", ")
        )
    }
}

fn count_exits(case: &Case, runner: &Runner, setup: &Setup) -> Result<Exits> {
    let mut cmd = setup.command(case, runner, true)?;
    let r = proc::run(&mut cmd, true, SELF_TIMED_TIMEOUT)?;
    if !r.status.success() || r.timed_out {
        return Err(failure(&r));
    }
    parse_exits(&r.stdout, &r.stderr)
}

/// The `ops: N` line of the program's stdout and the `hull: stats: exits
/// NAME N` lines of hull's stderr.
fn parse_exits(stdout: &[u8], stderr: &[u8]) -> Result<Exits> {
    let out = String::from_utf8_lossy(stdout);
    let ops: u64 = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ops:")?.trim().parse().ok())
        .filter(|n| *n > 0)
        .ok_or("no `ops: <count>` line in the program's stdout")?;
    let err = String::from_utf8_lossy(stderr);
    let mut by_op: Vec<(String, u64)> = err
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("hull: stats: exits ")?.split_whitespace();
            let (name, n) = (w.next()?, w.next()?.parse().ok()?);
            // `Log`: the guest's own --stats report (see kernel/src/stats.rs).
            (w.next().is_none() && name != "Log").then(|| (name.to_owned(), n))
        })
        .collect();
    if by_op.is_empty() {
        return Err(format!(
            "no `hull: stats: exits` lines on stderr: {:?}",
            util::tail(stderr, 200)
        ));
    }
    by_op.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Exits { by_op, ops })
}

/// One repetition: the case's metric values and the processes counted.
fn measure_once(
    case: &Case,
    runner: &Runner,
    setup: &Setup,
    unit: &mut String,
) -> Result<(Vec<f64>, usize)> {
    let mut cmd = setup.command(case, runner, false)?;
    match case.kind {
        Kind::SelfTimed => {
            let r = proc::run(&mut cmd, true, SELF_TIMED_TIMEOUT)?;
            if !r.status.success() || r.timed_out {
                return Err(failure(&r));
            }
            let (value, u) = parse_bench_line(&r.stdout).ok_or_else(|| {
                format!(
                    "no `bench: <value> <unit>` line in stdout: {:?}",
                    util::tail(&r.stdout, 120)
                )
            })?;
            if unit.is_empty() {
                *unit = u;
            } else if *unit != u {
                return Err(format!("unit changed from {unit} to {u}"));
            }
            Ok((vec![value], 1))
        }
        Kind::Wall { .. } => {
            let r = proc::run(&mut cmd, false, WALL_TIMEOUT)?;
            if !r.status.success() || r.timed_out {
                return Err(failure(&r));
            }
            Ok((vec![r.wall.as_secs_f64() * 1e3], 1))
        }
        Kind::Memory { after } => {
            let s = sample_memory(cmd, after)?;
            let mib = |kib: u64| kib as f64 / 1024.0;
            let pss = s.pss_kib.map_or(f64::NAN, mib);
            Ok((vec![mib(s.rss_kib), mib(s.hwm_kib), pss], s.procs))
        }
    }
}

/// Starts the program, samples its tree's memory after `after`, kills it.
fn sample_memory(mut cmd: Command, after: Duration) -> Result<MemSample> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    thread::sleep(after);
    let early_exit = child.try_wait().map_err(|e| format!("try_wait: {e}"))?;
    let sample = match early_exit {
        Some(_) => Err(String::new()),
        None => proc::sample_tree(child.id()),
    };
    let pids = proc::kill_tree(child.id());
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for the program: {e}"))?;
    if !proc::wait_gone(&pids, Duration::from_secs(10)) {
        eprintln!("warning: processes {pids:?} outlived SIGKILL by 10 s");
    }
    sample.map_err(|e| {
        let mut msg = format!(
            "exited before the sample ({}",
            util::describe_status(out.status)
        );
        if !e.is_empty() {
            let _ = write!(msg, "; {e}");
        }
        msg.push(')');
        let err = util::tail(&out.stderr, 200);
        if !err.is_empty() {
            let _ = write!(msg, ": {err}");
        }
        msg
    })
}

fn failure(r: &proc::Run) -> String {
    let what = if r.timed_out {
        "timed out".to_owned()
    } else {
        util::describe_status(r.status)
    };
    let err = util::tail(&r.stderr, 200);
    if err.is_empty() {
        what
    } else {
        format!("{what}: {err}")
    }
}

/// The last `bench: <value> <unit>` line of a program's output.
fn parse_bench_line(stdout: &[u8]) -> Option<(f64, String)> {
    let text = std::str::from_utf8(stdout).ok()?;
    text.lines().rev().find_map(|l| {
        let mut w = l.strip_prefix("bench:")?.split_whitespace();
        let value: f64 = w.next()?.parse().ok()?;
        let unit = w.next()?.to_owned();
        (w.next().is_none() && value.is_finite()).then_some((value, unit))
    })
}

fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    })
}

/// About three significant digits, no exponent.
fn num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "n/a".to_owned()
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 || a == 0.0 {
        format!("{x:.2}")
    } else {
        // Two significant digits below 1: 0.46, 0.0033.
        let decimals = (-a.log10()).ceil().clamp(1.0, 6.0) as usize + 1;
        format!("{x:.decimals$}")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{}x", num(a / b)),
        _ => "-".to_owned(),
    }
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 8]>,
}

const HEADER: [&str; 8] = [
    "case",
    "native",
    "hull",
    "hull/native",
    "target",
    "exits/op",
    "runsc",
    "hull/runsc",
];

impl Table {
    fn add_case(&mut self, case: &Case, unit: &str, cols: &[Column], with_runsc: bool) {
        let unit = if unit.is_empty() { "?" } else { unit };
        for (m, (metric, unit)) in case.metrics(unit).into_iter().enumerate() {
            let label = if metric.is_empty() {
                format!("{} ({unit})", case.name)
            } else {
                format!("{} {metric} ({unit})", case.name)
            };
            let cell = |c: &Column| match (&c.error, c.median(m)) {
                (Some(_), _) => "FAILED".to_owned(),
                (None, Some(v)) => num(v),
                (None, None) => "n/a".to_owned(),
            };
            let native = cols[0].median(m);
            let hull = cols[1].median(m);
            let runsc = cols.get(2).and_then(|c| c.median(m));
            let target = if m == 0 {
                target_cell(&case.target, native, hull, &unit)
            } else {
                String::new()
            };
            let exits = match (&cols[1].exits, m) {
                (Some(Ok(e)), 0) => num(e.per_op()),
                (Some(Err(_)), 0) => "FAILED".to_owned(),
                (None, 0) if case.exits => "-".to_owned(),
                _ => String::new(),
            };
            self.rows.push([
                label,
                cell(&cols[0]),
                cell(&cols[1]),
                ratio(hull, native),
                target,
                exits,
                if with_runsc {
                    cell(&cols[2])
                } else {
                    "-".to_owned()
                },
                ratio(hull, runsc),
            ]);
        }
    }

    fn render(&self) -> String {
        let mut widths = HEADER.map(str::len);
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[&str]| {
            let mut l = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    l.push_str(" | ");
                }
                let pad = w.saturating_sub(cell.chars().count());
                if i == 0 {
                    l.push_str(cell);
                    l.extend(std::iter::repeat_n(' ', pad));
                } else {
                    l.extend(std::iter::repeat_n(' ', pad));
                    l.push_str(cell);
                }
            }
            let _ = writeln!(out, "{}", l.trim_end());
        };
        line(&HEADER);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule.iter().map(String::as_str).collect::<Vec<_>>());
        for row in &self.rows {
            line(&row.iter().map(String::as_str).collect::<Vec<_>>());
        }
        out
    }
}

fn target_cell(target: &Target, native: Option<f64>, hull: Option<f64>, unit: &str) -> String {
    let ratio = hull
        .zip(native)
        .filter(|(_, n)| *n > 0.0)
        .map(|(h, n)| h / n);
    let (text, met) = match *target {
        Target::RatioAtMost(t) => (format!("<= {t}x"), ratio.map(|r| r <= t)),
        Target::RatioAtLeast(t) => (format!(">= {t}x"), ratio.map(|r| r >= t)),
        Target::HullAtMost(t) => (format!("<= {t} {unit}"), hull.map(|h| h <= t)),
        Target::None => ("-".to_string(), None),
    };
    match met {
        Some(true) => format!("{text} ok"),
        Some(false) => format!("{text} MISS"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_last_bench_line() {
        let out = b"warming up\nbench: 12.5 ns/call\nbench: 87.250 ns/call\n";
        assert_eq!(parse_bench_line(out), Some((87.25, "ns/call".to_owned())));
        assert_eq!(parse_bench_line(b"bench: x ns\n"), None);
        assert_eq!(parse_bench_line(b"hello\n"), None);
        assert_eq!(parse_bench_line(b"bench: 1 ns extra\n"), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn formats_numbers_and_targets() {
        assert_eq!(num(166.4), "166");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(0.456), "0.46");
        assert_eq!(num(0.0033), "0.0033");
        assert_eq!(num(0.1), "0.10");
        assert_eq!(num(0.0), "0.00");
        assert_eq!(ratio(Some(1.0), Some(4.0)), "0.25x");
        assert_eq!(ratio(Some(1.0), None), "-");
        let t = target_cell(&Target::RatioAtMost(0.5), Some(100.0), Some(40.0), "ns");
        assert_eq!(t, "<= 0.5x ok");
        let t = target_cell(&Target::RatioAtLeast(0.8), Some(100.0), Some(70.0), "MiB/s");
        assert_eq!(t, ">= 0.8x MISS");
        let t = target_cell(&Target::RatioAtLeast(1.0), Some(100.0), None, "MiB/s");
        assert_eq!(t, ">= 1x");
        let t = target_cell(&Target::HullAtMost(6.0), Some(0.3), Some(7.5), "MiB");
        assert_eq!(t, "<= 6 MiB MISS");
    }

    #[test]
    fn parses_exit_counts() {
        let stdout = b"ops: 10100\nbench: 2.5 ns/op\n";
        let stderr = b"hull: stats: total                      4.640 ms\n\
                       hull: stats: exits Exit                     1\n\
                       hull: stats: exits Stat                 10101\n\
                       hull: stats: exits Log                      1\n\
                       hull: stats: guest syscalls             20202\n\
                       hull: stats: exits other                20200\n";
        let e = parse_exits(stdout, stderr).unwrap();
        assert_eq!(e.ops, 10100);
        assert_eq!(e.total(), 30302);
        assert_eq!(e.by_op[0], ("other".to_owned(), 20200));
        assert_eq!(
            e.breakdown(),
            "3.00 over 10100 ops (other 2.00, Stat 1.00, Exit 0.000099)"
        );
        assert!(parse_exits(b"bench: 1 ns\n", stderr).is_err());
        assert!(parse_exits(stdout, b"hull: error\n").is_err());
    }

    #[test]
    fn finds_the_file_system_of_a_path() {
        let mounts = "/dev/vda / ext4 rw 0 0\n\
                      tmpfs /dev/shm tmpfs rw 0 0\n\
                      proc /proc proc rw 0 0\n\
                      tmpfs /my\\040dir tmpfs rw 0 0\n";
        assert_eq!(fs_type_of(mounts, Path::new("/dev/shm")), Some("tmpfs"));
        assert_eq!(fs_type_of(mounts, Path::new("/dev/shm/x")), Some("tmpfs"));
        assert_eq!(fs_type_of(mounts, Path::new("/dev/shmem")), Some("ext4"));
        assert_eq!(fs_type_of(mounts, Path::new("/tmp")), Some("ext4"));
        assert_eq!(fs_type_of(mounts, Path::new("/my dir/a")), Some("tmpfs"));
    }

    #[test]
    fn first_cpu_of_a_list() {
        assert_eq!(first_cpu("\t0-1\n"), Some(0));
        assert_eq!(first_cpu("2,5-6"), Some(2));
        assert_eq!(first_cpu("7"), Some(7));
        assert_eq!(first_cpu(""), None);
    }

    #[test]
    fn pinned_commands_keep_program_args_and_dir() {
        let mut cmd = Command::new("/bin/prog");
        cmd.args(["a", "b c"]).current_dir("/tmp");
        let p = pinned(&cmd, 3);
        assert_eq!(p.get_program(), "taskset");
        let args: Vec<_> = p.get_args().collect();
        assert_eq!(args, ["-c", "3", "/bin/prog", "a", "b c"]);
        assert_eq!(p.get_current_dir(), Some(Path::new("/tmp")));
    }

    #[test]
    fn filters_select_by_substring() {
        let o = Options::parse(&["file".to_owned()]).unwrap();
        let names: Vec<_> = CASES
            .iter()
            .filter(|c| o.selects(c))
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["file_read", "file_open", "file_stat"]);
        assert!(Options::parse(&["nothing-like-it".to_owned()]).is_err());
        assert!(Options::default().selects(&CASES[0]));
    }

    #[test]
    fn case_table_is_consistent() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench");
        for (i, c) in CASES.iter().enumerate() {
            assert!(
                CASES[..i].iter().all(|d| d.name != c.name),
                "duplicate case {}",
                c.name
            );
            assert!(c.reps[0] >= c.reps[1] && c.reps[1] > 0, "{}", c.name);
            assert!(
                !c.exits || matches!(c.kind, Kind::SelfTimed),
                "{}: exits/op needs a self-timed program",
                c.name
            );
            assert!(
                src.join(format!("{}.c", c.program)).is_file(),
                "bench/{}.c missing",
                c.program
            );
        }
    }
}
