//! A [`Message`] as a Slack incoming webhook takes it: Block Kit `blocks`
//! (a header, sections in `mrkdwn`, fields, a context line, a button) and
//! the `text` a notification and a client without blocks show. Every text
//! is kept inside Block Kit's limits ([`limits`]).

use serde_json::{Value, json};

use super::{Message, cut};

/// Block Kit's documented limits this builder keeps to.
pub mod limits {
    /// Blocks in one message.
    pub const BLOCKS: usize = 50;
    /// A header's `plain_text`.
    pub const HEADER: usize = 150;
    /// A section's text, and any text object.
    pub const TEXT: usize = 3000;
    /// Fields in a section.
    pub const FIELDS: usize = 10;
    /// One field's text.
    pub const FIELD: usize = 2000;
    /// Elements of a context block.
    pub const CONTEXT: usize = 10;
    /// A button's label.
    pub const BUTTON: usize = 75;
    /// A button's `url`.
    pub const URL: usize = 3000;
}

/// The webhook's JSON body for `message`.
pub fn payload(message: &Message) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": plain(&message.title, limits::HEADER),
    })];
    blocks.push(section(&escape(&message.lead)));
    for chunk in message.facts.chunks(limits::FIELDS) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|f| {
                let text = format!("*{}*\n{}", escape(&f.label), escape(&f.value));
                mrkdwn(&text, limits::FIELD)
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    for s in &message.sections {
        let mut text = format!("*{}*", escape(&s.title));
        for l in &s.lines {
            text.push_str(&format!("\n• {}", escape(l)));
        }
        blocks.push(section(&text));
    }
    // Room for the context and the button, whatever came before.
    blocks.truncate(limits::BLOCKS - 2);
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(&escape(&message.note), limits::TEXT)],
    }));
    // A button's url longer than Slack takes would make the whole message
    // refused; such a link stays in the text instead.
    if let Some(b) = message
        .button
        .as_ref()
        .filter(|b| b.url.len() <= limits::URL)
    {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "action_id": "acknowledge",
                "text": plain(&b.label, limits::BUTTON),
                "url": b.url,
                "style": "primary",
            }],
        }));
    }
    json!({
        // Slack reads the fallback as mrkdwn too.
        "text": escape(&message.plain_text()),
        "blocks": blocks,
    })
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": mrkdwn(text, limits::TEXT)})
}

fn plain(text: &str, max: usize) -> Value {
    json!({"type": "plain_text", "text": cut(text, max), "emoji": false})
}

fn mrkdwn(text: &str, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": cut(text, max)})
}

/// `text` with the three characters Slack's `mrkdwn` reads as markup
/// escaped, so a name or reason can never become a link or a mention.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
