//! Setup around a run: leftovers removed, steps applied and waited for (a stop signal tears down and ends it), and the guard that tears down after.

use std::sync::{Arc, Mutex};

use super::{remove_leftovers, run_setup, Guard, Progress, SetupError};
use crate::kube::KubeContext;
use crate::spec::plan::Plan;

/// Runs `plan`'s `[[setup]]` before its load: None without one. On an
/// error, or a Ctrl-C / SIGTERM while it runs, what was applied is torn
/// down before the error returns.
pub async fn before_run(
    plan: &Plan,
    signals: &mut crate::signals::StopSignals,
    progress: &Progress,
) -> Result<Option<Guard>, SetupError> {
    if plan.setup.is_empty() {
        return Ok(None);
    }
    let settings = &plan.routes.kube;
    let base = &plan.run_vars();
    let stop = async {
        if !signals.next().await {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(stop);
    let ctx = tokio::select! {
        c = KubeContext::connect(settings) => c?,
        () = &mut stop => return Err(SetupError::Interrupted),
    };
    tokio::select! {
        r = remove_leftovers(&ctx, &plan.setup, base, progress) => { r?; }
        () = &mut stop => return Err(SetupError::Interrupted),
    }
    let applied = Arc::new(Mutex::new(Vec::new()));
    let guard = Guard::new(
        settings.clone(),
        ctx.clone(),
        applied.clone(),
        progress.clone(),
    );
    let result = tokio::select! {
        r = run_setup(&ctx, &plan.setup, base, &applied, progress) => r,
        () = &mut stop => Err(SetupError::Interrupted),
    };
    match result {
        Ok(()) => Ok(Some(guard)),
        Err(e) => {
            guard.finish().await;
            Err(e)
        }
    }
}
