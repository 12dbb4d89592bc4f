//! The domain's modules import each other one way: no module of the crate
//! reaches itself again through `crate::` paths. A circle would make any
//! one of its modules impossible to read, change or test without the others.
//!
//! The sources are read as text, starting from `src/lib.rs` and following
//! each `mod` the compiler compiles outside tests. A module is a top-level
//! one (`decision` with `decision/escalation.rs` and the rest); its test code
//! (`#[cfg(test)]` items and files) may reach anywhere, as may its comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A dependency of one top-level module on another, and the first file that
/// makes it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn the_domains_modules_form_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = crate_files(&src);
    let graph = graph(&files);
    // The reader works: the decisions do use the escalation's states.
    assert!(
        graph
            .get("decision")
            .is_some_and(|d| d.contains_key("escalation")),
        "decision -> escalation not found: the source reader is broken ({graph:?})"
    );
    // The vocabulary every module speaks stays at the bottom.
    for leaf in ["event", "rule"] {
        assert!(
            !graph.contains_key(leaf),
            "{leaf} imports {:?}: shared words import no other module",
            graph[leaf]
        );
    }
    let circles = circles(&graph);
    assert!(
        circles.is_empty(),
        "the domain's modules import each other in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn a_circle_is_named_with_the_files_that_make_it() {
    let files = [
        (
            "a".to_string(),
            "a.rs".to_string(),
            "use crate::b::X; // crate::c\nfn f() {}\n".to_string(),
        ),
        (
            "b".to_string(),
            "b.rs".to_string(),
            "fn g() { let s = \"crate::c\"; crate::{a::Y, c}; }".to_string(),
        ),
        (
            "c".to_string(),
            "c.rs".to_string(),
            "#[cfg(test)]\nmod tests { use crate::a; }\nfn h() {}".to_string(),
        ),
    ];
    let files = files.map(|(module, path, text)| (module, path, code_of(&text)));
    let graph = graph(&files);
    assert_eq!(
        circles(&graph),
        vec!["a -> b -> a [a -> b in a.rs; b -> a in b.rs]".to_string()]
    );
    assert!(graph["b"].contains_key("c"), "{graph:?}");
    assert!(!graph["a"].contains_key("c"), "comments do not count");
    assert!(!graph.contains_key("c"), "test code does not count");
}

/// Every file the crate compiles outside tests: (top-level module, path, code).
fn crate_files(src: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let lib = src.join("lib.rs");
    let root = code_of(&read(&lib));
    for name in child_modules(&root) {
        let mut pending = vec![(module_file(src, &name), name.clone())];
        while let Some((path, _)) = pending.pop() {
            let code = code_of(&read(&path));
            for child in child_modules(&code) {
                let dir = match path.file_stem().and_then(|s| s.to_str()) {
                    Some("mod") => path.parent().map(Path::to_path_buf),
                    _ => Some(path.with_extension("")),
                };
                let dir = dir.expect("a module file has a folder");
                pending.push((module_file(&dir, &child), child));
            }
            let shown = path
                .strip_prefix(src.parent().expect("src has a parent"))
                .unwrap_or(&path)
                .display()
                .to_string();
            out.push((name.clone(), shown, code));
        }
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `dir/name.rs`, or `dir/name/mod.rs` when that is the one there.
fn module_file(dir: &Path, name: &str) -> PathBuf {
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// The modules a file declares in other files (`mod name;`).
fn child_modules(code: &str) -> Vec<String> {
    let tokens: Vec<&str> = code
        .split(|c: char| c.is_whitespace() || c == ';')
        .collect();
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if *token == "mod"
            && let Some(name) = tokens.get(i + 1)
            && code.contains(&format!("mod {name};"))
        {
            out.push((*name).to_string());
        }
    }
    out
}

/// Which top-level module each file's `crate::` paths reach, resolving the
/// crate root's re-exports (`pub use decision::Rules;`).
fn graph(files: &[(String, String, String)]) -> Graph {
    let modules: BTreeSet<&str> = files.iter().map(|(m, _, _)| m.as_str()).collect();
    let mut graph = Graph::new();
    for (module, path, code) in files {
        for target in crate_paths(code) {
            let target = reexports()
                .get(target.as_str())
                .map_or(target.as_str(), |m| m);
            if target != module && modules.contains(target) {
                graph
                    .entry(module.clone())
                    .or_default()
                    .entry(target.to_string())
                    .or_insert_with(|| path.clone());
            }
        }
    }
    graph
}

/// Names the crate root re-exports, and the module each comes from.
fn reexports() -> BTreeMap<&'static str, &'static str> {
    let lib = include_str!("../src/lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub use ")?.strip_suffix(';'))
        .filter_map(|path| {
            let (module, rest) = path.split_once("::")?;
            Some((rest.rsplit("::").next()?, module))
        })
        .collect()
}

/// The first segment after each `crate::` (each member's, for `crate::{a, b::C}`).
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        let Some(group) = rest.strip_prefix('{') else {
            out.push(ident(rest));
            continue;
        };
        let mut depth = 0;
        let mut member_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => member_start = true,
                c if c.is_whitespace() => {}
                _ if member_start => {
                    out.push(ident(&group[i..]));
                    member_start = false;
                }
                _ => {}
            }
        }
    }
    out
}

/// The code of a file: comments, string and character literals blanked, and
/// `#[cfg(test)]` items left out.
fn code_of(text: &str) -> String {
    without_tests(&without_literals(text))
}

fn without_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let word = |i: usize| i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r' && !word(i) && matches!(next, Some('"' | '#')) {
            let hashes = c[i + 1..].iter().take_while(|h| **h == '#').count();
            if c.get(i + 1 + hashes) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < c.len() {
                if c[i] == '"'
                    && c[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|h| **h == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && (next == Some('\\') || c.get(i + 2) == Some(&'\'')) {
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// The code without `#[cfg(test)]` items: the attribute and the item after
/// it, up to its `;` or the end of its `{ ... }`.
fn without_tests(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        let mut depth = 0;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Each circle in the graph, as `a -> b -> a [a -> b in a.rs; b -> a in
/// b.rs]`: the modules, then the file that makes each step.
fn circles(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        let mut path = vec![start.clone()];
        walk(graph, &mut path, &mut done, &mut found);
    }
    found
}

fn walk(
    graph: &Graph,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    found: &mut Vec<String>,
) {
    let Some(here) = path.last().cloned() else {
        return;
    };
    if done.contains(&here) {
        return;
    }
    for next in graph.get(&here).into_iter().flat_map(|d| d.keys()) {
        if let Some(from) = path.iter().position(|m| m == next) {
            let mut circle = path[from..].to_vec();
            circle.push(next.clone());
            let steps: Vec<String> = circle
                .windows(2)
                .map(|w| format!("{} -> {} in {}", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            found.push(format!("{} [{}]", circle.join(" -> "), steps.join("; ")));
        } else {
            path.push(next.clone());
            walk(graph, path, done, found);
            path.pop();
        }
    }
    done.insert(here);
}
