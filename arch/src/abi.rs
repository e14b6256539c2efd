//! The guest/host ABI: the boot-info block and the hypercall interface.
//!
//! # Mechanism
//! The guest fills the [`HypercallBlock`] at [`crate::layout::HYPERCALL_BLOCK_GPA`] and
//! executes `out HYPERCALL_PORT, eax` with the operation number in `eax`. That is one VM
//! exit. The host copies the block out of guest memory, validates it, performs the
//! operation, and writes `ret` (a value ≥ 0, or a negated Linux errno) and any results
//! back into the block. The host treats every field as hostile: unknown operations, bad
//! handles, out-of-range guest addresses and malformed blocks end the sandbox.
//!
//! Bulk data never goes through the block: `Read`/`Write` carry a list of guest-physical
//! segments ([`Segment`]) and the host moves bytes with `readv`/`writev` straight between
//! its file descriptor and guest RAM.
//!
//! # Operations
//! | op | name | args | result |
//! |---:|------|------|--------|
//! | 1 | `Exit` | `[kind, status, fault_addr, fault_rip, signo]`, message in `data[..args[5]]` | does not return |
//! | 2 | `Log` | `[len]`, bytes in `data` | 0; bytes go to the host's stderr |
//! | 3 | `TimeSync` | `[ABI_VERSION]` | `args[0]` = host CLOCK_REALTIME ns, `args[1]` = CLOCK_MONOTONIC ns |
//! | 16 | `Read` | `[handle, nsegs, offset, flags]`, segments in `data` | bytes read; `offset` = `u64::MAX` reads at the current position; `flags` bit 0 = [`IO_NONBLOCK`] |
//! | 17 | `Write` | `[handle, nsegs, offset, flags]`, segments in `data` | bytes written; `flags`: [`IO_NONBLOCK`], [`IO_APPEND`] (then `args[1]` = the position afterwards) |
//! | 18 | `Stat` | `[handle]` | 0, a [`HostStat`] in `data` |
//! | 19 | `TtyIoctl` | `[handle, request]` | 0, the result (`termios` or `winsize` bytes) in `data` |
//! | 20 | `Close` | `[handle]` | 0 |
//! | 21 | `Seek` | `[handle, offset, whence]` | the new offset |
//! | 23 | `HostSignals` | `[]` | `args[0]` = bit mask (bit N-1 for signal N) of the signals hull itself received (SIGINT, SIGTERM, SIGHUP) since the last call; the host raises interrupt [`HOST_SIGNAL_VECTOR`] in the guest when one arrives |
//! | 22 | `Poll` | `[n, timeout_ns]`, `n` ≤ [`MAX_POLL`] [`PollEntry`]s in `data` | entries ready; each entry's `revents` filled in; waits up to `timeout_ns` (0 = do not wait) for one to become ready |
//!
//!
//! ## File operations (32–63)
//! A *mount* is the index of a host directory in the policy (see [`MountRecord`]); the host
//! resolves every path beneath that directory's root and never outside it. A *path* is
//! relative to the mount root, in `data`: components separated by single `/`, none of them
//! empty, `.` or `..`, no leading or trailing `/`, at most [`MAX_PATH`] bytes; the empty
//! path names the root itself. The guest resolves `.`, `..` and symlinks itself (symlinks
//! are read with `FsWalk`); every other operation refuses to follow a symlink anywhere in
//! its path (`-ELOOP`), so a path the guest did not check cannot lead anywhere. Write-side
//! operations on a read-only mount fail with `-EROFS` on the host.
//!
//! | op | name | args | result |
//! |---:|------|------|--------|
//! | 32 | `FsWalk` | `[mount, path_len]` | 0: found, its [`HostStat`] in `data`; 1: component `args[0]` (from 0) is a symlink, its [`HostStat`] then its target (`args[1]` bytes) in `data`; `-errno`: component `args[0]` failed |
//! | 33 | `FsOpen` | `[mount, path_len, flags, mode]` | a handle, its [`HostStat`] in `data`; `flags` are Linux `O_*` (only those in [`OPEN_FLAGS_ALLOWED`]) |
//! | 34 | `FsReadDir` | `[handle, nsegs, stat_gpa, stat_max]`, segments in `data` | bytes of `linux_dirent64` records written to the segments, 0 at the end; `d_off` is a cookie for `Seek`. With `stat_max` > 0, at most `stat_max` entries are returned and the [`HostStat`] of each (`fstatat` without following symlinks; all zero if that failed) is written, in order, at guest-physical `stat_gpa` ([`HOST_STAT_SIZE`] bytes each); `args[0]` = the number of stats written; `stat_max` ≤ [`MAX_READDIR_STATS`] |
//! | 35 | `FsMkdir` | `[mount, path_len, mode]` | 0 |
//! | 36 | `FsUnlink` | `[mount, path_len, flags]` | 0; `flags` = `AT_REMOVEDIR` removes a directory |
//! | 37 | `FsRename` | `[mount, old_len, new_len, flags]`, old then new path in `data` | 0; `flags`: `RENAME_NOREPLACE`, `RENAME_EXCHANGE` |
//! | 38 | `FsLink` | `[mount, old_len, new_len]`, old then new path in `data` | 0 (a hard link; never follows a symlink) |
//! | 39 | `FsSymlink` | `[mount, target_len, path_len]`, target then path in `data` | 0 |
//! | 40 | `FsSetattr` | `[mount or handle, path_len or `[`SETATTR_BY_HANDLE`]`, attr, value]`, path then for times 4 × i64 in `data` | 0; `attr` is one of `SETATTR_*` |
//! | 41 | `FsStatfs` | `[mount]` | 0, a [`HostStatfs`] in `data` |
//! | 42 | `FsSync` | `[handle, datasync]` | 0 |
//! | 43 | `FsAllocate` | `[handle, mode, offset, len]` | 0 (`fallocate`) |
//! | 44 | `FsCopyRange` | `[in_handle, out_handle, in_offset, out_offset, len]` | bytes copied (`copy_file_range`; an offset of [`OFFSET_CURRENT`] uses and advances the handle's position) |
//!
//! `Seek` on a directory handle takes the `d_off` cookies of `FsReadDir` (and
//! `SEEK_DATA`/`SEEK_HOLE` on files); `Stat`, `Close`, `Read` and `Write` work on file
//! handles as on stdio. The host caps open handles ([`MAX_FILE_HANDLES`]); past the cap
//! `FsOpen` fails with `-EMFILE`.
//!
//! What the host adds to these rules (`loader/src/files.rs`):
//! - A path at or beneath the guest path of another mount nested in this one (`sub/x`
//!   through `/data` when `/data/sub` is a mount) is malformed: the guest sends it to the
//!   nested mount.
//! - `FsWalk` fails at the component whose lookup failed: for `file/x` that is `x`
//!   (`-ENOTDIR`). A symlink target longer than [`MAX_SYMLINK_TARGET`] is `-ENAMETOOLONG`.
//! - `FsOpen` opens only regular files and directories; anything else fails with `-EACCES`
//!   (as on a `nodev` mount; `FsWalk` still reports its attributes). A final symlink is
//!   `-ELOOP`, with `O_CREAT` too: the guest resolves it and sends the target.
//! - Modes (`FsOpen` with `O_CREAT`, `FsMkdir`) are used as given: the host applies no
//!   umask, the guest applies the program's.
//! - On a read-only mount, write-side operations first report the lookup errors Linux
//!   reports first (a missing parent, `-EEXIST` for an existing name in `FsMkdir`,
//!   `FsSymlink`, `FsLink` and `O_CREAT|O_EXCL`, `-EISDIR` for a directory opened for
//!   writing), then `-EROFS`. `O_CREAT` of an existing file without write access opens it.
//! - Handles from a read-only mount are never writable: `FsSetattr` on them fails with
//!   `-EROFS` (`-EINVAL` for the size, as `ftruncate` on a read-only descriptor),
//!   `FsAllocate` and `FsCopyRange` into them with `-EBADF`. On stdio handles `FsSetattr`
//!   takes only the size (mode and times: `-EPERM`).
//! - `FsSetattr` on a path changes the object itself: for a final symlink the mode is
//!   `-EOPNOTSUPP` (as `lchmod`), the size `-ELOOP`, and the times are the link's own.
//! - The root (empty path): `FsUnlink` and `FsRename` give `-EBUSY`, `FsMkdir` and
//!   `FsSymlink` `-EEXIST`, `FsLink` from it `-EPERM`.
//! - `FsCopyRange` copies at most `0x7ffff000` bytes per call, `FsReadDir` returns at most
//!   [`MAX_READDIR`] bytes.
//! - `FsReadDir` with `stat_max` > 0: the whole `stat_gpa` range (`stat_max` ×
//!   [`HOST_STAT_SIZE`] bytes) must lie in guest RAM, checked before anything else moves.
//!   The entry `..` always gets all-zero attributes: at a mount root it lies outside the
//!   mount. Stopping early moves the directory position back to the `d_off` of the last
//!   entry returned.
//!
//! Operations 64–95 are reserved for the network hypercalls; they use the same block and
//! handle space.
//!
//! Handles 0, 1 and 2 are the sandbox's stdin, stdout and stderr.
//!
//! `TimeSync` is the handshake: the guest states its [`ABI_VERSION`] there, and the host
//! refuses a different one, and every handle operation before it (only `Exit` and `Log`
//! may come first, so a kernel can report why it failed to boot).

