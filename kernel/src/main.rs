//! The guest kernel binary: the arch entry point calls [`hull_kernel::boot::start`].
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
hull_arch::entry_point!(hull_kernel::boot::start);

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "hull-kernel runs only inside the hull VM (target x86_64-unknown-none); run `hull run PROGRAM` instead"
    );
    std::process::exit(2);
}
