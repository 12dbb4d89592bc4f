//! The pages: a coordinator's pairs (one pair's page is in
//! [`crate::pair`]), opened with a coordinator-page link; and what a link
//! that opens nothing says.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use minijinja::Environment;
use serde::Serialize;

use std::collections::HashMap;

use chrono_tz::Tz;
use firstweek::coordinator::path_segment;
use firstweek::digest::{self, PairLine};
use firstweek::escalation::Escalation;
use firstweek::link::{LinkToken, Purpose};
use firstweek::outcome;
use firstweek::rule::Recipient;
use firstweek::timeline::timezone_of;
use firstweek_store::{self as store, Refused, StoredPair, read};

use crate::Shared;
use crate::escalations::EscalationView;

mod experiments;

/// The page templates (server-rendered, no JavaScript, readable on a phone).
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Loads the page templates: built in, or from `dir` (`FIRSTWEEK_WEB_TEMPLATES_DIR`).
    pub fn new(dir: Option<&std::path::Path>) -> Result<Pages, crate::templates::TemplateError> {
        Ok(Pages {
            env: crate::templates::load(dir)?,
        })
    }

    /// Renders page `name` in the request's locale ([`crate::lang`]): the
    /// first of `de-AT/NAME`, `de/NAME`, `NAME` along its fallback chain.
    pub(crate) fn render(&self, name: &str, ctx: impl Serialize) -> Response {
        let locale = crate::lang::current();
        let (lang, found) = locale
            .chain()
            .into_iter()
            .map(|tag| {
                let path = match tag.as_str() {
                    firstweek::locale::DEFAULT => name.to_string(),
                    _ => format!("{tag}/{name}"),
                };
                (tag, path)
            })
            .find(|(_, path)| self.env.get_template(path).is_ok())
            .unwrap_or_else(|| (firstweek::locale::DEFAULT.into(), name.to_string()));
        match self.env.get_template(&found).and_then(|t| t.render(ctx)) {
            Ok(html) => {
                let mut page = Html(html).into_response();
                if let Ok(value) = axum::http::HeaderValue::from_str(&lang) {
                    page.headers_mut()
                        .insert(axum::http::header::CONTENT_LANGUAGE, value);
                }
                page
            }
            Err(e) => {
                tracing::error!(template = name, error = %e, "a page does not render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "this page cannot be shown",
                )
                    .into_response()
            }
        }
    }

    pub(crate) fn refused(&self, why: Refused) -> Response {
        let (status, text) = match why {
            Refused::Unknown => (StatusCode::NOT_FOUND, "This link does not open anything."),
            Refused::Expired | Refused::Revoked | Refused::Used => (
                StatusCode::GONE,
                "This link has expired. Your next daily digest brings a new one.",
            ),
        };
        // `why` lets a translation word each case its own way.
        let why = format!("{why:?}").to_lowercase();
        let mut page = self.render("refused.html", minijinja::context! { text, why });
        *page.status_mut() = status;
        page
    }
}

/// A failure while answering: logged, and the person gets a plain page.
pub struct Failure(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        tracing::error!(error = %format!("{:#}", self.0), "request failed");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "firstweek cannot answer right now; try again in a minute",
        )
            .into_response()
    }
}

/// The coordinator a page link was issued for, and their pairs as of now.
pub(crate) struct Coordinator {
    pub(crate) token: String,
    /// Their opaque key (what escalations are filed under).
    pub(crate) key: String,
    pub(crate) pairs: Vec<StoredPair>,
    /// Their zone (as their latest pair names it, as the digest takes it);
    /// `None`: UTC.
    pub(crate) tz: Option<Tz>,
}

pub(crate) async fn coordinator_of(
    s: &Shared,
    token: &str,
) -> Result<Result<Coordinator, Refused>, Failure> {
    let Ok(token) = LinkToken::parse(token) else {
        return Ok(Err(Refused::Unknown));
    };
    let link = match store::open_link(&s.pool, &token, Purpose::CoordinatorPage).await? {
        Ok(link) => link,
        Err(why) => return Ok(Err(why)),
    };
    let Some(email) = store::coordinator_email(&s.pool, &link.subject_id).await? else {
        return Ok(Err(Refused::Unknown));
    };
    let pairs = store::coordinator_pairs(&s.pool, &s.rules, &email, Utc::now()).await?;
    // Their locale, as their zone, is the one their most recent pair names.
    crate::lang::person(
        pairs
            .iter()
            .max_by_key(|p| p.record.started.started_at)
            .and_then(|p| p.record.started.coordinator.locale.as_deref()),
    );
    let tz = pairs
        .last()
        .and_then(|p| timezone_of(&p.record.started, Recipient::Coordinator));
    Ok(Ok(Coordinator {
        token: token.as_str().to_string(),
        key: link.subject_id,
        pairs,
        tz,
    }))
}

