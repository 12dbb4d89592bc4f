//! The coordinator's hand on an escalation: the acknowledge link from an
//! escalation or reminder email (a GET shows the pair and a button; only
//! the POST acknowledges: mail scanners open links), and the page's
//! acknowledge and resolve buttons. "Mark resolved" asks first (a GET
//! shows what will happen and a confirm button); each action ends on the
//! pair's page saying what happened.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use chrono_tz::Tz;
use serde::Serialize;

use firstweek::coordinator::{self, advice};
use firstweek::day::Day;
use firstweek::decision::escalation as rule;
use firstweek::escalation::{AckVia, Escalation, Resolution, State as EscalationState};
use firstweek::interaction::Summary;
use firstweek::link::{LinkToken, Purpose};
use firstweek::rule::Recipient;
use firstweek::timeline::timezone_of;
use firstweek_store::{self as store, Acted, Refused};

use crate::Shared;
use crate::pages::Failure;

/// An escalation as a page shows it: rules, the latest evidence, its state.
#[derive(Debug, Serialize)]
pub struct EscalationView {
    /// `open`, `acknowledged` or `resolved`.
    pub state: &'static str,
    /// Needs the coordinator: open and nobody acknowledged it.
    pub needs_you: bool,
    /// When it opened.
    pub opened_at: String,
    /// Why, in words (every rule that fired, first firing first).
    pub reasons: Vec<String>,
    /// The day of the pair's week it was opened on ([`Day`]).
    pub day: Day,
    /// The day of the pair's week of the latest evidence.
    pub latest_day: Day,
    /// Interactions in the latest evidence, by side.
    pub total: u32,
    /// By the mentor.
    pub mentor: u32,
    /// By the mentee.
    pub mentee: u32,
    /// The latest activity it saw.
    pub last_activity: Option<String>,
    /// When and how it was acknowledged.
    pub acknowledged: Option<String>,
    /// When and how it was resolved.
    pub resolved: Option<String>,
    /// A coordinator closed it themselves.
    pub closed_by_coordinator: bool,
    /// When it was acknowledged, and how (`link`, `page`, `cli`): for
    /// translations, which word `acknowledged` themselves.
    pub acknowledged_at: Option<String>,
    /// How it was acknowledged (`link`, `page`, `cli`).
    pub acknowledged_via: Option<&'static str>,
    /// When it was resolved.
    pub resolved_at: Option<String>,
    /// How it was resolved (`recovered`, `ended`, `coordinator`).
    pub resolved_how: Option<&'static str>,
}

impl EscalationView {
    /// The view of a stored escalation, its times in the coordinator's zone
    /// `tz` (UTC when they have none), written for the page's language.
    pub fn of(e: &Escalation, tz: Option<Tz>) -> EscalationView {
        let locale = crate::lang::current();
        let when = |at| coordinator::when_in(&locale, at, tz);
        let latest = e.latest();
        let mut reasons: Vec<String> = Vec::new();
        for r in e.evidence.iter().flat_map(|s| s.reasons.iter()) {
            if !reasons.contains(r) {
                reasons.push(r.clone());
            }
        }
        EscalationView {
            state: e.state.as_str(),
            needs_you: e.state == EscalationState::Open,
            opened_at: when(e.opened_at),
            reasons,
            day: e.opened_day().unwrap_or(Day::FIRST),
            latest_day: latest.map_or(Day::FIRST, |s| s.day),
            total: latest.map(|s| s.total).unwrap_or(0),
            mentor: latest.map(|s| s.mentor).unwrap_or(0),
            mentee: latest.map(|s| s.mentee).unwrap_or(0),
            last_activity: latest.and_then(|s| s.last_activity).map(when),
            acknowledged: e
                .acknowledged
                .map(|(at, via)| format!("{} (by {})", when(at), via_words(via))),
            resolved: e
                .resolved
                .map(|(at, how)| format!("{}: {}", when(at), how.words())),
            closed_by_coordinator: matches!(e.resolved, Some((_, Resolution::Coordinator))),
            acknowledged_at: e.acknowledged.map(|(at, _)| when(at)),
            acknowledged_via: e.acknowledged.map(|(_, via)| via.as_str()),
            resolved_at: e.resolved.map(|(at, _)| when(at)),
            resolved_how: e.resolved.map(|(_, how)| how.as_str()),
        }
    }
}