/// The name of signal `signo` (Linux numbering), for the guest's diagnostics and the
/// host's "program killed by" note.
pub fn signal_name(signo: u32) -> &'static str {
    const NAMES: [&str; 32] = [
        "SIG0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(signo as usize) {
        Some(n) => n,
        None if signo <= 64 => "SIGRT",
        None => "SIG?",
    }
}

/// Bumped on any incompatible change; the host refuses a guest that reports another one.
pub const ABI_VERSION: u32 = 3;

/// `BootInfo::magic`.
pub const BOOT_MAGIC: u64 = 0x6c6c_7568_746f_6f62; // "boothull"

/// The single I/O port for hypercalls.
pub const HYPERCALL_PORT: u16 = 0x0510;

/// Handle of the sandbox's standard input.
pub const HANDLE_STDIN: u64 = 0;
/// Handle of the sandbox's standard output.
pub const HANDLE_STDOUT: u64 = 1;
/// Handle of the sandbox's standard error.
pub const HANDLE_STDERR: u64 = 2;

/// `Read`/`Write` flag: do not block; `-EAGAIN` when the handle is not ready (the guest's
/// O_NONBLOCK, which the host cannot set on a descriptor it shares with its caller).
pub const IO_NONBLOCK: u64 = 1;

/// `Write` flag: append (`pwritev2` with `RWF_APPEND`), whatever the offset; `args[1]`
/// returns the handle's position afterwards (the end of the file; [`OFFSET_CURRENT`] for a
/// handle without a position, such as a pipe). The guest's O_APPEND, which F_SETFL may
/// turn on and off, so host files are never opened with O_APPEND.
pub const IO_APPEND: u64 = 2;

