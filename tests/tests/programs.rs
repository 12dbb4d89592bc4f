//! Programs with their own playbooks, and pairs pinned to the playbook they
//! started with: two programs in one cohort each get their own steps; a
//! playbook edited and the services restarted mid-week changes the steps of
//! pairs that start afterwards, never of pairs already in their week.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use firstweek_tests::{Env, Options, Pair, bin_dir};

/// A playbook of one step `step`, to the mentor, one program day in.
fn playbook(name: &str, step: &str) -> String {
    format!(
        "name = \"{name}\"\n[[step]]\nid = \"{step}\"\nat = \"1d\"\nto = [\"mentor\"]\ntemplate = \"welcome\"\n"
    )
}

fn steps_of(env: &Env, pair: &Pair) -> BTreeSet<String> {
    env.mails()
        .into_iter()
        .filter(|m| m.mentorship == pair.id)
        .map(|m| m.step)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_program_follows_its_playbook_and_pairs_keep_the_one_they_started_with()
-> anyhow::Result<()> {
    let mut options = Options {
        // A program day lasts 6 s.
        scale: 14_400.0,
        start_services: false,
        ..Options::default()
    };
    let dir = std::env::temp_dir().join(format!("fw-programs-{}", std::process::id()));
    let programs = dir.join("programs");
    std::fs::create_dir_all(&programs)?;
    std::fs::write(
        programs.join("alpha.toml"),
        playbook("alpha", "alpha_hello"),
    )?;
    let default = dir.join("default.toml");
    std::fs::write(&default, playbook("default", "v1_hello"))?;
    for (k, v) in [
        ("FIRSTWEEK_PLAYBOOKS_DIR", programs.display().to_string()),
        ("FIRSTWEEK_PLAYBOOK", default.display().to_string()),
    ] {
        options.env.push((k.into(), v));
    }
    let mut env = Env::start(options).await?;
    let now = Utc::now();
    let started = |pair: &Pair, program: &str| {
        let mut v = pair.started(&format!("{}-start", pair.id));
        v["program_id"] = program.into();
        v
    };
    let alpha = Pair::new(&format!("{}-alpha", env.name), now);
    let early = Pair::new(&format!("{}-early", env.name), now);
    env.spawn("firstweek-worker", &[]).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.publish_json("mentorship.started", &started(&alpha, "alpha"))
        .await?;
    env.publish_json("mentorship.started", &started(&early, "beta"))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM mentorships",
        2,
        Duration::from_secs(20),
    )
    .await?;

    // Mid-week: the default playbook is edited and the services restarted.
    env.stop_processes().await;
    env.start_smtp().await?;
    std::fs::write(&default, playbook("default", "v2_hello"))?;
    env.spawn("firstweek-worker", &[]).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    let late = Pair::new(&format!("{}-late", env.name), Utc::now());
    env.publish_json("mentorship.started", &started(&late, "beta"))
        .await?;

    if let Err(e) = env
        .wait_settled(
            &[alpha.id.as_str(), early.id.as_str(), late.id.as_str()],
            Duration::from_secs(60),
        )
        .await
    {
        for service in ["firstweek-worker", "firstweek-scheduler"] {
            for line in env.logs(service).iter().filter(|l| !l.contains("\"INFO\"")) {
                eprintln!("{service}: {line}");
            }
        }
        return Err(e);
    }
    assert_eq!(
        steps_of(&env, &alpha),
        BTreeSet::from(["alpha_hello".to_string()])
    );
    assert_eq!(
        steps_of(&env, &early),
        BTreeSet::from(["v1_hello".to_string()]),
        "started before the edit: keeps its playbook"
    );
    assert_eq!(
        steps_of(&env, &late),
        BTreeSet::from(["v2_hello".to_string()]),
        "started after the edit: the new playbook"
    );

    // The operator's view: each program's playbook and version, and the pairs pinned to each.
    let out = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["playbook", "list"])
        .env("DATABASE_URL", &env.database_url)
        .env("FIRSTWEEK_PLAYBOOKS_DIR", &programs)
        .env("FIRSTWEEK_PLAYBOOK", &default)
        .output()?;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |needle: &str| {
        listed
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let v1 = firstweek::playbook::version_of(&playbook("default", "v1_hello"));
    let v2 = firstweek::playbook::version_of(&playbook("default", "v2_hello"));
    assert_eq!(line("alpha").last(), Some(&"1"), "{listed}");
    assert_eq!(line(&v2).last(), Some(&"1"), "{listed}");
    assert!(
        line(&v1).contains(&"pinned"),
        "the old version is still in use: {listed}"
    );
    assert_eq!(line(&v1).last(), Some(&"1"), "{listed}");

    // What the edit would do to new pairs, step by step.
    let old = dir.join("old.toml");
    std::fs::write(&old, playbook("default", "v1_hello"))?;
    let out = std::process::Command::new(bin_dir().join("firstweek"))
        .args(["playbook", "diff"])
        .arg(&old)
        .arg(&default)
        .env("DATABASE_URL", &env.database_url)
        .output()?;
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{diff}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        diff.contains("v1_hello") && diff.contains("v2_hello"),
        "{diff}"
    );
    assert!(diff.contains("3 pairs of 3 would go differently"), "{diff}");

    env.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
