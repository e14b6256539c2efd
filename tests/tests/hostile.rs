//! Hostile-guest tests: runaway programs, memory hogs, malformed executables, bad
//! pointers, unimplemented system calls and ring-0 instructions from ring 3. hull must
//! end each one with the documented status and a clear `hull: ` message where one is
//! due, never hang, never panic, and never let the guest reach past its own ring 3.
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN) and a usable /dev/kvm.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hull_tests::{
    Case, Outcome, Run, Toolchain, compile, differential, differential_with, hull_raw, scratch_dir,
};

/// The kill timeout for runs that should end quickly on their own.
const QUICK: Duration = Duration::from_secs(30);

fn hello() -> PathBuf {
    compile("hello", Toolchain::GccStatic)
}

fn fail(what: &str, outcome: &Outcome) -> ! {
    panic!("{what}\n{}", outcome.summary());
}

/// Runs the static hello with `flags` for hull and checks that it ran as natively.
fn hello_with(flags: &[&str]) -> Outcome {
    let mut run = Run::new().kill_timeout(QUICK);
    for f in flags {
        run = run.hull_flag(f);
    }
    let out = run.hull(&hello());
    let what = format!("hello under {}", flags.join(" "));
    assert_sane(&what, &out);
    if out.status != 0 || out.stdout != b"hello, world\n" {
        fail(&format!("{what}: expected a normal run"), &out);
    }
    out
}

/// Common checks for any run: it ended by itself and hull did not panic.
fn assert_sane(what: &str, outcome: &Outcome) {
    if outcome.timed_out {
        fail(
            &format!("{what}: hull hung and was killed by the harness"),
            outcome,
        );
    }
    if outcome.panicked() {
        fail(&format!("{what}: hull panicked"), outcome);
    }
}

// ---------------------------------------------------------------------------------------
// --timeout
// ---------------------------------------------------------------------------------------

fn check_timeout(mode: &str) {
    let bin = compile("spin", Toolchain::GccStatic);
    let out = Run::new()
        .arg(mode)
        .hull_flag("--timeout")
        .hull_flag("2s")
        .kill_timeout(QUICK)
        .hull(&bin);
    let what = format!("spin {mode} under --timeout 2s");
    assert_sane(&what, &out);
    if out.status != 137 {
        fail(&format!("{what}: expected status 137"), &out);
    }
    if out.elapsed < Duration::from_millis(1900) {
        fail(&format!("{what}: ended before the 2 s timeout"), &out);
    }
    if out.elapsed > Duration::from_secs(10) {
        fail(
            &format!("{what}: took far longer than the 2 s timeout"),
            &out,
        );
    }
    if out.hull_lines().is_empty() {
        fail(&format!("{what}: no `hull: ` line on stderr"), &out);
    }
    if out.stdout_str() != format!("spinning: {mode}\n") {
        fail(
            &format!("{what}: output written before the timeout was lost"),
            &out,
        );
    }
}

#[test]
fn timeout_busy_loop() {
    check_timeout("busy");
}

#[test]
fn timeout_syscall_loop() {
    check_timeout("syscall");
}

#[test]
fn timeout_sleeping() {
    check_timeout("sleep");
}

#[test]
fn timeout_with_all_signals_blocked() {
    check_timeout("sigblock");
}

#[test]
fn timeout_not_reached() {
    let out = Run::new()
        .hull_flag("--timeout")
        .hull_flag("30s")
        .kill_timeout(QUICK)
        .hull(&hello());
    assert_sane("hello under --timeout 30s", &out);
    if out.status != 0 || out.stdout != b"hello, world\n" || out.elapsed > Duration::from_secs(10) {
        fail(
            "hello under --timeout 30s: expected a normal, prompt run",
            &out,
        );
    }
}

// ---------------------------------------------------------------------------------------
// --memory
// ---------------------------------------------------------------------------------------

