//! Removing what setup applied: in reverse order at the end, by label for an earlier run's leftovers, and from a guard when the run panics.

use std::sync::{Arc, Mutex};

use super::apply::{objects, Applied};
use super::{Progress, SetupConfig, SetupError, SetupEvent};
use crate::kube::KubeContext;
use crate::spec::kube::KubeSettings;
use crate::template::vars::Vars;

/// Deletes the objects applied (but kept ones) newest first; returns how
/// many deletes failed (each reported, none stops the others).
pub async fn teardown(ctx: &KubeContext, applied: &[Applied], progress: &Progress) -> usize {
    let mut failed = 0;
    for a in applied.iter().rev() {
        if a.keep {
            progress.report(SetupEvent::Kept(a.object.clone()));
            continue;
        }
        match ctx.delete_object(&a.object).await {
            Ok(true) => progress.report(SetupEvent::Deleted(a.object.clone())),
            Ok(false) => progress.report(SetupEvent::AlreadyGone(a.object.clone())),
            Err(e) => {
                failed += 1;
                progress.report(SetupEvent::DeleteFailed {
                    object: a.object.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    failed
}

/// The kinds the steps apply, in the order they first appear.
fn kinds(
    cfg: &SetupConfig,
    base: &Vars,
    with_kept: bool,
) -> Result<Vec<(String, String)>, SetupError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for step in cfg.steps.iter().filter(|s| with_kept || !s.keep) {
        let mut vars = base.clone();
        vars.extend(step.vars.clone());
        for o in objects(step, &vars)? {
            let k = (
                o["apiVersion"].as_str().unwrap_or("").to_owned(),
                o["kind"].as_str().unwrap_or("").to_owned(),
            );
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    Ok(out)
}

/// Deletes every object labelled with this setup's label, kind by kind in
/// reverse order of the manifests (so a Namespace goes last); with
/// `with_kept`, those of `keep = true` steps too. Returns how many.
pub async fn remove_labelled(
    ctx: &KubeContext,
    cfg: &SetupConfig,
    base: &Vars,
    with_kept: bool,
    progress: &Progress,
) -> Result<usize, SetupError> {
    let selector = cfg.selector();
    let mut removed = 0;
    for (api_version, kind) in kinds(cfg, base, with_kept)?.into_iter().rev() {
        for r in ctx.list_labelled(&api_version, &kind, &selector).await? {
            if ctx
                .delete_object(&r)
                .await
                .map_err(|error| SetupError::Object {
                    object: r.to_string(),
                    error,
                })?
            {
                removed += 1;
                progress.report(if with_kept {
                    SetupEvent::Deleted(r)
                } else {
                    SetupEvent::Leftover(r)
                });
            }
        }
    }
    Ok(removed)
}

/// What an earlier run that was killed left behind, removed before this one applies anything.
pub async fn remove_leftovers(
    ctx: &KubeContext,
    cfg: &SetupConfig,
    base: &Vars,
    progress: &Progress,
) -> Result<usize, SetupError> {
    remove_labelled(ctx, cfg, base, false, progress).await
}

/// Owns what setup applied until it is torn down: `finish` at the end of a
/// run; if the guard is dropped without it (a panic unwinding), its `Drop`
/// tears down on a thread of its own with a fresh client.
pub struct Guard {
    settings: KubeSettings,
    ctx: KubeContext,
    applied: Arc<Mutex<Vec<Applied>>>,
    progress: Progress,
    done: bool,
}

impl Guard {
    pub fn new(
        settings: KubeSettings,
        ctx: KubeContext,
        applied: Arc<Mutex<Vec<Applied>>>,
        progress: Progress,
    ) -> Self {
        Guard {
            settings,
            ctx,
            applied,
            progress,
            done: false,
        }
    }

    fn take(&self) -> Vec<Applied> {
        std::mem::take(&mut *self.applied.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Tears down; returns how many deletes failed.
    pub async fn finish(mut self) -> usize {
        self.done = true;
        let applied = self.take();
        teardown(&self.ctx, &applied, &self.progress).await
    }

    /// Leaves everything in place (`rampdeck setup`); returns what was applied.
    pub fn keep(mut self) -> Vec<Applied> {
        self.done = true;
        self.take()
    }

    /// How many objects it holds for teardown.
    pub fn len(&self) -> usize {
        self.applied.lock().map_or(0, |a| a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let applied = self.take();
        if applied.iter().all(|a| a.keep) {
            return;
        }
        let (settings, progress) = (self.settings.clone(), self.progress.clone());
        // The runtime this guard lived on may be unwinding: a thread with
        // its own runtime and client does the deletes.
        let t = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                match KubeContext::connect(&settings).await {
                    Ok(ctx) => {
                        teardown(&ctx, &applied, &progress).await;
                    }
                    Err(e) => crate::util::text::stderr_line!(
                        "setup: cannot tear down ({e}); remove the objects labelled rampdeck.dev/setup by hand"
                    ),
                }
            });
        });
        // On a multi-thread runtime, hand this worker's duties (the I/O
        // driver among them) to another thread while it waits: an API
        // served by this same runtime (the demo's, in-process) must still
        // answer the deletes.
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(|| {
                let _ = t.join();
            });
        } else {
            let _ = t.join();
        }
    }
}
