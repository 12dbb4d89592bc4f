//! A real browser for the tests: Debian's Chromium, headless, driven over
//! WebDriver by its ChromeDriver (both installed by `scripts/setup.sh`),
//! sized and emulated as a phone.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let browser = firstweek_tests::browser::Browser::start().await?;
//! browser.open("http://127.0.0.1:8080/c/TOKEN").await?;
//! assert!(browser.text().await?.contains("Your pairs"));
//! browser.click_button("Acknowledge").await?;
//! browser.screenshot("acknowledged").await?;
//! browser.close().await;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::{bin_dir, port, unique};

/// The phone the pages are looked at on (CSS pixels, as an iPhone 12-15).
pub const PHONE: (u32, u32) = (390, 844);

/// One browser session with its own ChromeDriver and a fresh profile.
/// Dropping it (a failed test) kills ChromeDriver and the Chromium it
/// started and removes the profile; [`Browser::close`] ends it politely.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts ChromeDriver on a free port and opens a session in headless
    /// Chromium, emulating a phone of [`PHONE`] size.
    pub async fn start() -> anyhow::Result<Browser> {
        Browser::start_sized(PHONE, true).await
    }

    /// Starts a session whose window is `size` CSS pixels; `phone` emulates a
    /// phone's viewport (dense pixels, touch), else it is a plain desktop window.
    pub async fn start_sized(size: (u32, u32), phone: bool) -> anyhow::Result<Browser> {
        let driver_port = port();
        let profile = std::env::temp_dir().join(unique("fw-chromium"));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("creating {}", profile.display()))?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that a drop can end Chromium with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver (bash scripts/setup.sh installs chromium-driver)")?;
        let mut browser = Browser {
            client: None,
            driver,
            profile,
        };
        let (width, height) = size;
        let mut args = vec![
            // As root Chromium refuses to start sandboxed; this closed network
            // refuses the connections it makes at start-up unless told not to.
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
        ];
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let mut options = json!({ "args": args });
        if phone {
            // A phone's viewport: the page's `<meta name="viewport">` is honoured
            // as on a real phone, and pixels are dense.
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true},
            });
        }
        if let Some(binary) = which("chromium") {
            options["binary"] = binary.display().to_string().into();
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let url = format!("http://127.0.0.1:{driver_port}");
        let start = Instant::now();
        let client = loop {
            match builder.connect(&url).await {
                Ok(c) => break c,
                // ChromeDriver takes a moment to listen.
                Err(e) if start.elapsed() < Duration::from_secs(20) => {
                    if let Ok(Some(status)) = browser.driver.try_wait() {
                        bail!("chromedriver exited ({status}) before a session opened: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => bail!("no browser session after 20 s: {e}"),
            }
        };
        browser.client = Some(client);
        Ok(browser)
    }

    fn client(&self) -> anyhow::Result<&Client> {
        self.client
            .as_ref()
            .context("the browser session is closed")
    }

    /// Opens `url` and waits for the page to load.
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.client()?
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The URL the browser shows now.
    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self.client()?.current_url().await?.to_string())
    }

    /// The text of the page as a reader sees it (rendered, tags and hidden parts left out).
    pub async fn text(&self) -> anyhow::Result<String> {
        let body = self.client()?.find(Locator::Css("body")).await?;
        Ok(body.text().await?)
    }

    /// The page's HTML, as the browser holds it now.
    pub async fn html(&self) -> anyhow::Result<String> {
        Ok(self.client()?.source().await?)
    }

    /// How many CSS pixels the page is wider than the screen (0: no
    /// sideways scrolling, as a phone's reader expects).
    pub async fn overflow_x(&self) -> anyhow::Result<i64> {
        let width = self
            .client()?
            .execute(
                "const e = document.documentElement; return e.scrollWidth - e.clientWidth;",
                vec![],
            )
            .await?;
        width
            .as_i64()
            .with_context(|| format!("scrollWidth - clientWidth is not a number: {width}"))
    }

    /// The page's links, in page order: (visible text, `href` as written).
    pub async fn links(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for a in self.client()?.find_all(Locator::Css("a[href]")).await? {
            out.push((a.text().await?, a.attr("href").await?.unwrap_or_default()));
        }
        Ok(out)
    }

    /// Clicks the first link whose visible text is `label` and waits for the next page.
    pub async fn click_link(&self, label: &str) -> anyhow::Result<()> {
        self.client()?
            .find(Locator::LinkText(label))
            .await
            .with_context(|| format!("no link {label:?} on the page"))?
            .click()
            .await
            .with_context(|| format!("clicking the link {label:?}"))
    }

    /// Clicks the first button (or submit input) labelled `label` and waits
    /// for the page it leads to.
    pub async fn click_button(&self, label: &str) -> anyhow::Result<()> {
        let text = xpath_literal(label);
        let xpath = format!(
            "//button[normalize-space(.)={text}] | //input[(@type='submit' or @type='button') and normalize-space(@value)={text}]"
        );
        let client = self.client()?;
        let before = client.find(Locator::Css("html")).await?;
        client
            .find(Locator::XPath(&xpath))
            .await
            .with_context(|| format!("no button {label:?} on the page"))?
            .click()
            .await
            .with_context(|| format!("clicking the button {label:?}"))?;
        // A form's submit navigates after the click returns: wait until the
        // old page is gone, so what is read next is the page it led to.
        let start = std::time::Instant::now();
        while before.tag_name().await.is_ok() {
            anyhow::ensure!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "the button {label:?} led nowhere"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Saves what the phone's screen shows to
    /// `target/<profile>/screenshots/<name>.png`, prints and returns the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client()?.screenshot().await?;
        let dir = bin_dir().join("screenshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Runs `script` as an asynchronous WebDriver script (its last argument
    /// is the callback that ends it) and returns what it called back with.
    pub async fn execute_async(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        Ok(self.client()?.execute_async(script, args).await?)
    }

    /// Runs `script` and returns what it returns.
    pub async fn execute(
        &self,
        script: &str,
        args: Vec<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        Ok(self.client()?.execute(script, args).await?)
    }

    /// Saves the whole page, not only what fits the window, to `path`: the
    /// window grows to the page's height for the shot (a desktop window;
    /// an emulated phone keeps its screen), then shrinks back to `size`.
    pub async fn screenshot_page(
        &self,
        path: &std::path::Path,
        size: (u32, u32),
    ) -> anyhow::Result<()> {
        let client = self.client()?;
        // The window's height includes the browser's own bars: the page
        // gets what is left, so the window grows by their height too, and
        // again if the page then lays out taller (a re-measure, a few times).
        for _ in 0..3 {
            let fit = client
                .execute(
                    "const d = document.documentElement, b = document.body;
                     const page = Math.max(d.scrollHeight, b ? b.scrollHeight : 0);
                     return [page, window.outerHeight - window.innerHeight, window.innerHeight];",
                    vec![],
                )
                .await?;
            let at = |i: usize| fit.get(i).and_then(serde_json::Value::as_u64).unwrap_or(0);
            let (page, bars, inner) = (at(0), at(1), at(2));
            if page <= inner {
                break;
            }
            // Capped: a runaway page would otherwise make an enormous image.
            let tall = u32::try_from(page + bars)
                .unwrap_or(size.1)
                .clamp(size.1, 6000);
            client.set_window_size(size.0, tall).await?;
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        }
        let png = client.screenshot().await;
        client.set_window_size(size.0, size.1).await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, png?).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Ends the session (Chromium quits), then ChromeDriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        let _ = self.driver.kill().await;
    }
}

/// A failed test never awaits [`Browser::close`]: ChromeDriver's process
/// group (it and the Chromium it started) is killed here, then the profile removed.
impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `s` as an XPath string literal (XPath 1.0 has no escapes: quotes are concatenated).
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::xpath_literal;

    #[test]
    fn labels_with_quotes_make_valid_xpath_literals() {
        assert_eq!(xpath_literal("Acknowledge"), "'Acknowledge'");
        assert_eq!(xpath_literal("We're fine"), "\"We're fine\"");
        assert_eq!(
            xpath_literal(r#"Say "hi" it's"#),
            r#"concat('Say "hi" it', "'", 's')"#
        );
    }
}
