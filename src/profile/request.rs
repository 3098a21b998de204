//! `[[request]]`: method, path, headers, body, weight, `expect` checks and gRPC calls, validated and their templates compiled.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use toml::Spanned;

use super::data::inside;
use super::error::{ProfileError, Source};
use super::schema::*;
use super::target::headers;
use crate::spec::plan::RequestSpec;

pub(super) fn request(
    src: &Source,
    i: usize,
    r: Spanned<RawRequest>,
    feeders: &crate::template::Feeders,
) -> Result<RequestSpec, ProfileError> {
    let field = format!("request[{i}]");
    let span = r.span();
    let r = r.into_inner();
    match r.kind.as_ref().map(|k| k.get_ref().as_str()) {
        None | Some("http") => {}
        Some("grpc") => return grpc_request(src, &field, span, r, feeders),
        Some(other) => {
            return Err(src.at(
                r.kind.as_ref().map_or(span, |k| k.span()),
                format!("{field}.kind: '{other}' is not a request kind; use \"http\" (the default) or \"grpc\""),
            ))
        }
    }
    let grpc_only = [
        ("service", r.service.as_ref().map(|v| v.span())),
        ("metadata", r.metadata.values().next().map(|v| v.span())),
        ("message", r.message.as_ref().map(|v| v.span())),
        ("message_file", r.message_file.as_ref().map(|v| v.span())),
        (
            "descriptor_set",
            r.descriptor_set.as_ref().map(|v| v.span()),
        ),
    ];
    if let Some((name, Some(at))) = grpc_only.into_iter().find(|(_, s)| s.is_some()) {
        return Err(src.at(
            at,
            format!("{field}.{name} belongs to a gRPC request: add kind = \"grpc\""),
        ));
    }
    let method = match r.method {
        Some(m) => {
            Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()).map_err(|_| {
                src.at(
                    m.span(),
                    format!("{field}.method: '{}' is not an HTTP method", m.get_ref()),
                )
            })?
        }
        None => Method::GET,
    };
    use crate::template::{RequestTemplate, Template};
    let mut template = RequestTemplate::default();
    let compile = |text: &str, span: &std::ops::Range<usize>, what: &str| {
        Template::compile(text, feeders).map_err(|e| {
            src.at(
                inside(span, e.offset),
                format!("{field}.{what}: {}", e.message),
            )
        })
    };
    if let Some(p) = &r.path {
        template.path = compile(p.get_ref(), &p.span(), "path")?;
    }
    for (k, v) in &r.headers {
        if let Some(t) = compile(v.get_ref(), &v.span(), &format!("headers.{k}"))? {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                src.at(
                    v.span(),
                    format!("{field}.headers: '{k}' is not a valid header name"),
                )
            })?;
            template.headers.push((name, t));
        }
    }
    if let Some(b) = &r.body {
        template.body = compile(b.get_ref(), &b.span(), "body")?;
        // A JSON body: data values inside its strings are JSON-escaped.
        let json_type = r.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type")
                && v.get_ref().to_ascii_lowercase().contains("json")
        });
        let looks_json = b.get_ref().trim_start().starts_with(['{', '[']);
        if let (Some(t), true) = (template.body.as_mut(), json_type || looks_json) {
            t.escape_in_json_strings();
        }
    }
    // A templated path is checked once rendered; its literal parts here.
    let path_text = r.path.as_ref().map(|p| p.get_ref().clone());
    let templated_path = template.path.is_some();
    let path = match r.path {
        Some(p) if templated_path && p.get_ref().starts_with('/') => p.into_inner(),
        Some(p) if p.get_ref().chars().any(char::is_control) => {
            let at = p.get_ref().find(char::is_control).unwrap_or(0);
            return Err(src.at(
                p.span(),
                format!(
                    "{field}.path: it contains a control character (CR, LF, tab or similar) at byte {at}; a request path cannot carry one (write it percent-encoded, e.g. %0A)"
                ),
            ));
        }
        Some(p) if p.get_ref().starts_with('/') && p.get_ref().parse::<http::uri::PathAndQuery>().is_ok() => {
            p.into_inner()
        }
        Some(p) => {
            return Err(src.at(
                p.span(),
                format!("{field}.path: '{}' is not a path; it must start with '/', e.g. \"/api/items?page=1\"", p.get_ref()),
            ))
        }
        None => return Err(src.at(span, format!("{field}.path is missing, e.g. path = \"/api/items\""))),
    };
    let weight = weight(src, &field, r.weight)?;
    let expect = match &r.expect {
        None => None,
        Some(e) => Some(std::sync::Arc::new(expect(src, &field, e)?)),
    };
    Ok(RequestSpec {
        expect,
        name: r.name.unwrap_or_else(|| format!("{method} {path}")),
        method,
        path,
        headers: headers(
            src,
            &format!("{field}.headers"),
            r.headers,
            // A templated body's length varies: hyper frames each one.
            (template.body.is_none()).then(|| r.body.as_ref().map_or(0, |b| b.get_ref().len())),
        )?,
        body: r
            .body
            .map(|b| Bytes::from(b.into_inner()))
            .unwrap_or_default(),
        weight,
        template: (!template.is_empty()).then(|| {
            let _ = path_text;
            std::sync::Arc::new(template)
        }),
        grpc: None,
    })
}

