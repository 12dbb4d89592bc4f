//! `FIRSTWEEK_PUBLIC_URL`: where `firstweek-web` is reachable, the base of
//! the links the worker puts in emails and the web puts in its pages.

use std::net::IpAddr;

use crate::environment::invalid;
use crate::{Environment, SettingsError};

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// `FIRSTWEEK_PUBLIC_URL`: an `https://` base URL without query or
    /// fragment, trailing slash removed; `None` when unset (no links).
    /// `http://` only for a loopback host (127.0.0.0/8, `::1`,
    /// `localhost`): the links carry tokens, and RFC 8058's one-click
    /// unsubscribe requires HTTPS.
    pub fn public_url(&self) -> Result<Option<String>, SettingsError> {
        let Some(url) = self.var("FIRSTWEEK_PUBLIC_URL") else {
            return Ok(None);
        };
        let url = url.trim().trim_end_matches('/').to_string();
        let (rest, secure) = match url.strip_prefix("https://") {
            Some(rest) => (rest, true),
            None => (
                url.strip_prefix("http://").ok_or_else(|| {
                    invalid(
                        "FIRSTWEEK_PUBLIC_URL",
                        format!("{url:?} is not an https:// URL"),
                    )
                })?,
                false,
            ),
        };
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(invalid(
                "FIRSTWEEK_PUBLIC_URL",
                format!("{url:?} must be a base URL like https://firstweek.example.org"),
            ));
        }
        if !secure && !is_loopback(host_of(rest)) {
            return Err(invalid(
                "FIRSTWEEK_PUBLIC_URL",
                format!(
                    "{url:?} must be https:// (the links carry tokens, and one-click unsubscribe requires HTTPS); http:// is allowed only for 127.0.0.1, ::1 or localhost"
                ),
            ));
        }
        Ok(Some(url))
    }
}

/// The host of `authority[/path]`: without user info, port and brackets.
fn host_of(rest: &str) -> &str {
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use crate::test_support::env_of;

    fn public_url(url: &str) -> Result<Option<String>, String> {
        env_of(&[("FIRSTWEEK_PUBLIC_URL", url)])
            .public_url()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_public_url_must_be_https_unless_its_host_is_loopback() {
        for ok in [
            "https://fw.example.org",
            "https://fw.example.org:8443/firstweek/",
            "http://127.0.0.1:8080/",
            "http://127.1.2.3",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://[::1]:8080",
        ] {
            assert!(
                public_url(ok).is_ok(),
                "{ok} is refused: {:?}",
                public_url(ok)
            );
        }
        for refused in [
            "http://fw.example.org",
            "http://10.0.0.5:8080",
            "http://[::2]:8080",
            "http://localhost.example.org",
            "http://127.0.0.1.example.org",
            "http://127.0.0.1@fw.example.org",
            "ftp://127.0.0.1",
        ] {
            let e = public_url(refused).expect_err(refused);
            assert!(e.starts_with("FIRSTWEEK_PUBLIC_URL"), "{e}");
            assert!(e.contains("https://"), "{e}");
        }
    }
}