fn via_words(via: AckVia) -> &'static str {
    match via {
        AckVia::Link => "the email's link",
        AckVia::Page => "the coordinator page",
        AckVia::Cli => "an operator",
    }
}

/// The escalation an acknowledge link was issued for.
async fn escalation_of(
    s: &Shared,
    token: &str,
) -> Result<Result<(LinkToken, Escalation), Refused>, Failure> {
    let Ok(token) = LinkToken::parse(token) else {
        return Ok(Err(Refused::Unknown));
    };
    let link = match store::open_link(&s.pool, &token, Purpose::Acknowledge).await? {
        Ok(link) => link,
        Err(why) => return Ok(Err(why)),
    };
    Ok(store::escalation(&s.pool, &link.subject_id)
        .await?
        .map(|e| (token, e))
        .ok_or(Refused::Unknown))
}

/// Acknowledges `e` with `token` (an acknowledge or a page link), through
/// the database function that checks the link covers it.
async fn acknowledge_with(
    s: &Shared,
    token: &LinkToken,
    e: &Escalation,
    via: AckVia,
) -> Result<Acted, Failure> {
    let at = Utc::now();
    let announcement = rule::acknowledged(e, at, via);
    Ok(store::web_acknowledge(&s.pool, token, &e.mentorship_id, at, &announcement.payload).await?)
}

/// Closes `e` with a page link, announcing the pair's counts as of now.
async fn resolve_with(s: &Shared, token: &LinkToken, e: &Escalation) -> Result<Acted, Failure> {
    let at = Utc::now();
    let ledger = store::interactions(&s.pool, &e.mentorship_id).await?;
    let summary = Summary::as_of(&ledger, at);
    let announcement = rule::resolved(e, at, Resolution::Coordinator, &summary);
    Ok(store::web_resolve(&s.pool, token, &e.mentorship_id, at, &announcement.payload).await?)
}

/// What a page says it just did (`?done=...` after an action's redirect);
/// it shows the escalation's state as stored, so a stale or forged query
/// claims nothing that did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Acknowledged,
    Resolved,
}

impl Done {
    fn query(self) -> &'static str {
        match self {
            Done::Acknowledged => "done=acknowledged",
            Done::Resolved => "done=resolved",
        }
    }
}

/// The action a page was redirected to after, if any.
pub(crate) fn done(uri: &Uri) -> Option<Done> {
    match uri.query()? {
        "done=acknowledged" => Some(Done::Acknowledged),
        "done=resolved" => Some(Done::Resolved),
        _ => None,
    }
}

/// `GET /a/{token}`: the pair, the evidence and an acknowledge button.
/// Changes nothing.
pub async fn show(
    State(s): State<Shared>,
    Path(token): Path<String>,
    uri: Uri,
) -> Result<Response, Failure> {
    let (_, e) = match escalation_of(&s, &token).await? {
        Ok(found) => found,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "acknowledge").increment(1);
    let now = Utc::now();
    let pair = store::mentorship(&s.pool, &e.mentorship_id).await?;
    crate::lang::person(
        pair.as_ref()
            .and_then(|p| p.started.coordinator.locale.as_deref()),
    );
    let tz = pair
        .as_ref()
        .and_then(|p| timezone_of(&p.started, Recipient::Coordinator));
    // A one-click page carries no address (a forwarded link would show
    // it): the email and the pair's page do.
    let (mentor, mentee, advice) = match &pair {
        Some(p) => {
            let ledger = store::interactions(&s.pool, &e.mentorship_id).await?;
            let summary = Summary::as_of(&ledger, now);
            (
                p.started.mentor.name.clone(),
                p.started.mentee.name.clone(),
                advice::lines(&e.rules, &summary),
            )
        }
        None => Default::default(),
    };
    Ok(s.pages.render(
        "acknowledge.html",
        minijinja::context! {
            mentor, mentee, advice,
            mentorship_id => e.mentorship_id.clone(),
            escalation => EscalationView::of(&e, tz),
            done => done(&uri) == Some(Done::Acknowledged),
            action => format!("/a/{token}"),
        },
    ))
}

