//! Boot: from the loader's boot-info block to the program's first instruction. Sets up the
//! CPU (descriptor tables, features, timer), the heap and frame allocator, the kernel's
//! own page tables (W^X kernel image, NX direct map), the clock, and the first process.
use alloc::vec::Vec;

use hull_arch::abi::{BOOT_MAGIC, BootInfo, ExitKind, KernelSegment};
use hull_arch::layout::{KERNEL_VIRT_BASE, LARGE_PAGE_SIZE, PHYS_OFFSET};
use hull_arch::trapframe::TrapFrame;

use crate::elf;
use crate::fd::{FdTable, FileKind, OpenFile};
use crate::hypercall;
use crate::initstack;
use crate::mm::aspace::AddressSpace;
use crate::mm::frame::FrameAllocator;
use crate::mm::paging::{OutOfFrames, PageTable, flags};
use crate::mm::vma::{Label, Prot, Vma};
use crate::mm::{PAGE_SIZE, page_ceil, page_floor};
use crate::platform;
use crate::process::{AltStack, Process, RLIMIT_NOFILE, default_rlimits};
use crate::signal::SignalState;

/// Top of the user stack (Linux's STACK_TOP without randomization).
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
/// Size of the user stack area (RLIMIT_STACK).
pub const STACK_SIZE: u64 = 8 << 20;
/// New mappings go below this (leaving a gap under the stack, as Linux does).
pub const MMAP_TOP: u64 = STACK_TOP - STACK_SIZE - (128 << 20);
/// Size of each kernel stack.
pub const KERNEL_STACK_SIZE: usize = 128 * 1024;

/// Where the kernel stack is mapped: above the kernel image window, in the page-table
/// subtree every address space shares, with an unmapped guard page below it so an
/// overflow faults (a double fault, reported) instead of overwriting the heap.
pub const KERNEL_STACK_BASE: u64 = KERNEL_VIRT_BASE + hull_arch::layout::KERNEL_WINDOW;

/// Maps the kernel stack (see [`KERNEL_STACK_BASE`]); returns its top.
pub fn map_kernel_stack(
    frames: &mut FrameAllocator,
    pt: &mut PageTable,
) -> Result<u64, OutOfFrames> {
    let bottom = KERNEL_STACK_BASE + PAGE_SIZE; // the page below stays unmapped
    let pages = KERNEL_STACK_SIZE as u64 / PAGE_SIZE;
    for i in 0..pages {
        let pa = frames.alloc().ok_or(OutOfFrames)?;
        pt.map(
            bottom + i * PAGE_SIZE,
            pa,
            flags::WRITABLE | flags::NO_EXECUTE | crate::mm::paging::kernel_extra(),
            frames,
        )?;
    }
    Ok(bottom + pages * PAGE_SIZE)
}

/// The global bit for kernel mappings; PVM's shadow paging does not take global pages.
fn global() -> u64 {
    if crate::mm::paging::kernel_extra() != 0 {
        0
    } else {
        flags::GLOBAL
    }
}

/// Builds the kernel's page tables: the direct map of all RAM (2 MiB pages, NX) and the
/// kernel image with each segment's own permissions (text RX, rodata R, data RW NX).
///
/// The 2 MiB chunks that hold only text and rodata (the linker starts the data at a 2 MiB
/// boundary) are one large page each, read-only in the direct map too. Under shadow paging
/// every 4 KiB page the kernel touches first costs a world switch; the image's ~180 pages
/// cost ~140 of them per run. A large guest page on a huge host page is one.
pub fn build_kernel_tables(
    frames: &mut FrameAllocator,
    ram_size: u64,
    segments: &[KernelSegment],
) -> Result<PageTable, OutOfFrames> {
    let mut pt = PageTable::new(frames)?;
    let read_only = read_only_chunks(segments);
    let in_read_only = |pa: u64| {
        read_only
            .iter()
            .any(|&(c, _)| (c..c + LARGE_PAGE_SIZE).contains(&pa))
    };
    let mut pa = 0;
    while pa < ram_size {
        let writable = if in_read_only(pa) { 0 } else { flags::WRITABLE };
        pt.map_large(
            PHYS_OFFSET + pa,
            pa,
            writable | flags::NO_EXECUTE | global(),
            frames,
        )?;
        pa += LARGE_PAGE_SIZE;
    }
    let extra = global() | crate::mm::paging::kernel_extra();
    for &(chunk, exec) in &read_only {
        let nx = if exec { 0 } else { flags::NO_EXECUTE };
        pt.map_large(KERNEL_VIRT_BASE + chunk, chunk, extra | nx, frames)?;
    }
    for s in segments.iter().filter(|s| s.len > 0) {
        let mut fl = extra;
        if s.flags & 2 != 0 {
            fl |= flags::WRITABLE;
        }
        if s.flags & 1 == 0 {
            fl |= flags::NO_EXECUTE;
        }
        let end = page_ceil(s.gpa + s.len).expect("kernel segment fits");
        let mut pa = page_floor(s.gpa);
        while pa < end {
            if !in_read_only(pa) {
                pt.map(KERNEL_VIRT_BASE + pa, pa, fl, frames)?;
            }
            pa += PAGE_SIZE;
        }
    }
    Ok(pt)
}

