//! Differential tests: each C program in `tests/programs/` is built with every toolchain
//! (glibc static, glibc static-pie, musl static) and run natively and under hull; stdout,
//! stderr and exit status must agree. One test per program; a test runs all toolchains
//! and cases and reports every disagreement together.
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN) and a usable /dev/kvm.

use hull_tests::{Case, Run, differential};

fn single(program: &str) {
    differential(program, &[Case::new("", Run::new())]);
}

/// Deterministic text of about `size` bytes: words of varied length, lines of varied
/// width, some blank lines, tabs and multi-byte UTF-8.
fn text_input(size: usize) -> Vec<u8> {
    let words = [
        "alpha",
        "be",
        "gamma",
        "δέλτα",
        "x",
        "sandbox",
        "kvm",
        "ring3",
        "héllo",
        "\tTAB",
    ];
    let mut out = Vec::with_capacity(size + 64);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut line_len = 0;
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let w = words[(state % words.len() as u64) as usize];
        out.extend_from_slice(w.as_bytes());
        line_len += w.len();
        if line_len > 40 + (state >> 40) as usize % 60 {
            out.push(b'\n');
            if state.is_multiple_of(17) {
                out.push(b'\n');
            }
            line_len = 0;
        } else {
            out.push(if state.is_multiple_of(5) { b'\t' } else { b' ' });
        }
    }
    out
}

#[test]
fn args_env() {
    let many: Vec<String> = (0..1000).map(|i| format!("arg{i}")).collect();
    let long_arg = "x".repeat(100_000);
    let long_env = "v".repeat(50_000);
    differential(
        "args_env",
        &[
            Case::new("no args", Run::new()),
            Case::new(
                "odd args",
                Run::new().args([
                    "hello world",
                    "",
                    "  leading and trailing  ",
                    "tab\there",
                    "new\nline",
                    "héllo wörld",
                    "日本語",
                    "🦀 emoji",
                    "quote\"s and 'apostrophes'",
                    "$HOME",
                    "*",
                    "",
                ]),
            ),
            // Arguments after PROGRAM belong to the program, even when they look like
            // hull's own flags.
            Case::new(
                "flag-like args",
                Run::new().args([
                    "--env",
                    "X=1",
                    "--strace",
                    "--timeout",
                    "1s",
                    "-h",
                    "--",
                    "run",
                ]),
            ),
            Case::new("1000 args", Run::new().args(&many)),
            Case::new(
                "100 KB arg and 50 KB env value",
                Run::new().arg(&long_arg).env("LONG", &long_env),
            ),
            Case::new(
                "--env KEY=VALUE",
                Run::new()
                    .env("FOO", "bar")
                    .env("EMPTY", "")
                    .env("WITH_EQUALS", "a=b=c")
                    .env("SPACES", "one two  three")
                    .env("UNICODE", "ünïcödé ✓"),
            ),
            // Host variables reach the guest only when named with --env KEY.
            Case::new(
                "--env KEY passes the host value, nothing else leaks",
                Run::new()
                    .host_env("HULL_TEST_PASSED", "from the host")
                    .host_env("HULL_TEST_NOT_PASSED", "must not leak")
                    .pass_env("HULL_TEST_PASSED"),
            ),
            Case::new(
                "host TERM is passed",
                Run::new().host_env("TERM", "xterm-hull-test"),
            ),
            Case::new(
                "no host TERM, no guest TERM",
                Run::new().host_env_remove("TERM"),
            ),
            Case::new(
                "--env overrides a default",
                Run::new().env("HOME", "/home/guest"),
            ),
        ],
    );
}

