//! `[target]`: the base URL, headers, timeouts, TLS and HTTP version, validated.

use http::{HeaderName, HeaderValue};
use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::*;
use super::validate::{positive_dur, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
use crate::spec::plan::{Endpoint, Target, TargetAddr};

pub(super) fn target(
    src: &Source,
    t: Spanned<RawTarget>,
    has_demo: bool,
) -> Result<Target, ProfileError> {
    let span = t.span();
    let t = t.into_inner();
    let addr = match t.url {
        Some(url) => TargetAddr::Url(
            Endpoint::parse(url.get_ref()).map_err(|m| {
                let scheme = url.get_ref().split_once("://").map(|(s, _)| s.to_ascii_lowercase());
                let hint = match scheme.as_deref() {
                    Some("tcp" | "tls" | "ws" | "wss") => {
                        " (a tcp://, tls://, ws:// or wss:// target holds connections: add mode = \"connections\" to [load])"
                    }
                    _ => "",
                };
                src.at(url.span(), format!("target.url: {m}{hint}"))
            })?,
        ),
        None if has_demo => TargetAddr::Demo,
        None => {
            return Err(src.at(
                span,
                "target.url is missing: give the base URL of the gateway, e.g. url = \"https://gw.example.com\"",
            ))
        }
    };
    let timeout = positive_dur(src, "target.timeout", t.timeout)?.unwrap_or(DEFAULT_TIMEOUT);
    let connect_timeout = positive_dur(src, "target.connect_timeout", t.connect_timeout)?
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT.min(timeout));
    Ok(Target {
        addr,
        headers: headers(src, "target.headers", t.headers, None)?,
        timeout,
        connect_timeout,
        http2: t.http2,
        insecure: t.insecure,
        lean: match &t.http1 {
            None => true,
            Some(v) => match v.get_ref().as_str() {
                "lean" => true,
                "hyper" => false,
                other => {
                    return Err(src.at(
                        v.span(),
                        format!("target.http1: '{other}' is not a client; use \"lean\" (the default: requests serialized once, answers parsed in place) or \"hyper\""),
                    ))
                }
            },
        },
    })
}

/// Headers; `body_len` is the request's body (None for target-wide headers,
/// which apply to requests of every size).
pub(super) fn headers(
    src: &Source,
    field: &str,
    map: std::collections::BTreeMap<String, Spanned<String>>,
    body_len: Option<usize>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ProfileError> {
    map.into_iter()
        .map(|(k, v)| {
            if let Some(m) = crate::spec::plan::framing_problem(&k, v.get_ref(), body_len) {
                return Err(src.at(v.span(), format!("{field}.{k}: {m}")));
            }
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                src.at(
                    v.span(),
                    format!("{field}: '{k}' is not a valid header name"),
                )
            })?;
            let value = HeaderValue::from_str(v.get_ref()).map_err(|_| {
                src.at(
                    v.span(),
                    format!(
                        "{field}.{k}: '{}' is not a valid header value (printable ASCII only)",
                        v.get_ref()
                    ),
                )
            })?;
            Ok((name, value))
        })
        .collect()
}
