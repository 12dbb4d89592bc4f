//! A pair of the test cohort and the contract events a program publishes
//! about it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// A pair of the test cohort, with addresses that say who is who.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The `mentorship_id`; also in the pair's addresses.
    pub id: String,
    /// The pair's `started_at`.
    pub started_at: DateTime<Utc>,
    /// The mentor's time zone (default `Europe/Berlin`).
    pub tz_mentor: String,
    /// The mentee's time zone (default `America/Sao_Paulo`).
    pub tz_mentee: String,
}

impl Pair {
    /// A pair starting at `started_at`.
    pub fn new(id: &str, started_at: DateTime<Utc>) -> Pair {
        Pair {
            id: id.into(),
            started_at,
            tz_mentor: "Europe/Berlin".into(),
            tz_mentee: "America/Sao_Paulo".into(),
        }
    }

    /// The mentor's address.
    pub fn mentor(&self) -> String {
        format!("mentor.{}@example.org", self.id)
    }
    /// The mentee's address.
    pub fn mentee(&self) -> String {
        format!("mentee.{}@example.org", self.id)
    }
    /// The coordinator's address.
    pub fn coordinator(&self) -> String {
        format!("coordinator.{}@example.org", self.id)
    }

    /// Address -> role, for [`received`].
    pub fn roles(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (self.mentor(), "mentor".to_string()),
            (self.mentee(), "mentee".to_string()),
            (self.coordinator(), "coordinator".to_string()),
        ])
    }

    /// The `mentorship.started` body.
    pub fn started(&self, event_id: &str) -> Value {
        json!({
            "event_id": event_id,
            "mentorship_id": self.id,
            "program_id": "test-program",
            "started_at": self.started_at.to_rfc3339(),
            "mentor": {"id": format!("{}-mentor", self.id), "name": "Ada Mentor", "email": self.mentor(), "timezone": self.tz_mentor},
            "mentee": {"id": format!("{}-mentee", self.id), "name": "Bo Mentee", "email": self.mentee(), "timezone": self.tz_mentee},
            "coordinator": {"name": "Cy Coordinator", "email": self.coordinator()}
        })
    }

    /// An `interaction.recorded` body at `at` after the start.
    pub fn interaction(
        &self,
        n: u32,
        kind: &str,
        actor: &str,
        at: chrono::Duration,
        minutes: Option<u32>,
    ) -> Value {
        let mut v = json!({
            "event_id": format!("{}-i{n}", self.id),
            "mentorship_id": self.id,
            "kind": kind,
            "actor": actor,
            "occurred_at": (self.started_at + at).to_rfc3339(),
        });
        if let Some(m) = minutes {
            v["duration_minutes"] = m.into();
        }
        v
    }

    /// A `mentorship.ended` body.
    pub fn ended(&self, at: chrono::Duration) -> Value {
        json!({"event_id": format!("{}-end", self.id), "mentorship_id": self.id,
               "ended_at": (self.started_at + at).to_rfc3339(), "reason": "rematched"})
    }
}
