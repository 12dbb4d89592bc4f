//! Every email firstweek sends, rendered by the domain's own templates for
//! one realistic pair: each step of the built-in playbook for each of its
//! recipients (in the state that makes the step fire), the silent pair's
//! wrap-up, the escalation's notices and the coordinator's digest (with
//! something to act on, and "all quiet").

use chrono::{DateTime, Duration, Utc};
use firstweek::coordinator::advice;
use firstweek::day::Day;
use firstweek::digest::{DigestContext, EscalationLine, Others, PairLine};
use firstweek::email::{Context, Links, Rendered, Templates};
use firstweek::escalation::{Notice, Resolution};
use firstweek::event::{Actor, Coordinator, InteractionKind, MentorshipStarted, Person};
use firstweek::interaction::{Interaction, Summary};
use firstweek::playbook::{Playbook, Trigger};
use firstweek::rule::{Condition, Recipient};
use firstweek::timeline::{SendWindow, TimeScale};

/// Where the sample links point.
const SITE: &str = "https://mentoring.example.org";
/// A token as long as the real ones (base64url of 32 bytes).
const TOKEN: &str = "q9XkT2mWb7LrV4sNc8YpJ3dHf6GzA1eUo5iKx0tRw_E";

/// The program's own page for a pair, for playbooks whose partners reach
/// each other there rather than by address.
const PROGRAM_LINK: &str = "https://mentoring.example.org/pairs/{pair_id}/messages";

/// One rendered email: its name (`step-recipient[-variant]`) and parts.
pub struct Sample {
    /// e.g. `welcome-mentor`, `wrap_up-mentee-silent`, `digest`.
    pub name: String,
    /// The template it was rendered from.
    pub template: String,
    /// Subject, text and HTML.
    pub rendered: Rendered,
}

fn started_at() -> DateTime<Utc> {
    "2027-03-01T08:00:00Z".parse().unwrap_or_default()
}

/// The sample pair: a mentor in Berlin, a mentee in São Paulo, a coordinator in London.
pub fn pair() -> MentorshipStarted {
    pair_in(None)
}

/// The sample pair, everyone reading `locale` (a BCP 47 tag; `None`: English).
pub fn pair_in(locale: Option<&str>) -> MentorshipStarted {
    let locale = locale.map(str::to_string);
    MentorshipStarted {
        event_id: "sample-start".into(),
        mentorship_id: "spring-2027-0042".into(),
        program_id: Some("spring-2027".into()),
        started_at: started_at(),
        mentor: Person {
            id: "p-ada".into(),
            name: "Ada Lovelace".into(),
            email: "ada.lovelace@example.org".into(),
            timezone: "Europe/Berlin".into(),
            locale: locale.clone(),
        },
        mentee: Person {
            id: "p-bo".into(),
            name: "Bo Chen".into(),
            email: "bo.chen@example.org".into(),
            timezone: "America/Sao_Paulo".into(),
            locale: locale.clone(),
        },
        coordinator: Coordinator {
            name: "Cy Okafor".into(),
            email: "cy.okafor@example.org".into(),
            timezone: Some("Europe/London".into()),
            locale,
        },
    }
}

fn at(days: f64) -> DateTime<Utc> {
    started_at() + Duration::minutes((days * 24.0 * 60.0) as i64)
}

fn interaction(kind: InteractionKind, actor: Actor, day: f64, minutes: Option<u32>) -> Interaction {
    Interaction {
        kind,
        actor,
        occurred_at: at(day),
        duration_minutes: minutes,
    }
}

/// What the pair did before the step that fires in that state.
fn ledger(variant: &str) -> Vec<Interaction> {
    use Actor::{Mentee, Mentor};
    use InteractionKind::*;
    match variant {
        // Only the mentor wrote: no two-way yet.
        "one_sided" => vec![
            interaction(Message, Mentor, 0.2, None),
            interaction(Message, Mentor, 1.5, None),
        ],
        // Talking, no plan yet.
        "talking" => vec![
            interaction(Message, Mentor, 0.2, None),
            interaction(Message, Mentee, 0.4, None),
            interaction(Call, Mentee, 1.1, Some(30)),
        ],
        // Diving in: a three-hour session on day one.
        "intense" => vec![
            interaction(Message, Mentor, 0.2, None),
            interaction(Message, Mentee, 0.3, None),
            interaction(Session, Mentor, 1.0, Some(180)),
        ],
        // A good week: talking both ways and a plan.
        "engaged" => vec![
            interaction(Message, Mentor, 0.2, None),
            interaction(Message, Mentee, 0.4, None),
            interaction(Call, Mentee, 1.1, Some(30)),
            interaction(Message, Mentor, 2.3, None),
            interaction(PlanShared, Mentee, 3.2, None),
            interaction(GoalSet, Mentor, 3.5, None),
        ],
        _ => Vec::new(),
    }
}

