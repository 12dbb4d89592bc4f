//! `firstweek resend <mentorship_id> <step> <recipient>`: send one email
//! again whose delivery failed or whose outcome is unknown.

use std::io::Write;

use anyhow::bail;
use firstweek::rule::Recipient;
use firstweek_store::{self as store, Resend};

#[derive(clap::Args)]
pub struct Args {
    /// The pair's `mentorship_id` (or the coordinator's email, for one of their digests)
    pub mentorship_id: String,
    /// The step id, as `firstweek timeline` shows it (e.g. `welcome`)
    pub step: String,
    /// `mentor`, `mentee` or `coordinator`
    pub recipient: String,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(recipient) = Recipient::parse(&args.recipient) else {
        bail!(
            "recipient must be mentor, mentee or coordinator, not {:?}",
            args.recipient
        );
    };
    let pool = crate::env::pool().await?;
    match store::resend(&pool, &args.mentorship_id, &args.step, recipient).await? {
        Resend::Rescheduled { was, detail } => {
            writeln!(
                out,
                "{} {} -> {}: was {was} ({detail}); scheduled again.",
                args.mentorship_id, args.step, args.recipient
            )?;
            writeln!(
                out,
                "A worker sends it within seconds, with the same Message-ID (a receiving system that already has it can tell)."
            )?;
            Ok(())
        }
        Resend::NoSuchStep => bail!(
            "no {} step for the {} of {}",
            args.step,
            args.recipient,
            args.mentorship_id
        ),
        Resend::NotResendable { status } => {
            bail!("its delivery is {status}: only failed or unknown emails are sent again")
        }
    }
}
