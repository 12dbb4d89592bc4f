//! What was wrong with a JSON document, said without quoting it.
//!
//! serde's messages echo the offending value (`invalid type: string "Ada
//! Lovelace", expected u8`, `unknown variant "ada@example.org"`), and these
//! reasons reach logs and dead letters, where erasure cannot reach. These
//! functions keep serde's words about what was expected and drop every
//! quoted value, and name the field by its path (`mentor.email`,
//! `items[2]`) instead.

/// What is wrong with `text`, which `err` came from parsing: the path of
/// the field at the error (when inside one), then serde's description
/// without the value it quoted, then where in the text (line and column).
/// `unknown field` and `missing field` keep the field's name: a key, not a value.
pub fn problem_in(text: &str, err: &serde_json::Error) -> String {
    let what = problem(err);
    if err.line() == 0 {
        return what;
    }
    let at = format!("line {}, column {}", err.line(), err.column());
    match path_at(text, err.line(), err.column()) {
        Some(path) if !path.is_empty() => format!("field `{path}`: {what} (at {at})"),
        _ => format!("{what} (at {at})"),
    }
}

/// serde's description of `err` without any value it quoted, for errors
/// that come with no text to find the field in (a decoded `Value`).
pub fn problem(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Io => "could not be read".to_string(),
        Category::Eof => "ends before the document does".to_string(),
        // serde_json's syntax messages describe the character class, never
        // the text ("expected value", "trailing comma", "invalid escape").
        Category::Syntax => without_position(&err.to_string()),
        Category::Data => unquoted(&without_position(&err.to_string())),
    }
}

/// serde_json appends ` at line L column C` to its messages.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A data error's message with the value it quoted removed. serde words
/// them `<what was found>, expected <what the type wants>`: the found part
/// keeps only its leading words (`invalid type: string`, `unknown
/// variant`), the expected part is the type's own words and stays. A
/// `missing field`/`unknown field`/`duplicate field` keeps its field name.
fn unquoted(message: &str) -> String {
    let (found, expected) = match message.split_once(", expected ") {
        Some((f, e)) => (f, Some(e)),
        None => (message, None),
    };
    let keeps_name = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| found.starts_with(p));
    let found = if keeps_name {
        clip(found, 80)
    } else {
        let cut = found.find(['"', '`', '\'']).unwrap_or(found.len());
        found[..cut].trim_end().to_string()
    };
    match expected {
        // A custom error's "expected" could quote the input too; the
        // expected part of a derived type is its own names, in backticks.
        Some(e) if !e.contains('"') => format!("{found}, expected {}", clip(e, 120)),
        _ => found,
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max).collect::<String>() + "…"
    }
}

/// The path (`mentor.email`, `items[2]`) of the value being read at
/// `line`/`column` (1-based, as serde_json counts: the column is the
/// byte after the last one read), by reading the text up to there.
fn path_at(text: &str, line: usize, column: usize) -> Option<String> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let end = (start + column).min(text.len());
    let bytes = text.as_bytes().get(..end)?;
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => stack.push(Frame::Object(None)),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array(n)) => *n += 1,
                Some(Frame::Object(key)) => *key = None,
                None => {}
            },
            b'"' => {
                let (s, next) = string_at(bytes, i + 1);
                i = next;
                if let Some(Frame::Object(key @ None)) = stack.last_mut() {
                    *key = Some(s);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(k)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&clip(k, 60));
            }
            Frame::Object(None) => {}
            Frame::Array(n) => path.push_str(&format!("[{n}]")),
        }
    }
    Some(path)
}

enum Frame {
    /// An object, and the key whose value is being read.
    Object(Option<String>),
    /// An array, and the index being read.
    Array(usize),
}

/// The string starting at `from` (after its opening quote), as written
/// (escapes kept), and the index after its closing quote.
fn string_at(bytes: &[u8], from: usize) -> (String, usize) {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                return (String::from_utf8_lossy(&bytes[from..i]).into_owned(), i + 1);
            }
            _ => i += 1,
        }
    }
    (
        String::from_utf8_lossy(&bytes[from.min(bytes.len())..]).into_owned(),
        bytes.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Person {
        name: String,
        age: u8,
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Mentor,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Pair {
        id: String,
        people: Vec<Person>,
    }

    fn reason(text: &str) -> String {
        let err = serde_json::from_str::<Pair>(text).unwrap_err();
        problem_in(text, &err)
    }

    #[test]
    fn a_mistyped_field_is_named_by_its_path_and_its_value_is_not_quoted() {
        let text = r#"{"id": "p", "people": [
            {"name": "Ada", "age": 3, "kind": "mentor"},
            {"name": "Bo", "age": "Bo Diddley bo@example.org", "kind": "mentor"}]}"#;
        let r = reason(text);
        assert!(
            r.starts_with("field `people[1].age`: invalid type: string, expected u8"),
            "{r}"
        );
        assert!(
            !r.contains("Bo Diddley") && !r.contains("example.org"),
            "{r}"
        );

        let r = reason(
            r#"{"id": "p", "people": [{"name": "Ada", "age": 3, "kind": "ada@example.org"}]}"#,
        );
        assert!(
            r.starts_with("field `people[0].kind`: unknown variant"),
            "{r}"
        );
        assert!(
            r.contains("expected `mentor`") && !r.contains("ada@"),
            "{r}"
        );

        let r = reason(r#"{"id": 42, "people": []}"#);
        assert!(
            r.starts_with("field `id`: invalid type: integer, expected a string"),
            "{r}"
        );
        assert!(!r.contains("42"), "{r}");
    }

    #[test]
    fn missing_and_unknown_fields_keep_their_names() {
        let r = reason(r#"{"id": "p", "people": [{"name": "Ada", "age": 3}]}"#);
        assert!(
            r.starts_with("field `people[0]`: missing field `kind`"),
            "{r}"
        );
        let r = reason(
            r#"{"id": "p", "people": [{"name": "Ada", "age": 3, "kind": "mentor", "nick": "Ace"}]}"#,
        );
        assert!(
            r.starts_with("field `people[0].nick`: unknown field `nick`"),
            "{r}"
        );
        assert!(!r.contains("Ace"), "{r}");
    }

    #[test]
    fn syntax_errors_say_where_without_the_text() {
        let r = reason("{\"id\": \"Ada Lovelace\" \"people\": []}");
        assert!(
            r.contains("expected `,` or `}`") && r.contains("line 1"),
            "{r}"
        );
        assert!(!r.contains("Ada"), "{r}");
        let r = reason("{\"id\": \"Ada");
        assert!(!r.contains("Ada"), "{r}");
    }

    #[test]
    fn without_the_text_the_value_is_still_dropped() {
        let v = serde_json::json!({"id": "p", "people": [{"name": "Ada", "age": "Ada Lovelace", "kind": "mentor"}]});
        let err = serde_json::from_value::<Pair>(v).unwrap_err();
        let r = problem(&err);
        assert_eq!(r, "invalid type: string, expected u8");
    }
}
