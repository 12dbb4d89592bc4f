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
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

use firstweek::erasure::ERASED_NAME;
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

/// What an opened personal link can still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// It acts.
    Live,
    /// An answer was given through it, then: its page shows the answer,
    /// expired or not.
    Answered(DateTime<Utc>),
    /// Past its expiry, never used.
    Expired,
}

/// Opens a personal link for one of `purposes`, expired or used ones too
/// (their pages say what became of them); revoked or unknown ones open
/// nothing.
async fn open(
    s: &Shared,
    token: &str,
    purposes: &[Purpose],
) -> Result<Result<(Opened, Standing), Refused>, Failure> {
    let Ok(token) = LinkToken::parse(token) else {
        return Ok(Err(Refused::Unknown));
    };
    for &purpose in purposes {
        let Some(issued) = store::find_link(&s.pool, &token, purpose).await? else {
            continue;
        };
        let standing = match (issued.judge(Utc::now()), issued.used_at) {
            (Err(Refused::Revoked | Refused::Unknown), _) => return Ok(Err(Refused::Revoked)),
            (Ok(()), _) => Standing::Live,
            (Err(Refused::Used | Refused::Expired), Some(at)) => Standing::Answered(at),
            (Err(_), None) => Standing::Expired,
        };
        let Some(recipient) = issued.link.recipient else {
            return Ok(Err(Refused::Unknown));
        };
        let Some(pair) = store::mentorship(&s.pool, &issued.link.subject_id).await? else {
            return Ok(Err(Refused::Unknown));
        };
        crate::lang::person(match recipient {
            Recipient::Mentor => pair.started.mentor.locale.as_deref(),
            Recipient::Mentee => pair.started.mentee.locale.as_deref(),
            Recipient::Coordinator => pair.started.coordinator.locale.as_deref(),
        });
        let opened = Opened {
            token,
            link: issued.link,
            recipient,
            pair: pair.started,
        };
        return Ok(Ok((opened, standing)));
    }
    Ok(Err(Refused::Unknown))
}

/// Which kind of personal link a refusal is about.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Answer,
    Unsubscribe,
}

/// What a mentor's or mentee's link that opens nothing says. Never the
/// coordinators' "your next daily digest brings a new one": participants
/// get no digest. `text` is the English; a translation words it from
/// `why` and `link` (`answer`, `unsubscribe`).
fn refused(s: &Shared, kind: Kind, why: Refused) -> Response {
    let (text, link) = match (why, kind) {
        (Refused::Unknown, _) => return s.pages.refused(Refused::Unknown),
        (_, Kind::Answer) => (
            "This link has expired. There is nothing you need to do: your mentorship goes on as before.",
            "answer",
        ),
        (_, Kind::Unsubscribe) => (
            "This link has expired. Each email from your program's first-week companion carries its own unsubscribe link: the one in your latest email works.",
            "unsubscribe",
        ),
    };
    let mut page = s.pages.render(
        "refused.html",
        minijinja::context! { text, link, why => "expired" },
    );
    *page.status_mut() = StatusCode::GONE;
    page
}

/// A person's first name; none for a person the retention job forgot
/// (their placeholder's name is no name).
fn first_name(name: &str) -> String {
    if name == ERASED_NAME {
        return String::new();
    }
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
    standing: Standing,
    answer: Answer,
}

/// Opens an answer link (`/r/{token}`): refused as unknown when its purpose
/// carries no answer.
async fn open_answer(s: &Shared, token: &str) -> Result<Result<AnswerLink, Refused>, Failure> {
    let (opened, standing) = match open(s, token, &ANSWERS).await? {
        Ok(o) => o,
        Err(why) => return Ok(Err(why)),
    };
    Ok(match Answer::of(opened.link.purpose) {
        Some(answer) => Ok(AnswerLink {
            opened,
            standing,
            answer,
        }),
        None => Err(Refused::Unknown),
    })
}

/// The page of an answer given (`at`): the answer and when, and what
/// happens next.
fn answered(s: &Shared, o: &Opened, answer: Answer, at: DateTime<Utc>) -> Response {
    let (me, other) = names(o);
    let timezone = match o.recipient {
        Recipient::Mentor => &o.pair.mentor.timezone,
        _ => &o.pair.mentee.timezone,
    };
    s.pages.render(
        "answer.html",
        minijinja::context! {
            me, other, done => true,
            answer => answer.words(),
            answered_at => answered_when(timezone, at),
            plan => answer == Answer::HavePlan,
        },
    )
}

/// When an answer was given, on the person's clock, in the page's language.
fn answered_when(timezone: &str, at: DateTime<Utc>) -> String {
    let locale = crate::lang::current();
    match locale.shipped() {
        Some(tag) if tag != firstweek::locale::DEFAULT => {
            firstweek::locale::day_at(&locale, timezone, at)
        }
        _ => participant::answered_when(timezone, at),
    }
}