/// `offset` value meaning "at the handle's current position".
pub const OFFSET_CURRENT: u64 = u64::MAX;

/// Hypercall operation numbers.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// End the run (see [`ExitKind`]).
    Exit = 1,
    /// Write kernel diagnostics (strace lines, warnings) to the host's stderr.
    Log = 2,
    /// Read the host clocks, for calibrating the guest's TSC clock.
    TimeSync = 3,
    /// `readv`/`preadv` from a host handle into guest segments.
    Read = 16,
    /// `writev`/`pwritev` from guest segments to a host handle.
    Write = 17,
    /// `fstat` of a host handle.
    Stat = 18,
    /// A terminal ioctl (`TCGETS` or `TIOCGWINSZ`) on a host handle.
    TtyIoctl = 19,
    /// Close a host handle.
    Close = 20,
    /// `lseek` on a host handle.
    Seek = 21,
    /// `poll` on host handles (the sandbox's stdio).
    Poll = 22,
    /// Which of SIGINT, SIGTERM and SIGHUP the host received since the last call.
    HostSignals = 23,
    /// Walk a path beneath a mount, stopping at the first symlink.
    FsWalk = 32,
    /// Open (or create) a file beneath a mount.
    FsOpen = 33,
    /// Read directory entries from a directory handle.
    FsReadDir = 34,
    /// Create a directory.
    FsMkdir = 35,
    /// Remove a file or an empty directory.
    FsUnlink = 36,
    /// Rename within one mount.
    FsRename = 37,
    /// Make a hard link within one mount.
    FsLink = 38,
    /// Create a symlink.
    FsSymlink = 39,
    /// Change mode, size or times.
    FsSetattr = 40,
    /// File-system statistics of a mount.
    FsStatfs = 41,
    /// `fsync`/`fdatasync` a handle.
    FsSync = 42,
    /// `fallocate` on a handle.
    FsAllocate = 43,
    /// `copy_file_range` between two handles.
    FsCopyRange = 44,
}