/// The 2 MiB chunks of the kernel image that hold nothing but read-only segments and the
/// padding between them, with whether any of it is executable: those from the image's
/// start up to its first writable segment (after which the loader places other data).
fn read_only_chunks(segments: &[KernelSegment]) -> Vec<(u64, bool)> {
    let present = || segments.iter().filter(|s| s.len > 0);
    let Some(start) = present().map(|s| s.gpa).min() else {
        return Vec::new();
    };
    let image_end = present()
        .map(|s| s.gpa.saturating_add(s.len))
        .max()
        .unwrap_or(start);
    let cutoff = present()
        .filter(|s| s.flags & 2 != 0)
        .map(|s| s.gpa)
        .min()
        .unwrap_or(image_end);
    let mut chunks = Vec::new();
    let mut chunk = start.next_multiple_of(LARGE_PAGE_SIZE);
    while chunk.saturating_add(LARGE_PAGE_SIZE) <= cutoff {
        let end = chunk + LARGE_PAGE_SIZE;
        let exec = present().any(|s| s.flags & 1 != 0 && s.gpa < end && s.gpa + s.len > chunk);
        chunks.push((chunk, exec));
        chunk = end;
    }
    chunks
}

/// Splits the boot strings blob into argv and envp.
/// argv and envp as byte strings.
pub type ArgvEnvp<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

pub fn split_strings(blob: &[u8], argc: usize, envc: usize) -> Option<ArgvEnvp<'_>> {
    // Every string is NUL-terminated and the blob holds exactly argc + envc of them.
    let mut items = Vec::with_capacity(argc + envc);
    let mut rest = blob;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0)?;
        items.push(&rest[..end]);
        rest = &rest[end + 1..];
    }
    if items.len() != argc + envc {
        return None;
    }
    let envp = items.split_off(argc);
    Some((items, envp))
}

/// Why the program could not be started.
#[derive(Debug)]
pub enum StartError {
    Elf(elf::ElfError),
    TooBig,
    NoMemory,
}

/// The first process, ready to enter: (process, entry point, stack pointer).
pub struct Started {
    pub proc: Process,
    pub entry: u64,
    pub sp: u64,
    /// A dynamically linked program: nothing is loaded yet; it starts by execve of its
    /// path once the kernel (and its file tree) exists, which finds its interpreter.
    pub needs_exec: bool,
}

/// A program mapped into a fresh address space: (address space, entry point, stack
/// pointer).
pub type Loaded = (AddressSpace, u64, u64);

/// What a program starts from: its image in guest memory, its strings and its auxv
/// values.
pub struct Program<'a> {
    /// Guest-physical start and length of the file's bytes (contiguous).
    pub image: (u64, u64),
    /// For a dynamically linked program, its interpreter's image (PT_INTERP), likewise.
    pub interp: Option<(u64, u64)>,
    pub argv: &'a [&'a [u8]],
    pub envp: &'a [&'a [u8]],
    /// AT_EXECFN.
    pub exe_path: &'a [u8],
    /// AT_RANDOM.
    pub random: [u8; 16],
    /// (uid, gid).
    pub ids: (u32, u32),
    pub hwcap: u64,
}

