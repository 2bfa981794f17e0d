//! Deadline bookkeeping for the flows' timer outputs.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::flow::Timer;

#[derive(Debug, Default)]
pub(crate) struct Timers(HashMap<Timer, Instant>);

impl Timers {
    pub fn arm(&mut self, t: Timer, after: Duration) {
        self.0.insert(t, Instant::now() + after);
    }

    pub fn cancel(&mut self, t: Timer) {
        self.0.remove(&t);
    }

    /// The earliest deadline (far future when none, so `sleep_until` simply never fires).
    pub fn next(&self) -> Instant {
        self.0
            .values()
            .min()
            .copied()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
    }

    /// Removes and returns the timers that are due.
    pub fn due(&mut self) -> Vec<Timer> {
        let now = Instant::now();
        let due: Vec<Timer> = self
            .0
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in &due {
            self.0.remove(t);
        }
        due
    }
}