#[test]
fn wc_stdin() {
    let small = b"hello world\nthe quick brown fox\n\njumps  over\tthe lazy dog".to_vec();
    let big = text_input(1 << 20);
    let mut binary = Vec::with_capacity(300_000);
    let mut x: u32 = 1;
    for _ in 0..300_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        binary.push((x >> 16) as u8);
    }
    let mut cases = Vec::new();
    for mode in ["read", "stdio"] {
        cases.push(Case::new(
            format!("{mode}: empty stdin"),
            Run::new().arg(mode),
        ));
        cases.push(Case::new(
            format!("{mode}: small stdin"),
            Run::new().arg(mode).stdin(small.clone()),
        ));
        cases.push(Case::new(
            format!("{mode}: 1 MiB stdin"),
            Run::new().arg(mode).stdin(big.clone()),
        ));
        cases.push(Case::new(
            format!("{mode}: binary stdin"),
            Run::new().arg(mode).stdin(binary.clone()),
        ));
    }
    differential("wc", &cases);
}

#[test]
fn hello() {
    single("hello");
}

#[test]
fn malloc_churn() {
    single("malloc_churn");
}

#[test]
fn mmap_big() {
    single("mmap_big");
}

#[test]
fn mem_mprotect() {
    single("mem_mprotect");
}

#[test]
fn mem_faults() {
    single("mem_faults");
}

#[test]
fn tls() {
    single("tls");
}

#[test]
fn recursion() {
    single("recursion");
}

#[test]
fn time_sanity() {
    single("time_sanity");
}

#[test]
fn uname() {
    single("uname");
}

#[test]
fn getrandom() {
    single("getrandom");
}

#[test]
fn exit_code() {
    let cases: Vec<Case> = [
        ("exit", "0", 0),
        ("exit", "1", 1),
        ("exit", "42", 42),
        ("exit", "255", 255),
        ("exit", "256", 0),
        ("exit", "-1", 255),
        ("exit", "300", 44),
        ("return", "42", 42),
        ("return", "0", 0),
        ("_exit", "9", 9),
        ("exit_group", "7", 7),
        ("exit_thread", "5", 5),
    ]
    .into_iter()
    .map(|(how, value, status)| {
        Case::new(format!("{how} {value}"), Run::new().args([how, value])).status(status)
    })
    .collect();
    differential("exit_code", &cases);
}

#[test]
fn exit_atexit() {
    differential(
        "exit_atexit",
        &[
            Case::new("exit from a nested call", Run::new().arg("nested")).status(3),
            Case::new("_exit drops buffers and handlers", Run::new().arg("_exit")).status(4),
            Case::new("return from main", Run::new().arg("return")).status(5),
        ],
    );
}

#[test]
fn stdio_fds() {
    differential(
        "stdio_fds",
        &[Case::new("", Run::new().stdin(b"unused input\n".to_vec()))],
    );
}

#[test]
fn iovec() {
    differential(
        "iovec",
        &[
            Case::new(
                "writev/readv",
                Run::new()
                    .arg("vec")
                    .stdin(b"abcdefghijklmnopqrstuvwxyz0123456789\n".to_vec()),
            ),
            Case::new("writev/readv, empty stdin", Run::new().arg("vec")),
            Case::new("4 MiB in one write", Run::new().arg("big")),
        ],
    );
}

#[test]
fn ids() {
    single("ids");
}

#[test]
fn auxv() {
    single("auxv");
}

/// The vDSO: AT_SYSINFO_EHDR, [vdso]/[vvar] in maps, and libc's time calls through it
/// agreeing with the system calls.
#[test]
fn vdso() {
    single("vdso");
}

#[test]
fn proc_exe() {
    single("proc_exe");
}

#[test]
fn signals() {
    let cases: Vec<Case> = [
        ("segv", 139),
        ("trap", 132),
        ("ud2", 132),
        ("fpe", 136),
        ("fpe_overflow", 136),
        ("abort", 134),
        ("kill", 137),
        ("term", 143),
        ("raise_segv", 139),
        ("int3", 133),
        ("stack_overflow", 139),
        ("usr1", 138),
    ]
    .into_iter()
    .map(|(mode, status)| Case::new(mode, Run::new().arg(mode)).status(status))
    .collect();
    differential("signals", &cases);
}

#[test]
fn signal_handlers() {
    single("signal_handlers");
}

#[test]
fn fp_simd() {
    single("fp_simd");
}