/// `GET /r/{token}`: "We've been in touch?" / "We have a plan?" and a
/// button; once answered, the answer given and when.
pub async fn show_answer(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let AnswerLink {
        opened: o,
        standing,
        answer,
    } = match open_answer(&s, &token).await? {
        Ok(link) => link,
        Err(why) => return Ok(refused(&s, Kind::Answer, why)),
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "answer").increment(1);
    match standing {
        Standing::Live => {}
        Standing::Answered(at) => return Ok(answered(&s, &o, answer, at)),
        Standing::Expired => return Ok(refused(&s, Kind::Answer, Refused::Expired)),
    }
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

/// `POST /r/{token}`: records the answer (once), then says what was
/// recorded and what happens next.
pub async fn answer(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let AnswerLink {
        opened: o,
        standing,
        answer,
    } = match open_answer(&s, &token).await? {
        Ok(link) => link,
        Err(why) => return Ok(refused(&s, Kind::Answer, why)),
    };
    match standing {
        Standing::Live => {}
        Standing::Answered(at) => return Ok(answered(&s, &o, answer, at)),
        Standing::Expired => return Ok(refused(&s, Kind::Answer, Refused::Expired)),
    }
    let Some(actor) = participant::actor_of(o.recipient) else {
        return Ok(refused(&s, Kind::Answer, Refused::Unknown));
    };
    let event = participant::answered(answer, &o.token, &o.pair.mentorship_id, actor, Utc::now());
    match store::web_answer(&s.pool, &o.token, &event).await? {
        Acted::Done => {
            metrics::counter!("firstweek_answers_total", "answer" => o.link.purpose.as_str())
                .increment(1);
            tracing::info!(mentorship_id = %o.pair.mentorship_id, event_id = %event.event_id, "answer recorded from a link");
        }
        Acted::Already => {
            // Answered at the same moment through another request: show
            // that one's time.
            let at = store::find_link(&s.pool, &o.token, o.link.purpose)
                .await?
                .and_then(|i| i.used_at)
                .unwrap_or(event.occurred_at);
            return Ok(answered(&s, &o, answer, at));
        }
        Acted::NotFound | Acted::Refused => {
            return Ok(refused(&s, Kind::Answer, Refused::Revoked));
        }
    }
    Ok(answered(&s, &o, answer, event.occurred_at))
}

fn person_id(o: &Opened) -> &str {
    match o.recipient {
        Recipient::Mentor => &o.pair.mentor.id,
        _ => &o.pair.mentee.id,
    }
}

/// The page of a person who is unsubscribed.
fn unsubscribed(s: &Shared, o: &Opened) -> Response {
    let (me, _) = names(o);
    s.pages
        .render("unsubscribe.html", minijinja::context! { me, done => true })
}

/// `GET /u/{token}`: a page with the unsubscribe button, or that they are
/// unsubscribed already (their link may have expired since: it still says so).
pub async fn show_unsubscribe(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let (o, standing) = match open(&s, &token, &[Purpose::Unsubscribe]).await? {
        Ok(o) => o,
        Err(why) => return Ok(refused(&s, Kind::Unsubscribe, why)),
    };
    metrics::counter!("firstweek_web_pages_total", "page" => "unsubscribe").increment(1);
    if store::is_unsubscribed(&s.pool, person_id(&o)).await? {
        return Ok(unsubscribed(&s, &o));
    }
    if standing == Standing::Expired {
        return Ok(refused(&s, Kind::Unsubscribe, Refused::Expired));
    }
    let (me, _) = names(&o);
    Ok(s.pages.render(
        "unsubscribe.html",
        minijinja::context! { me, done => false, action => format!("/u/{token}") },
    ))
}

/// `POST /u/{token}`: the one-click unsubscribe (RFC 8058), from the page's
/// button or a mail provider; answered 200 with the page, no redirect. A
/// person unsubscribed already is told so (200), through an expired link too.
pub async fn unsubscribe(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> Result<Response, Failure> {
    let (o, standing) = match open(&s, &token, &[Purpose::Unsubscribe]).await? {
        Ok(o) => o,
        Err(why) => return Ok(refused(&s, Kind::Unsubscribe, why)),
    };
    if standing == Standing::Expired {
        if store::is_unsubscribed(&s.pool, person_id(&o)).await? {
            return Ok(unsubscribed(&s, &o));
        }
        return Ok(refused(&s, Kind::Unsubscribe, Refused::Expired));
    }
    let event = participant::unsubscribed(person_id(&o), Utc::now());
    match store::web_unsubscribe(&s.pool, &o.token, &event).await? {
        Acted::Done => {
            metrics::counter!("firstweek_unsubscribes_total").increment(1);
            tracing::info!(mentorship_id = %o.pair.mentorship_id, recipient = %o.recipient, "unsubscribed through the link");
        }
        Acted::Already => {}
        Acted::NotFound | Acted::Refused => {
            return Ok(refused(&s, Kind::Unsubscribe, Refused::Revoked));
        }
    }
    Ok(unsubscribed(&s, &o))
}