/// Reads the program image's headers, maps it into a new address space, and builds the
/// initial stack (argv, envp, auxv), as execve does.
pub fn load_program(
    frames: &mut FrameAllocator,
    kernel_pt: &PageTable,
    prog: &Program<'_>,
) -> Result<Loaded, StartError> {
    let (image_pa, image_len) = prog.image;
    let ids = prog.ids;
    let plan = plan_image(image_pa, image_len)?;
    let interp = match (plan.interp, prog.interp) {
        (None, _) => None,
        (Some(_), None) => return Err(StartError::Elf(elf::ElfError::Dynamic)),
        (Some(_), Some((pa, len))) => {
            let p = plan_image(pa, len)?;
            if !p.pie || p.interp.is_some() {
                return Err(StartError::Elf(elf::ElfError::BadSegment(
                    "its interpreter is not a shared object",
                )));
            }
            Some((p, pa, len))
        }
    };

    let image_frames = (
        page_floor(image_pa),
        page_ceil(image_pa + image_len).expect("image fits"),
    );
    let mut aspace = AddressSpace::new(kernel_pt, frames, image_frames, MMAP_TOP)
        .map_err(|_| StartError::NoMemory)?;
    let loaded = match plan.load(image_pa, &mut aspace, frames) {
        Ok(l) => l,
        Err(e) => {
            aspace.destroy(frames);
            return Err(StartError::Elf(e));
        }
    };
    aspace.brk_start = loaded.brk_start;
    aspace.brk = loaded.brk_start;
    let stack_prot = if loaded.exec_stack { Prot(7) } else { Prot::RW };
    aspace.insert(
        Vma::anon(STACK_TOP - STACK_SIZE, STACK_TOP, stack_prot, Label::Stack),
        frames,
    );
    // The interpreter goes where mmap would put it (as on Linux) and starts first;
    // AT_BASE tells it where it is, AT_ENTRY where the program starts.
    let (entry, base) = match interp {
        None => (loaded.entry, 0),
        Some((p, pa, len)) => {
            let placed = aspace
                .find_free(p.span())
                .map(|at| at - page_floor(p.segments[0].vaddr))
                .ok_or(StartError::NoMemory)
                .and_then(|bias| {
                    aspace.set_interpreter_image((
                        page_floor(pa),
                        page_ceil(pa + len).expect("image fits"),
                    ));
                    p.load_at(bias, pa, &mut aspace, frames)
                        .map(|l| (l.entry, bias))
                        .map_err(StartError::Elf)
                });
            match placed {
                Ok(v) => v,
                Err(e) => {
                    aspace.destroy(frames);
                    return Err(e);
                }
            }
        }
    };

    let vdso = crate::vdso::map(&mut aspace, frames);
    // The program, its interpreter and the vDSO, which every start touches.
    prefault_image(&mut aspace, frames);
    use initstack::*;
    let mut auxv = alloc::vec::Vec::with_capacity(17);
    if let Some(base) = vdso {
        auxv.push((AT_SYSINFO_EHDR, base));
    }
    auxv.extend([
        (AT_MINSIGSTKSZ, 2048),
        (AT_HWCAP, prog.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, 100),
        (AT_PHDR, loaded.phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, loaded.phnum),
        (AT_BASE, base),
        (AT_FLAGS, 0),
        (AT_ENTRY, loaded.entry),
        (AT_UID, ids.0 as u64),
        (AT_EUID, ids.0 as u64),
        (AT_GID, ids.1 as u64),
        (AT_EGID, ids.1 as u64),
        (AT_SECURE, 0),
        (AT_HWCAP2, 0),
    ]);
    let img = StackImage {
        argv: prog.argv,
        envp: prog.envp,
        execfn: prog.exe_path,
        platform: b"x86_64",
        random: prog.random,
        auxv: &auxv,
    };
    let (bytes, sp) = match initstack::build(STACK_TOP, &img) {
        Ok(r) => r,
        Err(_) => {
            aspace.destroy(frames);
            return Err(StartError::TooBig);
        }
    };
    if crate::mm::uaccess::copy_to_user(&mut aspace, frames, sp, &bytes).is_err() {
        aspace.destroy(frames);
        return Err(StartError::NoMemory);
    }
    Ok((aspace, entry, sp))
}

