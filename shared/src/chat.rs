//! What a coordinator reads in a chat channel (Slack, Microsoft Teams): the
//! escalation and the daily digest as one platform-neutral [`Message`],
//! written from the same context the email templates see
//! ([`email::Context`], [`DigestContext`]: the reasons, the evidence, the
//! advice of [`crate::coordinator::advice`], the [`crate::day::Day`]), then
//! shaped for each platform ([`slack`]: Block Kit; [`teams`]: an Adaptive
//! Card in a workflow webhook's message).
//!
//! A channel is read by more people than its coordinator, so a chat
//! message names the pair by first names only and carries no address and
//! no link to the coordinator's pages (which show the pair's contacts):
//! only the acknowledge link, whose page shows neither. It is written in
//! English: a channel has many readers, not one person's locale.

pub mod shape;
pub mod slack;
pub mod teams;

use serde::Serialize;

use crate::digest::DigestContext;
use crate::email::{self, first_name};

/// A chat platform a program's coordinators may be reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// A Slack incoming webhook: Block Kit.
    Slack,
    /// A Microsoft Teams workflow webhook: an Adaptive Card.
    Teams,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 2] = [Platform::Slack, Platform::Teams];

    /// Its name as stored and typed (`slack`, `teams`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Teams => "teams",
        }
    }

    /// The platform named `name`.
    pub fn parse(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// `message` as this platform's webhook takes it (the request's JSON body).
    pub fn payload(self, message: &Message) -> serde_json::Value {
        match self {
            Platform::Slack => slack::payload(message),
            Platform::Teams => teams::payload(message),
        }
    }

    /// What breaks this platform's documented shape in `payload` ([`shape`]).
    pub fn problems(self, payload: &serde_json::Value) -> Vec<String> {
        match self {
            Platform::Slack => shape::slack_problems(payload),
            Platform::Teams => shape::teams_problems(payload),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label and its value (a Slack field, a Teams fact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What it is, e.g. `Day`.
    pub label: String,
    /// Its value, e.g. `4 of the first week`.
    pub value: String,
}

/// A titled list, e.g. "Why" and the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The list's title.
    pub title: String,
    /// Its lines, in order.
    pub lines: Vec<String>,
}

/// A link shown as a button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// The button's words.
    pub label: String,
    /// Where it leads.
    pub url: String,
}

/// A chat message, before any platform's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The headline.
    pub title: String,
    /// The first sentence under it.
    pub lead: String,
    /// Label and value pairs.
    pub facts: Vec<Fact>,
    /// Titled lists.
    pub sections: Vec<Section>,
    /// The small print at the bottom (which pair, which program).
    pub note: String,
    /// The action, if the message has one.
    pub button: Option<Button>,
}

impl Message {
    /// The whole message as plain text: the notification's words, and
    /// what a client that shows no blocks or cards shows.
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n{}", self.title, self.lead);
        for s in &self.sections {
            out.push_str(&format!("\n{}:", s.title));
            for l in &s.lines {
                out.push_str(&format!("\n- {l}"));
            }
        }
        if let Some(b) = &self.button {
            out.push_str(&format!("\n{}: {}", b.label, b.url));
        }
        out
    }
}

/// The escalation as a chat message, from the escalation email's context
/// (`ctx`: the coordinator's, with its reasons, advice and links).
pub fn escalation(ctx: &email::Context) -> Message {
    let (mentor, mentee) = (&ctx.mentor.first_name, &ctx.mentee.first_name);
    let summary = &ctx.summary;
    let mut facts = vec![
        Fact::new("Day", ctx.day.number().to_string()),
        Fact::new(
            "Interactions",
            format!(
                "{} ({} by the mentor, {} by the mentee)",
                summary.total, summary.mentor, summary.mentee
            ),
        ),
    ];
    for k in &ctx.kinds {
        facts.push(Fact::new(
            &k.kind,
            format!("{} by the mentor, {} by the mentee", k.mentor, k.mentee),
        ));
    }
    let last = match (&ctx.last_activity, summary.last_actor) {
        (Some(at), Some(actor)) => format!("{at} by the {}", actor.as_str()),
        (Some(at), None) => at.clone(),
        _ => "none".to_string(),
    };
    facts.push(Fact::new("Last activity", last));
    let mut advice: Vec<String> = ctx.advice.iter().map(|a| a.text.clone()).collect();
    if advice.is_empty() {
        advice.push("Reach out to both this week and ask how it is going.".into());
    }
    Message {
        title: format!("Pair at risk: {mentor} and {mentee}"),
        lead: format!(
            "{mentor} (mentor) and {mentee} (mentee) look at risk on {} of their first week.",
            ctx.day
        ),
        facts,
        sections: vec![
            Section::new("Why", ctx.reasons.clone()),
            Section::new("What to do", advice),
        ],
        note: note(&ctx.mentorship_id, ctx.program.name.as_deref()),
        button: ctx.links.acknowledge.as_ref().map(|url| Button {
            label: "I'm on it: acknowledge".into(),
            url: url.clone(),
        }),
    }
}

/// The daily digest as a chat message: the escalations waiting and the
/// pairs trending low, by first names, with what fired and what to do.
pub fn digest(ctx: &DigestContext) -> Message {
    let mut sections = Vec::new();
    let escalations: Vec<String> = ctx
        .escalations
        .iter()
        .map(|e| {
            let who = match (&e.mentor, &e.mentee) {
                (Some(a), Some(b)) => format!("{} & {}", first_name(a), first_name(b)),
                _ => format!("pair {}", e.mentorship_id),
            };
            let advice = e.advice.first().map(|a| format!(" → {}", a.text));
            format!(
                "{who}, {}: {}{}",
                e.day,
                e.rules.join("; "),
                advice.unwrap_or_default()
            )
        })
        .collect();
    if !escalations.is_empty() {
        sections.push(Section::new("Escalations waiting for you", escalations));
    }
    let trending: Vec<String> = ctx
        .trending_low
        .iter()
        .map(|p| {
            let advice = p.advice.first().map(|a| format!(" → {}", a.text));
            format!(
                "{} & {}, {}: {}{}",
                first_name(&p.mentor),
                first_name(&p.mentee),
                p.day,
                p.risks.join("; "),
                advice.unwrap_or_default()
            )
        })
        .collect();
    if !trending.is_empty() {
        sections.push(Section::new("Trending low, not escalated yet", trending));
    }
    let lead = if ctx.all_quiet {
        "All quiet today: nothing needs you this morning.".to_string()
    } else {
        "Your pairs to act on today, most urgent first.".to_string()
    };
    Message {
        title: format!("Daily digest, {}", ctx.date),
        lead,
        facts: vec![
            Fact::new("Escalations waiting", ctx.escalations.len().to_string()),
            Fact::new("Trending low", ctx.trending_low.len().to_string()),
            Fact::new("Other pairs", ctx.others.total.to_string()),
        ],
        sections,
        note: "Acknowledge each escalation from its own message once you are on it.".into(),
        button: None,
    }
}

fn note(mentorship_id: &str, program: Option<&str>) -> String {
    match program {
        Some(p) => format!("Pair id in your program: {mentorship_id} · {p}"),
        None => format!("Pair id in your program: {mentorship_id}"),
    }
}

impl Fact {
    fn new(label: &str, value: String) -> Fact {
        Fact {
            label: label.to_string(),
            value,
        }
    }
}

impl Section {
    fn new(title: &str, lines: Vec<String>) -> Section {
        Section {
            title: title.to_string(),
            lines,
        }
    }
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
