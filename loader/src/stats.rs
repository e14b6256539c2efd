//! `--stats`: where a run's time went on the host (setup phases, time in the guest) and how
//! many VM exits each hypercall caused, printed on stderr when the run ends.
use std::time::{Duration, Instant};

/// Timestamps and exit counts of one run.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    phases: Vec<(&'static str, Instant)>,
    /// Exits per hypercall number; operations are below 96, the last slot counts the rest.
    exits: [u64; 128],
    in_guest: Duration,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            start: Instant::now(),
            phases: Vec::new(),
            exits: [0; 128],
            in_guest: Duration::ZERO,
        }
    }

    /// Marks the end of a setup phase.
    pub fn phase(&mut self, name: &'static str) {
        self.phases.push((name, Instant::now()));
    }

    /// Counts one exit for hypercall `op` (others in the last slot).
    pub fn exit(&mut self, op: u32) {
        let slot = (op as usize).min(self.exits.len() - 1);
        self.exits[slot] += 1;
    }

    /// Adds time spent inside KVM_RUN.
    pub fn guest(&mut self, d: Duration) {
        self.in_guest += d;
    }

    /// The report, one line per item.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let mut prev = self.start;
        for (name, at) in &self.phases {
            out.push_str(&format!(
                "hull: stats: {name:<22} {:>9.3} ms\n",
                at.duration_since(prev).as_secs_f64() * 1e3
            ));
            prev = *at;
        }
        out.push_str(&format!(
            "hull: stats: {:<22} {:>9.3} ms\n",
            "in the guest (KVM_RUN)",
            self.in_guest.as_secs_f64() * 1e3
        ));
        out.push_str(&format!(
            "hull: stats: {:<22} {:>9.3} ms\n",
            "total",
            self.start.elapsed().as_secs_f64() * 1e3
        ));
        for (op, n) in self.exits.iter().enumerate().filter(|(_, n)| **n > 0) {
            let name = hull_arch::abi::Op::from_u32(op as u32)
                .map_or_else(|| "other".to_string(), |o| format!("{o:?}"));
            out.push_str(&format!("hull: stats: exits {name:<16} {n:>9}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_phases_and_exit_counts() {
        let mut s = Stats::new();
        s.phase("setup");
        s.exit(17);
        s.exit(17);
        s.exit(33);
        s.exit(44);
        s.exit(999);
        let r = s.report();
        assert!(r.contains("setup"));
        assert!(r.contains("exits Write") && r.contains(" 2\n"));
        assert!(r.contains("exits FsOpen") && r.contains("exits FsCopyRange"));
        assert!(r.contains("exits other"));
    }
}