/// Which state each step fires in, for the sample.
fn variant_of(step: &str) -> &'static str {
    match step {
        "check_in" => "one_sided",
        "plan_reminder" => "talking",
        "escalation" => "one_sided",
        "wrap_up" => "engaged",
        "pacing_tip" => "intense",
        _ => "silent",
    }
}

fn links(recipient: Recipient, step: &str) -> Links {
    let url = |p: &str| Some(format!("{SITE}/{p}/{TOKEN}"));
    match recipient {
        Recipient::Coordinator => Links {
            acknowledge: url("a"),
            page: url("c"),
            pair: Some(format!("{SITE}/c/{TOKEN}/pairs/spring-2027-0042")),
            ..Links::default()
        },
        _ => Links {
            in_touch: (step == "check_in").then(|| url("r")).flatten(),
            have_plan: (step == "plan_reminder").then(|| url("r")).flatten(),
            unsubscribe: url("u"),
            ..Links::default()
        },
    }
}

/// What one email is about: its step, template, recipient and when it is due.
struct Step<'a> {
    id: &'a str,
    template: &'a str,
    recipient: Recipient,
    due: DateTime<Utc>,
    when: &'a [Condition],
}

/// The context the services would render `step` with, in the state
/// `variant`: mentor and mentee learn how to reach each other (and the
/// welcome suggests call times in the default send window), the
/// coordinator gets the advice that follows the reasons.
fn context(
    playbook: &Playbook,
    started: &MentorshipStarted,
    step: &Step,
    variant: &str,
) -> Context {
    let summary = Summary::as_of(&ledger(variant), step.due);
    let fired = summary.judge(step.when, &playbook.thresholds);
    let reasons = fired
        .iter()
        .map(|c| c.wording(&summary, &playbook.thresholds))
        .collect();
    let advice = advice::lines(&fired, &summary);
    let ctx = Context::new(
        started,
        step.id,
        step.recipient,
        step.due,
        TimeScale::REAL,
        summary,
        reasons,
        step.due,
    )
    .with_links(links(step.recipient, step.id))
    .with_program(playbook);
    match step.recipient {
        Recipient::Coordinator => ctx.with_advice(advice),
        _ => ctx.with_reach(
            started,
            playbook,
            SendWindow::default(),
            step.template,
            step.due,
        ),
    }
}

fn role(r: Recipient) -> &'static str {
    match r {
        Recipient::Mentor => "mentor",
        Recipient::Mentee => "mentee",
        Recipient::Coordinator => "coordinator",
    }
}

/// The built-in playbook, naming its program and sender.
pub fn playbook() -> anyhow::Result<Playbook> {
    playbook_with("email")
}

/// The built-in playbook, naming its program and sender, its partners
/// reaching each other as `contact` says (`email` or a link template).
fn playbook_with(contact: &str) -> anyhow::Result<Playbook> {
    let source = Playbook::built_in().source;
    let built_in = "contact = \"email\"";
    anyhow::ensure!(
        source.contains(built_in),
        "the built-in playbook names no contact"
    );
    let text = format!(
        "program_name = \"Spring Mentoring 2027\"\nsender_name = \"Ada's Mentoring Circle\"\n{}",
        source.replace(built_in, &format!("contact = \"{contact}\""))
    );
    Ok(Playbook::parse("sample", &text)?)
}

/// Every email of the built-in playbook, its notices and the digest, rendered.
pub fn all() -> anyhow::Result<Vec<Sample>> {
    all_in(None)
}

