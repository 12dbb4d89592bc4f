//! `firstweek template render|list`: preview the emails a program would send,
//! from the built-in templates or those overridden in `FIRSTWEEK_TEMPLATES_DIR`
//! (no rebuild needed: the services read that directory at start-up).

use std::io::Write;

use anyhow::{Context as _, bail};
use chrono::Utc;
use firstweek::digest;
use firstweek::email::Templates;
use firstweek::rule::Recipient;

use crate::sample;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Render a template with a sample pair: subject, text and HTML
    Render(RenderArgs),
    /// List the templates that have all three parts
    List,
}

#[derive(clap::Args)]
pub struct RenderArgs {
    /// Template name, e.g. `welcome` (files `welcome.subject`, `.txt`, `.html`)
    pub template: String,
    /// Who it is rendered for
    #[arg(long, value_parser = parse_recipient, default_value = "mentee")]
    pub recipient: Recipient,
    /// Print only one part, as is
    #[arg(long, value_parser = ["subject", "text", "html"])]
    pub part: Option<String>,
    /// The reader's locale (a BCP 47 tag, e.g. `de-AT`): the templates
    /// chosen along its fallback chain, dates and zones written for it
    #[arg(long, value_parser = parse_locale)]
    pub locale: Option<String>,
}

fn parse_locale(s: &str) -> Result<String, String> {
    firstweek::locale::Locale::parse(s)
        .map(|l| l.to_string())
        .map_err(|e| format!("{s:?} {e}"))
}

fn parse_recipient(s: &str) -> Result<Recipient, String> {
    Recipient::parse(s).ok_or_else(|| format!("{s:?} is not mentor, mentee or coordinator"))
}

/// The templates the services would load.
pub fn load() -> anyhow::Result<(Templates, String)> {
    let dir = crate::env::templates_dir();
    let source = match &dir {
        Some(d) => format!("built-in, overridden from {}", d.display()),
        None => "built-in".to_string(),
    };
    let templates = firstweek_settings::mail::load_templates(dir.as_deref())
        .context("loading the templates")?;
    Ok((templates, source))
}

pub fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let (templates, source) = load()?;
    match cmd {
        Command::List => {
            writeln!(out, "templates ({source}):")?;
            for name in templates.names() {
                writeln!(out, "  {name}")?;
            }
            Ok(())
        }
        Command::Render(args) => render(&templates, &source, args, out),
    }
}

fn render(
    templates: &Templates,
    source: &str,
    args: RenderArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let names = templates.names();
    if !names.contains(&args.template) {
        bail!(
            "no template {:?} with all of .subject, .txt and .html (known: {})",
            args.template,
            names.join(", ")
        );
    }
    let now = Utc::now();
    let (rendered, about) = if args.template == digest::TEMPLATE {
        // The coordinators' daily digest has its own context.
        let mut ctx = sample::digest(now);
        if let Some(tag) = &args.locale {
            ctx.locale = tag.clone();
        }
        let rendered = templates
            .render_parts(&args.template, &ctx)
            .with_context(|| format!("rendering {}", args.template))?;
        (
            rendered,
            "the daily digest, to a coordinator: an escalation waiting, a pair trending low, the rest counted".to_string(),
        )
    } else {
        let playbook = crate::env::playbook()?;
        let step = sample::step_for(&playbook, &args.template);
        let step_id = step.map(|s| s.id.as_str()).unwrap_or(&args.template);
        let ctx = sample::context_in(
            args.locale.as_deref(),
            &playbook,
            step,
            step_id,
            args.recipient,
            now,
        );
        let rendered = templates
            .render_parts(&args.template, &ctx)
            .with_context(|| format!("rendering {} for the {}", args.template, args.recipient))?;
        let about = format!(
            "step {step_id}, to the {}, sample pair {} & {}",
            args.recipient, ctx.mentor.name, ctx.mentee.name
        );
        (rendered, about)
    };
    match args.part.as_deref() {
        Some("subject") => writeln!(out, "{}", rendered.subject)?,
        Some("text") => write!(out, "{}", rendered.text)?,
        Some("html") => write!(out, "{}", rendered.html)?,
        _ => {
            writeln!(out, "template {} ({source}), {about}", args.template)?;
            writeln!(out)?;
            writeln!(out, "Subject: {}", rendered.subject)?;
            writeln!(out)?;
            writeln!(out, "--- text/plain ---")?;
            write!(out, "{}", rendered.text)?;
            if !rendered.text.ends_with('\n') {
                writeln!(out)?;
            }
            writeln!(out, "--- text/html ---")?;
            write!(out, "{}", rendered.html)?;
            if !rendered.html.ends_with('\n') {
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
