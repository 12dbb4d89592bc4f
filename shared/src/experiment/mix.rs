//! The later outcome mix of a group of an experiment: how many of its pairs
//! a program judged thriving, continuing, struggling or ended (each pair's
//! latest `mentorship.outcome`). Pairs without an outcome are not counted:
//! programs record outcomes weeks later, and not for every pair.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::event::Outcome;

/// Pairs by their latest outcome, in [`Outcome::ALL`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutcomeMix([u32; Outcome::ALL.len()]);

fn index(o: Outcome) -> usize {
    Outcome::ALL
        .iter()
        .position(|x| *x == o)
        .unwrap_or_default()
}

impl OutcomeMix {
    /// Counts one pair with outcome `o`.
    pub fn add(&mut self, o: Outcome) {
        self.0[index(o)] += 1;
    }

    /// The pairs with outcome `o`.
    pub fn count(&self, o: Outcome) -> u32 {
        self.0[index(o)]
    }

    /// The pairs with any outcome.
    pub fn recorded(&self) -> u32 {
        self.0.iter().sum()
    }

    /// Each outcome with its count, best first (zeros included).
    pub fn iter(&self) -> impl Iterator<Item = (Outcome, u32)> + '_ {
        Outcome::ALL.iter().map(|o| (*o, self.count(*o)))
    }
}

/// `{"thriving": 2, "continuing": 0, "struggling": 1, "ended": 0}`: every
/// kind, so a tool reads a zero rather than a missing key.
impl Serialize for OutcomeMix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (o, n) in self.iter() {
            map.serialize_entry(o.as_str(), &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_counts_each_kind_and_says_every_kind_in_json() {
        let mut mix = OutcomeMix::default();
        for o in [Outcome::Thriving, Outcome::Ended, Outcome::Thriving] {
            mix.add(o);
        }
        assert_eq!(mix.count(Outcome::Thriving), 2);
        assert_eq!(mix.count(Outcome::Struggling), 0);
        assert_eq!(mix.recorded(), 3);
        assert_eq!(
            serde_json::to_value(mix).unwrap(),
            serde_json::json!({"thriving": 2, "continuing": 0, "struggling": 0, "ended": 1})
        );
    }
}