/// Every email, everyone reading `locale` (`None`: English): each step of
/// the built-in playbook for each recipient, the silent pair's wrap-up, the
/// mentee's welcome and check-in in a program whose partners reach each
/// other on its own page (`-program_link`), the escalation's notices and
/// the digest.
pub fn all_in(locale: Option<&str>) -> anyhow::Result<Vec<Sample>> {
    let templates = Templates::built_in()?;
    let started = pair_in(locale);
    let mut out = Vec::new();
    let by_address = playbook()?;
    let by_link = playbook_with(PROGRAM_LINK)?;
    for (playbook, contact) in [(&by_address, ""), (&by_link, "-program_link")] {
        for step in &playbook.steps {
            let due = match step.trigger {
                Trigger::At(offset) => started_at() + offset,
                Trigger::IntenseInteraction => at(1.0),
            };
            let mut variants = vec![("", variant_of(&step.id))];
            if step.id == "wrap_up" && contact.is_empty() {
                // The pair that never spoke gets a wrap-up too.
                variants.push(("-silent", "silent"));
            }
            for (suffix, variant) in variants {
                for r in &step.recipients {
                    // The program's link changes what mentor and mentee
                    // read; one of them, in the emails that say how to reach
                    // the other, shows it.
                    let shown = ["welcome", "check_in"].contains(&step.id.as_str())
                        && *r == Recipient::Mentee;
                    if !contact.is_empty() && !shown {
                        continue;
                    }
                    let about = Step {
                        id: &step.id,
                        template: &step.template,
                        recipient: *r,
                        due,
                        when: &step.when,
                    };
                    let ctx = context(playbook, &started, &about, variant);
                    out.push(Sample {
                        name: format!("{}-{}{suffix}{contact}", step.id, role(*r)),
                        template: step.template.clone(),
                        rendered: templates.render_parts(&step.template, &ctx)?,
                    });
                }
            }
        }
    }
    // The escalation's notices, two days after the day-4 escalation opened.
    for notice in Notice::ALL {
        let (variant, words) = match notice {
            Notice::Reminder => ("silent", None),
            Notice::Resolved => ("engaged", Some(Resolution::Recovered.words())),
        };
        let about = Step {
            id: notice.step_id(),
            template: notice.step_id(),
            recipient: Recipient::Coordinator,
            due: at(6.0),
            when: &[Condition::NoInteraction],
        };
        let mut ctx = context(&by_address, &started, &about, variant);
        if let Some(words) = words {
            ctx.reasons = vec![words.to_string()];
        }
        out.push(Sample {
            name: notice.step_id().to_string(),
            template: notice.step_id().to_string(),
            rendered: templates.render_parts(notice.step_id(), &ctx)?,
        });
    }
    let tag = locale.unwrap_or("en");
    for (name, ctx) in [
        ("digest", digest(false, tag)),
        ("digest-all_quiet", digest(true, tag)),
    ] {
        out.push(Sample {
            name: name.into(),
            template: firstweek::digest::TEMPLATE.into(),
            rendered: templates.render_parts(firstweek::digest::TEMPLATE, &ctx)?,
        });
    }
    Ok(out)
}

/// The coordinator's digest on the morning of day 5: one escalation
/// waiting, one pair trending low, three on track (or all quiet).
fn digest(all_quiet: bool, locale: &str) -> DigestContext {
    let escalation = EscalationLine {
        mentorship_id: "spring-2027-0042".into(),
        mentor: Some("Ada Lovelace".into()),
        mentee: Some("Bo Chen".into()),
        rules: vec!["no interaction at all".into()],
        day: Day::nth(5),
        opened_day: Some(Day::nth(4)),
        total: 0,
        by_mentor: 0,
        by_mentee: 0,
        kinds: Vec::new(),
        last_activity: None,
        open_since: "Thu 04 Mar 08:05 GMT".into(),
        advice: advice::lines(&[Condition::NoInteraction], &Summary::default()),
        url: Some(format!("{SITE}/c/{TOKEN}/pairs/spring-2027-0042")),
    };
    let trending = PairLine {
        mentorship_id: "spring-2027-0051".into(),
        mentor: "Grace Hopper".into(),
        mentee: "Dev Patel".into(),
        day: Day::nth(5),
        week_days: 7,
        total: 2,
        by_mentor: 2,
        by_mentee: 0,
        has_plan: false,
        risks: vec![
            "one-sided: only the mentor has interacted".into(),
            "no plan or goals shared yet".into(),
        ],
        // Its advice follows what it did: two messages, the mentor's only.
        advice: advice::lines(
            &[Condition::OneSided, Condition::NoPlan],
            &Summary::as_of(&ledger("one_sided"), at(4.0)),
        ),
        url: Some(format!("{SITE}/c/{TOKEN}/pairs/spring-2027-0051")),
    };
    DigestContext {
        coordinator: "Cy Okafor".into(),
        date: "2027-03-05".into(),
        escalations: if all_quiet { vec![] } else { vec![escalation] },
        trending_low: if all_quiet { vec![] } else { vec![trending] },
        others: Others {
            total: 3,
            on_track: 2,
            acknowledged: 1,
        },
        all_quiet,
        page_url: Some(format!("{SITE}/c/{TOKEN}")),
        locale: locale.into(),
    }
}