impl Op {
    /// Decodes an operation number; `None` for an unknown one.
    pub const fn from_u32(v: u32) -> Option<Op> {
        Some(match v {
            1 => Op::Exit,
            2 => Op::Log,
            3 => Op::TimeSync,
            16 => Op::Read,
            17 => Op::Write,
            18 => Op::Stat,
            19 => Op::TtyIoctl,
            20 => Op::Close,
            21 => Op::Seek,
            22 => Op::Poll,
            23 => Op::HostSignals,
            32 => Op::FsWalk,
            33 => Op::FsOpen,
            34 => Op::FsReadDir,
            35 => Op::FsMkdir,
            36 => Op::FsUnlink,
            37 => Op::FsRename,
            38 => Op::FsLink,
            39 => Op::FsSymlink,
            40 => Op::FsSetattr,
            41 => Op::FsStatfs,
            42 => Op::FsSync,
            43 => Op::FsAllocate,
            44 => Op::FsCopyRange,
            _ => return None,
        })
    }
}

/// How the run ended (`args[0]` of [`Op::Exit`]).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// The program called `exit_group(status)`.
    Exited = 0,
    /// The program was killed by signal `args[4]`; `args[2]`/`args[3]` hold the fault
    /// address and instruction pointer when `args[1]` is 1.
    Signaled = 1,
    /// The program could not be started; the message says why, `args[1]` is the status.
    ExecFailed = 2,
    /// The guest kernel failed (panic or kernel-mode fault); the message says where.
    KernelPanic = 3,
    /// The guest ran out of memory; the program was killed as by the OOM killer.
    OutOfMemory = 4,
}

impl ExitKind {
    /// Decodes `args[0]` of an exit hypercall.
    pub const fn from_u64(v: u64) -> Option<ExitKind> {
        Some(match v {
            0 => ExitKind::Exited,
            1 => ExitKind::Signaled,
            2 => ExitKind::ExecFailed,
            3 => ExitKind::KernelPanic,
            4 => ExitKind::OutOfMemory,
            _ => return None,
        })
    }
}

/// The interrupt vector the host raises (an MSI to the guest's local APIC) when hull
/// receives a signal it forwards to the sandbox; the guest then asks with `HostSignals`.
pub const HOST_SIGNAL_VECTOR: u8 = 0x40;

/// Most entries one `Poll` carries.
pub const MAX_POLL: usize = 64;

/// One handle of a `Poll`: 16 bytes, little-endian, in `data`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollEntry {
    pub handle: u64,
    /// `POLLIN`, `POLLOUT` (Linux values).
    pub events: u16,
    /// Set by the host.
    pub revents: u16,
    pub reserved: u32,
}

/// Longest path (bytes) one file operation carries; a rename's two paths together must fit
/// in the data area as well.
pub const MAX_PATH: usize = 4095;

/// Bytes of an encoded [`HostStat`] (its `#[repr(C)]` layout, little-endian, no padding).
pub const HOST_STAT_SIZE: usize = core::mem::size_of::<HostStat>();
const _: () = assert!(HOST_STAT_SIZE == 104);

/// `FsWalk` result: the whole path exists.
pub const WALK_FOUND: i64 = 0;
/// `FsWalk` result: a component is a symlink.
pub const WALK_SYMLINK: i64 = 1;

/// Longest symlink target `FsWalk` can return (the data area after the [`HostStat`]). A
/// longer target fails the walk with `-ENAMETOOLONG` at that component, and `FsSymlink`
/// refuses to create one (`-ENAMETOOLONG`).
pub const MAX_SYMLINK_TARGET: usize = DATA_SIZE - HOST_STAT_SIZE;

/// Most file handles (from `FsOpen`; stdio not counted) open at once; past it `FsOpen`
/// fails with `-EMFILE`.
pub const MAX_FILE_HANDLES: usize = 4096;

/// Most bytes of `linux_dirent64` records one `FsReadDir` returns, whatever the segments
/// hold.
pub const MAX_READDIR: usize = 1 << 20;

/// Largest `stat_max` of one `FsReadDir`; a larger one is malformed.
pub const MAX_READDIR_STATS: usize = 4096;

/// `O_*` flags `FsOpen` accepts (others are refused as malformed): access mode, O_CREAT,
/// O_EXCL, O_TRUNC, O_APPEND, O_NONBLOCK, O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_DSYNC,
/// O_SYNC, O_DIRECT, O_LARGEFILE. The host adds O_CLOEXEC and refuses to follow symlinks.
pub const OPEN_FLAGS_ALLOWED: u64 = 0o3
    | 0o100
    | 0o200
    | 0o1000
    | 0o2000
    | 0o4000
    | 0o200000
    | 0o400000
    | 0o1000000
    | 0o10000
    | 0o4010000
    | 0o40000
    | 0o100000;

