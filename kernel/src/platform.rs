//! The kernel's only door to the hardware. In the guest these are `hull-arch` calls; on the
//! host (unit tests) physical memory is a per-thread byte vector and the CPU operations are
//! inert, so page tables, address spaces and the ELF loader can be tested as plain Rust.

#[cfg(target_os = "none")]
mod imp {
    pub use hull_arch::apic::eoi as apic_eoi;
    pub use hull_arch::cpu::{XsaveArea, xrstor, xsave};
    pub use hull_arch::cpu::{
        fs_base, halt_until_interrupt, hypercall, invlpg, load_cr3, loaded_root, rdtsc, read_cr2,
        set_fs_base, set_user_gs_base, user_gs_base,
    };
    pub use hull_arch::phys::{copy, fill, read, read_u64, unshadow, write, write_u64};

    /// The guest-physical address of a kernel-heap address (the heap is one physically
    /// contiguous range reached through the direct map).
    pub fn heap_phys(va: u64) -> u64 {
        va - hull_arch::layout::PHYS_OFFSET
    }

    /// Free bytes in the kernel heap, and its size.
    pub fn heap_free() -> usize {
        hull_arch::heap::free()
    }
    pub fn heap_size() -> usize {
        hull_arch::heap::size()
    }

    /// CPUID.1:EDX (AT_HWCAP), as read at boot.
    pub fn cpuid_edx1() -> u64 {
        hull_arch::cpu::hwcap()
    }

    /// Arms the APIC timer at TSC `tsc` (0 disarms).
    pub fn set_timer_deadline(tsc: u64) {
        hull_arch::apic::set_deadline(tsc)
    }
}

#[cfg(not(target_os = "none"))]
mod imp {
    use std::cell::{Cell, RefCell};

    std::thread_local! {
        static MEM: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        static TSC: Cell<u64> = const { Cell::new(0) };
        static FS: Cell<u64> = const { Cell::new(0) };
        static GS: Cell<u64> = const { Cell::new(0) };
        static ROOT: Cell<u64> = const { Cell::new(0) };
    }

    /// Gives this test thread `size` bytes of zeroed "physical memory".
    pub fn test_memory(size: usize) {
        MEM.with(|m| *m.borrow_mut() = vec![0; size]);
    }

    fn range(pa: u64, len: usize) -> core::ops::Range<usize> {
        let start = pa as usize;
        let end = start.checked_add(len).expect("physical range overflows");
        MEM.with(|m| {
            assert!(
                end <= m.borrow().len() && pa != 0,
                "physical access out of range: {pa:#x}+{len:#x}"
            )
        });
        start..end
    }

    pub fn read(pa: u64, buf: &mut [u8]) {
        let r = range(pa, buf.len());
        MEM.with(|m| buf.copy_from_slice(&m.borrow()[r]));
    }
    pub fn write(pa: u64, buf: &[u8]) {
        let r = range(pa, buf.len());
        MEM.with(|m| m.borrow_mut()[r].copy_from_slice(buf));
    }
    pub fn fill(pa: u64, byte: u8, len: usize) {
        let r = range(pa, len);
        MEM.with(|m| m.borrow_mut()[r].fill(byte));
    }
    pub fn copy(dst: u64, src: u64, len: usize) {
        let s = range(src, len);
        let d = range(dst, len);
        MEM.with(|m| m.borrow_mut().copy_within(s, d.start));
    }
    pub fn read_u64(pa: u64) -> u64 {
        let mut b = [0u8; 8];
        read(pa, &mut b);
        u64::from_le_bytes(b)
    }
    pub fn write_u64(pa: u64, v: u64) {
        write(pa, &v.to_le_bytes());
    }
    pub fn unshadow(pa: u64) {
        write(pa, &[0, 0]);
    }
    /// A fake TSC that advances 1000 ticks per read.
    pub fn rdtsc() -> u64 {
        TSC.with(|t| {
            t.set(t.get() + 1000);
            t.get()
        })
    }
    pub fn invlpg(_va: u64) {}
    pub fn cpuid_edx1() -> u64 {
        0
    }
    pub fn heap_phys(_va: u64) -> u64 {
        panic!("heap_phys in a host unit test: hypercalls do not run there");
    }
    pub fn set_timer_deadline(_tsc: u64) {}
    pub fn apic_eoi() {}
    pub fn heap_free() -> usize {
        usize::MAX
    }
    pub fn heap_size() -> usize {
        usize::MAX
    }
    pub fn read_cr2() -> u64 {
        0
    }

    /// The host model of the FPU state buffer.
    #[derive(Clone)]
    pub struct XsaveArea(pub [u8; 4096]);
    impl core::fmt::Debug for XsaveArea {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("XsaveArea(..)")
        }
    }
    impl Default for XsaveArea {
        fn default() -> Self {
            XsaveArea([0; 4096])
        }
    }
    pub fn xsave(_area: &mut XsaveArea, _xcr0: u64) {}
    pub fn xrstor(_area: &XsaveArea, _xcr0: u64) {}
    pub fn load_cr3(pa: u64) {
        ROOT.with(|r| r.set(pa));
    }
    pub fn loaded_root() -> u64 {
        ROOT.with(|r| r.get())
    }
    pub fn halt_until_interrupt() {}
    pub fn hypercall(op: u32) {
        panic!("hypercall {op} issued in a host unit test");
    }
    pub fn set_fs_base(v: u64) {
        FS.with(|f| f.set(v));
    }
    pub fn fs_base() -> u64 {
        FS.with(|f| f.get())
    }
    pub fn set_user_gs_base(v: u64) {
        GS.with(|f| f.set(v));
    }
    pub fn user_gs_base() -> u64 {
        GS.with(|f| f.get())
    }
}

pub use imp::*;
