//! The outbox directory's `.eml` files (no `SMTP_URL`) under erasure and
//! retention: they hold names and addresses like the database does.
//!
//! - [`remove_naming`]: an erasure removes every file of a pair whose people
//!   it changed (any email of a pair may name any of its people, in a form
//!   a template chooses) and every other file whose decoded text names the
//!   person (a digest lists the pairs of a coordinator).
//! - [`remove_older_than`]: retention removes a file a number of program
//!   days after it was written; a pair's emails are all written before it
//!   ends, so none outlives its people in the database.

use std::io;
use std::path::Path;
use std::time::SystemTime;

use firstweek::erasure::Traces;

/// The file name's start that every email of the pair `mentorship_id`
/// has: its id as [`super::write_eml`] makes it safe, then a dot.
fn pair_prefix(mentorship_id: &str) -> String {
    format!("{}.", super::safe_stem(mentorship_id))
}

/// Removes the `.eml` files of the pairs `pairs` and those whose text names
/// one of `traces` (or a pair's id); how many. A missing directory has none.
pub fn remove_naming(dir: &Path, traces: &Traces, pairs: &[String]) -> io::Result<usize> {
    let prefixes: Vec<String> = pairs.iter().map(|p| pair_prefix(p)).collect();
    let mut named = traces.clone();
    named.extend(Traces {
        values: pairs.to_vec(),
    });
    remove_where(dir, |name, path| {
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            return Ok(true);
        }
        let bytes = std::fs::read(path)?;
        Ok(named.in_text(&eml_text(&bytes)))
    })
}

/// How often the worker's retention looks at its outbox (a compressed
/// clock, as in the demo and the tests, makes days seconds).
const RETAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Until `shutdown`, removes the `.eml` files in `dir` older than `keep`
/// (wall time: `FIRSTWEEK_RETENTION_DAYS` program days), every
/// [`RETAIN_EVERY`]. A failure is logged and tried again on the next look.
pub async fn retain(
    dir: std::path::PathBuf,
    keep: chrono::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let keep = keep.to_std().unwrap_or_default();
    let mut tick = tokio::time::interval(RETAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let Some(cutoff) = SystemTime::now().checked_sub(keep) else {
            continue;
        };
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || remove_older_than(&d, cutoff)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => {
                tracing::info!(removed, "emails past retention removed from the outbox");
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not remove emails past retention from the outbox");
            }
            Err(e) => tracing::warn!(error = %e, "the outbox's retention stopped"),
        }
    }
}

/// Removes the `.eml` files last written before `cutoff`; how many.
pub fn remove_older_than(dir: &Path, cutoff: SystemTime) -> io::Result<usize> {
    remove_where(dir, |_, path| {
        Ok(std::fs::metadata(path)?.modified()? < cutoff)
    })
}