/// `POST /a/{token}`: acknowledges, then shows the page again (its new state).
pub async fn acknowledge(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let (parsed, e) = match escalation_of(&s, &token).await? {
        Ok(found) => found,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    match acknowledge_with(&s, &parsed, &e, AckVia::Link).await? {
        Acted::Done => {
            tracing::info!(mentorship_id = %e.mentorship_id, "escalation acknowledged by link");
        }
        Acted::Already => {}
        // Revoked or moved to another coordinator since it was opened above.
        Acted::NotFound | Acted::Refused => return Ok(s.pages.refused(Refused::Revoked)),
    }
    Ok(Redirect::to(&format!("/a/{token}?{}", Done::Acknowledged.query())).into_response())
}

/// What a page button does.
#[derive(Debug, Clone, Copy)]
enum Act {
    Acknowledge,
    Resolve,
}

async fn act(
    s: Shared,
    token: String,
    mentorship_id: String,
    act: Act,
) -> Result<Response, Failure> {
    let Ok(parsed) = LinkToken::parse(&token) else {
        return Ok(s.pages.refused(Refused::Unknown));
    };
    let link = match store::open_link(&s.pool, &parsed, Purpose::CoordinatorPage).await? {
        Ok(link) => link,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    // Only an escalation of a pair that is the coordinator's now: another's
    // (or one moved to another coordinator by a correction) is "not found",
    // as the database function checks again under the pair's lock.
    let Some(e) = store::escalation(&s.pool, &mentorship_id)
        .await?
        .filter(|e| e.coordinator_key == link.subject_id)
    else {
        return Ok(s.pages.refused(Refused::Unknown));
    };
    let acted = match act {
        Act::Acknowledge => acknowledge_with(&s, &parsed, &e, AckVia::Page).await?,
        Act::Resolve => resolve_with(&s, &parsed, &e).await?,
    };
    match acted {
        Acted::Done | Acted::Already => {}
        Acted::NotFound => return Ok(s.pages.refused(Refused::Unknown)),
        Acted::Refused => return Ok(s.pages.refused(Refused::Revoked)),
    }
    tracing::info!(%mentorship_id, action = ?act, "escalation changed from the coordinator page");
    // The pair's page says what happened (and shows the state as stored).
    let done = match act {
        Act::Acknowledge => Done::Acknowledged,
        Act::Resolve => Done::Resolved,
    };
    Ok(Redirect::to(&format!(
        "/c/{token}{}?{}",
        coordinator::pair_path(&mentorship_id),
        done.query()
    ))
    .into_response())
}

/// `POST /c/{token}/pairs/{id}/acknowledge`.
pub async fn page_acknowledge(
    State(s): State<Shared>,
    Path((token, mentorship_id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    act(s, token, mentorship_id, Act::Acknowledge).await
}

/// `GET /c/{token}/pairs/{id}/resolve`: what marking the pair's escalation
/// resolved does, and a button that does it. Changes nothing.
pub async fn page_resolve_confirm(
    State(s): State<Shared>,
    Path((token, mentorship_id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let Ok(parsed) = LinkToken::parse(&token) else {
        return Ok(s.pages.refused(Refused::Unknown));
    };
    let link = match store::open_link(&s.pool, &parsed, Purpose::CoordinatorPage).await? {
        Ok(link) => link,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    let Some(e) = store::escalation(&s.pool, &mentorship_id)
        .await?
        .filter(|e| e.coordinator_key == link.subject_id)
    else {
        return Ok(s.pages.refused(Refused::Unknown));
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "resolve").increment(1);
    let pair = store::mentorship(&s.pool, &mentorship_id).await?;
    let tz = pair
        .as_ref()
        .and_then(|p| timezone_of(&p.started, Recipient::Coordinator));
    let (mentor, mentee) = pair
        .map(|p| (p.started.mentor.name, p.started.mentee.name))
        .unwrap_or_default();
    Ok(s.pages.render(
        "resolve.html",
        minijinja::context! {
            mentor, mentee, token,
            id_in_path => coordinator::path_segment(&mentorship_id),
            escalation => EscalationView::of(&e, tz),
        },
    ))
}

/// `POST /c/{token}/pairs/{id}/resolve`.
pub async fn page_resolve(
    State(s): State<Shared>,
    Path((token, mentorship_id)): Path<(String, String)>,
) -> Result<Response, Failure> {
    act(s, token, mentorship_id, Act::Resolve).await
}
