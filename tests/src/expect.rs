//! What a cohort should have received against what it did: per pair, each
//! expected email counted once, lost, duplicated or unexpected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::{Mail, Pair};

/// What each pair received: mentorship -> sorted "step->role" list.
pub fn received(mails: &[Mail], roles: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in mails {
        let role = roles
            .get(&m.rcpt)
            .cloned()
            .unwrap_or_else(|| m.rcpt.clone());
        out.entry(m.mentorship.clone())
            .or_default()
            .push(format!("{}->{role}", m.step));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The built-in playbook's early and day-7 escalations share one once-key
/// (one escalation per pair): an outage that holds the early one past day 7
/// lets either send it, and the other is added to it.
pub fn once_key(step: &str) -> &str {
    if step == "escalation_early" {
        "escalation"
    } else {
        step
    }
}

/// One email a pair is owed at most once: its pair, and `once-key->role`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailKey {
    /// The `mentorship_id`.
    pub mentorship: String,
    /// `once-key->role` (see [`once_key`]).
    pub email: String,
}

impl EmailKey {
    /// The key of `step` to `role` for `mentorship`.
    pub fn new(mentorship: &str, step: &str, role: &str) -> EmailKey {
        EmailKey {
            mentorship: mentorship.to_string(),
            email: format!("{}->{role}", once_key(step)),
        }
    }

    /// The key of an expected email written `step->role`.
    pub fn of(mentorship: &str, step_to_role: &str) -> EmailKey {
        let (step, role) = step_to_role.split_once("->").unwrap_or((step_to_role, ""));
        EmailKey::new(mentorship, step, role)
    }
}

impl fmt::Display for EmailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.mentorship, self.email)
    }
}

/// A pair and the emails it calls for (`step->role`), each once.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The pair.
    pub pair: Pair,
    /// Its emails, `step->role`.
    pub emails: Vec<String>,
}

impl Expected {
    /// `pair`, owed `emails`.
    pub fn new(pair: Pair, emails: &[&str]) -> Expected {
        Expected {
            pair,
            emails: emails.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The keys of its emails.
    pub fn keys(&self) -> impl Iterator<Item = EmailKey> + '_ {
        self.emails.iter().map(|e| EmailKey::of(&self.pair.id, e))
    }
}

/// The emails received, by [`EmailKey`] (an address no pair of the cohort
/// has counts with an empty role).
pub struct Tally<'m> {
    by_key: HashMap<EmailKey, Vec<&'m Mail>>,
}

impl<'m> Tally<'m> {
    /// Counts `mails` for the pairs of `cohort`.
    pub fn of(mails: &'m [Mail], cohort: &[Expected]) -> Tally<'m> {
        let roles: HashMap<String, String> = cohort.iter().flat_map(|e| e.pair.roles()).collect();
        let mut by_key: HashMap<EmailKey, Vec<&Mail>> = HashMap::new();
        for m in mails {
            let role = roles.get(&m.rcpt).map(String::as_str).unwrap_or_default();
            by_key
                .entry(EmailKey::new(&m.mentorship, &m.step, role))
                .or_default()
                .push(m);
        }
        Tally { by_key }
    }

    /// The copies received of `key`.
    pub fn get(&self, key: &EmailKey) -> &[&'m Mail] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }

    /// Copies received beyond the first of any email, expected or not.
    pub fn duplicated(&self) -> usize {
        self.by_key
            .values()
            .map(|m| m.len().saturating_sub(1))
            .sum()
    }

    /// Checks `cohort`'s emails: each expected one received exactly once,
    /// nothing else. An expected email missing whose delivery is recorded
    /// `unknown` (in `unknown`) is not lost: by policy it is never resent.
    pub fn check(&self, cohort: &[Expected], unknown: &HashSet<EmailKey>) -> Verdict {
        let mut v = Verdict {
            received: self.by_key.values().map(Vec::len).sum(),
            ..Verdict::default()
        };
        let mut wanted = HashSet::new();
        for key in cohort.iter().flat_map(Expected::keys) {
            v.expected += 1;
            match self.get(&key).len() {
                0 if unknown.contains(&key) => {
                    v.unknown_missing += 1;
                    v.problems
                        .push(format!("unknown outcome, not received: {key}"));
                }
                0 => {
                    v.lost += 1;
                    v.problems.push(format!("lost: {key}"));
                }
                1 => {}
                n => {
                    v.duplicated += n - 1;
                    v.problems.push(format!("duplicated x{n}: {key}"));
                }
            }
            wanted.insert(key);
        }
        for key in self.by_key.keys().filter(|k| !wanted.contains(*k)) {
            v.unexpected += 1;
            v.problems.push(format!("unexpected: {key}"));
        }
        v
    }
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Emails expected.
    pub expected: usize,
    /// Emails received (for the cohort or not).
    pub received: usize,
    /// Expected, never received (and not of unknown outcome).
    pub lost: usize,
    /// Copies received beyond the first.
    pub duplicated: usize,
    /// Emails received that no pair was owed.
    pub unexpected: usize,
    /// Expected, not received, recorded `unknown` (never resent by policy).
    pub unknown_missing: usize,
    /// One line per email that was not received exactly once.
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn mail(pair: &Pair, step: &str, rcpt: String) -> Mail {
        Mail {
            rcpt,
            step: step.into(),
            mentorship: pair.id.clone(),
            message_id: String::new(),
            subject: String::new(),
            received_at: 0.0,
            headers: String::new(),
            text: String::new(),
            raw: String::new(),
        }
    }

    #[test]
    fn each_expected_email_counts_once_and_the_rest_is_named() {
        let p = Pair::new("p1", Utc::now());
        let owed = [
            "welcome->mentor",
            "welcome->mentee",
            "escalation_early->coordinator",
            "wrap_up->mentor",
        ];
        let cohort = [Expected::new(p.clone(), &owed)];
        // (what arrived, unknown outcomes, lost, duplicated, unexpected, unknown and missing)
        let cases: Vec<(Vec<Mail>, Vec<EmailKey>, [usize; 4])> = vec![
            (
                vec![
                    mail(&p, "welcome", p.mentor()),
                    mail(&p, "welcome", p.mentee()),
                    // The day-7 escalation stands for the early one: one once-key.
                    mail(&p, "escalation", p.coordinator()),
                    mail(&p, "wrap_up", p.mentor()),
                ],
                vec![],
                [0, 0, 0, 0],
            ),
            (
                vec![
                    mail(&p, "welcome", p.mentor()),
                    mail(&p, "welcome", p.mentor()),
                    mail(&p, "escalation_early", p.coordinator()),
                    mail(&p, "escalation", p.coordinator()),
                    mail(&p, "check_in", p.mentee()),
                ],
                vec![EmailKey::new("p1", "wrap_up", "mentor")],
                [1, 2, 1, 1],
            ),
        ];
        for (mails, unknown, [lost, duplicated, unexpected, unknown_missing]) in cases {
            let unknown: HashSet<EmailKey> = unknown.into_iter().collect();
            let v = Tally::of(&mails, &cohort).check(&cohort, &unknown);
            assert_eq!(
                (
                    v.expected,
                    v.received,
                    v.lost,
                    v.duplicated,
                    v.unexpected,
                    v.unknown_missing
                ),
                (
                    4,
                    mails.len(),
                    lost,
                    duplicated,
                    unexpected,
                    unknown_missing
                ),
                "{:?}",
                v.problems
            );
        }
    }
}
