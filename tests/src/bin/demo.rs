//! `firstweek-demo`: plays a cohort of 20 pairs through their first week on a
//! compressed clock (the week in about a minute) against the real services,
//! then prints what each pair received and why; and, some time later, how
//! each pair is doing (`mentorship.outcome`), the outcome report of the
//! cohort and the experiments report of its check-in, which holds 30 % of
//! the pairs out.
//!
//! Options: `--scale N` (default 10080: a week in 60 s), `--keep` (keep the
//! database, vhost and captured mail for a look afterwards).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Timelike, Utc};
use firstweek::event::Outcome;
use firstweek::outcome::{self, Escalation, FirstWeek};
use firstweek_store::read::{self, Program};
use firstweek_tests::cohort::{Script, cohort, interactions};
use firstweek_tests::expect::{Expected, Tally};
use firstweek_tests::kept;
use firstweek_tests::{
    Env, Mail, Options, Pair, bin_dir, digest_playbook, http_get, http_post, link_in, port,
};

/// The program's coordinator (every pair's).
const COORDINATOR: &str = "coordinator@program.example.org";

#[tokio::main]
async fn main() {
    // An operator reads one sentence and its causes, never a backtrace.
    if let Err(e) = run().await {
        eprintln!("firstweek-demo: {e:#}");
        std::process::exit(1);
    }
}

/// How long the demo waits for PostgreSQL and RabbitMQ to answer (a broker
/// restarting as the demo starts takes a few seconds to tens of seconds).
const READY_WITHIN: Duration = Duration::from_secs(120);

