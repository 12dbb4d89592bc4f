//! Languages end to end, through real SMTP and firstweek-web: a mentee whose
//! locale is `es-MX` gets a Spanish welcome and her `de-AT` mentor a German
//! one, each with dates and zones written for them; her link's page is in
//! Spanish; a page for nobody in particular follows the browser.

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use firstweek_tests::{Env, Launch, Options, Pair, header, http_get, http_get_with, port};

#[tokio::test(flavor = "multi_thread")]
async fn each_person_reads_their_welcome_and_their_pages_in_their_language() -> anyhow::Result<()> {
    let web = port();
    let options = Options {
        launch: Launch::InProcess,
        ..Options::with_links(14_400.0, web)
    };
    let mut env = Env::start(options).await?;
    let mut pair = Pair::new(&format!("{}-lang", env.name), Utc::now());
    pair.tz_mentor = "Europe/Vienna".into();
    pair.tz_mentee = "America/Mexico_City".into();
    let mut start = pair.started(&format!("{}-start", pair.id));
    start["mentor"]["locale"] = "de-AT".into();
    start["mentee"]["locale"] = "es-MX".into();
    env.publish_json("mentorship.started", &start).await?;
    env.launch_with_web(web).await?;
    let limit = Duration::from_secs(40);

    let hers = env.wait_mail(&pair.mentee(), "welcome", limit).await?;
    assert_eq!(
        hers.subject,
        "Conoce a Ada Mentor: tu primera semana empieza ahora"
    );
    assert!(hers.text.contains("Hola Bo:"), "first names: {}", hers.text);
    assert!(
        hers.text
            .contains("Ada Mentor vive en hora de Viena (UTC+1), donde ahora es "),
        "{}",
        hers.text
    );
    assert!(
        hers.text.contains("No quiero más correos como este:"),
        "{}",
        hers.text
    );
    assert!(hers.text.contains("<html lang=\"es\">"), "{}", hers.text);
    assert!(
        !hers.text.contains("Welcome to your mentorship"),
        "{}",
        hers.text
    );

    let his = env.wait_mail(&pair.mentor(), "welcome", limit).await?;
    assert_eq!(
        his.subject,
        "Lerne Bo Mentee kennen: eure erste Woche beginnt jetzt"
    );
    assert!(
        his.text.contains(
            "Bo Mentee lebt nach Ortszeit Mexiko-Stadt (UTC\u{2212}6); dort ist es gerade "
        ),
        "{}",
        his.text
    );
    let weekdays = [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ];
    assert!(
        weekdays
            .iter()
            .any(|d| his.text.contains(&format!("gerade {d} "))),
        "{}",
        his.text
    );
    assert!(his.text.contains("<html lang=\"de\">"), "{}", his.text);

    // Her unsubscribe link opens a Spanish page, whatever her browser says.
    let url = header(&hers.headers, "List-Unsubscribe")
        .context("the welcome carries List-Unsubscribe")?
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    let path = url
        .strip_prefix(&format!("http://127.0.0.1:{web}"))
        .context("an URL of firstweek-web")?
        .to_string();
    let page = http_get_with(web, &path, "accept-language: de-DE,de;q=0.9\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<html lang=\"es\">"), "{page}");
    assert!(page.contains("¿Darte de baja, Bo?"), "{page}");
    assert!(
        page.to_ascii_lowercase().contains("content-language: es"),
        "{page}"
    );

    // A link that opens nothing belongs to nobody: the browser's language, else English.
    let german = http_get_with(
        web,
        "/u/nothing-here",
        "accept-language: fr, de-AT;q=0.8\r\n",
    )
    .await;
    assert!(
        german.contains("<html lang=\"de\">") && german.contains("Dieser Link öffnet nichts."),
        "{german}"
    );
    let english = http_get(web, "/u/nothing-here").await;
    assert!(english.contains("<html lang=\"en\">"), "{english}");

    env.stop().await;
    Ok(())
}
