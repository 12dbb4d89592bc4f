//! The language of a page: the locale of the person the link belongs to
//! (a mentor's or mentee's own, a coordinator's), else the browser's
//! `Accept-Language`, else English. Each request carries its choice in a
//! task-local set by [`choose`] (a middleware), so a handler that knows
//! whose link it opened only says so ([`person`]) and [`current`] is what
//! the page is rendered in.

use std::cell::RefCell;

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use firstweek::locale::{self, Locale};

/// What a request's page may be written in.
#[derive(Debug, Default, Clone)]
struct Choice {
    /// The link's person's locale, once the handler opened the link.
    person: Option<Locale>,
    /// From `Accept-Language`.
    browser: Option<Locale>,
}

tokio::task_local! {
    static CHOICE: RefCell<Choice>;
}

/// Middleware: reads `Accept-Language` and runs the request with its choice.
pub async fn choose(request: Request, next: Next) -> Response {
    let browser = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(locale::negotiate);
    let choice = RefCell::new(Choice {
        person: None,
        browser,
    });
    CHOICE.scope(choice, next.run(request)).await
}

/// The page is about this person's link: their locale (a BCP 47 tag, if
/// they have one) comes before the browser's.
pub fn person(tag: Option<&str>) {
    let Some(locale) = tag.and_then(|t| Locale::parse(t).ok()) else {
        return;
    };
    let _ = CHOICE.try_with(|c| c.borrow_mut().person = Some(locale));
}

/// The locale the current request's page is written in.
pub fn current() -> Locale {
    CHOICE
        .try_with(|c| {
            let c = c.borrow();
            c.person.clone().or_else(|| c.browser.clone())
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}
