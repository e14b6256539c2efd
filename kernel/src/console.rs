//! Kernel diagnostics to the host's stderr, and the panic path (which must work with the
//! heap or the kernel lock broken, so it formats into a fixed buffer).
use core::fmt::{self, Write};

use crate::hypercall;

/// A fixed-size formatting buffer that drops what does not fit.
pub struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> FixedBuf<N> {
    pub const fn new() -> Self {
        FixedBuf {
            buf: [0; N],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes one formatted line to the host's stderr.
pub fn log_fmt(args: fmt::Arguments<'_>) {
    let mut b = FixedBuf::<1024>::new();
    let _ = b.write_fmt(args);
    let _ = b.write_str("\n");
    hypercall::log(b.as_bytes());
}

/// `klog!("...")`: a kernel diagnostic line on the host's stderr.
#[macro_export]
macro_rules! klog {
    ($($t:tt)*) => { $crate::console::log_fmt(format_args!($($t)*)) };
}

/// Reports a kernel panic to the host and ends the run.
pub fn panic_exit(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut b = FixedBuf::<2048>::new();
    let _ = write!(b, "{info}");
    hypercall::exit(
        hull_arch::abi::ExitKind::KernelPanic,
        0,
        None,
        0,
        b.as_bytes(),
    )
}
