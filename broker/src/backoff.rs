//! Capped exponential backoff: the one policy for waiting out a dependency
//! (reconnecting) and for spacing retries of one piece of work.

use std::time::Duration;

/// Delays of 0.25 s, 0.5 s, 1 s, ... capped at `max`; `reset` after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Starting at `first`, never above `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            next: first,
            first,
            max,
        }
    }

    /// The delay to wait now; the following one doubles.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// The delay before retry number `attempt` (0 for the first retry) of
    /// one piece of work whose attempts are counted elsewhere (a timeline row).
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let seen: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(seen, vec![1, 2, 4, 5, 5]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn counted_attempts_follow_the_same_curve() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(256));
        let seen: Vec<u64> = [0, 1, 2, 8, 9, 40]
            .into_iter()
            .map(|a| b.delay_for(a).as_secs())
            .collect();
        assert_eq!(seen, vec![1, 2, 4, 256, 256, 256]);
    }
}