fn check_memory_hog(mode: &str) {
    let bin = compile("mem_hog", Toolchain::GccStatic);
    let out = Run::new()
        .arg(mode)
        .hull_flag("--memory")
        .hull_flag("128M")
        .hull(&bin);
    let what = format!("mem_hog {mode} (1 GiB) under --memory 128M");
    assert_sane(&what, &out);
    match out.status {
        137 => {}
        3 if out.stdout_str().starts_with("ENOMEM") => {}
        _ => fail(
            &format!("{what}: expected status 137, or 3 with the program's own ENOMEM report"),
            &out,
        ),
    }
}

#[test]
fn memory_limit_malloc() {
    check_memory_hog("malloc");
}

#[test]
fn memory_limit_mmap() {
    check_memory_hog("mmap");
}

#[test]
fn memory_limit_small_program_runs() {
    hello_with(&["--memory", "64M"]);
}

#[test]
fn memory_limit_large_enough() {
    // 128 MiB of touched memory fits in 512M: same results as native.
    differential(
        "mmap_big",
        &[Case::new(
            "--memory 512M",
            Run::new().hull_flag("--memory").hull_flag("512M"),
        )],
    );
}

// ---------------------------------------------------------------------------------------
// Malformed programs
// ---------------------------------------------------------------------------------------

fn write_exec(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    path
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The file offset of the first PT_LOAD program header of an ELF64 image.
fn first_load_phdr(elf: &[u8]) -> usize {
    let phoff = get_u64(elf, 0x20) as usize;
    let phentsize = get_u16(elf, 0x36) as usize;
    let phnum = get_u16(elf, 0x38) as usize;
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&at| u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == 1)
        .expect("a static binary has a PT_LOAD")
}

/// A minimal ELF64 executable for another machine (aarch64): header, one PT_LOAD, and
/// `mov x8, #93; mov x0, #0; svc #0` as code.
fn aarch64_elf() -> Vec<u8> {
    let mut b = vec![0u8; 64 + 56];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // ELFCLASS64
    b[5] = 1; // little endian
    b[6] = 1; // EV_CURRENT
    put_u16(&mut b, 0x10, 2); // ET_EXEC
    put_u16(&mut b, 0x12, 183); // EM_AARCH64
    put_u32(&mut b, 0x14, 1);
    put_u64(&mut b, 0x18, 0x40_0000 + 64 + 56); // e_entry
    put_u64(&mut b, 0x20, 64); // e_phoff
    put_u16(&mut b, 0x34, 64); // e_ehsize
    put_u16(&mut b, 0x36, 56); // e_phentsize
    put_u16(&mut b, 0x38, 1); // e_phnum
    put_u16(&mut b, 0x3a, 64); // e_shentsize
    b.extend_from_slice(&[
        0xa8, 0x0b, 0x80, 0xd2, // mov x8, #93
        0x00, 0x00, 0x80, 0xd2, // mov x0, #0
        0x01, 0x00, 0x00, 0xd4, // svc #0
    ]);
    let len = b.len() as u64;
    let ph = 64;
    put_u32(&mut b, ph, 1); // PT_LOAD
    put_u32(&mut b, ph + 4, 5); // R+X
    put_u64(&mut b, ph + 16, 0x40_0000);
    put_u64(&mut b, ph + 24, 0x40_0000);
    put_u64(&mut b, ph + 32, len);
    put_u64(&mut b, ph + 40, len);
    put_u64(&mut b, ph + 48, 0x1000);
    b
}