/// Starts the demo's private installation, waiting for a broker (or
/// database) that is restarting instead of failing on it.
async fn start_when_ready(options: Options) -> anyhow::Result<Env> {
    let started = Instant::now();
    let mut said = false;
    loop {
        match Env::start(options.clone()).await {
            Ok(env) => {
                if said {
                    println!("  …they answer now.");
                }
                return Ok(env);
            }
            Err(e) if started.elapsed() < READY_WITHIN => {
                if !said {
                    println!(
                        "  RabbitMQ or PostgreSQL is not ready ({e:#}); waiting for it (up to {} s)…",
                        READY_WITHIN.as_secs()
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                return Err(e.context(format!(
                    "RabbitMQ or PostgreSQL did not answer within {} s (is `rabbitmq-diagnostics check_running` ok?)",
                    READY_WITHIN.as_secs()
                )));
            }
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let keep = args.iter().any(|a| a == "--keep");
    let scale = args
        .iter()
        .position(|a| a == "--scale")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<f64>())
        .transpose()
        .context("--scale takes a number")?
        .unwrap_or(10_080.0);

    println!(
        "Starting firstweek: a scheduler and a worker, on PostgreSQL, RabbitMQ and an SMTP server (aiosmtpd)…"
    );
    let web = port();
    // Digests follow the wall clock (a coordinator's morning is a real one):
    // the demo's coordinator, without a zone, has had their 00:00 UTC today,
    // and the digest job ticks once, on program day 3.
    let playbook = digest_playbook("fw-demo", "00:00", false)?;
    hold_out_of_the_check_in(&playbook)?;
    let mut options = Options::with_links(scale, web);
    options
        .env
        .push(("FIRSTWEEK_PLAYBOOK".into(), playbook.display().to_string()));
    let mut env = start_when_ready(options).await?;
    let start = Utc::now() + chrono::Duration::seconds(2);
    // The digest job's one tick, on program day 3 (cron is UTC).
    let digest_at = start + env.days(3.0);
    let cron = format!(
        "{} {} {} * * *",
        digest_at.second(),
        digest_at.minute(),
        digest_at.hour()
    );
    env.spawn("firstweek-scheduler", &[("FIRSTWEEK_DIGEST_CRON", &cron)])
        .await?;
    env.spawn("firstweek-worker", &[]).await?;
    env.spawn(
        "firstweek-web",
        &[("FIRSTWEEK_WEB_ADDR", &format!("127.0.0.1:{web}"))],
    )
    .await?;
    let week = env.days(7.0).num_milliseconds() as f64 / 1000.0;
    println!(
        "database {}, vhost {}, SMTP 127.0.0.1:{}; a program day lasts {:.1} s, the week {:.0} s",
        env.name,
        env.vhost,
        env.smtp_port,
        week / 7.0,
        week
    );

    let scripts = cohort();
    let pairs: Vec<Pair> = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut p = Pair::new(&format!("pair-{:02}", i + 1), start);
            p.tz_mentor = s.zones.0.into();
            p.tz_mentee = s.zones.1.into();
            p
        })
        .collect();

    for (p, s) in pairs.iter().zip(&scripts) {
        if s.before_start {
            publish_beats(&env, p, s).await?;
        }
    }
    for (i, (p, s)) in pairs.iter().zip(&scripts).enumerate() {
        let mut start_event = p.started(&format!("{}-start", p.id));
        // Each pair its own people, so the emails, pages and CLI read as a real cohort.
        let (mentor, mentee) = names(i);
        start_event["mentor"]["name"] = mentor.into();
        start_event["mentee"]["name"] = mentee.into();
        // One coordinator for the whole cohort, as in a real program.
        start_event["coordinator"]["email"] = COORDINATOR.into();
        env.publish_json("mentorship.started", &start_event).await?;
        if s.twice {
            env.publish_json("mentorship.started", &start_event).await?;
        }
        if !s.before_start && !s.live {
            publish_beats(&env, p, s).await?;
        }
    }
    // Endings, and the live pair's interactions, are published when they happen.
    let clock = Instant::now();
    let mut happenings: Vec<(f64, &Pair, serde_json::Value, &str)> = pairs
        .iter()
        .zip(&scripts)
        .filter_map(|(p, s)| {
            s.ends_on_day
                .map(|d| (d, p, p.ended(env.days(d)), "mentorship.ended"))
        })
        .collect();
    for (p, s) in pairs.iter().zip(&scripts).filter(|(_, s)| s.live) {
        let events = interactions(p, &s.beats, |d| env.days(d));
        for (b, event) in s.beats.iter().zip(events) {
            happenings.push((b.day, p, event, "interaction.recorded"));
        }
    }
    happenings.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (day, p, event, key) in happenings {
        let at = (start + env.days(day) - Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(at).await;
        env.publish_json(key, &event).await?;
        if key == "mentorship.ended" {
            println!("  {} ended on day {day}", p.id);
        }
    }
    println!("Playing the week…");
    // The coordinator acknowledges pair-04's escalation from its email
    // (opening the link shows a button; pressing it acknowledges), and
    // leaves pair-05's alone: it gets the reminder.
    let acked = &pairs[3];
    let deadline = Instant::now() + Duration::from_secs((week * 2.0) as u64 + 30);
    let link = loop {
        let prefix = format!("http://127.0.0.1:{web}/a/");
        let found = env
            .mails()
            .into_iter()
            .filter(|m| m.mentorship == acked.id && m.step == "escalation_early")
            .find_map(|m| link_in(&m.text, &prefix));
        if let Some(token) = found {
            break token;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no escalation email for {}",
            acked.id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let page = http_get(web, &format!("/a/{link}")).await;
    anyhow::ensure!(
        page.contains("<form method=\"post\""),
        "the acknowledge page shows a button"
    );
    http_post(web, &format!("/a/{link}"), "").await;
    println!(
        "  the coordinator acknowledged {}'s escalation through the link in its email",
        acked.id
    );
    // pair-08's mentee answers the plan reminder: "we have a plan" (on paper).
    let answering = &pairs[7];
    let prefix = format!("http://127.0.0.1:{web}/r/");
    let answer = loop {
        let found = env
            .mails()
            .into_iter()
            .filter(|m| m.rcpt == answering.mentee() && m.step == "plan_reminder")
            .find_map(|m| link_in(&m.text, &prefix));
        if let Some(token) = found {
            break token;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no plan reminder for {}",
            answering.id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    http_post(web, &format!("/r/{answer}"), "").await;
    println!(
        "  {}'s mentee answered the plan reminder through its link: \"we have a plan\"",
        answering.id
    );
    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs((week * 3.0) as u64 + 60))
        .await?;
    println!(
        "The week is over after {:.0} s.\n",
        clock.elapsed().as_secs_f64()
    );

    print_table(&env, &pairs, &scripts).await?;
    publish_outcomes(&env).await?;
    print_report(&env, "outcomes")?;
    print_report(&env, "experiments")?;
    if keep {
        println!("\nCaptured emails: {}", env.mail_dir.display());
        print_kept_settings(&env, web)?;
        let mut env = env;
        env.stop_processes().await;
        // Dropping would not remove anything either; this just says so.
        std::mem::forget(env);
    } else {
        println!("\n(run with --keep to keep the database and the captured emails)");
        env.stop().await;
    }
    Ok(())
}

/// The `i`-th pair's mentor and mentee: distinct first and last names for
/// up to 20 pairs (then the list starts over with a number).
fn names(i: usize) -> (String, String) {
    const MENTORS: [&str; 20] = [
        "Ada Lindqvist",
        "Bruno Costa",
        "Chiara Rossi",
        "Dmitri Volkov",
        "Esther Cohen",
        "Farid Haddad",
        "Grace Okafor",
        "Hiro Tanaka",
        "Ingrid Berg",
        "Jonas Weber",
        "Kavya Iyer",
        "Luis Ortega",
        "Maya Levi",
        "Nils Andersen",
        "Olga Nowak",
        "Pedro Alves",
        "Qin Wei",
        "Rosa Martins",
        "Samuel Mensah",
        "Tara Quinn",
    ];
    const MENTEES: [&str; 20] = [
        "Uma Patel",
        "Victor Hugo Lima",
        "Wen Li",
        "Xavier Dubois",
        "Yara Nasser",
        "Zoe Fischer",
        "Amir Karimi",
        "Bea Santos",
        "Carlos Ruiz",
        "Dana Kowalski",
        "Emil Novak",
        "Fatima Zahra",
        "Gustav Holm",
        "Hana Sato",
        "Ivan Petrov",
        "Julia Moreau",
        "Kofi Boateng",
        "Lena Schmidt",
        "Marco Bianchi",
        "Nora Eriksen",
    ];
    let round = i / MENTORS.len();
    let suffix = if round == 0 {
        String::new()
    } else {
        format!(" {}", round + 1)
    };
    (
        format!("{}{suffix}", MENTORS[i % MENTORS.len()]),
        format!("{}{suffix}", MENTEES[i % MENTEES.len()]),
    )
}

/// The settings that make the CLI and `firstweek-web` read the kept data as
/// the services wrote it (same database, pseudonym key, program clock,
/// playbook and links), in a file to source, and how to use them.
fn print_kept_settings(env: &Env, web: u16) -> anyhow::Result<()> {
    let settings = kept::read_settings(env, &format!("127.0.0.1:{web}"));
    let dir = env.mail_dir.parent().unwrap_or(&env.mail_dir);
    let file = kept::write_settings(dir, &settings)?;
    println!("Kept. To read it, load these settings (the pseudonym key is in the file):");
    for line in kept::printable(&settings) {
        println!("  {line}");
    }
    println!("\n  . {}", file.display());
    println!("  firstweek at-risk");
    println!("  firstweek playbook dry-run \"$FIRSTWEEK_PLAYBOOK\" --mentorship pair-05");
    println!("  firstweek escalation list");
    println!("  firstweek-web    # then open the links in the captured emails");
    Ok(())
}

async fn publish_beats(env: &Env, p: &Pair, s: &Script) -> anyhow::Result<()> {
    for event in interactions(p, &s.beats, |d| env.days(d)) {
        env.publish_json("interaction.recorded", &event).await?;
        if s.twice {
            env.publish_json("interaction.recorded", &event).await?;
        }
    }
    if s.before_start {
        let want = s.beats.len() as i64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM interactions WHERE mentorship_id = $1")
                    .bind(&p.id)
                    .fetch_one(&env.pool)
                    .await?;
            if n >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

fn steps_for(mails: &[&Mail], address: &str) -> String {
    let order = [
        "welcome",
        "pacing_tip",
        "check_in",
        "plan_reminder",
        "escalation_early",
        "wrap_up",
        "escalation",
        "escalation_reminder",
        "escalation_resolved",
    ];
    let mut steps: Vec<&str> = mails
        .iter()
        .filter(|m| m.rcpt == address)
        .map(|m| m.step.as_str())
        .collect();
    steps.sort_by_key(|s| order.iter().position(|o| o == s).unwrap_or(99));
    if steps.is_empty() {
        "-".into()
    } else {
        steps.join(", ")
    }
}

fn escalation_reasons(mails: &[&Mail]) -> Vec<String> {
    mails
        .iter()
        .filter(|m| m.step.starts_with("escalation"))
        .flat_map(|m| {
            let text = m
                .text
                .split("Why:")
                .nth(1)
                .unwrap_or("")
                .split("What was seen")
                .next()
                .unwrap_or("");
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("- ").map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn print_table(env: &Env, pairs: &[Pair], scripts: &[Script]) -> anyhow::Result<()> {
    let mails = env.mails();
    let cohort: Vec<Expected> = pairs
        .iter()
        .map(|p| Expected::new(p.clone(), &[]))
        .collect();
    let duplicates = Tally::of(&mails, &cohort).duplicated();
    let header = format!(
        "{:<8} {:<36} {:<42} {:<42} {}",
        "pair", "behaviour", "mentor received", "mentee received", "coordinator (why)"
    );
    println!("{header}");
    println!("{}", "-".repeat(header.len() + 20));
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for (p, s) in pairs.iter().zip(scripts) {
        let mine: Vec<&Mail> = mails.iter().filter(|m| m.mentorship == p.id).collect();
        for m in &mine {
            *totals.entry(m.step.clone()).or_default() += 1;
        }
        let coordinator = match steps_for(&mine, COORDINATOR).as_str() {
            "-" => {
                let cancelled: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline WHERE mentorship_id = $1 AND status = 'cancelled'")
                    .bind(&p.id)
                    .fetch_one(&env.pool)
                    .await?;
                if cancelled > 0 {
                    format!("- ({cancelled} pending steps cancelled: ended)")
                } else {
                    "-".into()
                }
            }
            steps => format!("{steps} ({})", escalation_reasons(&mine).join("; ")),
        };
        println!(
            "{:<8} {:<36} {:<42} {:<42} {}",
            p.id,
            s.behaviour,
            steps_for(&mine, &p.mentor()),
            steps_for(&mine, &p.mentee()),
            coordinator
        );
    }
    println!();
    let summary: Vec<String> = totals.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let digests: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.step.starts_with("digest-"))
        .collect();
    println!(
        "{} emails: {}, daily digest {}; duplicates: {duplicates}",
        mails.len(),
        summary.join(", "),
        digests.len()
    );
    for d in digests {
        println!(
            "\nThe coordinator's daily digest (program day 3): \"{}\"",
            d.subject
        );
        print_digest_risks(&d.text);
    }
    print_escalations(env).await?;
    let dead = env.dead_letters().await?.len();
    println!("\ndead letters: {dead}");
    Ok(())
}

/// What a digest asks the coordinator to act on, one line per pair
/// ("pair-04 (trending low): no interaction at all"), and the count of the rest.
fn print_digest_risks(text: &str) {
    let mut pair = "";
    for line in text.lines() {
        if let Some(open) = line.find("(pair-") {
            pair = line[open + 1..].split(')').next().unwrap_or("");
        } else if let Some(why) = line.trim().strip_prefix("why: ") {
            println!("  {pair} (escalation waiting): {why}");
            pair = "";
        } else if line.starts_with("  ") && !pair.is_empty() {
            println!("  {pair} (trending low): {}", line.trim());
            pair = "";
        } else if line.contains("other pair") && !line.starts_with('<') {
            println!("  {}", line.trim());
        }
    }
}

/// Each escalation's story: opened, acknowledged (how), reminded, resolved (how).
async fn print_escalations(env: &Env) -> anyhow::Result<()> {
    let mut all = firstweek_store::escalations(&env.pool, &Default::default()).await?;
    all.sort_by(|a, b| a.mentorship_id.cmp(&b.mentorship_id));
    println!("\nEscalations ({}):", all.len());
    for e in all {
        let mut story = vec![format!("opened by {}", e.opened_by)];
        if let Some((_, via)) = e.acknowledged {
            story.push(format!("acknowledged through the {}", via.as_str()));
        }
        if e.reminded_at.is_some() {
            story.push("reminded once (nobody acknowledged it)".into());
        }
        if let Some((_, how)) = e.resolved {
            story.push(format!("resolved: {}", how.words()));
        }
        println!(
            "  {}: {}: {}",
            e.mentorship_id,
            e.state.as_str(),
            story.join(", ")
        );
    }
    Ok(())
}

/// A plausible later outcome for a pair, from its first week alone (so the
/// demo's report shows the premise at work, deterministically): an ending
/// stays ended, a silent week ends, a one-sided one struggles, a two-way week
/// with a plan thrives (a busy one rated higher), a recovered pair continues.
fn plausible(week: &FirstWeek, ended: bool, min_interactions: u32) -> (Outcome, Option<u8>) {
    match week {
        _ if ended => (Outcome::Ended, None),
        FirstWeek {
            interactions: 0, ..
        } => (Outcome::Ended, Some(1)),
        FirstWeek { two_way: false, .. } => (Outcome::Struggling, Some(2)),
        FirstWeek {
            escalation: Escalation::Recovered,
            ..
        } => (Outcome::Continuing, Some(3)),
        FirstWeek {
            plan: true,
            interactions,
            ..
        } if *interactions >= 2 * min_interactions => (Outcome::Thriving, Some(5)),
        FirstWeek { plan: true, .. } => (Outcome::Thriving, Some(4)),
        FirstWeek { .. } => (Outcome::Continuing, Some(3)),
    }
}

/// Some time later, the program records how each pair is doing.
async fn publish_outcomes(env: &Env) -> anyhow::Result<()> {
    let rules = firstweek_tests::in_process::rules(&env.service_env())?;
    let now = Utc::now();
    let entries = read::outcome_pairs(&env.pool, &Program::Any, None).await?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &entries {
        let escalation = Escalation::of(e.escalated, e.resolution);
        let week = outcome::first_week(&rules, e.pair.view(), escalation, now);
        let (o, rating) = plausible(
            &week,
            e.pair.record.ended_at.is_some(),
            rules.playbook.thresholds.min_interactions,
        );
        *counts.entry(o.as_str()).or_default() += 1;
        let mut body = serde_json::json!({
            "event_id": format!("{}-outcome", e.pair.id()),
            "mentorship_id": e.pair.id(),
            "outcome": o.as_str(),
            "recorded_at": now.to_rfc3339(),
        });
        if let Some(r) = rating {
            body["rating"] = r.into();
        }
        env.publish_json("mentorship.outcome", &body).await?;
    }
    env.wait_count(
        "SELECT count(DISTINCT mentorship_id) FROM outcomes",
        entries.len() as i64,
        Duration::from_secs(30),
    )
    .await?;
    let said: Vec<String> = counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
    println!(
        "\nLater, the program records how each pair is doing (mentorship.outcome): {}",
        said.join(", ")
    );
    Ok(())
}

/// The check-in is a nudge a program may doubt: the demo holds 30 % of its
/// pairs out of it, so the experiments report has two groups to compare.
fn hold_out_of_the_check_in(playbook: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(playbook)
        .with_context(|| format!("reading {}", playbook.display()))?;
    let check_in = "id = \"check_in\"\n";
    anyhow::ensure!(
        text.contains(check_in),
        "the built-in playbook no longer has a check_in step"
    );
    let text = text.replacen(check_in, &format!("{check_in}holdout = 0.3\n"), 1);
    std::fs::write(playbook, text).with_context(|| format!("writing {}", playbook.display()))
}

/// A `firstweek report` over the cohort, as an operator would run it.
fn print_report(env: &Env, report: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["report", report])
        .envs(env.service_env())
        .output()
        .with_context(|| format!("running firstweek report {report}"))?;
    anyhow::ensure!(
        out.status.success(),
        "firstweek report {report}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("\n$ firstweek report {report}");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
