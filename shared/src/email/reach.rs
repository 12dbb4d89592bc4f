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

/// The calendar invitation's words in the reader's language (an `.ics`
/// file has no template: its few words live here, per shipped locale).
struct InviteWords {
    title: &'static str,
    and: &'static str,
    description: &'static str,
    reach: &'static str,
    on_page: &'static str,
    at: &'static str,
}

impl InviteWords {
    fn of(locale: &Locale) -> InviteWords {
        match locale.shipped() {
            Some("de") => InviteWords {
                title: "Kennenlern-Anruf: ",
                and: " und ",
                description: "30 Minuten, um einander kennenzulernen, ohne Tagesordnung. Ein Anruf ist freiwillig: wenn diese Zeit euch beiden nicht passt, schreibt einander stattdessen.",
                reach: "Erreiche",
                on_page: " über die Seite eures Programms: ",
                at: " unter ",
            },
            Some("es") => InviteWords {
                title: "Llamada de presentación: ",
                and: " y ",
                description: "30 minutos para conocerse, sin orden del día. La llamada es opcional: si esta hora no les viene bien a los dos, escríbanse.",
                reach: "Contacta con",
                on_page: " en la página de tu programa: ",
                at: " en ",
            },
            _ => InviteWords {
                title: "Intro call: ",
                and: " and ",
                description: "30 minutes to get to know each other, no agenda. A call is optional: if this time does not suit you both, write instead.",
                reach: "Reach",
                on_page: " on your program's page: ",
                at: " at ",
            },
        }
    }
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
            let words = InviteWords::of(&reader);
            let how = match (&email, &link) {
                (_, Some(link)) => format!("{} {}{}{link}", words.reach, other.name, words.on_page),
                _ => format!("{} {}{}{}", words.reach, other.name, words.at, other.email),
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
                            "{}{}{}{}",
                            words.title, started.mentor.name, words.and, started.mentee.name
                        ),
                        description: format!("{}\n{how}", words.description),
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