/// A minimal 32-bit i386 ELF executable: header, one PT_LOAD, `exit(0)` via int 0x80.
fn i386_elf() -> Vec<u8> {
    let mut b = vec![0u8; 52 + 32];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 1; // ELFCLASS32
    b[5] = 1;
    b[6] = 1;
    put_u16(&mut b, 0x10, 2); // ET_EXEC
    put_u16(&mut b, 0x12, 3); // EM_386
    put_u32(&mut b, 0x14, 1);
    put_u32(&mut b, 0x18, 0x0804_8000 + 52 + 32); // e_entry
    put_u32(&mut b, 0x1c, 52); // e_phoff
    put_u16(&mut b, 0x28, 52); // e_ehsize
    put_u16(&mut b, 0x2a, 32); // e_phentsize
    put_u16(&mut b, 0x2c, 1); // e_phnum
    b.extend_from_slice(&[0x31, 0xdb, 0xb8, 0x01, 0, 0, 0, 0xcd, 0x80]); // xor ebx; mov eax,1; int 0x80
    let len = b.len() as u32;
    let ph = 52;
    put_u32(&mut b, ph, 1); // PT_LOAD
    put_u32(&mut b, ph + 8, 0x0804_8000); // p_vaddr
    put_u32(&mut b, ph + 12, 0x0804_8000); // p_paddr
    put_u32(&mut b, ph + 16, len); // p_filesz
    put_u32(&mut b, ph + 20, len); // p_memsz
    put_u32(&mut b, ph + 24, 5); // R+X
    put_u32(&mut b, ph + 28, 0x1000);
    b
}

/// The malformed programs, each with whether hull must reject it with exactly 126 (the
/// file is not a loadable x86_64 static ELF) or may also end it another clean way (the
/// image is well-formed but asks for memory no process can have).
fn malformed_programs(dir: &Path) -> Vec<(String, PathBuf, bool)> {
    let elf = fs::read(hello()).expect("read the hello binary");
    let mut out = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, strict: bool| {
        let path = write_exec(dir, name, &bytes);
        out.push((name.to_string(), path, strict));
    };

    let mut rng: u64 = 0x0123_4567_89ab_cdef;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 24) as u8
        })
        .collect();
    add("random-bytes", random, true);
    add("empty", Vec::new(), true);
    add("elf-magic-only", b"\x7fELF".to_vec(), true);
    add("truncated-100-bytes", elf[..100].to_vec(), true);
    add("truncated-half", elf[..elf.len() / 2].to_vec(), true);

    let mut e = elf.clone();
    put_u64(&mut e, 0x20, elf.len() as u64 + 4096);
    add("phoff-beyond-eof", e, true);
    let mut e = elf.clone();
    put_u64(&mut e, 0x20, u64::MAX - 16);
    add("phoff-overflows", e, true);
    let mut e = elf.clone();
    put_u16(&mut e, 0x36, 7);
    add("phentsize-wrong", e, true);
    let mut e = elf.clone();
    put_u16(&mut e, 0x38, 0xffff);
    add("phnum-huge", e, true);
    let mut e = elf.clone();
    put_u16(&mut e, 0x38, 0);
    add("phnum-zero", e, true);
    let mut e = elf.clone();
    e[5] = 2; // big endian
    add("big-endian", e, true);
    let mut e = elf.clone();
    put_u16(&mut e, 0x10, 4); // ET_CORE
    add("type-core", e, true);

    let ph = first_load_phdr(&elf);
    let mut e = elf.clone();
    put_u64(&mut e, ph + 16, 0xffff_8000_0000_0000);
    put_u64(&mut e, ph + 24, 0xffff_8000_0000_0000);
    add("load-at-kernel-address", e, false);
    let mut e = elf.clone();
    let memsz = get_u64(&elf, ph + 40);
    put_u64(&mut e, ph + 32, memsz + 0x10_0000); // p_filesz > p_memsz
    add("filesz-above-memsz", e, false);
    let mut e = elf.clone();
    put_u64(&mut e, ph + 40, 1 << 46);
    add("memsz-64-TiB", e, false);
    let mut e = elf.clone();
    put_u64(&mut e, ph + 8, elf.len() as u64 + 0x10_0000); // p_offset beyond EOF
    add("load-offset-beyond-eof", e, false);

    add("aarch64", aarch64_elf(), true);
    add("i386", i386_elf(), true);
    add(
        "shell-script",
        b"#!/bin/sh\necho this must not run\n".to_vec(),
        true,
    );
    add("text-file", b"just some text\n".to_vec(), true);
    let object = fs::read(compile("hello", Toolchain::GccObject)).expect("read hello.o");
    add("relocatable-object", object, true);
    let dynamic = fs::read(compile("hello", Toolchain::GccDynamic)).expect("read dynamic hello");
    add("dynamically-linked", dynamic, true);
    out
}

