//! How mentor and mentee reach each other from their emails, as the
//! program's playbook chooses (`contact`): each other's address, with the
//! welcome's Reply-To set to the partner, or the program's own link (its
//! messaging page, say) made from a URL template with the pair's id. Never
//! nothing: without the key, the partner's address.

/// The placeholder a program link must hold.
pub const PAIR_ID: &str = "{pair_id}";

/// How partners reach each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Contact {
    /// Each sees the other's address; replying to the welcome reaches the partner.
    #[default]
    PartnerEmail,
    /// The program's own page for the pair.
    ProgramLink(LinkTemplate),
}

/// A validated URL template holding [`PAIR_ID`] at least once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTemplate(String);

impl Contact {
    /// Parses the playbook's `contact` value: `"email"` or a link template
    /// such as `https://program.example/pairs/{pair_id}/messages`.
    pub fn parse(value: &str) -> Result<Contact, String> {
        if value == "email" {
            return Ok(Contact::PartnerEmail);
        }
        LinkTemplate::parse(value).map(Contact::ProgramLink)
    }
}

impl LinkTemplate {
    /// Checks the template: http(s), a host, [`PAIR_ID`] and no other
    /// placeholder, nothing that could break out of an attribute or a header.
    pub fn parse(value: &str) -> Result<LinkTemplate, String> {
        let hint =
            "must be \"email\" or a link like \"https://program.example/pairs/{pair_id}/messages\"";
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(|| format!("{value:?} {hint}"))?;
        if value.len() > 2000 {
            return Err(format!(
                "the link is longer than 2000 characters; it {hint}"
            ));
        }
        if let Some(c) = value
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\'))
        {
            return Err(format!("{value:?} holds {c:?}, which a link cannot"));
        }
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host = &rest[..host_end];
        if host.is_empty() || host.contains(['{', '}', '@']) {
            return Err(format!("{value:?} has no plain host; it {hint}"));
        }
        if !value.contains(PAIR_ID) {
            return Err(format!(
                "{value:?} does not hold {PAIR_ID}, so every pair would get the same page"
            ));
        }
        if value.replace(PAIR_ID, "").contains(['{', '}']) {
            return Err(format!(
                "{value:?} has a placeholder other than {PAIR_ID} (the only one known)"
            ));
        }
        Ok(LinkTemplate(value.to_string()))
    }

    /// The pair's link: the template with the pair's id percent-encoded
    /// (an id holding `/`, `?` or `#` stays one path segment).
    pub fn url_for(&self, pair_id: &str) -> String {
        self.0.replace(PAIR_ID, &percent_encode(pair_id))
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_or_a_link_with_the_pair_id() {
        assert_eq!(Contact::parse("email"), Ok(Contact::PartnerEmail));
        let Ok(Contact::ProgramLink(t)) =
            Contact::parse("https://program.example/pairs/{pair_id}/messages")
        else {
            panic!("a link template parses");
        };
        assert_eq!(
            t.url_for("m-42"),
            "https://program.example/pairs/m-42/messages"
        );
        // An id is one path segment whatever it holds.
        assert_eq!(
            t.url_for("a/b?c#d é"),
            "https://program.example/pairs/a%2Fb%3Fc%23d%20%C3%A9/messages"
        );
    }

    #[test]
    fn a_link_that_would_mislead_or_break_is_refused() {
        for bad in [
            "",
            "mail",
            "javascript:alert(1)//{pair_id}",
            "ftp://x/{pair_id}",
            "https://program.example/pairs/messages",
            "https://program.example/{pair}/{pair_id}",
            "https://{pair_id}.example/",
            "https:///{pair_id}",
            "https://program.example/{pair_id} x",
            "https://program.example/{pair_id}\"onclick=\"x",
            "https://user@evil.example/{pair_id}",
        ] {
            assert!(Contact::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
