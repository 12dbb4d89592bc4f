//! A [`Message`] as a Microsoft Teams workflow webhook takes it (Power
//! Automate's "Post to a channel when a webhook request is received"): a
//! `message` whose one attachment is an Adaptive Card 1.4 (`TextBlock`s,
//! a `FactSet`, an `Action.OpenUrl` button).

use serde_json::{Value, json};

use super::{Message, cut};

/// The Adaptive Card version written.
pub const VERSION: &str = "1.4";
/// The card's schema.
pub const SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
/// A `TextBlock`'s text at most (the card stays well inside a Teams
/// message's 28 KB whatever the pair's evidence says).
pub const TEXT: usize = 3000;
/// A whole workflow message at most, in bytes.
pub const MESSAGE_BYTES: usize = 28 * 1024;
/// The attachment's content type.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

/// The webhook's JSON body for `message`.
pub fn payload(message: &Message) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": CONTENT_TYPE,
            "contentUrl": null,
            "content": card(message),
        }],
    })
}

/// The Adaptive Card alone.
pub fn card(message: &Message) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": escape(&message.title), "size": "Large", "weight": "Bolder", "wrap": true, "style": "heading"}),
        text_block(&message.lead),
    ];
    if !message.facts.is_empty() {
        let facts: Vec<Value> = message
            .facts
            .iter()
            .map(|f| json!({"title": f.label, "value": f.value}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    for s in &message.sections {
        body.push(json!({"type": "TextBlock", "text": escape(&s.title), "weight": "Bolder", "wrap": true, "spacing": "Medium"}));
        let lines: Vec<String> = s.lines.iter().map(|l| format!("- {}", escape(l))).collect();
        body.push(text_block_raw(&lines.join("\r")));
    }
    body.push(json!({"type": "TextBlock", "text": escape(&message.note), "isSubtle": true, "size": "Small", "wrap": true}));
    let actions: Vec<Value> = message
        .button
        .iter()
        .map(|b| json!({"type": "Action.OpenUrl", "title": b.label, "url": b.url}))
        .collect();
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    card
}

fn text_block(text: &str) -> Value {
    text_block_raw(&escape(text))
}

fn text_block_raw(text: &str) -> Value {
    json!({"type": "TextBlock", "text": cut(text, TEXT), "wrap": true})
}

/// `text` as a `TextBlock` shows it: its Markdown subset would read
/// `[words](url)` as a link, so a name or a reason can never become one.
pub fn escape(text: &str) -> String {
    text.replace("](", "] (")
}
