//! HTTP front of the simulated API server: maps Kubernetes paths and methods to discovery,
//! get, list, watch, create, update, patch and delete (and pods' log and portforward), reads
//! bodies and query options, and answers errors as `Status` objects.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::error::ApiError;
use super::ops::{self, WriteOptions};
use super::patch::{self, PatchRequest};
use super::query::{Filter, Query};
use super::resource::{GroupVersion, Kind, CORE_V1, NAMED_GROUPS};
use super::store::{Committed, Key, Since, Subresource};
use super::validate::FieldValidation;
use super::{deletion, discovery, openapi, portforward, table, watch, KubeApi};

/// Response bodies of the control plane: whole documents or streamed watches.
pub type Body = BoxBody<Bytes, Infallible>;

/// The API server's default request size limit is about 3 MiB.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code(), &e.status())
}

/// What a path names.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Version,
    CoreVersions,
    Namespaces,
    Namespace(String),
    Groups,
    Group(GroupVersion),
    Resources(GroupVersion),
    OpenApiRoot,
    OpenApi(GroupVersion),
    Collection {
        kind: Kind,
        namespace: Option<String>,
    },
    Object {
        key: Key,
        sub: Subresource,
    },
    PodLog(Key),
    PortForward(Key),
}

/// A served group-version named by `group` and `version` in a path.
fn served(group: &str, version: &str) -> Option<GroupVersion> {
    NAMED_GROUPS
        .into_iter()
        .find(|gv| gv.group == group && gv.version == version)
}

/// The target of `path` and whether it used the legacy `/watch/` prefix.
fn parse_path(path: &str) -> Option<(Target, bool)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (gv, rest) = match segs.as_slice() {
        ["version"] => return Some((Target::Version, false)),
        ["api"] => return Some((Target::CoreVersions, false)),
        ["api", "v1", "namespaces"] => return Some((Target::Namespaces, false)),
        ["api", "v1", "namespaces", ns] => {
            return Some((Target::Namespace((*ns).to_owned()), false))
        }
        ["openapi", "v3"] => return Some((Target::OpenApiRoot, false)),
        ["openapi", "v3", "api", "v1"] => return Some((Target::OpenApi(CORE_V1), false)),
        ["openapi", "v3", "apis", g, v] => return Some((Target::OpenApi(served(g, v)?), false)),
        ["apis"] => return Some((Target::Groups, false)),
        ["apis", g] => {
            let gv = NAMED_GROUPS.into_iter().find(|gv| gv.group == *g)?;
            return Some((Target::Group(gv), false));
        }
        ["api", "v1", rest @ ..] => (CORE_V1, rest),
        ["apis", g, v, rest @ ..] => (served(g, v)?, rest),
        _ => return None,
    };
    let (watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let kind = |plural: &str| Kind::from_path(gv.group, gv.version, plural);
    let t = match rest {
        [] if !watch => Target::Resources(gv),
        [plural] => Target::Collection {
            kind: kind(plural)?,
            namespace: None,
        },
        ["namespaces", ns, plural] => Target::Collection {
            kind: kind(plural)?,
            namespace: Some((*ns).to_owned()),
        },
        ["namespaces", ns, plural, name] => Target::Object {
            key: Key::new(kind(plural)?, ns, name),
            sub: Subresource::Main,
        },
        ["namespaces", ns, plural, name, "status"]
            if kind(plural).is_some_and(Kind::has_status) =>
        {
            Target::Object {
                key: Key::new(kind(plural)?, ns, name),
                sub: Subresource::Status,
            }
        }
        ["namespaces", ns, "pods", name, "log"] if gv == CORE_V1 => {
            Target::PodLog(Key::new(Kind::Pod, ns, name))
        }
        ["namespaces", ns, "pods", name, "portforward"] if gv == CORE_V1 => {
            Target::PortForward(Key::new(Kind::Pod, ns, name))
        }
        _ => return None,
    };
    Some((t, watch))
}

