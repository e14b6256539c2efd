//! What the guest kernel did in a run, for `hull run --stats`. Under `kvm_pvm` every
//! kernel entry (system call, page fault, interrupt) and every page-table switch is a
//! host world switch, so these counts say where a run's guest time went; the host counts
//! its own exits.
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::console::FixedBuf;

/// One counter.
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    /// Counts one.
    #[inline]
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// System calls entered, re-executions after a wait included.
pub static SYSCALLS: Counter = Counter::new();
/// System calls that had to wait (each is entered again when its event comes).
pub static BLOCKED: Counter = Counter::new();
/// Page faults from user mode.
pub static PAGE_FAULTS: Counter = Counter::new();
/// Timer interrupts (deadlines, time slices).
pub static TIMER_INTERRUPTS: Counter = Counter::new();
/// Switches from one task to another, and of them those that changed the page table.
pub static TASK_SWITCHES: Counter = Counter::new();
pub static PAGE_TABLE_SWITCHES: Counter = Counter::new();

/// Whether the host asked for the report (`BOOT_FLAG_STATS`).
static WANTED: AtomicBool = AtomicBool::new(false);

/// Asks for the report at the end of the run.
pub fn want_report() {
    WANTED.store(true, Ordering::Relaxed);
}

/// The report's lines, in `hull run --stats`'s format, if the host asked for it.
pub fn report() -> Option<FixedBuf<512>> {
    if !WANTED.load(Ordering::Relaxed) {
        return None;
    }
    let mut out = FixedBuf::new();
    for (name, c) in [
        ("guest syscalls", &SYSCALLS),
        ("guest syscalls blocked", &BLOCKED),
        ("guest page faults", &PAGE_FAULTS),
        ("guest timer interrupts", &TIMER_INTERRUPTS),
        ("guest task switches", &TASK_SWITCHES),
        ("guest page-table loads", &PAGE_TABLE_SWITCHES),
    ] {
        let _ = core::fmt::Write::write_fmt(
            &mut out,
            format_args!("hull: stats: {name:<22} {:>9}\n", c.get()),
        );
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_only_made_when_asked_for_and_counts() {
        assert!(report().is_none());
        SYSCALLS.add();
        SYSCALLS.add();
        PAGE_FAULTS.add();
        want_report();
        let r = report().unwrap();
        let text = core::str::from_utf8(r.as_bytes()).unwrap();
        assert!(
            text.contains("hull: stats: guest syscalls                 2\n"),
            "{text}"
        );
        assert!(
            text.contains("guest page faults              1\n"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 6);
    }
}