/// Reads an image's ELF header and program headers (only those, up front) and plans it.
pub fn plan_image(image_pa: u64, image_len: u64) -> Result<elf::Plan, StartError> {
    let mut head = alloc::vec![0u8; (image_len.min(64)) as usize];
    platform::read(image_pa, &mut head);
    let table_end = if head.len() == 64 && &head[..4] == b"\x7fELF" {
        let phoff = u64::from_le_bytes(head[32..40].try_into().expect("8 bytes"));
        let phnum = u16::from_le_bytes(head[56..58].try_into().expect("2 bytes")) as u64;
        phoff
            .saturating_add(phnum.min(elf::MAX_PHNUM as u64 + 1) * 56)
            .min(image_len)
            .max(64)
    } else {
        head.len() as u64
    };
    let mut headers = alloc::vec![0u8; table_end as usize];
    platform::read(image_pa, &mut headers);
    elf::plan_with_len(&headers, image_len).map_err(StartError::Elf)
}

/// The first process: the loaded program with the sandbox's stdio.
pub fn start_program(
    frames: &mut FrameAllocator,
    kernel_pt: &PageTable,
    prog: &Program<'_>,
    now_ns: u64,
    stdio_flags: [u32; 3],
    fs: crate::process::SharedFs,
) -> Result<Started, StartError> {
    let (aspace, entry, sp, needs_exec) = match load_program(frames, kernel_pt, prog) {
        Ok((a, e, s)) => (a, e, s, false),
        Err(StartError::Elf(elf::ElfError::Dynamic)) => {
            let a = AddressSpace::new(kernel_pt, frames, (0, 0), MMAP_TOP)
                .map_err(|_| StartError::NoMemory)?;
            (a, 0, 0, true)
        }
        Err(e) => return Err(e),
    };
    let (argv, envp, exe_path) = (prog.argv, prog.envp, prog.exe_path);

    let rlimits = default_rlimits();
    let mut fds = FdTable::new(rlimits[RLIMIT_NOFILE].cur as usize);
    for (h, fl) in stdio_flags.iter().enumerate() {
        fds.install(
            OpenFile::new(FileKind::Host { handle: h as u64 }, *fl),
            h,
            false,
        )
        .map_err(|_| StartError::NoMemory)?;
    }
    let proc = Process {
        pid: 1,
        ppid: 0,
        aspace,
        fds,
        signals: SignalState::default(),
        altstack: AltStack {
            sp: 0,
            flags: 2,
            size: 0,
        },
        clear_child_tid: 0,
        robust_list: (0, 0),
        rlimits,
        exe_path: exe_path.to_vec(),
        image: prog.image,
        start_ns: now_ns,
        itimer: Default::default(),
        cmdline: argv
            .iter()
            .flat_map(|a| a.iter().copied().chain([0]))
            .collect(),
        environ: envp
            .iter()
            .flat_map(|a| a.iter().copied().chain([0]))
            .collect(),
        comm: Vec::new(),
        // Like a program started from a shell, init is not a group or session leader:
        // both live outside the sandbox, which Linux shows as 0.
        pgid: 0,
        sid: 0,
        state: crate::sched::TaskState::Runnable,
        wake_at: 0,
        woken: false,
        host_wait: Vec::new(),
        restart_deadline: None,
        in_syscall: None,
        saved_mask: None,
        frame: TrapFrame::default(),
        fpu: alloc::boxed::Box::default(),
        fs_base: 0,
        gs_base: 0,
        fs,
        children: Vec::new(),
        report: None,
        exit_signal: crate::signal::SIGCHLD,
        vfork_parent: None,
        nice: 0,
        sleep_rem: None,
        io_progress: 0,
        futex_bitset: 0,
        did_exec: false,
        autoreap: false,
        timers: Vec::new(),
        sched_policy: (0, 0),
        tgid: 1,
        vm_group: 1,
        files_group: 1,
        sighand_group: 1,
    };
    Ok(Started {
        proc,
        entry,
        sp,
        needs_exec,
    })
}

/// At most this many image pages are mapped up front (8 MiB); the rest fault in on use.
const PREFAULT_PAGES: u64 = 2048;