/// `FsSetattr` `args[1]` value: `args[0]` is a handle and `data` holds no path.
pub const SETATTR_BY_HANDLE: u64 = u64::MAX;
/// `FsSetattr` attr: `chmod` to `args[3]` (permission bits only).
pub const SETATTR_MODE: u64 = 1;
/// `FsSetattr` attr: `truncate` to `args[3]` bytes.
pub const SETATTR_SIZE: u64 = 2;
/// `FsSetattr` attr: `utimensat` with atime sec, nsec, mtime sec, nsec (4 × i64 after the
/// path in `data`; nsec may be `UTIME_NOW` or `UTIME_OMIT`).
pub const SETATTR_TIMES: u64 = 3;

/// `MountRecord::flags`: the mount is read-only (enforced by the host).
pub const MOUNT_READONLY: u32 = 1 << 0;
/// `MountRecord::flags`: this is the `--root` tree: the guest's `/`, read-only, under an
/// in-memory overlay.
pub const MOUNT_ROOT_LOWER: u32 = 1 << 1;

/// One host directory in the policy, as the boot info lists them: a header of three
/// little-endian u32 (`id`, `flags`, `path_len`) then the guest path (absolute, normalized,
/// `path_len` bytes), records back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountRecord {
    /// The mount number in file hypercalls.
    pub id: u32,
    /// `MOUNT_*`.
    pub flags: u32,
}

/// Size of a [`MountRecord`] header in the boot-info blob.
pub const MOUNT_RECORD_HEADER: usize = 12;

/// File-system statistics (`struct statfs` fields) of a mount.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStatfs {
    /// `f_type`.
    pub fs_type: u64,
    /// `f_bsize`.
    pub bsize: u64,
    /// `f_blocks`.
    pub blocks: u64,
    /// `f_bfree`.
    pub bfree: u64,
    /// `f_bavail`.
    pub bavail: u64,
    /// `f_files`.
    pub files: u64,
    /// `f_ffree`.
    pub ffree: u64,
    /// `f_namelen`.
    pub namelen: u64,
    /// `f_frsize`.
    pub frsize: u64,
    /// `f_flags` (`ST_RDONLY` is set for a read-only mount).
    pub flags: u64,
}

/// Terminal ioctl requests the host serves (Linux values).
pub mod tty {
    /// `TCGETS`: 60 bytes of `struct termios` (kernel layout).
    pub const TCGETS: u64 = 0x5401;
    /// `TIOCGWINSZ`: 8 bytes of `struct winsize`.
    pub const TIOCGWINSZ: u64 = 0x5413;
    /// Size of the kernel's `struct termios`.
    pub const TERMIOS_SIZE: usize = 36;
}

/// Size of the whole hypercall block (one page).
pub const BLOCK_SIZE: usize = 4096;
/// Number of argument words.
pub const NARGS: usize = 6;
/// Bytes of inline data after the header.
pub const DATA_SIZE: usize = BLOCK_SIZE - 8 * (NARGS + 2);
/// Most segments one `Read`/`Write` may carry.
pub const MAX_SEGMENTS: usize = DATA_SIZE / core::mem::size_of::<Segment>();

/// The per-vCPU hypercall block, one page at [`crate::layout::HYPERCALL_BLOCK_GPA`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HypercallBlock {
    /// Operation arguments, meaning per [`Op`].
    pub args: [u64; NARGS],
    /// Result: ≥ 0 on success, `-errno` on failure.
    pub ret: i64,
    /// Reserved, zero.
    pub reserved: u64,
    /// Inline payload: segments, messages, or results.
    pub data: [u8; DATA_SIZE],
}

const _: () = assert!(core::mem::size_of::<HypercallBlock>() == BLOCK_SIZE);

