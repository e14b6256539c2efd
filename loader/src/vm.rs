//! The KVM machine: one VM with an in-kernel local APIC, one memory slot of guest RAM, and
//! one vCPU started directly in 64-bit long mode at the kernel's entry point. Built on
//! rust-vmm's kvm-ioctls, as Firecracker is.
use kvm_bindings::{
    CpuId, KVM_MAX_CPUID_ENTRIES, kvm_fpu, kvm_regs, kvm_segment, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};

use crate::guest_memory::GuestMemory;
use hull_arch::abi::XCR0_MANAGED;
use hull_arch::layout::{
    BOOT_GDT_GPA, BOOT_INFO_GPA, BOOT_STACK_TOP, BOOT_TABLES_GPA, phys_to_virt, selectors,
};

/// Why the VM could not be created or started.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("/dev/kvm: permission denied; run as root or join the kvm group")]
    KvmPermission,
    #[error(
        "/dev/kvm: not found; this machine has no KVM (enable virtualization in the firmware or load kvm_intel/kvm_amd)"
    )]
    KvmMissing,
    #[error("/dev/kvm: {0}")]
    KvmOpen(kvm_ioctls::Error),
    #[error("KVM: {what} failed: {err}")]
    Ioctl {
        what: &'static str,
        err: kvm_ioctls::Error,
    },
}

fn ioctl<T>(what: &'static str, r: Result<T, kvm_ioctls::Error>) -> Result<T, VmError> {
    r.map_err(|err| VmError::Ioctl { what, err })
}

/// Whether /dev/kvm is `kvm_pvm` (a paravirtual KVM without VMX/SVM; see
/// `hull_arch::pvm`) rather than hardware virtualization.
pub fn host_is_pvm() -> bool {
    let m = |name: &str| std::path::Path::new("/sys/module").join(name).exists();
    m("kvm_pvm") && !m("kvm_intel") && !m("kvm_amd")
}

/// Whether the host kernel lets user mode use RDFSBASE/WRFSBASE (`HWCAP2_FSGSBASE`).
pub fn host_user_fsgsbase() -> bool {
    const HWCAP2_FSGSBASE: u64 = 1 << 1;
    // SAFETY: getauxval only reads the process's auxiliary vector.
    let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
    hwcap2 & HWCAP2_FSGSBASE != 0
}

/// A created VM with its single vCPU, ready to run.
pub struct Machine {
    _kvm: Kvm,
    vm: VmFd,
    pub vcpu: VcpuFd,
    pub tsc_khz: u64,
}

/// The MSI address window of the local APICs (destination APIC id in bits 12..20).
const MSI_ADDRESS: u32 = 0xfee0_0000;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_SCE: u64 = 1;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// Hides CPU features hull's kernel does not manage, so programs never see them.
fn filter_cpuid(cpuid: &mut CpuId) {
    for e in cpuid.as_mut_slice() {
        match (e.function, e.index) {
            (1, _) => {
                e.ebx &= 0x00ff_ffff; // initial APIC id 0
                e.ecx &= !(1 << 3); // MONITOR/MWAIT
            }
            (7, 0) => {
                e.ecx &= !((1 << 3) | (1 << 4) | (1 << 5)); // PKU, OSPKE, WAITPKG
                e.edx &= !((1 << 24) | (1 << 25) | (1 << 22)); // AMX tiles/int8/bf16
            }
            (0xd, 0) => {
                e.eax &= XCR0_MANAGED as u32;
                e.edx &= (XCR0_MANAGED >> 32) as u32;
            }
            _ => {}
        }
    }
}

fn segment(selector: u16, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl: 0,
        db: if code { 0 } else { 1 },
        s: 1,
        l: if code { 1 } else { 0 },
        g: 1,
        ..Default::default()
    }
}