/// Maps the program image's pages before the program runs. Its page tables are not live
/// yet, so this costs plain memory writes, while each fault it saves would cost a guest
/// page fault plus exits to the host under shadow paging (PVM).
fn prefault_image(aspace: &mut AddressSpace, frames: &mut FrameAllocator) {
    let areas: Vec<(u64, u64, bool)> = aspace
        .vmas()
        .filter(|v| matches!(v.backing, crate::mm::vma::Backing::Image { .. }))
        .map(|v| (v.start, v.end, v.prot.write()))
        .collect();
    let mut budget = PREFAULT_PAGES;
    for (start, end, write) in areas {
        let access = if write {
            crate::mm::aspace::Access::Write
        } else {
            crate::mm::aspace::Access::Read
        };
        let mut va = start;
        while va < end && budget > 0 {
            // Best effort: a page that cannot be mapped now faults in later as usual.
            let _ = aspace.fault(va, access, frames);
            va += PAGE_SIZE;
            budget -= 1;
        }
    }
}

/// Ends the run because the program could not start.
pub fn exec_failed(exe: &[u8], err: StartError) -> ! {
    let msg = match err {
        StartError::Elf(e) => alloc::format!(
            "{}: cannot execute: {}",
            alloc::string::String::from_utf8_lossy(exe),
            e.message()
        ),
        StartError::TooBig => alloc::format!(
            "{}: argument list too long",
            alloc::string::String::from_utf8_lossy(exe)
        ),
        StartError::NoMemory => alloc::format!(
            "{}: not enough sandbox memory to start the program (raise --memory)",
            alloc::string::String::from_utf8_lossy(exe)
        ),
    };
    hypercall::exit(ExitKind::ExecFailed, 126, None, 0, msg.as_bytes())
}

/// Validates the parts of the boot-info block that the rest of boot relies on.
pub fn check_boot_info(info: &BootInfo) -> Result<(), &'static str> {
    if info.magic != BOOT_MAGIC {
        return Err("bad boot-info magic");
    }
    if info.abi_version != hull_arch::abi::ABI_VERSION {
        return Err("hypercall ABI version mismatch between loader and kernel");
    }
    let ram = info.ram_size;
    let inside =
        |start: u64, len: u64| start.checked_add(len).is_some_and(|e| e <= info.free_start);
    if !ram.is_multiple_of(LARGE_PAGE_SIZE)
        || !info.free_start.is_multiple_of(PAGE_SIZE)
        || info.free_start > ram
    {
        return Err("bad memory layout in boot info");
    }
    if !inside(info.program_gpa, info.program_len)
        || !inside(info.strings_gpa, info.strings_len)
        || !inside(info.exe_path_gpa, info.exe_path_len)
    {
        return Err("boot blobs outside the reserved region");
    }
    if !info.program_gpa.is_multiple_of(PAGE_SIZE) {
        return Err("program image not page aligned");
    }
    Ok(())
}

#[cfg(target_os = "none")]
pub use guest::start;

#[cfg(target_os = "none")]
mod guest {
    use super::*;
    use crate::process::{KERNEL, Kernel, Machine};
    use crate::random::Rng;
    use crate::time::Clock;
    use hull_arch::trapframe::TrapFrame;

    fn fail(msg: &str) -> ! {
        hypercall::exit(ExitKind::KernelPanic, 0, None, 0, msg.as_bytes())
    }

    fn read_blob(gpa: u64, len: u64) -> Vec<u8> {
        let mut v = alloc::vec![0u8; len as usize];
        if len > 0 {
            platform::read(gpa, &mut v);
        }
        v
    }

