//! The reconnect policy (pure, LiveKit `reconnect_strategy.rs` style): when a live session
//! drops, retry after 300 ms, then double the wait up to 7 s, at most 10 times, then give up
//! with a clear failure. A successful reconnect starts the count again.

use std::time::Duration;

/// The numbers of the policy. `Default` is the product's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReconnectPolicy {
    /// Wait before the first retry.
    pub first_delay: Duration,
    /// Each further wait is the previous one times this.
    pub factor: u32,
    /// No wait is longer than this.
    pub max_delay: Duration,
    /// Give up after this many failed attempts (0 = never reconnect).
    pub max_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            first_delay: Duration::from_millis(300),
            factor: 2,
            max_delay: Duration::from_secs(7),
            max_attempts: 10,
        }
    }
}

impl ReconnectPolicy {
    /// No reconnects at all.
    pub fn never() -> Self {
        ReconnectPolicy {
            max_attempts: 0,
            ..Default::default()
        }
    }

    /// The wait before attempt `n` (1-based), or `None` when the policy is exhausted.
    pub fn delay_for(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt > self.max_attempts {
            return None;
        }
        let mut d = self.first_delay;
        for _ in 1..attempt {
            d = d.saturating_mul(self.factor.max(1));
            if d >= self.max_delay {
                break;
            }
        }
        Some(d.min(self.max_delay))
    }

    /// The full schedule, for display ("retrying in 1.2 s, attempt 3 of 10").
    pub fn schedule(&self) -> Vec<Duration> {
        (1..=self.max_attempts)
            .filter_map(|a| self.delay_for(a))
            .collect()
    }
}

/// Where a session is in its reconnect sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnector {
    policy: ReconnectPolicy,
    attempts: u32,
}

/// What to do after a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after `delay`; this is attempt `attempt` of `of`.
    Retry {
        attempt: u32,
        of: u32,
        delay: Duration,
    },
    /// The policy is exhausted after `attempts` attempts.
    GiveUp { attempts: u32 },
}

impl Reconnector {
    pub fn new(policy: ReconnectPolicy) -> Self {
        Reconnector {
            policy,
            attempts: 0,
        }
    }

    /// A connection dropped or an attempt failed: what now?
    pub fn on_drop(&mut self) -> Next {
        match self.policy.delay_for(self.attempts + 1) {
            Some(delay) => {
                self.attempts += 1;
                Next::Retry {
                    attempt: self.attempts,
                    of: self.policy.max_attempts,
                    delay,
                }
            }
            None => Next::GiveUp {
                attempts: self.attempts,
            },
        }
    }

    /// The session is live again: the next drop starts from the first delay.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Attempts made since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn policy(&self) -> &ReconnectPolicy {
        &self.policy
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn default_schedule_doubles_from_300ms_capped_at_7s_ten_attempts() {
        let p = ReconnectPolicy::default();
        assert_eq!(
            p.schedule(),
            vec![
                ms(300),
                ms(600),
                ms(1200),
                ms(2400),
                ms(4800),
                ms(7000),
                ms(7000),
                ms(7000),
                ms(7000),
                ms(7000)
            ]
        );
        assert!(p.delay_for(1).unwrap() <= ms(300));
        assert_eq!(p.delay_for(11), None);
        assert_eq!(p.delay_for(0), None);
    }

    #[test]
    fn gives_up_after_the_last_attempt_and_stays_given_up() {
        let mut r = Reconnector::new(ReconnectPolicy::default());
        for n in 1..=10 {
            match r.on_drop() {
                Next::Retry { attempt, of, delay } => {
                    assert_eq!((attempt, of), (n, 10));
                    assert!(delay <= ms(7000));
                }
                other => panic!("attempt {n}: {other:?}"),
            }
        }
        assert_eq!(r.on_drop(), Next::GiveUp { attempts: 10 });
        assert_eq!(r.on_drop(), Next::GiveUp { attempts: 10 });
    }

    #[test]
    fn success_resets_the_sequence() {
        let mut r = Reconnector::new(ReconnectPolicy::default());
        r.on_drop();
        r.on_drop();
        r.on_drop();
        assert_eq!(r.attempts(), 3);
        r.reset();
        assert_eq!(
            r.on_drop(),
            Next::Retry {
                attempt: 1,
                of: 10,
                delay: ms(300)
            }
        );
    }

    #[test]
    fn never_means_no_retry_and_huge_factors_do_not_overflow() {
        let mut r = Reconnector::new(ReconnectPolicy::never());
        assert_eq!(r.on_drop(), Next::GiveUp { attempts: 0 });
        let p = ReconnectPolicy {
            first_delay: Duration::from_secs(1),
            factor: u32::MAX,
            max_delay: Duration::from_secs(60),
            max_attempts: 50,
        };
        assert_eq!(p.delay_for(50), Some(Duration::from_secs(60)));
        let p = ReconnectPolicy {
            factor: 0,
            ..Default::default()
        };
        assert_eq!(p.delay_for(5), Some(ms(300)), "a zero factor behaves as 1");
    }
}
