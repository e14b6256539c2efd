//! Dynamically linked programs: the guest kernel finds the program's interpreter
//! (PT_INTERP) in the sandbox's own tree, here `--root /` (the host's tree, read-only, with
//! writes kept in memory), loads it beside the program, and ld.so maps the libraries with
//! file mappings. Each run is compared with the native one.
//!
//! Needs the hull binary (`cargo build --release`, or HULL_BIN) and a usable /dev/kvm.

use std::path::Path;

use hull_tests::{Case, Run, Toolchain, differential_with, hull_bin};

fn under_root() -> Run {
    Run::new().hull_flag("--root").hull_flag("/")
}

/// C test programs built with plain `gcc -O2` (libc.so, ld-linux), under `--root /`:
/// start-up, malloc, big mappings, signals, threads, processes and pipes, TLS, the vDSO.
#[test]
fn c_programs_linked_dynamically() {
    for program in [
        "hello",
        "malloc_churn",
        "mmap_big",
        "signal_handlers",
        "thr_sync",
        "proc_pipes",
        "tls",
        "vdso",
    ] {
        differential_with(
            program,
            &[Toolchain::GccDynamic],
            &[Case::new("--root /", under_root())],
        );
    }
}

/// The host's own dynamically linked programs, unmodified: Python (its standard library
/// read and its extension modules mapped from the host tree), bash with a pipeline,
/// command substitution and coreutils, and gcc compiling a program that then runs.
#[test]
fn distribution_programs_run_from_the_host_tree() {
    let _ = hull_bin();
    let cases: [(&str, Vec<&str>); 3] = [
        (
            "/usr/bin/python3",
            vec![
                "-c",
                "import sys, json, hashlib, zlib; \
                 print(json.dumps({'v': sys.version_info[0], 'h': hashlib.sha256(b'hull').hexdigest()[:16]})); \
                 print(len(zlib.compress(b'x' * 100000)), sum(range(10**6)))",
            ],
        ),
        (
            "/bin/bash",
            vec![
                "-c",
                "for i in 3 1 2; do echo $i; done | sort | tr '\\n' ' '; echo; \
                 x=$(echo sub | tr a-z A-Z); echo $x; ls -d /etc /usr | wc -l; \
                 head -c 5 /etc/os-release | od -An -c",
            ],
        ),
        (
            // gcc runs cc1, as and collect2/ld as child processes through pipes and
            // temporary files, then the program it built runs.
            "/bin/bash",
            vec![
                "-c",
                "d=$(mktemp -d) && cd $d && printf 'int main(void){return 7;}' > t.c && \
                 gcc -O1 -o t t.c && ./t; echo status $?; cd / && rm -rf $d",
            ],
        ),
    ];
    for (program, args) in cases {
        let path = Path::new(program);
        assert!(
            path.exists(),
            "{program} is missing on this machine; install it (apt-get install python3 bash)"
        );
        let run = under_root().args(args);
        let native = run.native(path);
        let hull = run.hull(path);
        assert_eq!(
            (hull.stdout_str(), hull.status),
            (native.stdout_str(), native.status),
            "{program} under hull differs from native:\nnative: {}\nhull: {}",
            native.summary(),
            hull.summary()
        );
        assert!(native.status == 0 && !native.stdout_str().is_empty());
    }
}
