//! Applying the steps in order: each manifest templated, parsed, labelled and applied object by object, then its waits.

use std::sync::Mutex;
use std::time::Instant;

use super::wait::{self, Wait};
use super::{
    Progress, SetupConfig, SetupError, SetupEvent, SetupStep, WaitSpec, LABEL, MANAGED_BY,
};
use crate::kube::dynamic::ObjectRef;
use crate::kube::{ready, KubeContext};
use crate::template::vars::{self, Vars};
use serde_json::Value;

/// One object applied, in the order applied (teardown goes backwards).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub object: ObjectRef,
    pub keep: bool,
}

/// The objects of `step`'s manifest with `vars` filled in, in file order.
pub fn objects(step: &SetupStep, vars: &Vars) -> Result<Vec<Value>, SetupError> {
    let file = step.manifest.display().to_string();
    let bad = |message: String| SetupError::Manifest {
        file: file.clone(),
        message,
    };
    let text = vars::render(&step.text, vars).map_err(bad)?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.is_empty() {
        return Err(bad("the file has no object".into()));
    }
    for (i, d) in docs.iter().enumerate() {
        let missing = ["apiVersion", "kind"]
            .into_iter()
            .find(|f| !d[f].is_string())
            .or_else(|| (!d["metadata"]["name"].is_string()).then_some("metadata.name"));
        if let Some(f) = missing {
            return Err(bad(format!(
                "object {} (of {}) has no {f}; every object needs apiVersion, kind and metadata.name",
                i + 1,
                docs.len()
            )));
        }
    }
    Ok(docs)
}

/// Marks `obj` as this setup's, so teardown (or the next start) finds it.
pub fn label(obj: &mut Value, value: &str) {
    let labels = &mut obj["metadata"]["labels"];
    if !labels.is_object() {
        *labels = Value::Object(Default::default());
    }
    labels[MANAGED_BY] = Value::String("rampdeck".into());
    labels[LABEL] = Value::String(value.into());
}

/// The waits of a step whose objects were applied as `applied` (with
/// their manifests' kinds), `vars` filling in URLs.
pub fn waits_of(
    step: &SetupStep,
    applied: &[ObjectRef],
    vars: &Vars,
) -> Result<Vec<Wait>, SetupError> {
    let mut out = Vec::new();
    if step.ready {
        for r in applied {
            if let Some(c) = ready::default_condition(&r.kind) {
                out.push(Wait::Object {
                    object: r.clone(),
                    condition: c.to_owned(),
                });
            }
        }
    }
    for w in &step.waits {
        match w {
            WaitSpec::Condition {
                kind,
                name,
                condition,
            } => {
                let matched: Vec<&ObjectRef> = applied
                    .iter()
                    .filter(|r| r.kind.eq_ignore_ascii_case(kind))
                    .filter(|r| name.as_ref().is_none_or(|n| *n == r.name))
                    .collect();
                if matched.is_empty() {
                    return Err(SetupError::Manifest {
                        file: step.manifest.display().to_string(),
                        message: format!(
                            "wait on {kind}{}: the manifest has no such object",
                            name.as_ref().map_or_else(String::new, |n| format!(" {n}"))
                        ),
                    });
                }
                for r in matched {
                    let w = Wait::Object {
                        object: r.clone(),
                        condition: condition.clone(),
                    };
                    if !out.contains(&w) {
                        out.push(w);
                    }
                }
            }
            WaitSpec::Url { url, status } => out.push(Wait::Url {
                url: vars::render(url, vars).map_err(|message| SetupError::Manifest {
                    file: step.manifest.display().to_string(),
                    message: format!("wait url: {message}"),
                })?,
                status: *status,
            }),
        }
    }
    Ok(out)
}

/// Applies every step in order and waits for each; every object applied is
/// pushed to `applied` as soon as the API server took it, so an error or a
/// cancellation part-way leaves the list of what to tear down.
pub async fn run_setup(
    ctx: &KubeContext,
    cfg: &SetupConfig,
    base: &Vars,
    applied: &Mutex<Vec<Applied>>,
    progress: &Progress,
) -> Result<(), SetupError> {
    for step in &cfg.steps {
        let mut vars = base.clone();
        vars.extend(step.vars.clone());
        let mut mine = Vec::new();
        for mut obj in objects(step, &vars)? {
            label(&mut obj, &cfg.label);
            let start = Instant::now();
            let (r, _) =
                ctx.apply_object(&obj, None)
                    .await
                    .map_err(|error| SetupError::Object {
                        object: describe(&obj),
                        error,
                    })?;
            applied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Applied {
                    object: r.clone(),
                    keep: step.keep,
                });
            progress.report(SetupEvent::Applied {
                object: r.clone(),
                took: start.elapsed(),
            });
            mine.push(r);
        }
        let waits = waits_of(step, &mine, &vars)?;
        wait::all(Some(ctx), &waits, step.timeout, progress).await?;
    }
    Ok(())
}

/// "Deployment web" for an object not yet applied.
fn describe(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object");
    let name = obj["metadata"]["name"].as_str().unwrap_or("?");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}
