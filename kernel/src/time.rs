//! Guest clocks: the TSC, calibrated once against the host's clocks at boot, so reading
//! the time never leaves the guest.
use crate::platform;

/// A TSC-to-nanoseconds conversion anchored at one (tsc, host time) pair.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    tsc0: u64,
    mono0: u64,
    real0: u64,
    /// Nanoseconds per tick, as a 32.32 fixed-point number.
    mult: u64,
    khz: u64,
}

impl Clock {
    /// Anchors the clock: at TSC `tsc0` the host read `real0` and `mono0`.
    pub fn new(tsc0: u64, real0: u64, mono0: u64, tsc_khz: u64) -> Self {
        let khz = tsc_khz.max(1);
        Clock {
            tsc0,
            mono0,
            real0,
            mult: ((1_000_000u128 << 32) / khz as u128) as u64,
            khz,
        }
    }

    fn ns_since(&self, tsc: u64) -> u64 {
        ((tsc.saturating_sub(self.tsc0) as u128 * self.mult as u128) >> 32) as u64
    }

    /// CLOCK_MONOTONIC at TSC `tsc`.
    pub fn monotonic_at(&self, tsc: u64) -> u64 {
        self.mono0 + self.ns_since(tsc)
    }

    /// CLOCK_REALTIME at TSC `tsc`.
    pub fn realtime_at(&self, tsc: u64) -> u64 {
        self.real0 + self.ns_since(tsc)
    }

    /// CLOCK_MONOTONIC now.
    pub fn monotonic(&self) -> u64 {
        self.monotonic_at(platform::rdtsc())
    }

    /// CLOCK_REALTIME now.
    pub fn realtime(&self) -> u64 {
        self.realtime_at(platform::rdtsc())
    }

    /// The TSC value `ns` nanoseconds after TSC `from` (saturating).
    pub fn tsc_after(&self, from: u64, ns: u64) -> u64 {
        from.saturating_add(
            ((ns as u128 * self.khz as u128) / 1_000_000).min(u64::MAX as u128) as u64,
        )
    }

    /// The anchor as the vDSO reads it: (TSC, monotonic ns, realtime ns, ns per tick as
    /// 32.32 fixed point); `ns_since` is the same computation.
    pub fn anchor(&self) -> (u64, u64, u64, u64) {
        (self.tsc0, self.mono0, self.real0, self.mult)
    }

    /// The TSC frequency in kHz.
    pub fn khz(&self) -> u64 {
        self.khz
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_ticks_to_ns_and_back() {
        let c = Clock::new(1_000, 5_000_000_000, 7_000, 2_000_000); // 2 GHz
        assert_eq!(c.monotonic_at(1_000 + 2_000_000_000), 7_000 + 1_000_000_000);
        assert_eq!(c.realtime_at(1_000 + 2), 5_000_000_001);
        assert_eq!(c.tsc_after(10, 1_000_000_000), 10 + 2_000_000_000);
        assert_eq!(
            c.monotonic_at(0),
            7_000,
            "a TSC before the anchor does not go backwards"
        );
    }
}
