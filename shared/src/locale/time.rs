//! Dates, times and zones as a locale writes them.

use chrono::{DateTime, Datelike, Offset, Timelike, Utc};
use chrono_tz::Tz;

use super::{Clock, Locale, Words};

/// The clock a locale reads: its table's, except where a region of the
/// language reads the other one (English in the US, Canada, Australia,
/// New Zealand and the Philippines reads 12-hour).
fn clock(locale: &Locale) -> Clock {
    let region = locale
        .as_str()
        .split('-')
        .skip(1)
        .find(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()));
    match (locale.language(), region) {
        ("en", Some("US" | "CA" | "AU" | "NZ" | "PH")) => Clock::H12,
        _ => Words::of(locale).clock,
    }
}

fn time_of_day(locale: &Locale, hour: u32, minute: u32) -> String {
    match clock(locale) {
        Clock::H24 => format!("{hour:02}:{minute:02}"),
        Clock::H12 => {
            let (h, half) = match hour {
                0 => (12, "AM"),
                1..=11 => (hour, "AM"),
                12 => (12, "PM"),
                _ => (hour - 12, "PM"),
            };
            format!("{h}:{minute:02}\u{a0}{half}")
        }
    }
}

/// `UTC+1`, `UTC−8` (a true minus sign), `UTC+5:30`, `UTC` for no offset.
fn offset(seconds: i32) -> String {
    if seconds == 0 {
        return "UTC".into();
    }
    let sign = if seconds < 0 { '\u{2212}' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    match minutes % 60 {
        0 => format!("UTC{sign}{}", minutes / 60),
        m => format!("UTC{sign}{}:{m:02}", minutes / 60),
    }
}

/// The city of an IANA zone name (`America/Los_Angeles` → `Los Angeles`,
/// `America/Argentina/Buenos_Aires` → `Buenos Aires`); `None` for zones
/// that name no place (`UTC`, `Etc/GMT+5`).
fn city(tz_name: &str) -> Option<String> {
    let (area, last) = tz_name.rsplit_once('/')?;
    if area == "Etc" || area.is_empty() {
        return None;
    }
    Some(last.replace('_', " "))
}

/// A zone as a person reads it, at the moment `at`: `Los Angeles time
/// (UTC−8)`, `Ortszeit Los Angeles (UTC−8)`, `hora de Los Ángeles (UTC−8)`;
/// `UTC` alone for UTC, the offset alone for a zone that names no city. An
/// unknown name is written as it is.
pub fn zone_name(locale: &Locale, tz_name: &str, at: DateTime<Utc>) -> String {
    let Ok(tz) = tz_name.parse::<Tz>() else {
        return tz_name.to_string();
    };
    let words = Words::of(locale);
    let off = offset(at.with_timezone(&tz).offset().fix().local_minus_utc());
    match city(tz.name()) {
        Some(c) => format!("{} ({off})", words.zone.replace("{city}", &words.city(&c))),
        None if off == "UTC" => words.utc.to_string(),
        None => off,
    }
}

/// The weekday and time of `at` on the clock of `tz_name` (UTC when it is
/// not a zone): `Tuesday 09:15`, `Dienstag 09:15`, `martes 09:15`,
/// `Tuesday 9:15 AM` for `en-US`.
pub fn weekday_time(locale: &Locale, tz_name: &str, at: DateTime<Utc>) -> String {
    let tz = tz_name.parse::<Tz>().unwrap_or(Tz::UTC);
    let local = at.with_timezone(&tz);
    let words = Words::of(locale);
    let day = words.weekdays[local.weekday().num_days_from_monday() as usize];
    format!(
        "{day} {}",
        time_of_day(locale, local.hour(), local.minute())
    )
}

/// A stretch of time on the clock of `tz` (a call's slot), as an
/// invitation writes it: with its date, `Tuesday 1 December, 16:00–16:30`,
/// `Dienstag, 1. Dezember, 16:00–16:30`, `martes 1 de diciembre,
/// 16:00–16:30`; without, `Tuesday 16:00–16:30`.
pub fn span(
    locale: &Locale,
    tz: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    with_date: bool,
) -> String {
    let (s, e) = (start.with_timezone(&tz), end.with_timezone(&tz));
    let words = Words::of(locale);
    let day = words.weekdays[s.weekday().num_days_from_monday() as usize];
    let times = format!(
        "{}\u{2013}{}",
        time_of_day(locale, s.hour(), s.minute()),
        time_of_day(locale, e.hour(), e.minute())
    );
    if !with_date {
        return format!("{day} {times}");
    }
    let month = words.months[s.month0() as usize];
    match words.tag {
        "de" => format!("{day}, {}. {month}, {times}", s.day()),
        "es" => format!("{day} {} de {month}, {times}", s.day()),
        _ => format!("{day} {} {month}, {times}", s.day()),
    }
}

/// A day and time on the clock of `tz_name` (UTC when it is not a zone),
/// as a sentence says when something happened: `Tuesday 24 November at
/// 14:05`, `Dienstag, 24. November um 14:05`, `martes 24 de noviembre a
/// las 14:05`.
pub fn day_at(locale: &Locale, tz_name: &str, at: DateTime<Utc>) -> String {
    let tz = tz_name.parse::<Tz>().unwrap_or(Tz::UTC);
    let local = at.with_timezone(&tz);
    let words = Words::of(locale);
    let day = words.weekdays[local.weekday().num_days_from_monday() as usize];
    let month = words.months[local.month0() as usize];
    let time = time_of_day(locale, local.hour(), local.minute());
    match words.tag {
        "de" => format!("{day}, {}. {month} um {time}", local.day()),
        "es" => format!("{day} {} de {month} a las {time}", local.day()),
        _ => format!("{day} {} {month} at {time}", local.day()),
    }
}

/// Now on a person's clock, as the templates' `local_time` reads: the
/// weekday and time (the zone is written apart, by [`zone_name`]).
pub fn local_time(locale: &Locale, tz_name: &str, at: DateTime<Utc>) -> String {
    weekday_time(locale, tz_name, at)
}

/// A moment's date and time on the clock of `tz_name` (UTC when it is not
/// a zone), without the zone: `Tue 24 Nov 13:05`, `Di. 24. Nov. 13:05`,
/// `mar 24 nov 13:05`.
pub fn date_time(locale: &Locale, tz_name: &str, at: DateTime<Utc>) -> String {
    let tz = tz_name.parse::<Tz>().unwrap_or(Tz::UTC);
    let local = at.with_timezone(&tz);
    let words = Words::of(locale);
    let day = words.weekdays_short[local.weekday().num_days_from_monday() as usize];
    let month = words.months_short[local.month0() as usize];
    let time = time_of_day(locale, local.hour(), local.minute());
    match words.tag {
        "de" => format!("{day} {}. {month} {time}", local.day()),
        _ => format!("{day} {} {month} {time}", local.day()),
    }
}

/// A moment with its date, for digests and pages: `Mon 23 Nov 07:00`,
/// `Mo. 23. Nov. 07:00`, `lun 23 nov 07:00`, followed by the zone's
/// name ([`zone_name`]; `UTC` when `tz_name` is `None`).
pub fn when(locale: &Locale, tz_name: Option<&str>, at: DateTime<Utc>) -> String {
    let name = tz_name.unwrap_or("UTC");
    let tz = name.parse::<Tz>().unwrap_or(Tz::UTC);
    format!(
        "{} {}",
        date_time(locale, tz.name(), at),
        zone_name(locale, tz.name(), at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn l(tag: &str) -> Locale {
        Locale::parse(tag).unwrap()
    }

    #[test]
    fn zones_are_named_by_their_city_and_offset_in_each_locale() {
        let winter = at("2026-11-24T17:00:00Z");
        let la = "America/Los_Angeles";
        assert_eq!(
            zone_name(&l("en"), la, winter),
            "Los Angeles time (UTC\u{2212}8)"
        );
        assert_eq!(
            zone_name(&l("de-AT"), la, winter),
            "Ortszeit Los Angeles (UTC\u{2212}8)"
        );
        assert_eq!(
            zone_name(&l("es-MX"), la, winter),
            "hora de Los Ángeles (UTC\u{2212}8)"
        );
        assert_eq!(
            zone_name(&l("de"), "Europe/Vienna", winter),
            "Ortszeit Wien (UTC+1)"
        );
        assert_eq!(
            zone_name(&l("en"), "Asia/Kolkata", winter),
            "Kolkata time (UTC+5:30)"
        );
        assert_eq!(zone_name(&l("es"), "UTC", winter), "UTC");
        assert_eq!(zone_name(&l("en"), "Etc/GMT+5", winter), "UTC\u{2212}5");
        // Summer time is the offset of the moment.
        assert_eq!(
            zone_name(&l("en"), "Europe/Berlin", at("2026-07-01T12:00:00Z")),
            "Berlin time (UTC+2)"
        );
    }

    #[test]
    fn weekdays_months_and_clocks_follow_the_locale() {
        let t = at("2026-11-24T13:05:00Z"); // a Tuesday
        assert_eq!(weekday_time(&l("en"), "Europe/Berlin", t), "Tuesday 14:05");
        assert_eq!(
            weekday_time(&l("de-AT"), "Europe/Vienna", t),
            "Dienstag 14:05"
        );
        assert_eq!(weekday_time(&l("es"), "Europe/Madrid", t), "martes 14:05");
        assert_eq!(
            weekday_time(&l("en-US"), "America/New_York", t),
            "Tuesday 8:05\u{a0}AM"
        );
        assert_eq!(
            when(&l("de"), Some("Europe/Berlin"), t),
            "Di. 24. Nov. 14:05 Ortszeit Berlin (UTC+1)"
        );
        assert_eq!(when(&l("es"), None, t), "mar 24 nov 13:05 UTC");
        assert_eq!(when(&l("en"), None, t), "Tue 24 Nov 13:05 UTC");
        let end = at("2026-11-24T13:35:00Z");
        let vienna: Tz = "Europe/Vienna".parse().unwrap();
        assert_eq!(
            span(&l("en"), vienna, t, end, true),
            "Tuesday 24 November, 14:05\u{2013}14:35"
        );
        assert_eq!(
            span(&l("de-AT"), vienna, t, end, true),
            "Dienstag, 24. November, 14:05\u{2013}14:35"
        );
        assert_eq!(
            span(&l("es"), vienna, t, end, true),
            "martes 24 de noviembre, 14:05\u{2013}14:35"
        );
        assert_eq!(
            day_at(&l("de"), "Europe/Berlin", t),
            "Dienstag, 24. November um 14:05"
        );
        assert_eq!(
            day_at(&l("es-MX"), "Europe/Madrid", t),
            "martes 24 de noviembre a las 14:05"
        );
        assert_eq!(
            span(&l("es"), vienna, t, end, false),
            "martes 14:05\u{2013}14:35"
        );
    }
}
