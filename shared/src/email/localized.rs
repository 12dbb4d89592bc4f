//! The shipped translations, compiled in: `shared/templates/<locale>/`,
//! each parallel to the English template of the same name (same variables,
//! same blocks), so a change to one is carried to the others.

macro_rules! locale_parts {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$((concat!($dir, "/", $name), include_str!(concat!("../../templates/", $dir, "/", $name)))),*]
    };
}

/// German.
pub(super) const BUILT_IN_DE: &[(&str, &str)] = locale_parts!("de":
    "base.html",
    "footer.txt",
    "words.html",
    "welcome.subject",
    "welcome.txt",
    "welcome.html",
    "check_in.subject",
    "check_in.txt",
    "check_in.html",
    "plan_reminder.subject",
    "plan_reminder.txt",
    "plan_reminder.html",
    "wrap_up.subject",
    "wrap_up.txt",
    "wrap_up.html",
    "pacing_tip.subject",
    "pacing_tip.txt",
    "pacing_tip.html",
    "escalation.subject",
    "escalation.txt",
    "escalation.html",
    "digest.subject",
    "digest.txt",
    "digest.html",
    "escalation_reminder.subject",
    "escalation_reminder.txt",
    "escalation_reminder.html",
    "escalation_resolved.subject",
    "escalation_resolved.txt",
    "escalation_resolved.html",
);

/// Spanish.
pub(super) const BUILT_IN_ES: &[(&str, &str)] = locale_parts!("es":
    "base.html",
    "footer.txt",
    "words.html",
    "welcome.subject",
    "welcome.txt",
    "welcome.html",
    "check_in.subject",
    "check_in.txt",
    "check_in.html",
    "plan_reminder.subject",
    "plan_reminder.txt",
    "plan_reminder.html",
    "wrap_up.subject",
    "wrap_up.txt",
    "wrap_up.html",
    "pacing_tip.subject",
    "pacing_tip.txt",
    "pacing_tip.html",
    "escalation.subject",
    "escalation.txt",
    "escalation.html",
    "digest.subject",
    "digest.txt",
    "digest.html",
    "escalation_reminder.subject",
    "escalation_reminder.txt",
    "escalation_reminder.html",
    "escalation_resolved.subject",
    "escalation_resolved.txt",
    "escalation_resolved.html",
);
