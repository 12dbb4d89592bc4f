//! Each platform's documented shape, checked: what a webhook would refuse
//! or show wrong. The worker checks every payload before it posts it (a
//! payload that breaks a rule is a bug, recorded failed, never posted), and
//! the tests check every payload they receive.
//!
//! Slack (Block Kit reference): a `blocks` array of at most 50 blocks, each
//! with a known `type`; text objects `plain_text` or `mrkdwn` with a
//! non-empty `text` of at most 3000 characters; a header's `plain_text` at
//! most 150; a section's text or 1 to 10 fields of at most 2000; a context's
//! 1 to 10 elements; a button's `plain_text` label at most 75 and its `url`
//! at most 3000; and a top-level `text` fallback.
//!
//! Teams (workflow webhook, Adaptive Card schema): a `message` of at most
//! 28 KB with
//! attachments of content type `application/vnd.microsoft.card.adaptive`
//! whose `content` is an `AdaptiveCard` of version 1.0 to 1.5 with
//! `$schema`, a `body` of known element types (`TextBlock` with `text`,
//! `FactSet` with `facts` of `title` and `value`), and `actions` of type
//! `Action.OpenUrl` with a `title` and an absolute `url`.

use serde_json::Value;

use super::slack::limits;

/// What breaks Slack Block Kit's shape in `payload`; empty when none.
pub fn slack_problems(payload: &Value) -> Vec<String> {
    let mut p = Vec::new();
    if payload["text"].as_str().is_none_or(str::is_empty) {
        p.push("no `text` fallback".to_string());
    }
    let Some(blocks) = payload["blocks"].as_array() else {
        p.push("`blocks` is not an array".into());
        return p;
    };
    if blocks.is_empty() || blocks.len() > limits::BLOCKS {
        p.push(format!("{} blocks (1 to {})", blocks.len(), limits::BLOCKS));
    }
    for (i, b) in blocks.iter().enumerate() {
        let at = |what: &str| format!("block {i}: {what}");
        match b["type"].as_str() {
            Some("header") => text_object(
                &b["text"],
                &["plain_text"],
                limits::HEADER,
                &at("text"),
                &mut p,
            ),
            Some("section") => section(b, &at(""), &mut p),
            Some("context") => match b["elements"].as_array() {
                Some(e) if !e.is_empty() && e.len() <= limits::CONTEXT => {
                    for (j, el) in e.iter().enumerate() {
                        text_object(
                            el,
                            &["plain_text", "mrkdwn"],
                            limits::TEXT,
                            &at(&format!("element {j}")),
                            &mut p,
                        );
                    }
                }
                _ => p.push(at("a context needs 1 to 10 elements")),
            },
            Some("actions") => match b["elements"].as_array() {
                Some(e) if !e.is_empty() && e.len() <= 25 => {
                    for (j, el) in e.iter().enumerate() {
                        button(el, &at(&format!("element {j}")), &mut p);
                    }
                }
                _ => p.push(at("actions need 1 to 25 elements")),
            },
            Some("divider") => {}
            other => p.push(at(&format!("unknown block type {other:?}"))),
        }
    }
    p
}

fn section(b: &Value, at: &str, p: &mut Vec<String>) {
    let has_text = !b["text"].is_null();
    if has_text {
        text_object(
            &b["text"],
            &["plain_text", "mrkdwn"],
            limits::TEXT,
            &format!("{at}text"),
            p,
        );
    }
    match b["fields"].as_array() {
        Some(f) if !f.is_empty() && f.len() <= limits::FIELDS => {
            for (j, field) in f.iter().enumerate() {
                text_object(
                    field,
                    &["plain_text", "mrkdwn"],
                    limits::FIELD,
                    &format!("{at}field {j}"),
                    p,
                );
            }
        }
        Some(_) => p.push(format!("{at}a section takes 1 to 10 fields")),
        None if !has_text => p.push(format!("{at}a section needs text or fields")),
        None => {}
    }
}

