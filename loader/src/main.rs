//! `hull`: runs an unmodified static Linux x86_64 program inside a KVM virtual machine
//! whose ring-0 kernel (embedded in this binary) implements the Linux syscall ABI.
//!
//! Exit status: the program's own; 128+N when it is killed by signal N; 137 on `--timeout`
//! or when it exhausts the sandbox's memory; 126 when the program cannot be executed; 127
//! when it does not exist; 124 when the guest kernel failed; 125 when hull itself could
//! not run the sandbox.
mod cli;
mod files;
mod guest_memory;
mod host_io;
mod host_signals;
mod hypercall;
mod layout;
mod run;
mod seccomp;
mod stats;
mod vm;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; a usage error is hull's own (125).
            let code = if e.use_stderr() {
                run::EXIT_HULL_ERROR
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.command {
        cli::Command::Run(args) => match run::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("hull: {e:#}");
                e.downcast_ref::<run::ProgramError>()
                    .map_or(run::EXIT_HULL_ERROR, |p| p.status())
            }
        },
    };
    std::process::exit(code);
}
