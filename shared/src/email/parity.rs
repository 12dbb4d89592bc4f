//! Whether an email's two parts say the same: a reader whose mail app shows
//! the plain-text part must learn what the HTML part tells, and the other
//! way round. The HTML is read as text (tags dropped, entities decoded);
//! each part is cut into sentences, and every sentence of one part must
//! appear in the other, letters and digits compared, case ignored.
//!
//! Left out of the comparison, because the two parts cannot write them the
//! same way: URLs (the text part spells them out, the HTML hides them behind
//! link words), the words of links and buttons (but not of a `mailto:`
//! link, whose words are the address both parts spell out), the HTML's hidden preview
//! text, and each part's footer (below `-- ` in the text, `<footer>` in the HTML).

use super::Rendered;

/// Marks where the HTML part's hidden preview text starts (see `base.html`).
pub const PREHEADER_ID: &str = "preheader";

impl Rendered {
    /// The sentences one part says and the other does not, each prefixed
    /// with the part that says it (`text:` or `html:`); empty when they agree.
    pub fn differences(&self) -> Vec<String> {
        let text = text_body(&self.text);
        let html = html_as_text(&self.html, true);
        let html_with_links = html_as_text(&self.html, false);
        let (t, h) = (comparable(&text), comparable(&html_with_links));
        let mut out = Vec::new();
        for s in sentences(&text) {
            if !h.contains(&comparable(&s)) {
                out.push(format!("text: {s}"));
            }
        }
        for s in sentences(&html) {
            if !t.contains(&comparable(&s)) {
                out.push(format!("html: {s}"));
            }
        }
        out
    }
}

/// The text part above its footer, URLs left out.
fn text_body(text: &str) -> String {
    let body = text.split("\n--\n").next().unwrap_or_default();
    body.lines()
        .map(|line| {
            // List markers ("- ", "1. ") are what HTML lists draw, not words.
            let line = line.trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line);
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            let line = match line[digits..].strip_prefix(". ") {
                Some(rest) if digits > 0 => rest,
                _ => line,
            };
            line.split_whitespace()
                .filter(|w| !w.contains("://"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tags whose end starts a new line of text; the others run inline.
const BLOCKS: [&str; 14] = [
    "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "br", "footer",
];

/// The HTML's body read as text: the preview text, `<head>` and `<footer>`
/// left out; with `drop_links`, the words of links too.
fn html_as_text(html: &str, drop_links: bool) -> String {
    let mut out = String::new();
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    while let Some(open) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&rest[..open]);
        }
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(end) = skip_until {
            if tag.trim_start_matches('/').eq_ignore_ascii_case(end) && tag.starts_with('/') {
                skip_until = None;
            }
            continue;
        }
        let hidden = tag.contains(&format!("id=\"{PREHEADER_ID}\""));
        match name.as_str() {
            "head" | "footer" | "style" if !tag.starts_with('/') => {
                skip_until = Some(static_name(&name));
            }
            "div" if hidden => skip_until = Some("div"),
            // A mailto link's words are the address, which the text part writes too.
            "a" if drop_links && !tag.starts_with('/') && !tag.contains("href=\"mailto:") => {
                skip_until = Some("a");
            }
            n if BLOCKS.contains(&n) => out.push('\n'),
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(rest);
    }
    decode(&out)
}

/// The closing tag names `html_as_text` waits for.
fn static_name(name: &str) -> &'static str {
    match name {
        "head" => "head",
        "footer" => "footer",
        _ => "style",
    }
}

fn decode(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&nbsp;", " ")
        .replace("&rarr;", "→")
        .replace("&larr;", "←")
        .replace("&amp;", "&")
}

/// Sentences: split at line ends and after `.`, `!`, `?`, `:` and `;`.
fn sentences(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in s.lines() {
        let mut current = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            current.push(c);
            let ends = matches!(c, '.' | '!' | '?' | ':' | ';')
                && chars.peek().is_none_or(|n| n.is_whitespace());
            if ends {
                out.push(std::mem::take(&mut current));
            }
        }
        out.push(current);
    }
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !comparable(s).is_empty())
        .collect()
}

/// Letters and digits only, lower case, words one space apart.
fn comparable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(text: &str, html: &str) -> Rendered {
        Rendered {
            subject: "s".into(),
            text: text.into(),
            html: html.into(),
        }
    }

    #[test]
    fn parts_that_say_the_same_in_their_own_markup_agree() {
        let r = rendered(
            "Hi Ada,\n\nSome moves:\n  - say hello,\n  - ask one question.\nAll your pairs: https://x.example/c/t\n--\nNo more emails like this: https://x.example/u/t\n",
            "<html><head><title>T</title></head><body><div id=\"preheader\" style=\"display:none\">Preview</div><p>Hi <strong>Ada</strong>,</p><p>Some moves:</p><ul><li>say hello,</li><li>ask one question.</li></ul><p><a href=\"https://x.example/c/t\">All your pairs</a></p><footer><p>Sent by it. <a href=\"u\">Unsubscribe</a></p></footer></body></html>",
        );
        assert_eq!(r.differences(), Vec::<String>::new());
    }

    #[test]
    fn an_address_both_parts_write_agrees_though_the_html_links_it() {
        let r = rendered(
            "Hi Ada,\n\nTo reach Bo, write to bo@example.org or reply to this email.\nTell us: https://x.example/r/t\n",
            "<p>Hi Ada,</p><p>To reach Bo, write to <a href=\"mailto:bo@example.org\">bo@example.org</a> or reply to this email.</p><p>Tell us:</p><p><a href=\"https://x.example/r/t\">We've been in touch</a></p>",
        );
        assert_eq!(r.differences(), Vec::<String>::new());
    }

    #[test]
    fn a_sentence_only_one_part_says_is_named() {
        let r = rendered(
            "Hi Ada,\n\nYou can rely on your mentor to lead you.\n",
            "<p>Hi Ada,</p><p>Share it with each other.</p>",
        );
        assert_eq!(
            r.differences(),
            [
                "text: You can rely on your mentor to lead you.",
                "html: Share it with each other."
            ]
        );
    }
}
