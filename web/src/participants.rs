//! A mentor's or mentee's answer links and unsubscribe. A GET shows a
//! short page with a button and changes nothing (mail scanners open links);
//! the POST acts. Pages show first names only.
//!
//! An answer is queued as an `interaction.recorded` of the person's side
//! (relayed to the exchange and stored by intake like any event); the same
//! link submitted twice is one event. Unsubscribe follows RFC 8058: a POST
//! of `List-Unsubscribe=One-Click` (from a mail provider, with no cookies)
//! is answered 200 directly.

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;

use firstweek::event::MentorshipStarted;
use firstweek::link::{LinkToken, Purpose};
use firstweek::participant::{self, Answer};
use firstweek::rule::Recipient;
use firstweek_store::{self as store, Acted, Link, Refused};

use crate::Shared;
use crate::pages::Failure;

/// A personal link opened: whose, about which pair, and what it carries.
struct Opened {
    token: LinkToken,
    link: Link,
    recipient: Recipient,
    pair: MentorshipStarted,
}

async fn open(
    s: &Shared,
    token: &str,
    purposes: &[Purpose],
) -> Result<Result<Opened, Refused>, Failure> {
    let Ok(token) = LinkToken::parse(token) else {
        return Ok(Err(Refused::Unknown));
    };
    let mut why = Refused::Unknown;
    for &purpose in purposes {
        match store::open_link(&s.pool, &token, purpose).await? {
            Ok(link) => {
                let Some(recipient) = link.recipient else {
                    return Ok(Err(Refused::Unknown));
                };
                let Some(pair) = store::mentorship(&s.pool, &link.subject_id).await? else {
                    return Ok(Err(Refused::Unknown));
                };
                return Ok(Ok(Opened {
                    token,
                    link,
                    recipient,
                    pair: pair.started,
                }));
            }
            Err(Refused::Unknown) => {}
            Err(other) => why = other,
        }
    }
    Ok(Err(why))
}

fn first_name(name: &str) -> String {
    firstweek::email::first_name(name).to_string()
}

/// The recipient's and the other side's first names.
fn names(o: &Opened) -> (String, String) {
    let (me, other) = match o.recipient {
        Recipient::Mentor => (&o.pair.mentor, &o.pair.mentee),
        _ => (&o.pair.mentee, &o.pair.mentor),
    };
    (first_name(&me.name), first_name(&other.name))
}

const ANSWERS: [Purpose; 2] = [Purpose::AnswerInTouch, Purpose::AnswerPlan];

/// An answer link opened, and the answer it carries.
struct AnswerLink {
    opened: Opened,
    answer: Answer,
}

/// Opens an answer link (`/r/{token}`): refused as unknown when its purpose
/// carries no answer.
async fn open_answer(s: &Shared, token: &str) -> Result<Result<AnswerLink, Refused>, Failure> {
    let opened = match open(s, token, &ANSWERS).await? {
        Ok(o) => o,
        Err(why) => return Ok(Err(why)),
    };
    Ok(match Answer::of(opened.link.purpose) {
        Some(answer) => Ok(AnswerLink { opened, answer }),
        None => Err(Refused::Unknown),
    })
}

/// `GET /r/{token}`: "We've been in touch?" / "We have a plan?" and a button.
pub async fn show_answer(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let AnswerLink { opened: o, answer } = match open_answer(&s, &token).await? {
        Ok(link) => link,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "answer").increment(1);
    let (me, other) = names(&o);
    Ok(s.pages.render(
        "answer.html",
        minijinja::context! {
            me, other, done => false,
            answer => answer.words(),
            plan => answer == Answer::HavePlan,
            action => format!("/r/{token}"),
        },
    ))
}

/// `POST /r/{token}`: records the answer (once), then says what happens next.
pub async fn answer(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let AnswerLink { opened: o, answer } = match open_answer(&s, &token).await? {
        Ok(link) => link,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    let Some(actor) = participant::actor_of(o.recipient) else {
        return Ok(s.pages.refused(Refused::Unknown));
    };
    let event = participant::answered(answer, &o.token, &o.pair.mentorship_id, actor, Utc::now());
    match store::web_answer(&s.pool, &o.token, &event).await? {
        Acted::Done => {
            metrics::counter!("firstweek_answers_total", "answer" => o.link.purpose.as_str())
                .increment(1);
            tracing::info!(mentorship_id = %o.pair.mentorship_id, event_id = %event.event_id, "answer recorded from a link");
        }
        Acted::Already => {}
        Acted::NotFound | Acted::Refused => return Ok(s.pages.refused(Refused::Revoked)),
    }
    let (me, other) = names(&o);
    Ok(s.pages.render(
        "answer.html",
        minijinja::context! {
            me, other, done => true,
            answer => answer.words(),
            plan => answer == Answer::HavePlan,
        },
    ))
}

fn person_id(o: &Opened) -> &str {
    match o.recipient {
        Recipient::Mentor => &o.pair.mentor.id,
        _ => &o.pair.mentee.id,
    }
}

/// `GET /u/{token}`: a page with the unsubscribe button.
pub async fn show_unsubscribe(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let o = match open(&s, &token, &[Purpose::Unsubscribe]).await? {
        Ok(o) => o,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "unsubscribe").increment(1);
    let done = store::is_unsubscribed(&s.pool, person_id(&o)).await?;
    let (me, _) = names(&o);
    Ok(s.pages.render(
        "unsubscribe.html",
        minijinja::context! { me, done, action => format!("/u/{token}") },
    ))
}

/// `POST /u/{token}`: the one-click unsubscribe (RFC 8058), from the page's
/// button or a mail provider; answered 200 with the page, no redirect.
pub async fn unsubscribe(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let o = match open(&s, &token, &[Purpose::Unsubscribe]).await? {
        Ok(o) => o,
        Err(why) => return Ok(s.pages.refused(why)),
    };
    let event = participant::unsubscribed(person_id(&o), Utc::now());
    match store::web_unsubscribe(&s.pool, &o.token, &event).await? {
        Acted::Done => {
            metrics::counter!("firstweek_unsubscribes_total").increment(1);
            tracing::info!(mentorship_id = %o.pair.mentorship_id, recipient = %o.recipient, "unsubscribed through the link");
        }
        Acted::Already => {}
        Acted::NotFound | Acted::Refused => return Ok(s.pages.refused(Refused::Revoked)),
    }
    let (me, _) = names(&o);
    Ok(s.pages
        .render("unsubscribe.html", minijinja::context! { me, done => true }))
}