/// `/c/{token}`: the coordinator's pairs in or just past their first week,
/// at risk first.
pub async fn coordinator(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let c = match coordinator_of(&s, &token).await? {
        Ok(c) => c,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "coordinator").increment(1);
    let now = Utc::now();
    let name = c
        .pairs
        .last()
        .map(|p| p.record.started.coordinator.name.clone())
        .unwrap_or_default();
    let filter = store::EscalationFilter {
        coordinator_key: Some(c.key.clone()),
        ..Default::default()
    };
    let mut escalations: HashMap<String, Escalation> = store::escalations(&s.pool, &filter)
        .await?
        .into_iter()
        .map(|e| (e.mentorship_id.clone(), e))
        .collect();
    let mut entries: Vec<Entry> = c
        .pairs
        .iter()
        .map(|p| {
            let line = digest::line(&s.rules, p.view(), now);
            let escalation = escalations
                .remove(p.id())
                .map(|e| EscalationView::of(&e, c.tz));
            Entry {
                id_in_path: path_segment(p.id()),
                line,
                escalation,
            }
        })
        .collect();
    // Escalations waiting for the coordinator first, then the others still
    // open, then pairs at risk; among each, the furthest into their week first.
    entries.sort_by_key(|e| (e.rank(), std::cmp::Reverse(e.line.day)));
    let at_risk = entries.iter().filter(|e| e.rank() < 3).count();
    let charts = outcome_charts(&s, &c.key, now).await?;
    Ok(s.pages.render(
        "coordinator.html",
        minijinja::context! { coordinator => name, pairs => entries, at_risk, token => c.token, charts },
    ))
}

/// The outcome chart of a program the coordinator's pairs belong to.
#[derive(Serialize)]
struct Chart {
    /// `program p-1`, or `pairs without a program`.
    program: String,
    /// Pairs of the program with an outcome.
    pairs: u32,
    /// The chart, inline SVG made by [`firstweek::outcome::svg`] (which
    /// escapes every text it holds), so the template marks it safe.
    svg: String,
    /// What the program's nudges cause: each step with a holdout, nudged
    /// against held out (none when no step of it has one).
    experiments: Vec<experiments::StepView>,
}

/// The same chart `firstweek report outcomes --svg` draws, for each program
/// the coordinator's pairs belong to (usually one; every pair they ever had,
/// not only those on the page), over all that program's pairs: how pairs
/// like theirs fared later; with the program's experiments beside it.
async fn outcome_charts(
    s: &Shared,
    coordinator_key: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Chart>, Failure> {
    let programs = read::coordinator_programs(&s.pool, coordinator_key).await?;
    let mut charts = Vec::with_capacity(programs.len());
    for program in programs {
        let (filter, words) = match program {
            Some(p) => (read::Program::Is(p.clone()), format!("program {p}")),
            None => (read::Program::Unset, "pairs without a program".to_string()),
        };
        let entries = read::outcome_pairs(&s.pool, &filter, None).await?;
        let report = read::outcome_report(&s.rules, &entries, now);
        let experiments = experiments::of_program(s, &entries, now).await?;
        charts.push(Chart {
            // The page's heading names the chart: drawn once.
            svg: outcome::svg(
                &report,
                outcome::Title::Labelled(&format!("Outcomes by first week: {words}")),
            ),
            program: words,
            pairs: report.pairs,
            experiments,
        });
    }
    Ok(charts)
}

/// One pair on the coordinator's page.
#[derive(Serialize)]
struct Entry {
    #[serde(flatten)]
    line: PairLine,
    escalation: Option<EscalationView>,
    /// The pair's id as a URL path segment (its page is `/c/<token>/pairs/<this>`).
    id_in_path: String,
}

impl Entry {
    fn rank(&self) -> u8 {
        match &self.escalation {
            Some(e) if e.needs_you => 0,
            Some(e) if e.resolved.is_none() => 1,
            _ if !self.line.risks.is_empty() => 2,
            _ => 3,
        }
    }
}
