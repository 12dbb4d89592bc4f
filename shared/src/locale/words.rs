//! The words of each shipped locale that are not in a template: weekday
//! and month names, the clock, and how a time zone is named. One table per
//! locale; adding a locale means adding one here (see `docs/locales.md`).

use super::Locale;

/// 24-hour (`14:30`) or 12-hour (`2:30 PM`) clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `14:30`
    H24,
    /// `2:30 PM`
    H12,
}

/// A locale's words for dates, times and zones.
#[derive(Debug)]
pub struct Words {
    /// The locale's tag (`en`, `de`, `es`).
    pub tag: &'static str,
    /// Monday first.
    pub weekdays: [&'static str; 7],
    /// Monday first, as written before a date (`Mon`, `Mo.`, `lun`).
    pub weekdays_short: [&'static str; 7],
    /// January first, as written in a date (`Nov`, `Nov.`, `nov`).
    pub months_short: [&'static str; 12],
    /// January first, written out (`November`, `November`, `noviembre`).
    pub months: [&'static str; 12],
    /// The clock people of this locale read.
    pub clock: Clock,
    /// A zone named by its city: `{city}` is replaced (`Los Angeles time`,
    /// `Ortszeit Los Angeles`, `hora de Los Ángeles`).
    pub zone: &'static str,
    /// The UTC zone's name (`UTC`).
    pub utc: &'static str,
    /// City names that differ from the IANA name's last part (with `_` as
    /// a space), as this locale writes them.
    pub cities: &'static [(&'static str, &'static str)],
}

/// English: the default.
pub static EN: Words = Words {
    tag: "en",
    weekdays: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    weekdays_short: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    months_short: [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    clock: Clock::H24,
    zone: "{city} time",
    utc: "UTC",
    cities: &[],
};

/// German.
pub static DE: Words = Words {
    tag: "de",
    weekdays: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    weekdays_short: ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
    months_short: [
        "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sep.", "Okt.", "Nov.",
        "Dez.",
    ],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    clock: Clock::H24,
    zone: "Ortszeit {city}",
    utc: "UTC",
    cities: &[
        ("Vienna", "Wien"),
        ("Zurich", "Zürich"),
        ("Rome", "Rom"),
        ("Lisbon", "Lissabon"),
        ("Warsaw", "Warschau"),
        ("Prague", "Prag"),
        ("Brussels", "Brüssel"),
        ("Copenhagen", "Kopenhagen"),
        ("Moscow", "Moskau"),
        ("Athens", "Athen"),
        ("Sao Paulo", "São Paulo"),
        ("Bogota", "Bogotá"),
        ("Kolkata", "Kalkutta"),
        ("Tokyo", "Tokio"),
        ("Mexico City", "Mexiko-Stadt"),
    ],
};

/// Spanish.
pub static ES: Words = Words {
    tag: "es",
    weekdays: [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
    ],
    weekdays_short: ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
    months_short: [
        "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
    ],
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    clock: Clock::H24,
    zone: "hora de {city}",
    utc: "UTC",
    cities: &[
        ("Los Angeles", "Los Ángeles"),
        ("New York", "Nueva York"),
        ("Mexico City", "Ciudad de México"),
        ("Bogota", "Bogotá"),
        ("Sao Paulo", "São Paulo"),
        ("London", "Londres"),
        ("Berlin", "Berlín"),
        ("Vienna", "Viena"),
        ("Zurich", "Zúrich"),
        ("Paris", "París"),
        ("Rome", "Roma"),
        ("Lisbon", "Lisboa"),
        ("Warsaw", "Varsovia"),
        ("Prague", "Praga"),
        ("Brussels", "Bruselas"),
        ("Copenhagen", "Copenhague"),
        ("Moscow", "Moscú"),
        ("Athens", "Atenas"),
        ("Tokyo", "Tokio"),
        ("Kolkata", "Calcuta"),
        ("Singapore", "Singapur"),
    ],
};

static ALL: [&Words; 3] = [&EN, &DE, &ES];

impl Words {
    /// The words of the first shipped locale along `locale`'s chain (English
    /// for a language firstweek does not ship).
    pub fn of(locale: &Locale) -> &'static Words {
        let tag = locale.shipped().unwrap_or(super::DEFAULT);
        ALL.into_iter().find(|w| w.tag == tag).unwrap_or(&EN)
    }

    /// A city as this locale writes it.
    pub fn city<'a>(&self, city: &'a str) -> std::borrow::Cow<'a, str> {
        match self.cities.iter().find(|(en, _)| *en == city) {
            Some((_, ours)) => (*ours).into(),
            None => city.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_locale_has_its_words() {
        for tag in super::super::SHIPPED {
            let locale = Locale::parse(tag).unwrap();
            assert_eq!(Words::of(&locale).tag, tag);
        }
        assert_eq!(Words::of(&Locale::parse("de-AT").unwrap()).tag, "de");
        assert_eq!(Words::of(&Locale::parse("fr").unwrap()).tag, "en");
    }
}
