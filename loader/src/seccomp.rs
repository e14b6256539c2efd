//! seccomp on hull itself. Once the VM is built, the process that serves the guest needs
//! only a handful of syscalls: KVM_RUN, I/O on the handles it already holds, the file
//! server's calls relative to descriptors it holds, clocks, memory for its own allocator,
//! and exit. Everything else kills the process, so a guest that found a bug in the
//! hypercall server still cannot open sockets or devices, nor any path outside the mounts:
//! `open`/`openat` are not allowed at all, and every `*at` call (`openat2` included) must
//! name a directory descriptor, never `AT_FDCWD`.
use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Why the filter could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter: {0}")]
    Build(#[from] seccompiler::BackendError),
    #[error("installing the seccomp filter: {0}")]
    Install(#[from] seccompiler::Error),
}

const KVM_RUN: u64 = 0xae80;
const KVM_GET_REGS: u64 = 0x8090_ae81;
/// `_IOW(KVMIO, 0xa5, struct kvm_msi)`: raising the host-signal interrupt in the guest.
const KVM_SIGNAL_MSI: u64 = 0x4020_aea5;

fn ioctl_is(request: u64) -> Result<SeccompRule, seccompiler::BackendError> {
    SeccompRule::new(vec![SeccompCondition::new(
        1,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        request,
    )?])
}

/// `AT_FDCWD` as the 32-bit value the kernel compares (dirfd arguments are `int`).
const AT_FDCWD_32: u64 = libc::AT_FDCWD as u32 as u64;

/// A rule: none of the `dirfd_args` is `AT_FDCWD`, and the `extra` conditions hold.
fn not_cwd(
    dirfd_args: &[u8],
    mut extra: Vec<SeccompCondition>,
) -> Result<SeccompRule, seccompiler::BackendError> {
    for &arg in dirfd_args {
        extra.push(SeccompCondition::new(
            arg,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            AT_FDCWD_32,
        )?);
    }
    SeccompRule::new(extra)
}

/// The rules: syscall number → conditions (empty = always allowed).
fn rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let always = [
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_preadv,
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_pwritev,
        // Appending writes (RWF_APPEND).
        libc::SYS_pwritev2,
        libc::SYS_lseek,
        libc::SYS_poll,
        libc::SYS_fstat,
        libc::SYS_close,
        // The file server, on descriptors it holds.
        libc::SYS_getdents64,
        libc::SYS_fstatfs,
        libc::SYS_fchmod,
        libc::SYS_ftruncate,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_fallocate,
        libc::SYS_copy_file_range,
        libc::SYS_clock_gettime,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_restart_syscall,
        libc::SYS_futex,
        libc::SYS_sched_yield,
        libc::SYS_brk,
        libc::SYS_munmap,
        libc::SYS_madvise,
        libc::SYS_mremap,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        // The grace alarm of a forwarded SIGINT/SIGTERM (host_signals).
        libc::SYS_alarm,
        libc::SYS_sigaltstack,
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_tgkill,
        libc::SYS_exit,
        libc::SYS_exit_group,
    ];
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = always.iter().map(|&n| (n, vec![])).collect();
    rules.insert(
        libc::SYS_ioctl,
        vec![
            ioctl_is(KVM_RUN)?,
            ioctl_is(KVM_GET_REGS)?,
            ioctl_is(KVM_SIGNAL_MSI)?,
            ioctl_is(libc::TCGETS)?,
            ioctl_is(libc::TIOCGWINSZ)?,
        ],
    );
    // Path calls of the file server: always relative to a descriptor (a mount root or a
    // directory beneath it), never to hull's working directory.
    for (nr, dirfd_args) in [
        (libc::SYS_openat2, &[0u8][..]),
        (libc::SYS_newfstatat, &[0]),
        (libc::SYS_readlinkat, &[0]),
        (libc::SYS_mkdirat, &[0]),
        (libc::SYS_unlinkat, &[0]),
        (libc::SYS_renameat2, &[0, 2]),
        (libc::SYS_symlinkat, &[1]),
        (libc::SYS_fchmodat, &[0]),
        (libc::SYS_fchmodat2, &[0]),
        (libc::SYS_utimensat, &[0]),
    ] {
        rules.insert(nr, vec![not_cwd(dirfd_args, vec![])?]);
    }
    // linkat: no AT_SYMLINK_FOLLOW and no AT_EMPTY_PATH (linking a descriptor).
    rules.insert(
        libc::SYS_linkat,
        vec![not_cwd(
            &[0, 2],
            vec![SeccompCondition::new(
                4,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                0,
            )?],
        )?],
    );
    // The allocator may map memory, never executable memory.
    let no_exec = SeccompRule::new(vec![SeccompCondition::new(
        2,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64),
        0,
    )?])?;
    rules.insert(libc::SYS_mmap, vec![no_exec.clone()]);
    rules.insert(libc::SYS_mprotect, vec![no_exec]);
    Ok(rules)
}

/// Installs the filter on every thread of the process.
pub fn confine() -> Result<(), SeccompError> {
    let filter = SeccompFilter::new(
        rules()?,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )?;
    let program: BpfProgram = filter.try_into()?;
    seccompiler::apply_filter_all_threads(&program)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_structures() {
        // _IOW(KVMIO, 0xa5, struct kvm_msi)
        let size = std::mem::size_of::<kvm_bindings::kvm_msi>() as u64;
        assert_eq!(
            KVM_SIGNAL_MSI,
            (1 << 30) | (size << 16) | (0xae << 8) | 0xa5
        );
        // _IOR(KVMIO, 0x81, struct kvm_regs)
        let size = std::mem::size_of::<kvm_bindings::kvm_regs>() as u64;
        assert_eq!(KVM_GET_REGS, (2 << 30) | (size << 16) | (0xae << 8) | 0x81);
    }

    #[test]
    fn filter_compiles() {
        let filter = SeccompFilter::new(
            rules().unwrap(),
            SeccompAction::KillProcess,
            SeccompAction::Allow,
            TargetArch::x86_64,
        )
        .unwrap();
        let program: BpfProgram = filter.try_into().unwrap();
        assert!(program.len() > 20);
    }
}