impl Machine {
    /// Creates the VM over `mem` and a vCPU in 64-bit long mode on the boot page tables.
    pub fn new(mem: &GuestMemory) -> Result<Self, VmError> {
        let kvm = Kvm::new().map_err(|e| match e.errno() {
            libc::EACCES | libc::EPERM => VmError::KvmPermission,
            libc::ENOENT | libc::ENXIO | libc::ENODEV => VmError::KvmMissing,
            _ => VmError::KvmOpen(e),
        })?;
        // KVM_GET_SUPPORTED_CPUID takes ~0.3 ms here: fetch it while the VM is built.
        let (cpuid, built) = std::thread::scope(|scope| {
            let cpuid = scope.spawn(|| kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES));
            let built = (|| -> Result<(VmFd, VcpuFd), VmError> {
                let vm = ioctl("KVM_CREATE_VM", kvm.create_vm())?;
                let region = kvm_userspace_memory_region {
                    slot: 0,
                    flags: 0,
                    guest_phys_addr: 0,
                    memory_size: mem.size(),
                    userspace_addr: mem.host_base(),
                };
                // SAFETY: the region is exactly `mem`'s mapping, which the caller keeps alive for as long as the VM (both live until the process exits or `run` returns).
                ioctl("KVM_SET_USER_MEMORY_REGION", unsafe {
                    vm.set_user_memory_region(region)
                })?;
                // After the memory slot: registering RAM with an irqchip already present costs
                // milliseconds under kvm_pvm (measured: ~6 ms vs ~0.1 ms).
                // Only the local APIC (its timer wakes HLT): a split irqchip has no PIC/IOAPIC to
                // build and tear down.
                let split = kvm_bindings::kvm_enable_cap {
                    cap: kvm_bindings::KVM_CAP_SPLIT_IRQCHIP,
                    args: [24, 0, 0, 0],
                    ..Default::default()
                };
                ioctl("KVM_ENABLE_CAP(SPLIT_IRQCHIP)", vm.enable_cap(&split))?;
                let vcpu = ioctl("KVM_CREATE_VCPU", vm.create_vcpu(0))?;
                Ok((vm, vcpu))
            })();
            (
                cpuid.join().expect("the CPUID thread does not panic"),
                built,
            )
        });
        let (vm, vcpu) = built?;
        let mut cpuid = ioctl("KVM_GET_SUPPORTED_CPUID", cpuid)?;
        filter_cpuid(&mut cpuid);
        ioctl("KVM_SET_CPUID2", vcpu.set_cpuid2(&cpuid))?;

        let mut sregs = ioctl("KVM_GET_SREGS", vcpu.get_sregs())?;
        sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        sregs.cr3 = BOOT_TABLES_GPA;
        sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
        sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        sregs.cs = segment(selectors::KERNEL_CODE, true);
        let data = segment(selectors::KERNEL_DATA, false);
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
        sregs.gdt.base = phys_to_virt(BOOT_GDT_GPA);
        sregs.gdt.limit = (8 * crate::layout::BOOT_GDT.len() - 1) as u16;
        sregs.idt.base = 0;
        sregs.idt.limit = 0;
        ioctl("KVM_SET_SREGS", vcpu.set_sregs(&sregs))?;

        let fpu = kvm_fpu {
            fcw: 0x37f,
            mxcsr: 0x1f80,
            ..Default::default()
        };
        ioctl("KVM_SET_FPU", vcpu.set_fpu(&fpu))?;
        let tsc_khz = ioctl("KVM_GET_TSC_KHZ", vcpu.get_tsc_khz())? as u64;
        Ok(Machine {
            _kvm: kvm,
            vm,
            vcpu,
            tsc_khz,
        })
    }

    /// Raises interrupt `vector` in the guest: an MSI (fixed delivery, edge, physical
    /// destination APIC id 0) to the in-kernel local APIC, which KVM_SIGNAL_MSI accepts with
    /// the split irqchip. It sets the vector in the APIC's IRR: delivered when the guest
    /// enables interrupts, and it wakes a halted vCPU. Returns whether the APIC accepted it
    /// (`false` while the guest has not enabled its APIC).
    pub fn raise_interrupt(&self, vector: u8) -> Result<bool, VmError> {
        let msi = kvm_bindings::kvm_msi {
            // Destination APIC id 0 (bits 12..20), physical mode.
            address_lo: MSI_ADDRESS,
            address_hi: 0,
            data: vector as u32,
            ..Default::default()
        };
        ioctl("KVM_SIGNAL_MSI", self.vm.signal_msi(msi)).map(|n| n > 0)
    }

    /// Points the vCPU at the kernel's entry, on the boot stack, with the boot-info block's
    /// address in RDI.
    pub fn set_entry(&self, entry: u64) -> Result<(), VmError> {
        let regs = kvm_regs {
            rip: entry,
            rsp: phys_to_virt(BOOT_STACK_TOP) - 8,
            rdi: phys_to_virt(BOOT_INFO_GPA),
            rflags: 2,
            ..Default::default()
        };
        ioctl("KVM_SET_REGS", self.vcpu.set_regs(&regs))
    }
}