    /// The kernel's main: called by the arch entry on the boot stack.
    pub fn start(info: BootInfo) -> ! {
        hull_arch::phys::init(info.ram_size);
        if let Err(e) = check_boot_info(&info) {
            fail(e);
        }
        let pvm = info.flags & hull_arch::abi::BOOT_FLAG_PVM != 0;
        if pvm && info.flags & hull_arch::abi::BOOT_FLAG_USER_FSGSBASE != 0 {
            hull_arch::cpu::USER_FSGSBASE.store(true, core::sync::atomic::Ordering::Relaxed);
        }
        // The entry already went native under PVM (hull_arch::entry::start); a flag that
        // disagrees with what the entry saw cannot be trusted to pick the entry paths.
        if pvm != hull_arch::pvm::active() {
            fail("the PVM boot flag changed under the kernel");
        }
        crate::mm::paging::set_kernel_mappings_user(pvm);
        crate::mm::paging::set_kpti(pvm);
        hull_arch::tables::init(pvm);
        let features = hull_arch::cpu::enable_features(pvm);
        if features.xsave_size as usize > 4096 {
            fail("the CPU's XSAVE area is larger than hull supports");
        }
        if features.tsc_deadline {
            hull_arch::apic::init();
        }
        let heap = hull_arch::layout::kernel_heap_size(info.ram_size);
        if info.free_start + heap + (4 << 20) > info.ram_size {
            fail("guest RAM too small for the kernel heap");
        }
        hull_arch::heap::init(info.free_start, heap);
        let mut frames = FrameAllocator::new(info.free_start + heap, info.ram_size);
        let mut kernel_pt =
            match build_kernel_tables(&mut frames, info.ram_size, &info.kernel_segments) {
                Ok(pt) => pt,
                Err(_) => fail("out of memory building the kernel page tables"),
            };
        platform::load_cr3(kernel_pt.root());

        let t0 = platform::rdtsc();
        let (real, mono) = hypercall::time_sync();
        let t1 = platform::rdtsc();
        let clock = Clock::new(t0 + (t1 - t0) / 2, real, mono, info.tsc_khz);
        crate::vdso::install(&mut frames, &clock);

        let strings = read_blob(info.strings_gpa, info.strings_len);
        let exe = read_blob(info.exe_path_gpa, info.exe_path_len);
        let Some((argv, envp)) = split_strings(&strings, info.argc as usize, info.envc as usize)
        else {
            fail("malformed argument blob")
        };
        let mut rng = Rng::new(info.seed);
        let mut random = [0u8; 16];
        rng.fill(&mut random);
        let prog = Program {
            image: (info.program_gpa, info.program_len),
            interp: None,
            argv: &argv,
            envp: &envp,
            exe_path: &exe,
            random,
            ids: (info.uid, info.gid),
            hwcap: platform::cpuid_edx1(),
        };
        let mounts_blob = read_blob(info.mounts_gpa, info.mounts_len);
        let Some(hosts) = crate::vfs::setup::parse_mounts(&mounts_blob, info.nmounts as usize)
        else {
            fail("malformed mount records")
        };
        let now = clock.realtime();
        let who = crate::vfs::memfs::Creator {
            uid: info.uid,
            gid: info.gid,
            now: [(now / 1_000_000_000) as i64, (now % 1_000_000_000) as i64],
        };
        let mut next_ino = 0x1000u64;
        let tmpfs = if info.tmpfs_size == 0 {
            64 << 20
        } else {
            info.tmpfs_size
        };
        let vfs = crate::vfs::setup::build(&hosts, tmpfs, who, &mut || {
            next_ino += 1;
            next_ino
        });
        // Without --root the program's host path means nothing in the sandbox: put the
        // program there (read-only) so it can find and exec itself by that path.
        crate::vfs::setup::add_program(
            &vfs,
            &exe,
            (info.program_gpa, info.program_len),
            who,
            &mut || {
                next_ino += 1;
                next_ino
            },
        );
        if let crate::vfs::Fs::Overlay { lower, upper } = &vfs.mounts[0].fs
            && let hypercall::HostWalk::Found(st) = hypercall::fs_walk(*lower, b"")
        {
            // The overlay's / looks like the tree's own /.
            let mut m = upper.meta.lock();
            m.mode = st.mode;
            m.atime = st.atime;
            m.mtime = st.mtime;
            m.ctime = st.ctime;
        }
        let fs_ctx = crate::process::FsContext {
            cwd: vfs.root(),
            umask: 0o022,
        }
        .shared();
        let started = match start_program(
            &mut frames,
            &kernel_pt,
            &prog,
            clock.monotonic(),
            info.stdio_flags,
            fs_ctx,
        ) {
            Ok(s) => s,
            Err(e) => exec_failed(&exe, e),
        };
        let needs_exec = started.needs_exec.then(|| {
            let own = |v: &[&[u8]]| v.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
            (own(&argv), own(&envp))
        });
        drop(strings);
        platform::load_cr3(started.proc.aspace.pt.root());

        let top = match map_kernel_stack(&mut frames, &mut kernel_pt) {
            Ok(top) => top,
            Err(_) => fail("out of memory for the kernel stack"),
        };
        hull_arch::tables::set_kernel_stack(top);
        hull_arch::entry::set_handlers(crate::syscall::handle, crate::trap::handle);

        let machine = Machine {
            uid: info.uid,
            gid: info.gid,
            ram_size: info.ram_size,
            idle_ns: 0,
            tsc_deadline: features.tsc_deadline,
            xcr0: features.xcr0,
            xsave_size: features.xsave_size,
            next_ino: 0x1000,
            armed_tsc: 0,
        };
        let strace = info.flags & hull_arch::abi::BOOT_FLAG_STRACE != 0;
        if info.flags & hull_arch::abi::BOOT_FLAG_STATS != 0 {
            crate::stats::want_report();
        }
        let mut entry = TrapFrame {
            rip: started.entry,
            rsp: started.sp,
            rflags: 0x202,
            ..Default::default()
        };
        let fs = crate::syscall::fs::FsState {
            vfs,
            locks: Default::default(),
            owners: Default::default(),
            next_ino,
            host_cache: Default::default(),
            host_gen: 0,
        };
        let mut guard = KERNEL.lock();
        let k = guard.insert(alloc::boxed::Box::new(Kernel {
            frames,
            kernel_pt,
            proc: started.proc,
            clock,
            rng,
            machine,
            strace,
            fs,
            others: Default::default(),
            images: Default::default(),
            holders: Default::default(),
            sched: crate::sched::Scheduler {
                next_pid: 2,
                max_tasks: info.max_tasks.max(1),
                ..Default::default()
            },
        }));
        let workdir = read_blob(info.cwd_gpa, info.cwd_len);
        if !workdir.is_empty() {
            match crate::syscall::fs::existing(k, crate::syscall::fs::AT_FDCWD, &workdir, true) {
                Ok(loc) if crate::vfs::walk::is_dir(&loc.node) => k.proc.fs.lock().cwd = loc,
                _ => {
                    let msg = alloc::format!(
                        "--workdir {}: no such directory in the sandbox",
                        alloc::string::String::from_utf8_lossy(&workdir)
                    );
                    hypercall::exit(ExitKind::ExecFailed, 125, None, 0, msg.as_bytes())
                }
            }
        }
        if let Some((argv, envp)) = needs_exec
            && let Err(e) = crate::syscall::exec::exec_first(k, &mut entry, exe.clone(), argv, envp)
        {
            let name = alloc::string::String::from_utf8_lossy(&exe);
            // The program exists but cannot run here: 126, as for any unrunnable file.
            let why = match e {
                crate::errno::Errno::ENOENT => elf::ElfError::Dynamic.message(),
                e => alloc::format!("{} ({})", e.describe().1, e.describe().0),
            };
            let msg = alloc::format!("{name}: cannot execute: {why}");
            hypercall::exit(ExitKind::ExecFailed, 126, None, 0, msg.as_bytes())
        }
        drop(guard);
        hull_arch::entry::enter_user(&entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(gpa: u64, len: u64, flags: u64) -> KernelSegment {
        KernelSegment { gpa, len, flags }
    }

    /// The writable and no-execute bits of the page holding `va`.
    fn rw_nx(pt: &PageTable, va: u64) -> u64 {
        pt.lookup(va).unwrap().1 & (flags::WRITABLE | flags::NO_EXECUTE)
    }

    /// The kernel's tables for an image of three segments, in 16 MiB of RAM.
    fn tables_for(segments: [KernelSegment; 3]) -> PageTable {
        platform::test_memory(16 << 20);
        let mut f = FrameAllocator::new(8 << 20, 16 << 20);
        let [a, b, c] = segments;
        build_kernel_tables(&mut f, 16 << 20, &[a, b, c, KernelSegment::default()]).unwrap()
    }

    #[test]
    fn kernel_tables_enforce_w_xor_x() {
        let pt = tables_for([
            seg(0x200000, 0x3000, 5),
            seg(0x203000, 0x1000, 4),
            seg(0x204000, 0x2800, 6),
        ]);
        let (pa, fl) = pt.lookup(KERNEL_VIRT_BASE + 0x201000).unwrap();
        assert_eq!(pa, 0x201000);
        assert_eq!(fl & (flags::WRITABLE | flags::NO_EXECUTE), 0, "text is RX");
        let rw_nx_at = |va| rw_nx(&pt, KERNEL_VIRT_BASE + va);
        assert_eq!(rw_nx_at(0x203000), flags::NO_EXECUTE, "rodata is R");
        assert_eq!(
            rw_nx_at(0x206000),
            flags::WRITABLE | flags::NO_EXECUTE,
            "data is RW NX"
        );
        assert!(pt.lookup(KERNEL_VIRT_BASE + 0x207000).is_none());
        let (pa, fl) = pt.lookup(PHYS_OFFSET + 0x00a1_2345).unwrap();
        assert_eq!(pa, 0x00a1_2000);
        assert_ne!(
            fl & flags::NO_EXECUTE,
            0,
            "the direct map is never executable"
        );
        assert_eq!(fl & flags::USER, 0);
        let (_, fl) = pt.lookup(PHYS_OFFSET + 0x201000).unwrap();
        assert_ne!(
            fl & flags::WRITABLE,
            0,
            "text shares its 2 MiB with data: 4 KiB pages"
        );
    }

    #[test]
    fn text_and_rodata_alone_in_2_mib_are_one_large_read_only_page() {
        let pt = tables_for([
            seg(0x200000, 0xa6000, 5),
            seg(0x2a7000, 0xd000, 4),
            seg(0x400000, 0x9000, 6),
        ]);
        for at in [0x200000, 0x2a8123, 0x3ff000] {
            let (pa, fl) = pt.lookup(KERNEL_VIRT_BASE + at).unwrap();
            assert_eq!(pa, at & !0xfff);
            assert_ne!(fl & flags::HUGE, 0, "{at:#x} is in a large page");
            assert_eq!(rw_nx(&pt, KERNEL_VIRT_BASE + at), 0, "{at:#x} is RX");
            assert_eq!(
                rw_nx(&pt, PHYS_OFFSET + at),
                flags::NO_EXECUTE,
                "the direct map of text is read-only"
            );
        }
        let (pa, fl) = pt.lookup(KERNEL_VIRT_BASE + 0x408000).unwrap();
        assert_eq!(pa, 0x408000);
        assert_eq!(fl & flags::HUGE, 0);
        assert_eq!(
            rw_nx(&pt, KERNEL_VIRT_BASE + 0x408000),
            flags::WRITABLE | flags::NO_EXECUTE,
            "data is RW NX"
        );
        assert!(pt.lookup(KERNEL_VIRT_BASE + 0x409000).is_none());
        let (_, fl) = pt.lookup(PHYS_OFFSET + 0x400000).unwrap();
        assert_ne!(fl & flags::WRITABLE, 0, "the rest of RAM stays writable");
    }

    #[test]
    fn read_only_chunks_stop_before_the_data() {
        let none = KernelSegment::default();
        assert!(read_only_chunks(&[none, none, none, none]).is_empty());
        let big = [
            seg(0x200000, 0x3f0000, 5),
            seg(0x5f0000, 0x10000, 4),
            seg(0x800000, 0x1000, 6),
            none,
        ];
        assert_eq!(
            read_only_chunks(&big),
            [(0x200000, true), (0x400000, true), (0x600000, false)]
        );
        let unaligned = [
            seg(0x200000, 0x3000, 5),
            seg(0x3ff000, 0x2000, 6),
            none,
            none,
        ];
        assert!(read_only_chunks(&unaligned).is_empty());
    }

    #[test]
    fn strings_blob_splits_into_argv_and_envp() {
        let (a, e) = split_strings(b"prog\0a b\0\0K=V\0", 3, 1).unwrap();
        assert_eq!(a, [&b"prog"[..], b"a b", b""]);
        assert_eq!(e, [&b"K=V"[..]]);
        assert!(split_strings(b"prog\0", 2, 0).is_none());
        assert!(split_strings(b"prog", 1, 0).is_none(), "unterminated");
    }
}
