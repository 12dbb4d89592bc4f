//! The reader's check: every email and page as its people see it, in
//! headless Chromium at phone and desktop width. Each gets a full-page
//! screenshot (`target/<profile>/screenshots/reader/{phone,desktop}/NAME.png`)
//! and axe-core's accessibility check (the npm package `scripts/setup.sh`
//! installs into `scripts/axe/`, injected into the page over WebDriver);
//! the findings go to `target/<profile>/reader-report.md`.
//!
//! The phone is a 390 px wide window rather than an emulated phone: an
//! emulated screen cannot grow to a page's height for a full-page shot, and
//! the pages lay out to the window's width either way (`width=device-width`;
//! mail apps fit an email to the screen).

pub mod samples;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

use crate::bin_dir;
use crate::browser::{Browser, PHONE};

/// The desktop window, in CSS pixels.
pub const DESKTOP: (u32, u32) = (1280, 900);

/// axe-core impacts, most severe first; the first two fail the check.
pub const IMPACTS: [&str; 4] = ["critical", "serious", "moderate", "minor"];

/// What is checked: an email's HTML part or a page of `firstweek-web`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An email's HTML part, opened as a file.
    Email,
    /// A page, opened from `firstweek-web`.
    Page,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Page => "page",
        }
    }
}

/// One axe-core rule that failed on a page, with where.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The rule's id, e.g. `color-contrast`.
    pub id: String,
    /// `critical`, `serious`, `moderate` or `minor`.
    pub impact: String,
    /// The rule's one-line help.
    pub help: String,
    /// CSS selectors of the first offending nodes.
    pub targets: Vec<String>,
    /// At which widths it failed (`phone`, `desktop`).
    pub widths: Vec<&'static str>,
}

/// One email or page, checked.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Its name (the screenshots' file name).
    pub name: String,
    /// Email or page.
    pub kind: Kind,
    /// Its `<title>`, as the browser reads it.
    pub title: String,
    /// axe-core's violations at either width, by rule.
    pub violations: Vec<Violation>,
}

impl Checked {
    /// The violations that fail the check (serious or critical).
    pub fn failing(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.impact == "critical" || v.impact == "serious")
    }
}

/// Two browsers (phone and desktop), axe-core's script and what was checked so far.
pub struct Reader {
    phone: Browser,
    desktop: Browser,
    axe: String,
    /// Everything checked, in order.
    pub checked: Vec<Checked>,
}

/// Where axe-core's browser script is (installed by `scripts/setup.sh`).
pub fn axe_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/axe/node_modules/axe-core/axe.min.js")
}

/// The reader's working directory: screenshots, email files, the report's parts.
pub fn out_dir() -> PathBuf {
    bin_dir().join("screenshots").join("reader")
}

/// Runs axe-core (injected just before) and calls back with its violations.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] })
  .then(r => done(r.violations.map(v => ({
    id: v.id, impact: v.impact || "minor", help: v.help,
    targets: v.nodes.slice(0, 4).map(n => n.target.join(" ")),
  }))))
  .catch(e => done({ error: String(e) }));
"#;

