//! Validates `[[setup]]` into a `setup::SetupConfig`: manifests found and parsed, placeholders known, waits that name what the manifest holds.

use std::time::Duration;

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::routes::{find_manifest, DEMO_ROUTE_VARS, RUN_VARS};
use super::schema::{RawSetup, RawWait};
use crate::spec::setup::{SetupConfig, SetupStep, WaitSpec};
use crate::template::vars;

/// How long a step's waits may take unless it says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

pub fn setup_config(
    src: &Source,
    raw: Vec<Spanned<RawSetup>>,
    has_demo: bool,
    profile_name: &str,
) -> Result<SetupConfig, ProfileError> {
    let mut steps = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let field = format!("setup[{i}]");
        let span = r.span();
        let r = r.into_inner();
        let m = r.manifest.as_ref().ok_or_else(|| {
            src.at(
                span.clone(),
                format!("{field}: give manifest = \"manifests/sample-workload.yaml\" (a YAML file of one or more objects of any kinds)"),
            )
        })?;
        let manifest = find_manifest(src, &field, m)?;
        let text = crate::util::files::read_text(&manifest, crate::util::files::MANIFEST)
            .map_err(|e| src.at(m.span(), format!("{field}.manifest: {e}")))?;
        let timeout = match &r.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) if t.get_ref().0.is_zero() => {
                return Err(src.at(t.span(), format!("{field}.timeout: must be more than 0")))
            }
            Some(t) => t.get_ref().0,
        };
        let waits = r
            .wait
            .iter()
            .enumerate()
            .map(|(j, w)| wait_spec(src, &format!("{field}.wait[{j}]"), w))
            .collect::<Result<Vec<_>, _>>()?;
        let step = SetupStep {
            manifest,
            text,
            vars: r.vars.clone(),
            ready: r.ready.unwrap_or(true),
            waits,
            timeout,
            keep: r.keep.unwrap_or(false),
        };
        check(src, &field, m, &step, has_demo)?;
        steps.push(step);
    }
    Ok(SetupConfig {
        steps,
        label: crate::spec::setup::label_value(profile_name),
    })
}

/// A wait: `{ kind, name?, condition }` or `{ url, status? }`.
pub(super) fn wait_spec(
    src: &Source,
    field: &str,
    w: &Spanned<RawWait>,
) -> Result<WaitSpec, ProfileError> {
    let r = w.get_ref();
    let example = "e.g. { kind = \"Deployment\", name = \"web\", condition = \"Available\" } or { url = \"http://127.0.0.1:8080/healthz\", status = 200 }";
    match (&r.kind, &r.url) {
        (Some(kind), None) => {
            if r.status.is_some() {
                return Err(src.at(
                    w.span(),
                    format!("{field}: status goes with url, not kind; {example}"),
                ));
            }
            let condition = match &r.condition {
                Some(c) if c.get_ref().trim().is_empty() => {
                    return Err(src.at(c.span(), format!("{field}.condition: empty; give a condition type (Available, Ready, Programmed, Accepted, ...) or \"exists\"")))
                }
                Some(c) => c.get_ref().clone(),
                None => crate::kube::ready::default_condition(kind.get_ref())
                    .map(str::to_owned)
                    .ok_or_else(|| src.at(w.span(), format!("{field}: {} has no readiness of its own; give condition (a status.conditions type, or \"exists\")", kind.get_ref())))?,
            };
            Ok(WaitSpec::Condition {
                kind: kind.get_ref().clone(),
                name: r.name.as_ref().map(|n| n.get_ref().clone()),
                condition,
            })
        }
        (None, Some(url)) => {
            if r.name.is_some() || r.condition.is_some() {
                return Err(src.at(
                    w.span(),
                    format!("{field}: name and condition go with kind, not url; {example}"),
                ));
            }
            let u = url.get_ref();
            if !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("{{")) {
                return Err(src.at(
                    url.span(),
                    format!("{field}.url: '{u}' is not an http:// or https:// URL"),
                ));
            }
            let status = match &r.status {
                None => 200,
                Some(s) if (100..=599).contains(s.get_ref()) => *s.get_ref() as u16,
                Some(s) => {
                    return Err(src.at(
                        s.span(),
                        format!(
                            "{field}.status: {} is not an HTTP status (100-599)",
                            s.get_ref()
                        ),
                    ))
                }
            };
            Ok(WaitSpec::Url {
                url: u.clone(),
                status,
            })
        }
        _ => Err(src.at(
            w.span(),
            format!("{field}: give kind or url (not both); {example}"),
        )),
    }
}

/// The manifest parses with its placeholders filled in, uses only known
/// ones, and holds what the waits name.
fn check(
    src: &Source,
    field: &str,
    m: &Spanned<String>,
    step: &SetupStep,
    has_demo: bool,
) -> Result<(), ProfileError> {
    let mut sample = step.vars.clone();
    let mut texts: Vec<&str> = vec![&step.text];
    texts.extend(step.waits.iter().filter_map(|w| match w {
        WaitSpec::Url { url, .. } => Some(url.as_str()),
        WaitSpec::Condition { .. } => None,
    }));
    for text in texts {
        for name in vars::names(text) {
            let run = RUN_VARS.contains(&name.as_str())
                || (has_demo && DEMO_ROUTE_VARS.contains(&name.as_str()));
            if run {
                sample.insert(name, "x".into());
            } else if !sample.contains_key(&name) {
                let mut known: Vec<String> = step.vars.keys().cloned().collect();
                known.extend(RUN_VARS.iter().map(|s| s.to_string()));
                if has_demo {
                    known.extend(DEMO_ROUTE_VARS.iter().map(|s| s.to_string()));
                }
                return Err(src.at(
                    m.span(),
                    format!(
                        "{field}: {} uses '{{{{{name}}}}}', which is not defined; known: {}; add it under {field}.vars",
                        step.manifest.display(),
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    let objects = crate::setup::apply::objects(step, &sample).map_err(|e| {
        src.at(
            m.span(),
            format!("{field}: {}", e.to_string().trim_start_matches("setup: ")),
        )
    })?;
    for w in &step.waits {
        if let WaitSpec::Condition { kind, name, .. } = w {
            // Names may be templated; they are matched again when applied.
            let same_kind = |o: &&serde_json::Value| {
                o["kind"]
                    .as_str()
                    .is_some_and(|k| k.eq_ignore_ascii_case(kind))
            };
            let templated = step.text.contains("{{");
            let holds = objects.iter().filter(same_kind).any(|o| {
                templated
                    || name
                        .as_ref()
                        .is_none_or(|n| o["metadata"]["name"].as_str() == Some(n.as_str()))
            });
            if !holds {
                return Err(src.at(
                    m.span(),
                    format!(
                        "{field}: a wait names {kind}{}, which {} does not hold",
                        name.as_ref().map_or_else(String::new, |n| format!(" {n}")),
                        step.manifest.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}
