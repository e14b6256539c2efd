//! Links the guest kernel with the workspace's linker script (guest target only), and
//! builds the vDSO (`vdso/`) that the kernel maps into every process, with the C compiler
//! (`CC`, else `cc`): a small relocation-free shared object, as Linux builds its own.
use std::path::Path;
use std::process::Command;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "none" {
        let script = dir.join("../linker.ld");
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
        println!("cargo:rerun-if-changed={}", script.display());
    }
    build_vdso(dir);
}

fn build_vdso(dir: &Path) {
    let src = dir.join("vdso/vdso.c");
    let script = dir.join("vdso/vdso.lds");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=CC");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("vdso.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-shared",
            "-nostdlib",
            "-fPIC",
            "-O2",
            "-fno-stack-protector",
            "-fcf-protection=none",
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wl,--hash-style=both",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--build-id=none",
            "-Wl,-z,max-page-size=4096",
            "-Wl,-z,noexecstack",
            "-Wl,--no-undefined",
            "-Wl,--strip-all",
        ])
        .arg(format!("-Wl,-T,{}", script.display()))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler `{cc}` to build the vDSO: {e}; install gcc (apt-get install gcc)")
        });
    assert!(status.success(), "building the vDSO with `{cc}` failed");
}