fn button(el: &Value, at: &str, p: &mut Vec<String>) {
    if el["type"].as_str() != Some("button") {
        p.push(format!("{at}: not a button"));
        return;
    }
    text_object(
        &el["text"],
        &["plain_text"],
        limits::BUTTON,
        &format!("{at} text"),
        p,
    );
    match el["url"].as_str() {
        Some(u) if u.len() <= limits::URL && absolute(u) => {}
        _ => p.push(format!(
            "{at}: `url` must be an absolute URL of at most 3000 characters"
        )),
    }
}

fn text_object(t: &Value, types: &[&str], max: usize, at: &str, p: &mut Vec<String>) {
    if !t["type"].as_str().is_some_and(|ty| types.contains(&ty)) {
        p.push(format!("{at}: a text object of type {types:?} expected"));
    }
    match t["text"].as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= max => {}
        Some(s) => p.push(format!(
            "{at}: {} characters (1 to {max})",
            s.chars().count()
        )),
        None => p.push(format!("{at}: no `text`")),
    }
}

/// What breaks a Teams workflow webhook's Adaptive Card message in
/// `payload`; empty when none.
pub fn teams_problems(payload: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let bytes = payload.to_string().len();
    if bytes > super::teams::MESSAGE_BYTES {
        p.push(format!("{bytes} bytes (a Teams message takes 28 KB)"));
    }
    if payload["type"].as_str() != Some("message") {
        p.push("`type` is not `message`".to_string());
    }
    let Some(attachments) = payload["attachments"].as_array().filter(|a| !a.is_empty()) else {
        p.push("no `attachments`".into());
        return p;
    };
    for (i, a) in attachments.iter().enumerate() {
        if a["contentType"].as_str() != Some(super::teams::CONTENT_TYPE) {
            p.push(format!(
                "attachment {i}: `contentType` is not an Adaptive Card"
            ));
        }
        card(&a["content"], &format!("attachment {i}"), &mut p);
    }
    p
}

fn card(c: &Value, at: &str, p: &mut Vec<String>) {
    if c["type"].as_str() != Some("AdaptiveCard") {
        p.push(format!("{at}: `type` is not `AdaptiveCard`"));
    }
    if !c["$schema"]
        .as_str()
        .is_some_and(|s| s.contains("adaptive-card.json"))
    {
        p.push(format!("{at}: no Adaptive Card `$schema`"));
    }
    let version_ok = c["version"]
        .as_str()
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| major == "1" && minor.parse::<u8>().is_ok_and(|m| m <= 5));
    if !version_ok {
        p.push(format!(
            "{at}: `version` must be 1.0 to 1.5, got {}",
            c["version"]
        ));
    }
    let Some(body) = c["body"].as_array().filter(|b| !b.is_empty()) else {
        p.push(format!("{at}: no `body`"));
        return;
    };
    for (j, el) in body.iter().enumerate() {
        let at = format!("{at} body {j}");
        match el["type"].as_str() {
            Some("TextBlock") if el["text"].as_str().is_some_and(|t| !t.is_empty()) => {}
            Some("TextBlock") => p.push(format!("{at}: a TextBlock without `text`")),
            Some("FactSet") => {
                let ok = el["facts"].as_array().is_some_and(|f| {
                    !f.is_empty()
                        && f.iter()
                            .all(|x| x["title"].is_string() && x["value"].is_string())
                });
                if !ok {
                    p.push(format!(
                        "{at}: a FactSet needs `facts` of `title` and `value`"
                    ));
                }
            }
            other => p.push(format!("{at}: unexpected element {other:?}")),
        }
    }
    for (j, action) in c["actions"].as_array().into_iter().flatten().enumerate() {
        let ok = action["type"].as_str() == Some("Action.OpenUrl")
            && action["title"].as_str().is_some_and(|t| !t.is_empty())
            && action["url"].as_str().is_some_and(absolute);
        if !ok {
            p.push(format!(
                "{at} action {j}: an Action.OpenUrl with a `title` and an absolute `url` expected"
            ));
        }
    }
}

fn absolute(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}
