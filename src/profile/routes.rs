//! Validates `[kube]` and `[[route_action]]` into a `RoutesConfig`: kinds, keys, schedules, templates and manifest paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::{RawKube, RawRouteAction, RawVerify};
use super::validate::positive_dur;
use crate::spec::kube::{KubeOp, KubeSettings, ObjectKind};
use crate::spec::routes::*;
use crate::template::vars;

/// Variables every action may use, besides its own `vars` and `{{n}}`.
pub const RUN_VARS: [&str; 2] = ["target", "rampdeck"];
/// Only under `[demo]`.
pub const DEMO_ROUTE_VARS: [&str; 3] = ["demo.gateway", "demo.control", "demo.kubeconfig"];

pub fn routes_config(
    src: &Source,
    kube: Option<RawKube>,
    actions: Vec<Spanned<RawRouteAction>>,
    has_demo: bool,
    run_length: Duration,
    requests: &[String],
) -> Result<RoutesConfig, ProfileError> {
    let kube = kube_settings(kube);
    let mut out = RoutesConfig {
        kube,
        actions: Vec::new(),
        base_vars: BTreeMap::new(),
    };
    let mut keys: BTreeMap<i64, String> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for (i, a) in actions.into_iter().enumerate() {
        let span = a.span();
        let a = a.into_inner();
        let field = format!("route_action[{i}]");
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| format!("action {}", i + 1));
        if !names.insert(name.clone()) {
            return Err(src.at(
                span,
                format!(
                    "{field}.name: '{name}' is used by another route action; names must be unique"
                ),
            ));
        }
        let key = match &a.key {
            Some(k) if (1..=9).contains(k.get_ref()) => {
                if let Some(other) = keys.insert(*k.get_ref(), name.clone()) {
                    return Err(src.at(
                        k.span(),
                        format!("{field}.key: {} already fires '{other}'", k.get_ref()),
                    ));
                }
                Some(*k.get_ref() as u8)
            }
            Some(k) => {
                return Err(src.at(
                    k.span(),
                    format!(
                        "{field}.key: must be a digit from 1 to 9, got {}",
                        k.get_ref()
                    ),
                ))
            }
            None => None,
        };
        let at = schedule(src, &field, a.at.as_ref(), run_length)?;
        let timeout = positive_dur(src, &format!("{field}.timeout"), a.timeout.clone())?
            .unwrap_or(DEFAULT_ACTION_TIMEOUT);
        let vars = vars(src, &field, &a.vars)?;
        let affects = a
            .affects
            .as_ref()
            .map(|x| affects(src, &field, x, requests))
            .transpose()?;
        let kind = match a.kind.get_ref().as_str() {
            "kube" => ActionKind::Kube(kube_action(src, &field, &a)?),
            "http" => ActionKind::Http(http_action(src, &field, &a)?),
            "command" => ActionKind::Command(command_action(src, &field, &a)?),
            other => return Err(src.at(a.kind.span(), format!("{field}.kind: unknown route action kind '{other}': use \"kube\" (Gateway API objects through the Kubernetes API), \"http\" (an admin API request) or \"command\" (a program, e.g. kubectl)"))),
        };
        let verify = a
            .verify
            .as_ref()
            .map(|v| verify(src, &field, v))
            .transpose()?;
        let action = ActionConfig {
            name,
            key,
            at,
            timeout,
            vars,
            affects,
            kind,
            verify,
        };
        check_templates(src, &field, span, &action, &a, has_demo)?;
        out.actions.push(action);
    }
    Ok(out)
}

