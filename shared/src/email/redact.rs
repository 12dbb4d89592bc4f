//! Redaction: email addresses taken out of text that leaves the domain for
//! logs and dead-letter reasons.

/// `text` with every email address in it replaced by `<address>`, for log
/// lines and dead-letter reasons (an SMTP reply often quotes the recipient:
/// `550 5.1.1 <bo@example.org>: no such user`). An address here is a run of
/// local-part characters, `@`, and a domain with a dot.
pub fn without_addresses(text: &str) -> String {
    // Not `=`: in a `key=value` log field it separates, it does not belong.
    let local = |c: char| c.is_alphanumeric() || "._%+-!#$&'*/?^`{|}~".contains(c);
    let domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '@' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut start = out.len();
        for (at, c) in out.char_indices().rev() {
            if !local(c) {
                break;
            }
            start = at;
        }
        let mut end = i + 1;
        while end < chars.len() && domain(chars[end]) {
            end += 1;
        }
        let host: String = chars[i + 1..end].iter().collect();
        let host = host.trim_end_matches(['.', '-']);
        if start < out.len() && host.contains('.') && !host.starts_with('.') {
            out.truncate(start);
            out.push_str("<address>");
            i += 1 + host.chars().count();
        } else {
            out.push('@');
            i += 1;
        }
    }
    out
}