/// A request's share of the mix (default 1).
pub(super) fn weight(
    src: &Source,
    field: &str,
    w: Option<Spanned<i64>>,
) -> Result<u32, ProfileError> {
    match w {
        Some(w) if (0..=1_000_000).contains(w.get_ref()) => Ok(*w.get_ref() as u32),
        Some(w) => Err(src.at(
            w.span(),
            format!(
                "{field}.weight: must be a whole number from 0 (sent only when a Rust request source names it) to 1000000, got {}",
                w.get_ref()
            ),
        )),
        None => Ok(1),
    }
}

/// `kind = "grpc"`: a unary call, POSTed to `/package.Service/Method` over HTTP/2.
pub(super) fn grpc_request(
    src: &Source,
    field: &str,
    span: std::ops::Range<usize>,
    r: RawRequest,
    feeders: &crate::template::Feeders,
) -> Result<RequestSpec, ProfileError> {
    use crate::template::{RequestTemplate, Template};
    let http_only = [
        ("path", r.path.as_ref().map(|v| v.span())),
        ("body", r.body.as_ref().map(|v| v.span())),
        ("headers", r.headers.values().next().map(|v| v.span())),
        ("expect", r.expect.as_ref().map(|v| v.span())),
    ];
    if let Some((name, Some(at))) = http_only.into_iter().find(|(_, s)| s.is_some()) {
        let instead = match name {
            "path" => "service and method make the path",
            "body" => "give the message as message (JSON) or message_file",
            "headers" => "gRPC calls carry metadata = { ... }",
            _ => "a call is judged by its grpc-status",
        };
        return Err(src.at(
            at,
            format!("{field}.{name} does not apply to kind = \"grpc\": {instead}"),
        ));
    }
    // Anything with a placeholder goes the template way, a broken one too,
    // so an unknown name is refused below rather than sent literally.
    let compiles = |text: &str| !matches!(Template::compile(text, feeders), Ok(None));
    let built = super::grpc::build(
        src,
        super::grpc::Raw {
            field,
            span: span.clone(),
            service: r.service,
            method: r.method,
            message: r.message,
            message_file: r.message_file,
            descriptor_set: r.descriptor_set,
        },
        compiles,
    )?;
    let mut template = RequestTemplate::default();
    if let Some((json, at)) = &built.template_json {
        template.body = Template::compile(json, feeders)
            .map_err(|e| src.at(at.clone(), format!("{field}.message: {}", e.message)))?;
        if let Some(t) = template.body.as_mut() {
            t.escape_in_json_strings();
        }
        // Tried once here, so a message that cannot be encoded is refused
        // before the run rather than failing every call.
        if let (Some(t), Some(input)) = (&template.body, &built.grpc.input) {
            let mut ctx = crate::template::Context::new(0, 0, 0);
            let mut text = String::new();
            let mut row = |fi: usize| feeders.feeders.get(fi).and_then(|f| f.row(0, 0));
            if t.render(&mut ctx, &mut row, &mut text).is_some() {
                crate::util::grpc::encode_json(input, &text).map_err(|e| {
                    src.at(
                        at.clone(),
                        format!("{field}.message: rendered for the first call as {text}: {e}"),
                    )
                })?;
            }
        }
    }
    for (k, v) in &r.metadata {
        let compiled = Template::compile(v.get_ref(), feeders).map_err(|e| {
            src.at(
                inside(&v.span(), e.offset),
                format!("{field}.metadata.{k}: {}", e.message),
            )
        })?;
        if let Some(t) = compiled {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                src.at(
                    v.span(),
                    format!("{field}.metadata: '{k}' is not a valid metadata key"),
                )
            })?;
            template.headers.push((name, t));
        }
    }
    let reserved = r.metadata.iter().find(|(k, _)| {
        let k = k.to_ascii_lowercase();
        k.starts_with("grpc-") || k == "content-type" || k == "te"
    });
    if let Some((k, v)) = reserved {
        return Err(src.at(
            v.span(),
            format!("{field}.metadata.{k}: gRPC itself sets this key (grpc-timeout comes from target.timeout)"),
        ));
    }
    let mut headers = headers(src, &format!("{field}.metadata"), r.metadata, None)?;
    headers.push((
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    ));
    headers.push((http::header::TE, HeaderValue::from_static("trailers")));
    let weight = weight(src, field, r.weight)?;
    let path = format!("/{}", built.grpc.full_method);
    Ok(RequestSpec {
        name: r.name.unwrap_or_else(|| built.grpc.full_method.clone()),
        method: Method::POST,
        path,
        headers,
        body: super::grpc::body(&built.message),
        weight,
        template: (!template.is_empty()).then(|| std::sync::Arc::new(template)),
        expect: None,
        grpc: Some(built.grpc),
    })
}

