//! How the recipient reaches the other person, as the playbook's `contact`
//! says, and the intro call's suggested times: what the templates show, and
//! what the message carries besides (the welcome's Reply-To and its `.ics`
//! files).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Context;
use super::ics::Event;
use crate::contact::Contact;
use crate::event::{MentorshipStarted, Person};
use crate::intro_call::{self, Slot};
use crate::locale::{self, Locale};
use crate::playbook::Playbook;
use crate::timeline::SendWindow;

/// The template that introduces the pair: its email is answered to the
/// partner (when the contact is the partner's address) and carries the
/// intro call's `.ics` files. Later emails keep the sender as Reply-To, so
/// a reply about how it is going never lands with the partner by surprise.
pub const INTRO_TEMPLATE: &str = "welcome";

/// A suggested slot closer than this to the moment of sending is not offered.
const NOTICE: chrono::Duration = chrono::Duration::hours(2);

/// How to reach the other person (templates: `reach`).
#[derive(Debug, Clone, Serialize)]
pub struct Reach {
    /// The other person's address, when the program shares addresses.
    pub email: Option<String>,
    /// The program's own page for the pair, when it has one.
    pub link: Option<String>,
    /// Replying to this very email reaches the other person.
    pub reply_reaches_partner: bool,
    /// The intro call's suggested times (in the introducing email only);
    /// empty when no time suits both: go async.
    pub slots: Vec<SlotView>,
}

/// A suggested call time written on both clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotView {
    /// On the recipient's clock, e.g. `Tuesday 1 December, 16:00–16:30`.
    pub mine: String,
    /// On the other person's clock, e.g. `Tuesday 10:00–10:30`.
    pub theirs: String,
    /// Both clocks show the same time (one zone, or the same offset).
    pub same_clock: bool,
    /// The attached `.ics` file's name.
    pub file: String,
}

/// What the message carries besides its text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    /// Reply-To: (name, address).
    pub reply_to: Option<(String, String)>,
    /// `.ics` files: (file name, event; its UID still lacks `@domain`).
    pub invites: Vec<(String, Event)>,
}

/// A slot on the clock of `tz`, in the reader's `locale` (weekday and
/// month names, 12- or 24-hour clock).
fn slot_text(locale: &Locale, slot: Slot, tz: Tz, with_date: bool) -> String {
    locale::span(locale, tz, slot.start, slot.end(), with_date)
}

fn zone(p: &Person) -> Option<Tz> {
    p.timezone.parse().ok()
}

/// The pair's short, stable, non-revealing token for UIDs.
fn pair_token(mentorship_id: &str) -> String {
    Sha256::digest(mentorship_id.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Context {
    /// The same context with how the recipient reaches the other person
    /// (mentor and mentee only), and, in the email of [`INTRO_TEMPLATE`],
    /// the intro call's slots inside both people's `window` as `.ics`
    /// files and, when the contact is the partner's address, Reply-To set
    /// to the partner. `now` is the moment of sending.
    pub fn with_reach(
        mut self,
        started: &MentorshipStarted,
        playbook: &Playbook,
        window: SendWindow,
        template: &str,
        now: DateTime<Utc>,
    ) -> Context {
        let (me, other) = match self.recipient.role {
            "mentor" => (&started.mentor, &started.mentee),
            "mentee" => (&started.mentee, &started.mentor),
            _ => return self,
        };
        let intro = template == INTRO_TEMPLATE;
        let (email, link) = match &playbook.contact {
            Contact::PartnerEmail => (Some(other.email.clone()), None),
            Contact::ProgramLink(t) => (None, Some(t.url_for(&started.mentorship_id))),
        };
        let reply_reaches_partner = intro && email.is_some();
        if reply_reaches_partner {
            self.extras.reply_to = Some((other.name.clone(), other.email.clone()));
        }
        let mut slots = Vec::new();
        if let (true, Some(mine), Some(theirs)) = (intro, zone(me), zone(other)) {
            let suggested = intro_call::for_pair(started, window, playbook.week_days);
            let token = pair_token(&started.mentorship_id);
            let reader = Locale::parse(&self.locale).unwrap_or_default();
            let how = match (&email, &link) {
                (_, Some(link)) => format!("Reach {} on your program's page: {link}", other.name),
                _ => format!("Reach {} at {}", other.name, other.email),
            };
            for slot in suggested.into_iter().filter(|s| s.start >= now + NOTICE) {
                let n = slots.len() + 1;
                let file = format!("intro-call-{n}.ics");
                let (mine_text, theirs_text) = (
                    slot_text(&reader, slot, mine, true),
                    slot_text(&reader, slot, theirs, false),
                );
                let same_clock = slot_text(&reader, slot, mine, false) == theirs_text;
                self.extras.invites.push((
                    file.clone(),
                    Event {
                        uid: format!("intro-{token}-{}", slot.start.format("%Y%m%dT%H%MZ")),
                        stamp: now,
                        start: slot.start,
                        end: slot.end(),
                        summary: format!(
                            "Intro call: {} and {}",
                            started.mentor.name, started.mentee.name
                        ),
                        description: format!(
                            "30 minutes to get to know each other, no agenda. A call is optional: if this time does not suit you both, write instead.\n{how}"
                        ),
                        url: link.clone(),
                    },
                ));
                slots.push(SlotView {
                    mine: mine_text,
                    theirs: theirs_text,
                    same_clock,
                    file,
                });
            }
        }
        self.reach = Some(Reach {
            email,
            link,
            reply_reaches_partner,
            slots,
        });
        self
    }
}

#[cfg(test)]
mod tests;
