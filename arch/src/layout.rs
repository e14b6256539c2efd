//! The guest-physical and guest-virtual memory map that loader and kernel agree on.
//!
//! ```text
//! guest-physical                         guest-virtual (kernel half)
//! 0x0000_0000  null page (never mapped)
//! 0x0000_1000  boot-info block           PHYS_OFFSET + gpa (direct map of all RAM)
//! 0x0000_2000  hypercall block
//! 0x0000_3000  boot GDT
//! 0x0000_4000  boot page tables (up to BOOT_TABLES_END)
//! 0x0020_0000  kernel image              KERNEL_VIRT_BASE + gpa
//!   …          argument blob, program image (placed by the loader, see BootInfo)
//! free_start   frames the kernel owns    (frame allocator, heap, user memory)
//! ram_size     end of RAM
//! ```

/// Size of a small page.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a large (2 MiB) page.
pub const LARGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

/// Where the boot-info block sits.
pub const BOOT_INFO_GPA: u64 = 0x1000;
/// Where the (single vCPU's) hypercall block sits.
pub const HYPERCALL_BLOCK_GPA: u64 = 0x2000;
/// Where the loader puts its boot GDT.
pub const BOOT_GDT_GPA: u64 = 0x3000;
/// The loader's first page tables start here (the PML4 first).
pub const BOOT_TABLES_GPA: u64 = 0x4000;
/// End (exclusive) of the region reserved for the loader's page tables.
pub const BOOT_TABLES_END: u64 = 0x1f_0000;
/// The boot stack the vCPU starts on: [BOOT_TABLES_END, BOOT_STACK_TOP), reached through the
/// direct map.
pub const BOOT_STACK_TOP: u64 = 0x20_0000;
/// Physical load address of the kernel image.
pub const KERNEL_PHYS_BASE: u64 = 0x20_0000;

/// Base of the direct map: every guest-physical address `pa` is visible at `PHYS_OFFSET + pa`.
pub const PHYS_OFFSET: u64 = 0xffff_8880_0000_0000;
/// Base of the kernel image mapping: `KERNEL_VIRT_BASE + pa` for pa in the kernel image.
pub const KERNEL_VIRT_BASE: u64 = 0xffff_ffff_8000_0000;
/// The kernel image mapping covers this many bytes of physical memory from 0.
pub const KERNEL_WINDOW: u64 = 1 << 30;

/// First address above user space (the lower canonical half ends here).
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// Smallest and largest guest RAM the loader accepts.
pub const MIN_RAM: u64 = 32 * 1024 * 1024;
/// See [`MIN_RAM`].
pub const MAX_RAM: u64 = 64 * 1024 * 1024 * 1024;

/// The kernel heap's size for `ram` bytes of guest RAM: it starts where the loader's boot
/// image ends (`BootInfo::free_start`), and the frame allocator's frames start after it.
pub const fn kernel_heap_size(ram: u64) -> u64 {
    let h = ram / 32;
    if h < (2 << 20) {
        2 << 20
    } else if h > (64 << 20) {
        64 << 20
    } else {
        h
    }
}

/// Guest-virtual address of a guest-physical address through the direct map.
pub const fn phys_to_virt(pa: u64) -> u64 {
    PHYS_OFFSET + pa
}

/// Kernel segment selectors (the kernel's GDT and the loader's boot GDT agree on these).
pub mod selectors {
    /// 64-bit kernel code.
    pub const KERNEL_CODE: u16 = 0x08;
    /// Kernel data/stack.
    pub const KERNEL_DATA: u16 = 0x10;
    /// User data/stack (RPL 3). SYSRET requires it right below user code.
    pub const USER_DATA: u16 = 0x18 | 3;
    /// 64-bit user code (RPL 3).
    pub const USER_CODE: u16 = 0x20 | 3;
    /// The TSS (two slots).
    pub const TSS: u16 = 0x28;
}
