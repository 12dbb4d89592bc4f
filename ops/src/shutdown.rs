//! SIGTERM and Ctrl-C become one cancellation token every task watches.
//! Nothing is detached: the signal is awaited beside the application itself.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// Runs `app` to its end; on SIGTERM or SIGINT, cancels `shutdown` and keeps
/// awaiting `app` while it finishes what is in flight.
pub async fn run_until_signal<F: Future>(shutdown: CancellationToken, app: F) -> F::Output {
    tokio::pin!(app);
    tokio::select! {
        out = &mut app => return out,
        _ = signal() => {}
    }
    tracing::info!("shutdown requested: no new work, finishing what is in flight");
    shutdown.cancel();
    app.await
}

/// Resolves on SIGTERM or SIGINT.
#[cfg(unix)]
pub async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
pub async fn signal() {
    let _ = tokio::signal::ctrl_c().await;
}