/// `expect`: every value checked now.
pub(super) fn expect(
    src: &Source,
    field: &str,
    raw: &Spanned<super::schema::RawExpect>,
) -> Result<crate::checks::Expect, ProfileError> {
    let e = raw.get_ref();
    let bad = |m: String| src.at(raw.span(), format!("{field}.expect.{m}"));
    let mut out = crate::checks::Expect::default();
    for &s in e.status.iter().flatten() {
        if !(100..=599).contains(&s) {
            return Err(bad(format!(
                "status: {s} is not an HTTP status (100 to 599)"
            )));
        }
        out.status.push(s as u16);
    }
    if e.status.as_ref().is_some_and(Vec::is_empty) {
        return Err(bad("status: give at least one status, e.g. [200]".into()));
    }
    for (k, v) in &e.header {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad(format!("header: '{k}' is not a valid header name")))?;
        out.headers.push((name, v.clone()));
    }
    match &e.body_contains {
        Some(s) if s.is_empty() => return Err(bad("body_contains: must not be empty".into())),
        Some(s) if s.len() > crate::checks::BODY_LIMIT => {
            return Err(bad(format!(
                "body_contains: longer than the {} bytes a check reads",
                crate::checks::BODY_LIMIT
            )))
        }
        s => out.body_contains = s.clone(),
    }
    match e.body_max_bytes {
        Some(n) if n < 0 => return Err(bad(format!("body_max_bytes: must be 0 or more, got {n}"))),
        n => out.body_max_bytes = n.map(|n| n as usize),
    }
    Ok(out)
}