/// Removes each `.eml` file (and a temporary one left by a crash) that
/// `remove` picks. A file gone meanwhile is not an error.
fn remove_where(
    dir: &Path,
    mut remove: impl FnMut(&str, &Path) -> io::Result<bool>,
) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let name = name.trim_start_matches('.');
        if !(name.ends_with(".eml") || name.ends_with(".tmp")) {
            continue;
        }
        let path = entry.path();
        let picked = match remove(name, &path) {
            Ok(p) => p,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if picked {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// An email's text as a reader sees it: headers unfolded with their
/// encoded words (RFC 2047) decoded, and each part's body decoded from
/// quoted-printable or base64 as its `Content-Transfer-Encoding` says; the
/// raw text too, so nothing written plainly is missed.
pub fn eml_text(bytes: &[u8]) -> String {
    let raw = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let mut out = raw.clone();
    out.push('\n');
    let unfolded = raw.replace("\n ", " ").replace("\n\t", " ");
    let mut encoding = String::new();
    let mut in_headers = true;
    let mut body = String::new();
    let flush = |body: &mut String, encoding: &str, out: &mut String| {
        match encoding {
            "quoted-printable" => {
                out.push_str(&super::decode_hex_escapes(&body.replace("=\n", ""), b'='));
            }
            "base64" => {
                let compact: String = body.split_whitespace().collect();
                out.push_str(&String::from_utf8_lossy(&decode_base64(&compact)));
            }
            _ => {}
        }
        out.push('\n');
        body.clear();
    };
    for line in unfolded.lines() {
        if line.starts_with("--") {
            flush(&mut body, &encoding, &mut out);
            in_headers = true;
            encoding.clear();
            continue;
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            out.push_str(&decode_words(line));
            out.push('\n');
            if let Some((name, value)) = line.split_once(':')
                && name
                    .trim()
                    .eq_ignore_ascii_case("content-transfer-encoding")
            {
                encoding = value.trim().to_ascii_lowercase();
            }
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(&mut body, &encoding, &mut out);
    out
}

/// A header line with its encoded words (`=?charset?B|Q?text?=`) decoded.
fn decode_words(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("=?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let decoded = match parts.as_slice() {
            [_charset, kind, tail] => tail.find("?=").map(|end| {
                let text = &tail[..end];
                let bytes = if kind.eq_ignore_ascii_case("b") {
                    decode_base64(text)
                } else {
                    super::decode_hex_escapes(&text.replace('_', " "), b'=').into_bytes()
                };
                let used = start + 2 + parts[0].len() + 1 + kind.len() + 1 + end + 2;
                (String::from_utf8_lossy(&bytes).into_owned(), used)
            }),
            _ => None,
        };
        match decoded {
            Some((text, used)) => {
                out.push_str(&text);
                rest = &rest[used..];
            }
            None => {
                out.push_str("=?");
                rest = &rest[start + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Standard base64 (padding and anything outside the alphabet skipped).
pub fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstweek::erasure::Target;

    #[test]
    fn an_emails_text_is_read_through_its_encodings() {
        let eml = "To: =?utf-8?b?TWlyYSBGw7ZyZ2V0dGFibGU=?= <mira@example.org>\r\n\
                   Subject: =?utf-8?q?Hallo_M=C3=AFra?=\r\n\
                   Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
                   --b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                   Your mentee J=C3=B6rg Sm=\r\nith\r\n\
                   --b\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   PHA+QWRhIExvdmVsYWNlPC9wPg==\r\n--b--\r\n";
        let text = eml_text(eml.as_bytes());
        for shown in [
            "Mira Förgettable",
            "Hallo Mïra",
            "Jörg Smith",
            "<p>Ada Lovelace</p>",
        ] {
            assert!(text.contains(shown), "{shown} in {text}");
        }
    }

    #[test]
    fn an_erasure_removes_its_pairs_files_and_those_naming_the_person() {
        let dir = std::env::temp_dir().join(format!("fw-outbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write(
            "m-1.welcome.mentor.eml",
            "To: ada@example.org\n\nHi Ada, meet Bo",
        );
        write("m-2.welcome.mentor.eml", "To: cy@example.org\n\nHi Cy");
        write(
            "coordinator-1.digest-2026-12-07.coordinator.eml",
            "\nBo Diddley, silent",
        );
        write("m-3.welcome.mentee.eml", "To: bob@example.org\n\nHi Bob");
        write("notes.txt", "Bo Diddley");
        let traces = Traces {
            values: vec!["Bo Diddley".into(), "bo@example.org".into()],
        };
        let removed = remove_naming(&dir, &traces, &["m-1".to_string()]).unwrap();
        assert_eq!(removed, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "m-2.welcome.mentor.eml",
                "m-3.welcome.mentee.eml",
                "notes.txt"
            ]
        );
        let later = SystemTime::now() + std::time::Duration::from_secs(1);
        assert_eq!(remove_older_than(&dir, later).unwrap(), 2);
        assert_eq!(
            remove_naming(
                &dir.join("none"),
                &Traces::of(&Target::new(
                    "x",
                    &firstweek::pseudonym::PseudonymKey::new(
                        "a test key of at least thirty-two characters"
                    )
                    .unwrap()
                )),
                &[]
            )
            .unwrap(),
            0
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
