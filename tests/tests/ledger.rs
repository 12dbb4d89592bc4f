//! A noisy pair cannot exhaust a worker: the store loads a bounded ledger of
//! any pair, and the bound changes no decision. Against PostgreSQL only.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use firstweek::Rules;
use firstweek::decision::{self, Moment, Pair, Verdict};
use firstweek::event::{Actor, Event, InteractionKind, MENTORSHIP_STARTED};
use firstweek::interaction::Interaction;
use firstweek::playbook::{Playbook, Trigger};
use firstweek::timeline::{SendWindow, TimeScale};
use firstweek_store as store;
use firstweek_tests::{Pair as TestPair, TestDb};

/// What a verdict decides, without the counts shown as evidence.
fn decided(v: &Verdict) -> String {
    match v {
        Verdict::Send(e) => format!("send {:?}", e.fired),
        Verdict::Escalate(e) => format!("escalate {:?}", e.fired),
        Verdict::Skip(s) => format!("skip {}", s.reason()),
        Verdict::Cancel => "cancel".into(),
    }
}

/// Every decision the engine takes on a pair: each step for each recipient
/// (as processed and as previewed), the pacing tip, the risks, each day.
fn decisions(rules: &Rules, pair: Pair<'_>) -> Vec<String> {
    let start = pair.started.started_at;
    let mut out = Vec::new();
    for step in &rules.playbook.steps {
        let Trigger::At(offset) = step.trigger else {
            continue;
        };
        for r in &step.recipients {
            for moment in [
                Moment::Processing,
                Moment::Preview {
                    now: start + Duration::days(3),
                },
            ] {
                let d = decision::decide(rules, &step.id, *r, start + offset, Some(pair), moment);
                out.push(format!(
                    "{} {r} {moment:?}: {}",
                    step.id,
                    decided(&d.verdict)
                ));
            }
        }
    }
    for p in decision::pacing(rules, pair.started, pair.ledger) {
        out.push(format!("pacing {} {} {}", p.step_id, p.recipient, p.due_at));
    }
    for day in 0..10 {
        let risks = decision::risks(
            rules,
            pair,
            start + Duration::days(day) + Duration::hours(1),
        );
        out.push(format!("day {day}: {risks:?}"));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_noisy_pair_loads_a_bounded_ledger_that_changes_no_decision() -> anyhow::Result<()> {
    let db = TestDb::create("fwledger").await?;
    let rules = Rules {
        playbook: Playbook::built_in(),
        programs: Default::default(),
        scale: TimeScale::REAL,
        window: SendWindow::Off,
    };
    // Whole seconds: PostgreSQL keeps microseconds, the in-memory ledger nanoseconds.
    let now = Utc::now().trunc_subsecs(0);
    let start: DateTime<Utc> = now - Duration::days(9);
    let noisy = TestPair::new("noisy", start);
    let event = Event::parse(
        MENTORSHIP_STARTED,
        None,
        noisy.started("noisy-start").to_string().as_bytes(),
        now,
    )?;
    store::ingest(&db.pool, &event, &rules, &firstweek_tests::pseudonym_key()).await?;

    // A bot on the mentor's side: 20,000 messages and 5,000 short sessions in
    // the week, then one long session on day 5 (the pacing tip's trigger),
    // and the mentee's first word, a goal, on day 6. Plus noise before the
    // start and after the week.
    let mut rows: Vec<(String, Interaction)> = Vec::new();
    let mut add = |id: String, kind, actor, minutes: i64, duration_minutes| {
        let occurred_at = start + Duration::minutes(minutes);
        rows.push((
            id,
            Interaction {
                kind,
                actor,
                occurred_at,
                duration_minutes,
            },
        ));
    };
    use Actor::{Mentee, Mentor};
    use InteractionKind::{GoalSet, Message, PlanShared, Session};
    for n in 0..20_000 {
        add(format!("m{n}"), Message, Mentor, n % 7000, None);
    }
    for n in 0..5_000 {
        add(format!("s{n}"), Session, Mentor, n % 6000, Some(30));
    }
    add("long".into(), Session, Mentor, 5 * 1440, Some(180));
    add("goal".into(), GoalSet, Mentee, 6 * 1440, None);
    for n in 0..3_000 {
        add(
            format!("after{n}"),
            Message,
            Mentee,
            8 * 1440 + n % 600,
            None,
        );
        add(format!("before{n}"), PlanShared, Mentee, -1 - n % 600, None);
    }
    let column =
        |f: &dyn Fn(&(String, Interaction)) -> String| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO interactions (event_id, mentorship_id, kind, actor, occurred_at, duration_minutes)
         SELECT e, 'noisy', k, a, t, d FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[]) AS u(e, k, a, t, d)",
    )
    .bind(column(&|r| r.0.clone()))
    .bind(column(&|r| r.1.kind.as_str().to_string()))
    .bind(column(&|r| r.1.actor.as_str().to_string()))
    .bind(rows.iter().map(|r| r.1.occurred_at).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.1.duration_minutes.map(|d| d as i32))
            .collect::<Vec<_>>(),
    )
    .execute(&db.pool)
    .await?;
    let full: Vec<Interaction> = rows.into_iter().map(|r| r.1).collect();
    let loaded = store::interactions(&db.pool, "noisy").await?;
    let batch = store::ledgers(&db.pool, &["noisy"]).await?;
    assert_eq!(batch["noisy"], loaded);
    assert!(
        loaded.len() <= 5_000,
        "{} of {} interactions loaded for one pair",
        loaded.len(),
        full.len()
    );

    let Event::Started(started) = &event else {
        unreachable!()
    };
    let pair = |ledger| Pair::with_ledger(started, ledger);
    let want = decisions(&rules, pair(&full));
    assert!(
        want.iter().any(|d| d.starts_with("pacing pacing_tip")),
        "the long session calls for the pacing tip: {want:#?}"
    );
    assert_eq!(decisions(&rules, pair(&loaded)), want);
    db.pool.close().await;
    Ok(())
}

/// The steps' batch writers plan each statement once per connection
/// (`Dedicated::for_key_lookups`), often while the tables are still empty;
/// the plan must still look rows up by key, or a ledger of millions of rows
/// would be read whole for every batch. The join below has the shape of the
/// batch statements (an array of keys joined to the ledger).
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_writer_finds_deliveries_by_key_even_with_a_plan_made_on_an_empty_ledger()
-> anyhow::Result<()> {
    let db = TestDb::create("fw_keyplan").await?;
    let mut writer = store::Dedicated::for_key_lookups(db.pool.clone());
    let conn = writer.get().await?;
    sqlx::query(
        "PREPARE finish(text[], text[], text[]) AS
         UPDATE deliveries d SET detail = 'accepted'
         FROM UNNEST($1, $2, $3) AS u(m, o, r)
         WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r",
    )
    .execute(&mut *conn)
    .await?;
    let plan: Vec<String> =
        sqlx::query_scalar("EXPLAIN EXECUTE finish('{m1}', '{welcome}', '{mentor}')")
            .fetch_all(&mut *conn)
            .await?;
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Scan using deliveries_pkey") && plan.contains("Nested Loop"),
        "the ledger is looked up by key:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan") && !plan.contains("Hash Join"),
        "the ledger is never read whole:\n{plan}"
    );
    writer.close().await;
    Ok(())
}