/// `affects = ["shop", ...]`: names of the profile's `[[request]]`s.
fn affects(
    src: &Source,
    field: &str,
    raw: &Spanned<Vec<String>>,
    requests: &[String],
) -> Result<Vec<String>, ProfileError> {
    if raw.get_ref().is_empty() {
        return Err(src.at(
            raw.span(),
            format!("{field}.affects: list the [[request]] names this action touches, e.g. [\"shop\"]; leave it out to match them from the HTTPRoute"),
        ));
    }
    for name in raw.get_ref() {
        if !requests.contains(name) {
            return Err(src.at(
                raw.span(),
                format!(
                    "{field}.affects: '{name}' is not a [[request]] name; the profile's requests are {}",
                    requests
                        .iter()
                        .map(|r| format!("'{r}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(raw.get_ref().clone())
}

/// `[kube]`, with `~/` expanded.
pub fn kube_settings(kube: Option<RawKube>) -> KubeSettings {
    kube.map_or_else(KubeSettings::default, |k| KubeSettings {
        kubeconfig: k.kubeconfig.map(|p| expand_home(&p)),
        context: k.context,
        namespace: k.namespace,
    })
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn schedule(
    src: &Source,
    field: &str,
    at: Option<&Spanned<toml::Value>>,
    run_length: Duration,
) -> Result<Vec<Duration>, ProfileError> {
    let Some(at) = at else { return Ok(Vec::new()) };
    let bad = || {
        src.at(at.span(), format!("{field}.at: give an offset into the run like \"30s\", or a list like [\"30s\", \"1m\"]"))
    };
    let texts: Vec<&str> = match at.get_ref() {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    for t in texts {
        let d = rampdeck_base::duration::parse_duration(t)
            .map_err(|e| src.at(at.span(), format!("{field}.at: {e}")))?;
        if d >= run_length {
            return Err(src.at(
                at.span(),
                format!(
                    "{field}.at: {t} is not before the run ends ({})",
                    rampdeck_base::fmt::fmt_dur(run_length)
                ),
            ));
        }
        out.push(d);
    }
    Ok(out)
}

fn vars(
    src: &Source,
    field: &str,
    raw: &BTreeMap<String, Spanned<toml::Value>>,
) -> Result<BTreeMap<String, Vec<String>>, ProfileError> {
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || k == "n"
        {
            return Err(src.at(v.span(), format!("{field}.vars.{k}: a variable name is letters, digits, '_' and '-' ('n' is the firing number and taken)")));
        }
        let bad = || {
            src.at(
                v.span(),
                format!(
                    "{field}.vars.{k}: give a string, or a list of strings used one per firing"
                ),
            )
        };
        let values = match v.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Integer(n) => vec![n.to_string()],
            toml::Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| match x {
                    toml::Value::String(s) => Ok(s.clone()),
                    toml::Value::Integer(n) => Ok(n.to_string()),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        };
        out.insert(k.clone(), values);
    }
    Ok(out)
}

/// Fields of one kind given to an action of another are errors, not ignored.
fn only_for(src: &Source, field: &str, a: &RawRouteAction, kind: &str) -> Result<(), ProfileError> {
    let present: [(&str, &str, Option<std::ops::Range<usize>>); 12] = [
        ("wait", "kube", a.wait.first().map(Spanned::span)),
        ("op", "kube", a.op.as_ref().map(Spanned::span)),
        ("manifest", "kube", a.manifest.as_ref().map(Spanned::span)),
        ("object", "kube", a.object.as_ref().map(Spanned::span)),
        ("resource", "kube", a.resource.as_ref().map(Spanned::span)),
        ("patch", "kube", a.patch.as_ref().map(Spanned::span)),
        ("namespace", "kube", a.namespace.as_ref().map(Spanned::span)),
        ("watch", "kube", a.watch.as_ref().map(Spanned::span)),
        ("method", "http", a.method.as_ref().map(Spanned::span)),
        ("url", "http", a.url.as_ref().map(Spanned::span)),
        (
            "expect_status",
            "http",
            a.expect_status.as_ref().map(Spanned::span),
        ),
        ("command", "command", a.command.as_ref().map(Spanned::span)),
    ];
    for (name, owner, span) in present {
        if let Some(span) = span {
            if owner != kind {
                return Err(src.at(span, format!("{field}.{name} applies to kind = \"{owner}\", and this action is kind = \"{kind}\"")));
            }
        }
    }
    if kind != "http" && (a.body.is_some() || !a.headers.is_empty()) {
        let span = a.body.as_ref().map_or(a.kind.span(), Spanned::span);
        return Err(src.at(
            span,
            format!("{field}: body and headers apply to kind = \"http\""),
        ));
    }
    if kind != "command" && (!a.env.is_empty() || a.cwd.is_some()) {
        return Err(src.at(
            a.kind.span(),
            format!("{field}: env and cwd apply to kind = \"command\""),
        ));
    }
    Ok(())
}

fn kube_action(src: &Source, field: &str, a: &RawRouteAction) -> Result<KubeAction, ProfileError> {
    only_for(src, field, a, "kube")?;
    let op = match a.op.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
        None | Some(("apply", _)) => KubeOp::Apply,
        Some(("patch", _)) => KubeOp::Patch,
        Some(("delete", _)) => KubeOp::Delete,
        Some((other, span)) => return Err(src.at(span, format!("{field}.op: unknown operation '{other}': use \"apply\" (server-side apply), \"patch\" (merge patch) or \"delete\""))),
    };
    let given = [
        a.manifest.is_some(),
        a.object.is_some(),
        a.resource.is_some(),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if given != 1 {
        return Err(src.at(a.kind.span(), format!("{field}: give exactly one of manifest = \"manifests/httproute.yaml\", object = {{ ... }} (the object inline) or resource = \"httproute/NAME\" (patch, delete)")));
    }
    let object = if let Some(m) = &a.manifest {
        ObjectSource::File(find_manifest(src, field, m)?)
    } else if let Some(o) = &a.object {
        let v = serde_json::to_value(o.get_ref())
            .map_err(|e| src.at(o.span(), format!("{field}.object: {e}")))?;
        ObjectSource::Inline(v)
    } else if let Some(r) = &a.resource {
        if op == KubeOp::Apply {
            return Err(src.at(r.span(), format!("{field}.resource names an existing object; apply needs the whole object: give manifest or object")));
        }
        let (kind, name) = r.get_ref().split_once('/').unwrap_or(("", ""));
        let kind = ObjectKind::parse(kind).filter(|_| !name.is_empty()).ok_or_else(|| {
            src.at(r.span(), format!("{field}.resource: write it as KIND/NAME with KIND httproute or gateway, e.g. \"httproute/route-1\", got '{}'", r.get_ref()))
        })?;
        ObjectSource::Named {
            kind,
            name: name.to_owned(),
        }
    } else {
        return Err(src.at(a.kind.span(), format!("{field}: nothing to act on")));
    };
    let patch = match (&a.patch, op) {
        (Some(p), KubeOp::Patch) => Some(serde_json::to_value(p.get_ref()).map_err(|e| src.at(p.span(), format!("{field}.patch: {e}")))?),
        (Some(p), _) => return Err(src.at(p.span(), format!("{field}.patch applies to op = \"patch\""))),
        (None, KubeOp::Patch) if matches!(object, ObjectSource::Named { .. }) => {
            return Err(src.at(a.kind.span(), format!("{field}: op = \"patch\" with resource needs patch = {{ ... }} (a JSON merge patch, e.g. patch = {{ spec = {{ hostnames = [\"a.example.com\"] }} }})")))
        }
        (None, _) => None,
    };
    Ok(KubeAction {
        op,
        object,
        patch,
        namespace: a.namespace.as_ref().map(|n| n.get_ref().clone()),
        watch: a.watch.as_ref().is_some_and(|w| *w.get_ref()),
        waits: a
            .wait
            .iter()
            .enumerate()
            .map(|(i, w)| super::setup::wait_spec(src, &format!("{field}.wait[{i}]"), w))
            .collect::<Result<Vec<_>, _>>()?,
    })
}

/// A manifest path is looked up next to the profile first, then from the working directory.
pub(super) fn find_manifest(
    src: &Source,
    field: &str,
    m: &Spanned<String>,
) -> Result<PathBuf, ProfileError> {
    let p = PathBuf::from(m.get_ref());
    let profile_dir = Path::new(src.path).parent().unwrap_or(Path::new("."));
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = if p.is_absolute() {
        vec![p.clone()]
    } else {
        let mut c = vec![profile_dir.join(&p)];
        if let Some(parent) = profile_dir.parent() {
            c.push(parent.join(&p));
        }
        c.push(p.clone());
        c
    };
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    Err(src.at(
        m.span(),
        format!(
            "{field}.manifest: '{}' not found (looked at {})",
            m.get_ref(),
            tried.join(", ")
        ),
    ))
}

fn http_action(src: &Source, field: &str, a: &RawRouteAction) -> Result<HttpAction, ProfileError> {
    only_for(src, field, a, "http")?;
    let url = a.url.as_ref().ok_or_else(|| src.at(a.kind.span(), format!("{field}: kind = \"http\" needs url, e.g. url = \"http://127.0.0.1:2019/config/apps/http/servers/srv0/routes\"")))?;
    if !(url.get_ref().starts_with("http://")
        || url.get_ref().starts_with("https://")
        || url.get_ref().starts_with("{{"))
    {
        return Err(src.at(
            url.span(),
            format!("{field}.url: '{}' needs http:// or https://", url.get_ref()),
        ));
    }
    let method = match &a.method {
        Some(m) => {
            http::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()).map_err(|_| {
                src.at(
                    m.span(),
                    format!("{field}.method: '{}' is not an HTTP method", m.get_ref()),
                )
            })?
        }
        None if a.body.is_some() => http::Method::POST,
        None => http::Method::GET,
    };
    let expect_status = match &a.expect_status {
        Some(s) if (100..=599).contains(s.get_ref()) => Some(*s.get_ref() as u16),
        Some(s) => {
            return Err(src.at(
                s.span(),
                format!(
                    "{field}.expect_status: must be an HTTP status from 100 to 599, got {}",
                    s.get_ref()
                ),
            ))
        }
        None => None,
    };
    Ok(HttpAction {
        method,
        url: url.get_ref().clone(),
        headers: a
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: a.body.as_ref().map(|b| b.get_ref().clone()),
        expect_status,
    })
}

fn command_action(
    src: &Source,
    field: &str,
    a: &RawRouteAction,
) -> Result<CommandAction, ProfileError> {
    only_for(src, field, a, "command")?;
    let argv = a.command.as_ref().ok_or_else(|| src.at(a.kind.span(), format!("{field}: kind = \"command\" needs command, e.g. command = [\"kubectl\", \"apply\", \"-f\", \"manifests/httproute.yaml\"]")))?;
    if argv.get_ref().is_empty() || argv.get_ref()[0].trim().is_empty() {
        return Err(src.at(
            argv.span(),
            format!("{field}.command: give the program and its arguments"),
        ));
    }
    Ok(CommandAction {
        argv: argv.get_ref().clone(),
        env: a.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        cwd: a.cwd.as_ref().map(PathBuf::from),
    })
}

fn verify(src: &Source, field: &str, v: &Spanned<RawVerify>) -> Result<VerifyConfig, ProfileError> {
    let f = format!("{field}.verify");
    let r = v.get_ref();
    let status = match &r.status {
        Some(s) if (100..=599).contains(s.get_ref()) => *s.get_ref() as u16,
        Some(s) => {
            return Err(src.at(
                s.span(),
                format!(
                    "{f}.status: must be an HTTP status from 100 to 599, got {}",
                    s.get_ref()
                ),
            ))
        }
        None => 200,
    };
    let header = match &r.header {
        Some(h) => {
            let (k, val) = h.get_ref().split_once(':').ok_or_else(|| {
                src.at(
                    h.span(),
                    format!("{f}.header: write it as \"name: value\", e.g. \"x-backend: echo-v2\""),
                )
            })?;
            Some((k.trim().to_ascii_lowercase(), val.trim().to_owned()))
        }
        None => None,
    };
    let interval = positive_dur(src, &format!("{f}.interval"), r.interval.clone())?
        .unwrap_or(DEFAULT_VERIFY_INTERVAL);
    let timeout = positive_dur(src, &format!("{f}.timeout"), r.timeout.clone())?
        .unwrap_or(DEFAULT_VERIFY_TIMEOUT);
    Ok(VerifyConfig {
        url: r.url.get_ref().clone(),
        host: r.host.clone(),
        status,
        header,
        body_contains: r.body_contains.clone(),
        interval,
        timeout,
    })
}

/// Every `{{name}}` an action uses must exist when it fires.
fn check_templates(
    src: &Source,
    field: &str,
    span: std::ops::Range<usize>,
    a: &ActionConfig,
    raw: &RawRouteAction,
    has_demo: bool,
) -> Result<(), ProfileError> {
    let mut texts: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let here = |s: &Spanned<String>| (s.get_ref().clone(), s.span());
    match &a.kind {
        ActionKind::Kube(k) => {
            if let ObjectSource::File(p) = &k.object {
                if let (Ok(t), Some(m)) = (
                    crate::util::files::read_text(p, crate::util::files::MANIFEST),
                    &raw.manifest,
                ) {
                    texts.push((t, m.span()));
                }
            }
            if let Some(o) = &raw.object {
                texts.push((o.get_ref().to_string(), o.span()));
            }
            if let Some(p) = &raw.patch {
                texts.push((p.get_ref().to_string(), p.span()));
            }
            if let Some(r) = &raw.resource {
                texts.push(here(r));
            }
            if let Some(n) = &raw.namespace {
                texts.push(here(n));
            }
        }
        ActionKind::Http(_) => {
            if let Some(u) = &raw.url {
                texts.push(here(u));
            }
            if let Some(b) = &raw.body {
                texts.push(here(b));
            }
            for v in raw.headers.values() {
                texts.push((v.clone(), span.clone()));
            }
        }
        ActionKind::Command(_) => {
            if let Some(c) = &raw.command {
                texts.push((c.get_ref().join(" "), c.span()));
            }
        }
    }
    if let Some(v) = &raw.verify {
        let r = v.get_ref();
        texts.push(here(&r.url));
        for t in [&r.host, &r.body_contains].into_iter().flatten() {
            texts.push((t.clone(), v.span()));
        }
        if let Some(h) = &r.header {
            texts.push(here(h));
        }
    }
    for (text, at) in texts {
        for name in vars::names(&text) {
            let known = name == "n"
                || a.vars.contains_key(&name)
                || RUN_VARS.contains(&name.as_str())
                || (has_demo && DEMO_ROUTE_VARS.contains(&name.as_str()));
            if !known {
                let demo_note = if DEMO_ROUTE_VARS.contains(&name.as_str()) {
                    " (it exists only in a profile with [demo])"
                } else {
                    ""
                };
                let mut all: Vec<String> = a.vars.keys().cloned().collect();
                all.push("n".into());
                all.extend(RUN_VARS.iter().map(|s| s.to_string()));
                if has_demo {
                    all.extend(DEMO_ROUTE_VARS.iter().map(|s| s.to_string()));
                }
                return Err(src.at(at, format!("{field}: unknown variable '{{{{{name}}}}}'{demo_note}; known: {}; add it under {field}.vars", all.join(", "))));
            }
        }
    }
    Ok(())
}