#[test]
fn malformed_programs_are_rejected() {
    let dir = scratch_dir("malformed");
    let mut failures = Vec::new();
    for (name, path, strict) in malformed_programs(&dir) {
        let out = Run::new().kill_timeout(QUICK).hull(&path);
        let mut problems = Vec::new();
        if out.timed_out {
            problems.push("hung".to_string());
        }
        if out.panicked() {
            problems.push("hull panicked".to_string());
        }
        if strict && out.status != 126 {
            problems.push(format!("status {} instead of 126", out.status));
        }
        if !strict && (out.status == 0 || out.status == 125) {
            problems.push(format!(
                "status {}: expected a rejection (126) or a clean kill",
                out.status
            ));
        }
        if out.hull_lines().is_empty() {
            problems.push("no stderr line starting with `hull: `".to_string());
        }
        if !out.stdout.is_empty() {
            problems.push("something ran: stdout is not empty".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {}\n{}",
                problems.join("; "),
                out.summary()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} malformed programs were not rejected cleanly:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn missing_or_unusable_program_paths() {
    let dir = scratch_dir("paths");
    let cases = [
        ("nonexistent path", dir.join("no-such-program")),
        ("a directory", dir.clone()),
        ("a path through a file", hello().join("sub")),
    ];
    let mut failures = Vec::new();
    for (label, path) in cases {
        let out = Run::new().kill_timeout(QUICK).hull(&path);
        if out.timed_out
            || out.panicked()
            || out.status == 0
            || out.status > 128
            || out.hull_lines().is_empty()
        {
            failures.push(format!(
                "{label}: expected a non-zero status with a `hull: ` message\n{}",
                out.summary()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn hull_usage_errors_exit_125() {
    let hello = hello();
    let hello = hello.to_str().expect("utf-8 path");
    let cases: [(&str, Vec<&str>); 5] = [
        ("no PROGRAM", vec!["run"]),
        ("unknown flag", vec!["run", "--no-such-flag", hello]),
        ("bad --memory", vec!["run", "--memory", "lots", hello]),
        ("bad --timeout", vec!["run", "--timeout", "soon", hello]),
        (
            "missing --kernel file",
            vec!["run", "--kernel", "/nonexistent/hull-kernel", hello],
        ),
    ];
    let mut failures = Vec::new();
    for (label, args) in cases {
        let out = hull_raw(&args, QUICK);
        if out.timed_out || out.panicked() || out.status != 125 || out.stderr.is_empty() {
            failures.push(format!(
                "{label}: expected status 125 with an error message\n{}",
                out.summary()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// --strace, unimplemented system calls, bad pointers
// ---------------------------------------------------------------------------------------

#[test]
fn strace_shows_writes_and_keeps_output() {
    let out = hello_with(&["--strace"]);
    if !out.stderr_str().contains("write(1,") {
        fail("hello under --strace: no `write(1,` in the trace", &out);
    }
}

/// The value of `hull: stats: NAME  N` in `stderr`.
fn stat_line(stderr: &str, name: &str) -> Option<u64> {
    let prefix = format!("hull: stats: {name} ");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.trim().parse().ok())
}

#[test]
fn stats_report_the_guest_kernels_counts() {
    // Every system call is counted: as many as --strace shows, one line each.
    let out = hello_with(&["--strace", "--stats"]);
    let err = out.stderr_str();
    let traced = err
        .lines()
        .filter(|l| !l.starts_with("hull: ") && l.contains('('))
        .count() as u64;
    let syscalls = stat_line(&err, "guest syscalls");
    if traced < 10 || syscalls != Some(traced) {
        fail(
            &format!("hello: {traced} traced system calls, --stats counted {syscalls:?}"),
            &out,
        );
    }
    for name in ["guest page faults", "guest task switches", "exits Exit"] {
        if stat_line(&err, name).is_none() {
            fail(&format!("hello under --stats: no `{name}` line"), &out);
        }
    }
    // A process that forks and waits switches tasks and page tables.
    let out = Run::new()
        .hull_flag("--stats")
        .kill_timeout(QUICK)
        .hull(&compile("proc_wait", Toolchain::GccStatic));
    let err = out.stderr_str();
    let switches = stat_line(&err, "guest task switches").unwrap_or(0);
    let loads = stat_line(&err, "guest page-table loads").unwrap_or(0);
    if out.status != 0 || switches == 0 || loads == 0 || loads > switches {
        fail(
            "proc_wait under --stats: no task or page-table switches counted",
            &out,
        );
    }
}

#[test]
fn unimplemented_syscalls_return_enosys() {
    // The numbers that do not exist anywhere agree with native Linux.
    differential(
        "bad_syscall",
        &[Case::new("nonexistent numbers", Run::new())],
    );

    // acct(2) is left unimplemented by hull (natively it needs privilege).
    let bin = compile("bad_syscall", Toolchain::GccStatic);
    let expected = "syscall(1000) = -1 ENOSYS\n\
                    syscall(-1) = -1 ENOSYS\n\
                    syscall(100000) = -1 ENOSYS\n\
                    syscall(SYS_acct) = -1 ENOSYS\n\
                    getpid after: ok\n";
    let out = Run::new().arg("all").kill_timeout(QUICK).hull(&bin);
    assert_sane("bad_syscall all", &out);
    if out.status != 0 || out.stdout_str() != expected {
        fail(
            &format!("bad_syscall all: expected status 0 and\n{expected}"),
            &out,
        );
    }
    let traced = Run::new()
        .arg("all")
        .hull_flag("--strace")
        .kill_timeout(QUICK)
        .hull(&bin);
    assert_sane("bad_syscall all under --strace", &traced);
    if traced.stdout_str() != expected {
        fail("bad_syscall all under --strace: output changed", &traced);
    }
    if !traced.stderr_str().contains("ENOSYS") {
        fail(
            "bad_syscall all under --strace: no ENOSYS in the trace",
            &traced,
        );
    }
}

#[test]
fn bad_pointers_give_efault() {
    let expected = "write(1, 0x1, 10) = -1 EFAULT\n\
                    write(1, kernel address, 10) = -1 EFAULT\n\
                    write(1, top page, 10) = -1 EFAULT\n\
                    write(1, non-canonical, 10) = -1 EFAULT\n\
                    read(0, kernel address, 10) = -1 EFAULT\n\
                    read(0, NULL, 10) = -1 EFAULT\n\
                    clock_gettime(REALTIME, 0x1) = -1 EFAULT\n\
                    uname(kernel address) = -1 EFAULT\n\
                    writev(1, 0x8, 1) = -1 EFAULT\n\
                    getrandom(top of address space) = -1 EFAULT\n\
                    write(1, buf, SIZE_MAX) = -1 EFAULT\n\
                    read(0, buf, 5) = 5 [hello]\n\
                    still running\n";
    let run = Run::new().stdin(b"hello".to_vec()).kill_timeout(QUICK);
    let native = run.native(&compile("bad_pointer", Toolchain::GccStatic));
    assert_eq!(
        native.stdout_str(),
        expected,
        "the native run itself differs from the expectation:\n{}",
        native.summary()
    );
    differential("bad_pointer", &[Case::new("", run)]);
}

// ---------------------------------------------------------------------------------------
// Ring 0 from ring 3
// ---------------------------------------------------------------------------------------

#[test]
fn privileged_instructions_fault() {
    let mut cases = vec![
        Case::new("probe kernel and low memory", Run::new().arg("probe")),
        Case::new(
            "syscall with a hostile rsp",
            Run::new().arg("syscall_bad_rsp"),
        ),
    ];
    for mode in [
        "hlt",
        "cli",
        "sti",
        "outb",
        "outl",
        "inb",
        "rdmsr",
        "wrmsr",
        "mov_cr3",
        "mov_cr0",
        "lgdt",
        "invlpg",
        "sysret",
        "int81",
        "int_pf",
        "int_df",
        "jmp_kernel",
        "jmp_noncanonical",
        "popf_iopl_cli",
        "sigreturn_iopl_cli",
        "sigreturn_noncanonical",
        "sigframe_bad_rsp",
    ] {
        cases.push(Case::new(mode, Run::new().arg(mode)).status(139));
    }
    // One toolchain is enough: the instructions do not depend on the libc.
    differential_with("privileged", &[Toolchain::GccStatic], &cases);
}

#[test]
fn hypercall_instructions_from_ring3() {
    // VMCALL/VMMCALL from guest ring 3 must not reach hull's hypercall handling. What
    // the program sees depends on the CPU and KVM (#UD, #GP, or an error in RAX), so
    // only a clean outcome is required.
    let bin = compile("privileged", Toolchain::GccStatic);
    let mut failures = Vec::new();
    for mode in ["vmcall", "vmmcall"] {
        let out = Run::new().arg(mode).kill_timeout(QUICK).hull(&bin);
        let clean = matches!(out.status, 0 | 132 | 139);
        if out.timed_out || out.panicked() || !clean || !out.stdout_str().starts_with("trying") {
            failures.push(format!(
                "{mode}: expected status 0, 132 or 139 and no hull error\n{}",
                out.summary()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Status of `cmd` when its stdout reader goes away after the first bytes.
fn status_after_reader_closes(mut cmd: std::process::Command) -> i32 {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut first = [0u8; 2];
    out.read_exact(&mut first)
        .expect("the writer starts writing");
    drop(out);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return hull_tests::shell_status(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the writer did not stop after its reader went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn sigpipe_when_stdout_reader_goes_away() {
    hull_tests::require_kvm();
    let bin = hull_tests::compile("yes", hull_tests::Toolchain::GccStatic);
    let native = status_after_reader_closes(std::process::Command::new(&bin));
    let mut cmd = std::process::Command::new(hull_tests::hull_bin());
    cmd.arg("run").arg(&bin);
    let hull = status_after_reader_closes(cmd);
    assert_eq!(native, 141, "natively a write to a closed pipe is SIGPIPE");
    assert_eq!(hull, native, "under hull too");
}

/// Output of `cmd` run with a stdin pipe that stays open and empty.
fn stdout_with_idle_stdin(mut cmd: std::process::Command) -> Vec<u8> {
    use std::io::Read;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Keep the write end of stdin open (and empty) until the program is done.
    let stdin = child.stdin.take();
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    child.wait().expect("wait");
    drop(stdin);
    out
}

#[test]
fn nonblocking_stdin_gives_eagain() {
    hull_tests::require_kvm();
    let bin = hull_tests::compile("nonblock_stdin", hull_tests::Toolchain::GccStatic);
    let native = stdout_with_idle_stdin(std::process::Command::new(&bin));
    let mut cmd = std::process::Command::new(hull_tests::hull_bin());
    cmd.arg("run").arg("--timeout").arg("20s").arg(&bin);
    let hull = stdout_with_idle_stdin(cmd);
    assert_eq!(String::from_utf8_lossy(&native), "read=-1 errno=EAGAIN\n");
    assert_eq!(
        String::from_utf8_lossy(&hull),
        String::from_utf8_lossy(&native)
    );
}
