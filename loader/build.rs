//! Builds the guest kernel for `x86_64-unknown-none` and hands its path to the loader, which
//! embeds it with `include_bytes!`, so `target/release/hull` is the whole product.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("loader/ sits in the workspace")
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = out.join("kernel-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for dir in [
        "kernel/src",
        "kernel/Cargo.toml",
        "kernel/build.rs",
        "kernel/vdso",
        "arch/src",
        "arch/Cargo.toml",
        "linker.ld",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let status = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--package",
            "hull-kernel",
            "--bin",
            "hull-kernel",
            "--release",
            "--target",
            "x86_64-unknown-none",
            "--target-dir",
        ])
        .arg(&target_dir)
        // The outer build's flags are for the host; the kernel's come from .cargo/config.toml.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env(
            "CARGO_TARGET_X86_64_UNKNOWN_NONE_RUSTFLAGS",
            "-C relocation-model=static -C code-model=kernel",
        )
        .status()
        .expect("run cargo to build the guest kernel");
    assert!(
        status.success(),
        "building the guest kernel failed (is the target installed? rustup target add x86_64-unknown-none)"
    );
    let elf = target_dir.join("x86_64-unknown-none/release/hull-kernel");
    println!("cargo:rustc-env=HULL_KERNEL_ELF={}", elf.display());
}