/// One guest-physical byte range of a scatter/gather transfer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical start.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The attributes of a host handle that the guest needs for `fstat` (a subset of
/// `struct stat`; ownership is the sandbox's, not the host's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStat {
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    /// `st_nlink`.
    pub nlink: u32,
    /// `st_size`.
    pub size: u64,
    /// `st_blksize`.
    pub blksize: u64,
    /// `st_blocks`.
    pub blocks: u64,
    /// `st_rdev`.
    pub rdev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_dev`.
    pub dev: u64,
    /// Access, modification and change times: seconds and nanoseconds.
    pub atime: [i64; 2],
    /// See `atime`.
    pub mtime: [i64; 2],
    /// See `atime`.
    pub ctime: [i64; 2],
}

/// `BootInfo::flags`: print every syscall (`--strace`).
pub const BOOT_FLAG_STRACE: u32 = 1 << 0;
/// `BootInfo::flags`: the host's KVM is `kvm_pvm` (see `hull_arch::pvm`); the boot page
/// tables carry the U bit on kernel mappings and the kernel must switch to native PVM mode.
pub const BOOT_FLAG_PVM: u32 = 1 << 1;
/// `BootInfo::flags`: the host kernel lets user mode use FSGSBASE (`AT_HWCAP2`), so under
/// PVM the guest kernel may set FS bases with `wrfsbase` instead of a hypercall.
pub const BOOT_FLAG_USER_FSGSBASE: u32 = 1 << 2;
/// `BootInfo::flags`: report the guest kernel's counters at the end of the run
/// (`--stats`), as `Log` lines.
pub const BOOT_FLAG_STATS: u32 = 1 << 3;

/// The XSAVE state components the kernel manages (x87, SSE, AVX, AVX-512): the loader
/// hides the others from the guest's CPUID, and the kernel enables those the CPU has.
pub const XCR0_MANAGED: u64 = 0b1110_0111;

/// The boot-info block at [`crate::layout::BOOT_INFO_GPA`], written by the loader before the
/// vCPU starts. The kernel copies it out once and validates it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// [`BOOT_MAGIC`].
    pub magic: u64,
    /// [`ABI_VERSION`] of the loader.
    pub abi_version: u32,
    /// `BOOT_FLAG_*`.
    pub flags: u32,
    /// Bytes of guest RAM (guest-physical 0..ram_size).
    pub ram_size: u64,
    /// First guest-physical address the kernel may allocate; everything below is reserved.
    pub free_start: u64,
    /// End of the kernel image (guest-physical, exclusive).
    pub kernel_end: u64,
    /// The program file, copied read-only by the loader: guest-physical start and length.
    pub program_gpa: u64,
    /// See `program_gpa`.
    pub program_len: u64,
    /// argv then envp as NUL-terminated strings, back to back.
    pub strings_gpa: u64,
    /// Total bytes of `strings_gpa`.
    pub strings_len: u64,
    /// Number of argv strings at the start of the blob.
    pub argc: u64,
    /// Number of envp strings after them.
    pub envc: u64,
    /// The program's path as the guest sees it (for `/proc/self/exe` and `AT_EXECFN`).
    pub exe_path_gpa: u64,
    /// See `exe_path_gpa`.
    pub exe_path_len: u64,
    /// TSC frequency in kHz, from the host (KVM_GET_TSC_KHZ).
    pub tsc_khz: u64,
    /// Host randomness for the guest's CSPRNG and `AT_RANDOM`.
    pub seed: [u8; 32],
    /// The user and group ids the program sees (the host's, so output matches a native run).
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// The host's `fcntl(F_GETFL)` of stdin, stdout and stderr, for the guest's fd table.
    pub stdio_flags: [u32; 3],
    /// Number of [`MountRecord`]s at `mounts_gpa`.
    pub nmounts: u32,
    /// The policy's host directories ([`MountRecord`]s back to back), guest-physical.
    pub mounts_gpa: u64,
    /// Total bytes at `mounts_gpa`.
    pub mounts_len: u64,
    /// Bytes the in-memory file systems (`/tmp`, the `--root` overlay) may hold together.
    pub tmpfs_size: u64,
    /// The program's initial working directory in the guest (absolute), guest-physical.
    pub cwd_gpa: u64,
    /// See `cwd_gpa`.
    pub cwd_len: u64,
    /// Most tasks (processes and threads) the sandbox may have at once (`--pids`).
    pub max_tasks: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The kernel image's loadable segments, for mapping each with its own permissions.
    pub kernel_segments: [KernelSegment; MAX_KERNEL_SEGMENTS],
}

/// Most PT_LOAD segments the kernel image may have.
pub const MAX_KERNEL_SEGMENTS: usize = 4;

/// One loadable segment of the kernel image (`len` 0 marks an unused slot).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelSegment {
    /// Guest-physical start (page aligned).
    pub gpa: u64,
    /// Length in bytes (rounded up to pages by the kernel).
    pub len: u64,
    /// ELF `p_flags`: 1 = X, 2 = W, 4 = R.
    pub flags: u64,
}

const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);
