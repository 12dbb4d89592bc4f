//! One pair's page, opened with its coordinator's page link: who they are
//! and how to reach them (only their own coordinator opens it), the
//! program's pair id, what to do, the escalation with its buttons, their
//! interactions (kinds and times, never content) and their week step by
//! step in plain words. Another coordinator's pair is not found, whatever
//! its id.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use chrono::Utc;

use firstweek::coordinator::{self, advice, plain};
use firstweek::escalation::State as EscalationState;
use firstweek::interaction::Summary;
use firstweek_store::{self as store, Refused};

use crate::Shared;
use crate::escalations::{Done, EscalationView, done};
use crate::pages::{Failure, coordinator_of};

/// `/c/{token}/pairs/{mentorship_id}`.
pub async fn pair(
    State(s): State<Shared>,
    Path((token, mentorship_id)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, Failure> {
    let c = match coordinator_of(&s, &token).await? {
        Ok(c) => c,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    let Some(pair) = c
        .pairs
        .iter()
        .find(|p| p.record.started.mentorship_id == mentorship_id)
    else {
        return Ok(s.pages.refused(Refused::Unknown));
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "pair").increment(1);
    let now = Utc::now();
    let rules = s.rules.pinned(pair.record.playbook.as_deref());
    let started = &pair.record.started;
    let line = firstweek::digest::line(&s.rules, pair.view(), now);
    let stored = store::escalation(&s.pool, &mentorship_id)
        .await?
        .filter(|e| e.coordinator_key == c.key);
    // While an escalation is open its rules say what to do, read against
    // what the pair has done by now; otherwise the rules that fire today.
    let advice = match &stored {
        Some(e) if e.state != EscalationState::Resolved => {
            advice::lines(&e.rules, &Summary::as_of(&pair.ledger, now))
        }
        _ => line.advice.clone(),
    };
    let escalation = stored.as_ref().map(|e| EscalationView::of(e, c.tz));
    // What the action just done did, as the stored state says.
    let done = match (done(&uri), &escalation) {
        (Some(Done::Acknowledged), Some(e)) if e.acknowledged.is_some() => Some("acknowledged"),
        (Some(Done::Resolved), Some(e)) if e.resolved.is_some() => Some("resolved"),
        _ => None,
    };
    // Dates and local times in the language the page is written in.
    let locale = crate::lang::current();
    let rows = store::read::timeline(&s.pool, &[mentorship_id.as_str()]).await?;
    let stored_steps: Vec<plain::StoredStep<'_>> = rows
        .iter()
        .map(|r| plain::StoredStep {
            step_id: &r.step_id,
            recipient: &r.recipient,
            due_at: r.due_at,
            status: r.status.as_str(),
            outcome: r.outcome.as_deref(),
        })
        .collect();
    let steps = plain::steps(
        &stored_steps,
        &rules.playbook,
        started.started_at,
        rules.scale,
        c.tz,
        &locale,
    );
    let interactions =
        plain::interactions(&pair.ledger, started.started_at, rules.scale, c.tz, &locale);

    Ok(s.pages.render(
        "pair.html",
        minijinja::context! {
            pair => line,
            program_id => started.program_id.clone(),
            contacts => coordinator::contacts(started, &pair.record.erased, now, &locale),
            unsubscribed => pair.record.unsubscribed.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            advice,
            escalation,
            done,
            interactions,
            steps,
            zone => c.tz.map_or_else(|| "UTC".to_string(), |tz| tz.name().to_string()),
            token => c.token,
            id_in_path => coordinator::path_segment(&mentorship_id),
        },
    ))
}

#[cfg(test)]
mod tests;