/// Every namespace exists, so applying one returns it (with what was sent
/// in its metadata); deleting one deletes the objects stored in it, as the
/// namespace controller would, and returns it Terminating.
async fn namespace_write(
    api: &KubeApi,
    ns: &str,
    method: Method,
    body: Incoming,
) -> Result<Response<Body>, ApiError> {
    let mut obj = discovery::namespace(ns, &api.started);
    match method {
        Method::GET | Method::HEAD => Ok(json_response(200, &obj)),
        Method::PATCH | Method::PUT => {
            let sent = parse_json(&read_body(body).await?)?;
            for field in ["labels", "annotations"] {
                if let Some(m) = sent["metadata"][field].as_object() {
                    for (k, v) in m {
                        obj["metadata"][field][k] = v.clone();
                    }
                }
            }
            Ok(json_response(200, &obj))
        }
        Method::DELETE => {
            let opts = WriteOptions {
                manager: "namespace-controller".to_owned(),
                dry_run: false,
                validation: FieldValidation::parse(None)?,
                warnings: Default::default(),
            };
            let options = json!({});
            for kind in Kind::ALL {
                for o in api.store.list(kind, Some(ns)).1 {
                    let key = Key::new(kind, ns, o["metadata"]["name"].as_str().unwrap_or(""));
                    match deletion::delete(&api.store, &key, &options, &opts) {
                        Ok(_) | Err(ApiError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            obj["status"]["phase"] = Value::String("Terminating".to_owned());
            Ok(json_response(200, &obj))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Serves one API request.
pub async fn handle(api: &KubeApi, req: Request<Incoming>) -> Response<Body> {
    api.requests.fetch_add(1, Ordering::Relaxed);
    // A port-forward takes the request itself: its connection becomes a WebSocket.
    if let Some((Target::PortForward(key), false)) = parse_path(req.uri().path()) {
        return match portforward::serve(api, &key, req) {
            Ok(r) => r,
            Err(e) => error_response(&e),
        };
    }
    match serve(api, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::TooLarge(MAX_BODY)),
        Err(e) => Err(ApiError::BadRequest(format!(
            "reading the request body: {e}"
        ))),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "couldn't decode the request body as JSON (the demo API server reads JSON only): {e}"
        ))
    })
}

/// A create or update body: JSON only. client-go sends built-in kinds as protobuf unless
/// told otherwise, and switches to JSON when the server answers 415.
fn json_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/vnd.kubernetes.protobuf")
        || media.eq_ignore_ascii_case("application/cbor")
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json (the demo API server does not read {media})"
        )));
    }
    parse_json(body)
}

/// Adds a `Warning` header per message, as the API server does.
fn with_warnings(mut r: Response<Body>, opts: &WriteOptions) -> Response<Body> {
    let warnings = std::mem::take(&mut *opts.warnings.lock().unwrap_or_else(|e| e.into_inner()));
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(hyper::header::WARNING, v);
        }
    }
    r
}

