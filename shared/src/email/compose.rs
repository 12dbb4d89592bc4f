//! Composing: a rendered email built into a multipart message with the
//! contract's headers (`X-Firstweek-*`, a safe Subject, `List-Unsubscribe`)
//! and its stable Message-ID.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart};
use lettre::{Address, Message};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::reach::Extras;
use super::{Context, EmailError, Rendered, Templates, ics};
use crate::playbook::Playbook;
use crate::rule::Recipient;

/// The stable Message-ID of (pair, once-key, recipient): a repeat is recognisable downstream.
pub fn message_id(
    mentorship_id: &str,
    once_key: &str,
    recipient: Recipient,
    domain: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [mentorship_id, once_key, recipient.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("<{hex}.{once_key}@{domain}>")
}

/// The From of a pair's emails: `FIRSTWEEK_FROM`'s address under the
/// playbook's `sender_name` when it has one (e.g. "Ada's Mentoring Circle"),
/// else `from` as it is.
pub fn sender(from: &Mailbox, playbook: &Playbook) -> Mailbox {
    match &playbook.program.sender_name {
        Some(name) => Mailbox::new(Some(name.clone()), from.email.clone()),
        None => from.clone(),
    }
}

/// A composed email and its identity.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The built multipart message, ready to send.
    pub message: Message,
    /// Its Message-ID, angle brackets included.
    pub message_id: String,
    /// The recipient's address.
    pub to: Address,
}

/// The Subject header. lettre writes a word of printable ASCII as it is, so
/// a name that is itself an RFC 2047 encoded word (`=?utf-8?q?...?=`) would
/// be decoded by the reader's mail client into whatever it hides (CR/LF, a
/// `Bcc:`, another address). A subject holding `=?` is therefore encoded
/// whole, so a client decodes it back to the literal text. (Display names
/// need nothing: lettre encodes any name holding `=` or `?` whole.)
fn subject_header(subject: String) -> HeaderValue {
    let name = HeaderName::new_from_ascii_str("Subject");
    if !subject.contains("=?") {
        return HeaderValue::new(name, subject);
    }
    let encoded = encoded_words(&subject);
    HeaderValue::dangerous_new_pre_encoded(name, subject, encoded)
}

/// `text` as RFC 2047 Q-encoded words (`=?utf-8?q?...?=`), folded onto
/// continuation lines. Only ASCII letters and digits stay as they are, so no
/// `?=`, CR, LF or `:` of the text survives unencoded; a word never splits a
/// character and stays under 75 characters.
fn encoded_words(text: &str) -> String {
    const PAYLOAD: usize = 45;
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let mut piece = String::new();
        if c.is_ascii_alphanumeric() {
            piece.push(c);
        } else if c == ' ' {
            piece.push('_');
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                piece.push_str(&format!("={b:02X}"));
            }
        }
        if word.len() + piece.len() > PAYLOAD {
            words.push(std::mem::take(&mut word));
        }
        word.push_str(&piece);
    }
    words.push(word);
    words
        .iter()
        .map(|w| format!("=?utf-8?q?{w}?="))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// Header names of the email contract.
pub const STEP_HEADER: &str = "X-Firstweek-Step";
/// Header naming the pair.
pub const MENTORSHIP_HEADER: &str = "X-Firstweek-Mentorship";

/// Renders and builds one email.
pub fn compose(
    templates: &Templates,
    template: &str,
    ctx: &Context,
    from: &Mailbox,
    to_name: &str,
    to_email: &str,
    message_id: String,
) -> Result<Composed, EmailError> {
    let headers = (ctx.step.as_str(), ctx.mentorship_id.as_str());
    let mut composed = build(
        templates,
        template,
        ctx,
        headers,
        from,
        (to_name, to_email),
        message_id,
        &ctx.extras,
    )?;
    // Only mentors and mentees may unsubscribe: a coordinator's emails never
    // carry the headers (and are never suppressed).
    if let (Some(url), "mentor" | "mentee") = (&ctx.links.unsubscribe, ctx.recipient.role) {
        let headers = composed.message.headers_mut();
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{url}>"),
        ));
        headers.insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_string(),
        ));
    }
    Ok(composed)
}

/// Renders and builds one email from any template context; `headers` are the
/// values of `X-Firstweek-Step` and `X-Firstweek-Mentorship`.
#[allow(clippy::too_many_arguments)]
pub fn compose_any<C: Serialize>(
    templates: &Templates,
    template: &str,
    ctx: &C,
    headers: (&str, &str),
    from: &Mailbox,
    to_name: &str,
    to_email: &str,
    message_id: String,
) -> Result<Composed, EmailError> {
    build(
        templates,
        template,
        ctx,
        headers,
        from,
        (to_name, to_email),
        message_id,
        &Extras::default(),
    )
}

/// A display name safe for a header. Intake refuses control characters in
/// names; this keeps a header safe even so.
fn header_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Renders and builds one email, with `extras`: Reply-To, and `.ics` files
/// after the text (multipart/mixed around the multipart/alternative).
#[allow(clippy::too_many_arguments)]
fn build<C: Serialize>(
    templates: &Templates,
    template: &str,
    ctx: &C,
    headers: (&str, &str),
    from: &Mailbox,
    (to_name, to_email): (&str, &str),
    message_id: String,
    extras: &Extras,
) -> Result<Composed, EmailError> {
    let Rendered {
        subject,
        text,
        html,
    } = templates.render_parts(template, ctx)?;
    let to: Address = to_email
        .parse()
        .map_err(|e| EmailError::Address(format!("{e}")))?;
    let mailbox = Mailbox::new(Some(header_name(to_name)), to.clone());
    let mut builder = Message::builder()
        .from(from.clone())
        .to(mailbox)
        .raw_header(subject_header(subject))
        .message_id(Some(message_id.clone()));
    // Step ids and mentorship ids are validated as printable without spaces;
    // lettre still encodes the values, so nothing can break out of the header.
    builder = builder
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(STEP_HEADER),
            headers.0.to_string(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(MENTORSHIP_HEADER),
            headers.1.to_string(),
        ));
    if let Some((name, address)) = &extras.reply_to {
        let address: Address = address
            .parse()
            .map_err(|e| EmailError::Address(format!("{e}")))?;
        builder = builder.reply_to(Mailbox::new(Some(header_name(name)), address));
    }
    let alternative = MultiPart::alternative_plain_html(text, html);
    let body = if extras.invites.is_empty() {
        alternative
    } else {
        // Calendar apps import text/calendar with METHOD:PUBLISH as an event
        // to add; base64 keeps its CRLF line endings exactly as written.
        let calendar = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
            .map_err(|e| EmailError::Build(e.to_string()))?;
        let domain = from.email.domain();
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for (file, event) in &extras.invites {
            let mut event = event.clone();
            event.uid = format!("{}@{domain}", event.uid);
            let body =
                Body::new_with_encoding(ics::calendar(&event), ContentTransferEncoding::Base64)
                    .map_err(|_| EmailError::Build("encoding an .ics file".into()))?;
            mixed = mixed.singlepart(Attachment::new(file.clone()).body(body, calendar.clone()));
        }
        mixed
    };
    let message = builder
        .multipart(body)
        .map_err(|e| EmailError::Build(e.to_string()))?;
    Ok(Composed {
        message,
        message_id,
        to,
    })
}