impl Reader {
    /// Starts both browsers and reads axe-core's script.
    pub async fn start() -> anyhow::Result<Reader> {
        let path = axe_script();
        let axe = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (bash scripts/setup.sh installs axe-core)",
                path.display()
            )
        })?;
        Ok(Reader {
            phone: Browser::start_sized(PHONE, false).await?,
            desktop: Browser::start_sized(DESKTOP, false).await?,
            axe,
            checked: Vec::new(),
        })
    }

    /// The phone's browser, e.g. to press a page's button.
    pub fn phone(&self) -> &Browser {
        &self.phone
    }

    /// Writes an email's HTML part to a file and checks it.
    pub async fn check_email(&mut self, name: &str, html: &str) -> anyhow::Result<()> {
        let path = out_dir().join("emails").join(format!("{name}.html"));
        write(&path, html)?;
        self.check(Kind::Email, name, &file_url(&path)?).await
    }

    /// Checks the page the phone's browser shows now (after a button led
    /// there): its HTML, saved, is opened at both widths.
    pub async fn check_shown(&mut self, name: &str) -> anyhow::Result<()> {
        let html = self.phone.html().await?;
        let path = out_dir().join("pages").join(format!("{name}.html"));
        write(&path, &html)?;
        self.check(Kind::Page, name, &file_url(&path)?).await
    }

    /// Opens `url` at both widths: a screenshot each, and axe-core's check.
    pub async fn check(&mut self, kind: Kind, name: &str, url: &str) -> anyhow::Result<()> {
        let mut by_rule: BTreeMap<String, Violation> = BTreeMap::new();
        let mut title = String::new();
        for (width, browser, size) in [
            ("phone", &self.phone, PHONE),
            ("desktop", &self.desktop, DESKTOP),
        ] {
            browser.open(url).await?;
            let shot = out_dir().join(width).join(format!("{name}.png"));
            browser.screenshot_page(&shot, size).await?;
            title = browser
                .execute("return document.title;", vec![])
                .await?
                .as_str()
                .unwrap_or_default()
                .to_string();
            browser
                .execute(&format!("{}\nreturn true;", self.axe), vec![])
                .await
                .context("injecting axe-core")?;
            let found = browser.execute_async(RUN_AXE, vec![]).await?;
            for v in violations(&found).with_context(|| format!("axe-core on {name}"))? {
                by_rule
                    .entry(v.id.clone())
                    .or_insert(Violation {
                        widths: Vec::new(),
                        ..v
                    })
                    .widths
                    .push(width);
            }
        }
        let mut violations: Vec<Violation> = by_rule.into_values().collect();
        violations.sort_by_key(|v| IMPACTS.iter().position(|i| *i == v.impact));
        println!(
            "reader: {} {name}: {} violation(s)",
            kind.as_str(),
            violations.len()
        );
        self.checked.push(Checked {
            name: name.to_string(),
            kind,
            title,
            violations,
        });
        Ok(())
    }

    /// Writes this part (`emails`, `translations`, `pages`) of the report and rebuilds
    /// `reader-report.md` from every part written so far; returns the
    /// failing findings, one line each.
    pub fn report(&self, part: &str) -> anyhow::Result<Vec<String>> {
        let parts = out_dir().join("report");
        write(&parts.join(format!("{part}.md")), &markdown(&self.checked))?;
        let mut whole = String::from(
            "# Reader's check: axe-core on every email and page\n\n\
             Violations by impact at phone (390 px) and desktop (1280 px) width; \
             `serious` and `critical` fail the check. Screenshots: \
             `screenshots/reader/{phone,desktop}/NAME.png`.\n",
        );
        for (p, heading) in PARTS {
            if let Ok(text) = std::fs::read_to_string(parts.join(format!("{p}.md"))) {
                whole.push_str(&format!("\n## {heading}\n\n{text}"));
            }
        }
        let path = bin_dir().join("reader-report.md");
        write(&path, &whole)?;
        println!("reader: report {}", path.display());
        Ok(self
            .checked
            .iter()
            .flat_map(|c| {
                c.failing()
                    .map(move |v| format!("{}: {} ({}): {}", c.name, v.id, v.impact, v.help))
            })
            .collect())
    }

    /// Ends both browsers.
    pub async fn close(self) {
        self.phone.close().await;
        self.desktop.close().await;
    }
}

/// The report's parts, in its order, and their headings.
const PARTS: [(&str, &str); 3] = [
    ("emails", "Emails"),
    ("translations", "Emails in German and Spanish"),
    ("pages", "Pages"),
];

fn violations(found: &Value) -> anyhow::Result<Vec<Violation>> {
    if let Some(e) = found.get("error") {
        anyhow::bail!("axe-core failed: {e}");
    }
    let list = found.as_array().context("axe-core returned no list")?;
    Ok(list
        .iter()
        .map(|v| Violation {
            id: str_of(v, "id"),
            impact: str_of(v, "impact"),
            help: str_of(v, "help"),
            targets: v["targets"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            widths: Vec::new(),
        })
        .collect())
}

fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

/// The report's table and details for `checked`.
fn markdown(checked: &[Checked]) -> String {
    let mut out = String::from("| name | title | critical | serious | moderate | minor |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for c in checked {
        let count = |impact: &str| c.violations.iter().filter(|v| v.impact == impact).count();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            c.name,
            c.title.replace('|', "\\|").replace('<', "&lt;"),
            count("critical"),
            count("serious"),
            count("moderate"),
            count("minor"),
        ));
    }
    for c in checked.iter().filter(|c| !c.violations.is_empty()) {
        out.push_str(&format!("\n### {} ({})\n\n", c.name, c.kind.as_str()));
        for v in &c.violations {
            out.push_str(&format!(
                "- **{}** `{}` ({}): {}; at {}\n",
                v.impact,
                v.id,
                v.widths.join(" and "),
                v.help,
                v.targets
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
    }
    out
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn file_url(path: &Path) -> anyhow::Result<String> {
    let abs = std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
    Ok(format!("file://{}", abs.display()))
}