async fn serve(api: &KubeApi, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let Some((target, legacy_watch)) = parse_path(parts.uri.path()) else {
        return Err(ApiError::PathNotFound);
    };
    let q = Query::parse(parts.uri.query());
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
    };
    let as_table = table::wanted(header(ACCEPT));
    let mut opts = WriteOptions {
        manager: q
            .get("fieldManager")
            .map_or_else(|| default_manager(header(USER_AGENT)), str::to_owned),
        dry_run: q.get("dryRun") == Some("All"),
        validation: FieldValidation::parse(q.get("fieldValidation"))?,
        warnings: Default::default(),
    };
    let method = parts.method.clone();
    let watching = legacy_watch || q.flag("watch");
    let asked = match &target {
        Target::Collection { kind, namespace } => Some((*kind, namespace.as_deref(), "", false)),
        Target::Object { key, .. } => Some((
            key.kind,
            Some(key.namespace.as_str()),
            key.name.as_str(),
            true,
        )),
        _ => None,
    };
    if let Some((kind, ns, name, object)) = asked {
        if let Some(verb) = super::rbac::verb(&method, object, watching) {
            super::rbac::check(&api.forbidden, verb, kind, ns, name)?;
        }
    }
    let get_only = |v: Value| {
        if method == Method::GET || method == Method::HEAD {
            Ok(json_response(200, &v))
        } else {
            Err(ApiError::MethodNotAllowed)
        }
    };
    match target {
        Target::Version => get_only(discovery::version()),
        Target::CoreVersions => get_only(discovery::core_versions(&api.server)),
        Target::Resources(gv) if gv == CORE_V1 => get_only(discovery::core_resources()),
        Target::Resources(gv) => get_only(discovery::resources(gv)),
        Target::Groups => get_only(discovery::groups()),
        Target::Group(gv) => get_only(discovery::group(gv)),
        Target::OpenApiRoot => get_only(openapi::root()),
        Target::OpenApi(gv) => match openapi::group_version(gv) {
            Some(doc) => get_only(doc.clone()),
            None => Err(ApiError::PathNotFound),
        },
        Target::PodLog(key) if method == Method::GET => pod_log(api, &key, &q),
        Target::PodLog(_) => Err(ApiError::MethodNotAllowed),
        Target::PortForward(_) => Err(ApiError::BadRequest(
            "port-forward needs a WebSocket upgrade (v4.channel.k8s.io)".to_owned(),
        )),
        Target::Namespaces => {
            let mut names = api.store.namespaces();
            for extra in ["default", api.sim.namespace.as_str()] {
                if !names.iter().any(|n| n == extra) {
                    names.push(extra.to_owned());
                }
            }
            names.sort();
            // A namespace's only label is its name (`kubernetes.io/metadata.name`).
            if let Some(sel) = q.get("labelSelector").filter(|s| !s.is_empty()) {
                names.retain(|n| sel == format!("kubernetes.io/metadata.name={n}"));
            }
            get_only(discovery::namespace_list(
                &names,
                &api.started,
                api.store.resource_version(),
            ))
        }
        Target::Namespace(ns) => namespace_write(api, &ns, method, body).await,
        Target::Collection { kind, namespace } => {
            let filter = Filter::from_query(&q, kind, namespace.as_deref())?;
            match method {
                Method::GET if legacy_watch || q.flag("watch") => {
                    watch_response(api, kind, filter, &q, as_table)
                }
                Method::GET => {
                    let (rv, items) = api.store.list(kind, namespace.as_deref());
                    let items: Vec<&Value> = items
                        .iter()
                        .map(|v| v.as_ref())
                        .filter(|o| filter.matches(o))
                        .collect();
                    if as_table {
                        return Ok(json_response(200, &table::table(kind, &items, rv, true)));
                    }
                    Ok(json_response(200, &list(kind, rv, &items)))
                }
                Method::POST => {
                    let Some(ns) = namespace else {
                        return Err(ApiError::MethodNotAllowed);
                    };
                    let body = json_body(header(CONTENT_TYPE), &read_body(body).await?)?;
                    let done = ops::create(&api.store, kind, &ns, body, &opts)?;
                    Ok(with_warnings(json_response(201, done.object()), &opts))
                }
                Method::DELETE => {
                    let options = delete_options(&read_body(body).await?, &q, &mut opts)?;
                    let (_, items) = api.store.list(kind, namespace.as_deref());
                    let mut deleted = Vec::new();
                    for o in items.iter().filter(|o| filter.matches(o)) {
                        let key = Key::new(
                            kind,
                            o["metadata"]["namespace"].as_str().unwrap_or(""),
                            o["metadata"]["name"].as_str().unwrap_or(""),
                        );
                        match deletion::delete(&api.store, &key, &options, &opts) {
                            Ok(done) => deleted.push(done.object().clone()),
                            // Deleted meanwhile by someone else: nothing left to do.
                            Err(ApiError::NotFound { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    let refs: Vec<&Value> = deleted.iter().map(|v| v.as_ref()).collect();
                    Ok(with_warnings(
                        json_response(200, &list(kind, api.store.resource_version(), &refs)),
                        &opts,
                    ))
                }
                _ => Err(ApiError::MethodNotAllowed),
            }
        }
        Target::Object { key, sub } => {
            if legacy_watch {
                return Err(ApiError::BadRequest(
                    "watch a single object with a fieldSelector on its collection".to_owned(),
                ));
            }
            match method {
                Method::GET | Method::HEAD => {
                    let obj = api.store.get(&key).ok_or_else(|| ops::not_found(&key))?;
                    if as_table {
                        let rv = api.store.resource_version();
                        return Ok(json_response(
                            200,
                            &table::table(key.kind, &[&obj], rv, true),
                        ));
                    }
                    Ok(json_response(200, &obj))
                }
                Method::PUT => {
                    let body = json_body(header(CONTENT_TYPE), &read_body(body).await?)?;
                    let done = ops::update(&api.store, &key, body, sub, &opts)?;
                    Ok(with_warnings(json_response(200, done.object()), &opts))
                }
                Method::PATCH => {
                    let bytes = read_body(body).await?;
                    let req = PatchRequest {
                        content_type: header(CONTENT_TYPE),
                        body: &bytes,
                        field_manager: q.get("fieldManager"),
                        force: q.flag("force"),
                    };
                    let done = patch::patch(&api.store, &key, sub, &req, &opts)?;
                    let code = if matches!(done, Committed::Created(_)) {
                        201
                    } else {
                        200
                    };
                    Ok(with_warnings(json_response(code, done.object()), &opts))
                }
                Method::DELETE if sub == Subresource::Main => {
                    let options = delete_options(&read_body(body).await?, &q, &mut opts)?;
                    let done = deletion::delete(&api.store, &key, &options, &opts)?;
                    let answer = match &done {
                        // Gone at once: kube-apiserver returns the object for pods and
                        // custom resources, a Status for other built-in kinds.
                        Committed::Deleted(o) if key.kind.builtin() && key.kind != Kind::Pod => {
                            deletion::success_status(key.kind, o)
                        }
                        other => (**other.object()).clone(),
                    };
                    Ok(with_warnings(json_response(200, &answer), &opts))
                }
                _ => Err(ApiError::MethodNotAllowed),
            }
        }
    }
}

/// DeleteOptions from the body and the query (kubectl and kube-rs send a body; the query
/// form is what `curl -X DELETE ...?propagationPolicy=Foreground` uses); `dryRun` in the
/// body counts as in the query.
fn delete_options(body: &[u8], q: &Query, opts: &mut WriteOptions) -> Result<Value, ApiError> {
    let mut options = if body.is_empty() {
        json!({})
    } else {
        parse_json(body)?
    };
    if !options.is_object() {
        return Err(ApiError::BadRequest(
            "DeleteOptions must be a JSON object".to_owned(),
        ));
    }
    if let Some(p) = q.get("propagationPolicy") {
        options["propagationPolicy"] = json!(p);
    }
    if let Some(g) = q.get("gracePeriodSeconds") {
        let g: i64 = g
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("invalid gracePeriodSeconds: {g:?}")))?;
        options["gracePeriodSeconds"] = json!(g);
    }
    if let Some(o) = q.get("orphanDependents") {
        options["orphanDependents"] = json!(o == "true");
    }
    let body_dry_run = options["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    opts.dry_run |= body_dry_run;
    Ok(options)
}

/// `GET pods/{name}/log`: the container's output kept by the kubelet, with `tailLines`,
/// `limitBytes` and `follow` (streamed until the container stops).
fn pod_log(api: &KubeApi, key: &Key, q: &Query) -> Result<Response<Body>, ApiError> {
    let pod = api.store.get(key).ok_or_else(|| ops::not_found(key))?;
    let container = pod["spec"]["containers"][0]["name"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if let Some(asked) = q.get("container").filter(|c| *c != container) {
        return Err(ApiError::BadRequest(format!(
            "container {asked} is not valid for pod {} (the demo kubelet runs only {container})",
            key.name
        )));
    }
    let Some(runtime) = api.kubelet.runtime(&key.namespace, &key.name) else {
        return Err(ApiError::BadRequest(format!(
            "container \"{container}\" in pod \"{}\" is waiting to start: ContainerCreating",
            key.name
        )));
    };
    let (mut text, total) = runtime.log.contents();
    if let Some(n) = q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
        let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
        let from = lines.len().saturating_sub(n);
        text = lines[from..].concat();
    }
    if let Some(n) = q.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
        text.truncate(n);
    }
    let body = if q.flag("follow") {
        watch::follow_log(text, total, runtime, api.cancel.clone())
    } else {
        full(text)
    };
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

fn list(kind: Kind, rv: u64, items: &[&Value]) -> Value {
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind.list_kind(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })
}

fn watch_response(
    api: &KubeApi,
    kind: Kind,
    filter: Filter,
    q: &Query,
    as_table: bool,
) -> Result<Response<Body>, ApiError> {
    let initial_events = q.flag("sendInitialEvents");
    let since = match q.get("resourceVersion") {
        _ if initial_events => Since::Now,
        None | Some("" | "0") => Since::Now,
        Some(rv) => Since::Rv(
            rv.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv:?}")))?,
        ),
    };
    let timeout = match q.get("timeoutSeconds") {
        None => watch::DEFAULT_TIMEOUT,
        Some(s) => Duration::from_secs(
            s.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds: {s:?}")))?,
        ),
    };
    let req = watch::WatchRequest {
        kind,
        filter,
        since,
        timeout,
        bookmarks: q.flag("allowWatchBookmarks"),
        initial_events_end: initial_events,
        as_table,
    };
    let body = watch::start(&api.store, req, api.cancel.clone());
    let mut r = Response::new(BoxBody::new(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// As the API server does without `fieldManager`: the user agent's program name.
fn default_manager(user_agent: &str) -> String {
    let name = user_agent.split('/').next().unwrap_or("").trim();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        name.chars().take(128).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("/version"), Some((Target::Version, false)));
        assert_eq!(
            parse_path("/apis/gateway.networking.k8s.io/v1/namespaces/a/httproutes/r/status"),
            Some((
                Target::Object {
                    key: Key::new(Kind::HttpRoute, "a", "r"),
                    sub: Subresource::Status
                },
                false
            ))
        );
        assert_eq!(
            parse_path("/apis/gateway.networking.k8s.io/v1/watch/gateways"),
            Some((
                Target::Collection {
                    kind: Kind::Gateway,
                    namespace: None
                },
                true
            ))
        );
        assert_eq!(parse_path("/apis/autoscaling/v2"), None);
        assert_eq!(parse_path("/openapi/v2"), None);
        assert_eq!(
            parse_path("/api/v1/namespaces/a/pods/p/portforward"),
            Some((Target::PortForward(Key::new(Kind::Pod, "a", "p")), false))
        );
        assert_eq!(
            parse_path("/api/v1/watch/namespaces/a/pods"),
            Some((
                Target::Collection {
                    kind: Kind::Pod,
                    namespace: Some("a".to_owned())
                },
                true
            ))
        );
        assert_eq!(
            parse_path("/apis/batch/v1/jobs"),
            Some((
                Target::Collection {
                    kind: Kind::Job,
                    namespace: None
                },
                false
            ))
        );
        assert_eq!(
            parse_path("/apis/batch/v1"),
            Some((Target::Resources(super::super::resource::BATCH_V1), false))
        );
        assert_eq!(parse_path("/api/v1/namespaces/a/secrets/s/status"), None);
        assert_eq!(parse_path("/apis/batch/v1/namespaces/a/pods"), None);
    }
}
