//! Objects of any kind: discovered through the API server, applied server-side as dynamic objects, read, listed by label and deleted.
//!
//! Setup, teardown and `kind = "kube"` route actions on kinds other than
//! HTTPRoutes and Gateways go through here. A kind is resolved once per
//! context (discovery of its group-version only, as kubectl does for one
//! apply), so a manifest of many objects costs one discovery per kind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use serde_json::Value;

use super::context::{KubeContext, FIELD_MANAGER};
use super::error::KubeError;

/// One object, as named in messages and found again for waits and deletes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// The resource's plural with its group: `deployments.apps`, `configmaps`.
    pub resource: String,
    /// None for a cluster-scoped object (a Namespace).
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// (apiVersion, kind) -> its resource and scope.
type Resolved = HashMap<(String, String), (ApiResource, Scope)>;

/// Resolved kinds, shared by the clones of a context.
#[derive(Debug, Default, Clone)]
pub struct Kinds(Arc<Mutex<Resolved>>);

fn gvk(api_version: &str, kind: &str) -> Result<GroupVersionKind, KubeError> {
    if api_version.is_empty() || kind.is_empty() {
        return Err(KubeError::Manifest(
            "an object without apiVersion or kind".into(),
        ));
    }
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

fn gvk_of(obj: &Value) -> Result<GroupVersionKind, KubeError> {
    gvk(
        obj["apiVersion"].as_str().unwrap_or(""),
        obj["kind"].as_str().unwrap_or(""),
    )
}

fn qualified(ar: &ApiResource) -> String {
    if ar.group.is_empty() {
        ar.plural.clone()
    } else {
        format!("{}.{}", ar.plural, ar.group)
    }
}

impl KubeContext {
    /// The resource of `api_version`/`kind` and its scope, from discovery.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, Scope), KubeError> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(hit) = self
            .kinds
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(hit.clone());
        }
        let gvk = gvk(api_version, kind)?;
        let found: Result<(ApiResource, ApiCapabilities), kube::Error> =
            kube::discovery::pinned_kind(&self.client(), &gvk).await;
        let (ar, caps) = found.map_err(|e| match e {
            kube::Error::Discovery(_) => KubeError::UnknownKind(format!(
                "unknown kind {kind} in {api_version}: the API server ({}) does not serve it (a typo, or its CRD is not installed)",
                self.describe
            )),
            kube::Error::Api(s) if s.code == 404 => KubeError::UnknownKind(format!(
                "unknown kind {kind}: the API server ({}) does not serve the group-version {api_version} (a typo, or its CRD is not installed)",
                self.describe
            )),
            kube::Error::Api(s) if s.code == 403 => KubeError::Forbidden(format!(
                "403 Forbidden: not allowed to read the API discovery of {api_version}: {}",
                s.message
            )),
            other => KubeError::Transport(format!(
                "discovery of {api_version} {kind}: {}",
                crate::util::text::error_chain(&other)
            )),
        })?;
        let out = (ar, caps.scope);
        self.kinds
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, out.clone());
        Ok(out)
    }

    /// Where `obj` lives: its kind resolved, its namespace its own, else
    /// `namespace`, else the context's (none for a cluster-scoped kind).
    pub async fn locate(
        &self,
        obj: &Value,
        namespace: Option<&str>,
    ) -> Result<(ObjectRef, ApiResource), KubeError> {
        let gvk = gvk_of(obj)?;
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        if name.is_empty() {
            return Err(KubeError::Manifest(format!(
                "a {} without metadata.name",
                gvk.kind
            )));
        }
        let api_version = obj["apiVersion"].as_str().unwrap_or("");
        let (ar, scope) = self.resolve(api_version, &gvk.kind).await?;
        let ns = match scope {
            Scope::Cluster => None,
            Scope::Namespaced => Some(
                namespace
                    .map(str::to_owned)
                    .or_else(|| obj["metadata"]["namespace"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| self.namespace.clone()),
            ),
        };
        Ok((
            ObjectRef {
                api_version: api_version.to_owned(),
                kind: gvk.kind.clone(),
                resource: qualified(&ar),
                namespace: ns,
                name: name.to_owned(),
            },
            ar,
        ))
    }

    fn dynamic(&self, ar: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client(), ns, ar),
            None => Api::all_with(self.client(), ar),
        }
    }

    /// Server-side apply of `obj` (field manager `rampdeck`, conflicts
    /// forced: rampdeck owns what it applies); returns where it went and
    /// the object as the server stored it.
    pub async fn apply_object(
        &self,
        obj: &Value,
        namespace: Option<&str>,
    ) -> Result<(ObjectRef, Value), KubeError> {
        let (r, ar) = self.locate(obj, namespace).await?;
        let mut body = obj.clone();
        match &r.namespace {
            Some(ns) => body["metadata"]["namespace"] = Value::String(ns.clone()),
            None => {
                if let Some(m) = body["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        let api = self.dynamic(&ar, r.namespace.as_deref());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let stored = api
            .patch(&r.name, &params, &Patch::Apply(&body))
            .await
            .map_err(|e| explain_object(e, "patch", &r))?;
        let v = serde_json::to_value(stored).map_err(|e| KubeError::Api {
            code: 0,
            message: format!("{r}: the API server's answer: {e}"),
        })?;
        Ok((r, v))
    }

    /// The object now, or None if it does not exist.
    pub async fn get_object(&self, r: &ObjectRef) -> Result<Option<Value>, KubeError> {
        let (ar, _) = self.resolve(&r.api_version, &r.kind).await?;
        let got = self
            .dynamic(&ar, r.namespace.as_deref())
            .get_opt(&r.name)
            .await
            .map_err(|e| explain_object(e, "get", r))?;
        got.map(|o| {
            serde_json::to_value(o).map_err(|e| KubeError::Api {
                code: 0,
                message: format!("{r}: the API server's answer: {e}"),
            })
        })
        .transpose()
    }

    /// Deletes the object (its dependents in the background); false if it was already gone.
    pub async fn delete_object(&self, r: &ObjectRef) -> Result<bool, KubeError> {
        let (ar, _) = self.resolve(&r.api_version, &r.kind).await?;
        match self
            .dynamic(&ar, r.namespace.as_deref())
            .delete(&r.name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(explain_object(e, "delete", r)),
        }
    }

    /// Objects of `api_version`/`kind` carrying `selector`, in every namespace
    /// (a namespaced kind) or the cluster.
    pub async fn list_labelled(
        &self,
        api_version: &str,
        kind: &str,
        selector: &str,
    ) -> Result<Vec<ObjectRef>, KubeError> {
        let (ar, _) = self.resolve(api_version, kind).await?;
        let api: Api<DynamicObject> = Api::all_with(self.client(), &ar);
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| {
                explain_object(
                    e,
                    "list",
                    &ObjectRef {
                        api_version: api_version.to_owned(),
                        kind: kind.to_owned(),
                        resource: qualified(&ar),
                        namespace: None,
                        name: String::new(),
                    },
                )
            })?;
        Ok(list
            .items
            .into_iter()
            .map(|o| ObjectRef {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                resource: qualified(&ar),
                namespace: o.metadata.namespace.clone(),
                name: o.metadata.name.clone().unwrap_or_default(),
            })
            .collect())
    }
}

/// An API error on one object, worded with the verb and resource it was
/// about (a 403 names what RBAC must allow).
pub fn explain_object(e: kube::Error, verb: &str, r: &ObjectRef) -> KubeError {
    let scope = match &r.namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "at cluster scope".to_owned(),
    };
    match e {
        kube::Error::Api(s) => match s.code {
            403 => KubeError::Forbidden(format!(
                "403 Forbidden: not allowed to {verb} {} {scope} ({r}): {}; grant the verb on that resource to rampdeck's account (a Role or ClusterRole)",
                r.resource, s.message
            )),
            404 => KubeError::Api {
                code: 404,
                message: format!("{r} not found: {}", s.message),
            },
            409 => KubeError::Api {
                code: 409,
                message: format!("409 Conflict on {r}: {}", s.message),
            },
            422 => KubeError::Api {
                code: 422,
                message: format!("422 Invalid {r}: {}", s.message),
            },
            code => KubeError::Api {
                code,
                message: format!("{verb} {r}: {code} {}: {}", s.reason, s.message),
            },
        },
        other => KubeError::Transport(format!(
            "{verb} {r}: {}",
            crate::util::text::error_chain(&other)
        )),
    }
}
