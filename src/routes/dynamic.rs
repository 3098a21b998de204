//! Kube route actions on any kind (a Secret rotated, a Deployment scaled or given a new image): the objects applied or deleted through dynamic server-side apply, and the waits their change converges to.

use serde_json::Value;

use crate::kube::dynamic::ObjectRef;
use crate::kube::{ready, KubeContext, KubeError};
use crate::setup::wait::Wait;
use crate::spec::kube::KubeOp;
use crate::spec::setup::WaitSpec;

/// Whether a firing's objects go the typed HTTPRoute/Gateway way (with its
/// status watches and drop attribution): one object of those kinds.
pub fn typed(objects: &[Value]) -> bool {
    matches!(objects, [one] if matches!(one["kind"].as_str(), Some("HTTPRoute" | "Gateway")))
}

/// Applies (or deletes) `objects` in order; returns where they are.
pub async fn act(
    ctx: &KubeContext,
    op: KubeOp,
    objects: &[Value],
    namespace: Option<&str>,
) -> Result<Vec<ObjectRef>, KubeError> {
    let mut out = Vec::new();
    for o in objects {
        match op {
            KubeOp::Apply => out.push(ctx.apply_object(o, namespace).await?.0),
            KubeOp::Delete => {
                let (r, _) = ctx.locate(o, namespace).await?;
                ctx.delete_object(&r).await?;
                out.push(r);
            }
            KubeOp::Patch => {
                return Err(KubeError::Manifest(format!(
                    "op = \"patch\" works on HTTPRoutes and Gateways; for a {} apply the changed object (op = \"apply\", server-side apply changes only the fields it names)",
                    o["kind"].as_str().unwrap_or("object")
                )))
            }
        }
    }
    Ok(out)
}

/// The waits of a firing: the `wait` entries (an entry naming an applied
/// object's kind matches those objects; another kind needs its name, and
/// lives in the first applied object's namespace), or else each applied
/// object's own readiness. A delete waits for nothing by default.
pub fn waits(
    specs: &[WaitSpec],
    op: KubeOp,
    applied: &[ObjectRef],
    default_ns: &str,
) -> Result<Vec<Wait>, String> {
    if specs.is_empty() {
        if op == KubeOp::Delete {
            return Ok(Vec::new());
        }
        return Ok(applied
            .iter()
            .filter_map(|r| {
                ready::default_condition(&r.kind).map(|c| Wait::Object {
                    object: r.clone(),
                    condition: c.to_owned(),
                })
            })
            .collect());
    }
    let mut out = Vec::new();
    for s in specs {
        match s {
            WaitSpec::Url { url, status } => out.push(Wait::Url {
                url: url.clone(),
                status: *status,
            }),
            WaitSpec::Condition {
                kind,
                name,
                condition,
            } => {
                let mine: Vec<&ObjectRef> = applied
                    .iter()
                    .filter(|r| r.kind.eq_ignore_ascii_case(kind))
                    .filter(|r| name.as_ref().is_none_or(|n| *n == r.name))
                    .collect();
                if !mine.is_empty() {
                    out.extend(mine.into_iter().map(|r| Wait::Object {
                        object: r.clone(),
                        condition: condition.clone(),
                    }));
                    continue;
                }
                let name = name.clone().ok_or_else(|| {
                    format!("wait on {kind}: the action applies no {kind}, so name the one to wait for (name = \"...\")")
                })?;
                let (api_version, kind, resource) = ready::known_kind(kind).ok_or_else(|| {
                    format!("wait on {kind} {name}: not a kind rampdeck knows the API group of ({}); wait on a kind the action applies, or on a url", ready::KNOWN_KINDS.iter().map(|k| k.1).collect::<Vec<_>>().join(", "))
                })?;
                out.push(Wait::Object {
                    object: ObjectRef {
                        api_version: api_version.to_owned(),
                        kind: kind.to_owned(),
                        resource: resource.to_owned(),
                        namespace: Some(
                            applied
                                .first()
                                .and_then(|r| r.namespace.clone())
                                .unwrap_or_else(|| default_ns.to_owned()),
                        ),
                        name,
                    },
                    condition: condition.clone(),
                });
            }
        }
    }
    Ok(out)
}
