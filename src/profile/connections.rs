//! `mode = "connections"`: validating the connections plan (`spec::connections`) from the profile's fields and its URL.
//!
//! The count is the run's level: stages ramp it and the console's level
//! keys change it, exactly as they do a closed loop's concurrency, so the
//! connections mode is scheduled as a closed loop whose workers each hold
//! one connection at a time instead of sending requests.

use bytes::Bytes;
use toml::Spanned;

use super::error::{ProfileError, Source};
use crate::spec::connections::{
    ConnectionsPlan, ProxyVersion, Traffic, DEFAULT_OPEN_RATE, MAX_MESSAGE, MIN_MESSAGE_INTERVAL,
};
use rampdeck_base::duration::Dur;

/// A connections target URL as an HTTP-style one the endpoint parser
/// reads, and the traffic its scheme means.
pub fn url_of(url: &str) -> Result<(String, Traffic), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "'{url}' needs a scheme: tcp://HOST:PORT, ws://HOST:PORT/PATH, wss://..., or http(s):// to hold idle connections"
        ));
    };
    let path = rest.find('/').map_or("/", |i| &rest[i..]).to_owned();
    let (as_http, traffic) = match scheme.to_ascii_lowercase().as_str() {
        "tcp" => ("http", Traffic::Tcp),
        "tls" => ("https", Traffic::Tcp),
        "ws" => ("http", Traffic::WebSocket { path }),
        "wss" => ("https", Traffic::WebSocket { path }),
        "http" => ("http", Traffic::Idle),
        "https" => ("https", Traffic::Idle),
        other => {
            return Err(format!(
                "unsupported scheme '{other}' for mode = \"connections\"; use tcp:// (or tls://), ws:// or wss://, or http(s):// for idle connections"
            ))
        }
    };
    if traffic == Traffic::Tcp && rest.contains('/') && !rest.ends_with('/') {
        return Err(format!("'{url}': a tcp:// target has no path"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    Ok((format!("{as_http}://{authority}"), traffic))
}

/// `[load]`'s connections fields.
pub struct Raw {
    pub hold: Option<Spanned<Dur>>,
    pub message: Option<Spanned<String>>,
    pub message_interval: Option<Spanned<Dur>>,
    pub proxy_protocol: Option<Spanned<String>>,
    pub traffic: Option<Spanned<String>>,
    pub reconnect: Option<Spanned<bool>>,
}

/// The connections plan but for the open rate, which `[load]`'s level
/// validation reads, and the traffic, which the target URL decides.
pub fn fields(
    src: &Source,
    r: Raw,
) -> Result<(ConnectionsPlan, Option<Spanned<String>>), ProfileError> {
    let hold = match r.hold {
        Some(h) if h.get_ref().0.is_zero() => {
            return Err(src.at(h.span(), "load.hold: must be longer than 0 (leave it out to hold each connection to the end of the run)"))
        }
        Some(h) => Some(h.get_ref().0),
        None => None,
    };
    let message_interval = match r.message_interval {
        Some(i) if i.get_ref().0 < MIN_MESSAGE_INTERVAL => {
            return Err(src.at(
                i.span(),
                format!(
                    "load.message_interval: at least {} per connection",
                    rampdeck_base::fmt::fmt_dur(MIN_MESSAGE_INTERVAL)
                ),
            ))
        }
        Some(i) => Some(i.get_ref().0),
        None => None,
    };
    let message = match r.message {
        Some(m) if m.get_ref().is_empty() || m.get_ref().len() > MAX_MESSAGE => {
            return Err(src.at(
                m.span(),
                format!("load.message: must be 1 to {MAX_MESSAGE} bytes"),
            ))
        }
        Some(m) => Bytes::from(m.into_inner()),
        None => Bytes::from_static(b"ping"),
    };
    let proxy = match r.proxy_protocol.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None => None,
        Some(("v1", _)) => Some(ProxyVersion::V1),
        Some(("v2", _)) => Some(ProxyVersion::V2),
        Some((other, span)) => {
            return Err(src.at(
                span,
                format!("load.proxy_protocol: '{other}' is not a PROXY protocol version; use \"v1\" (text) or \"v2\" (binary)"),
            ))
        }
    };
    Ok((
        ConnectionsPlan {
            open_rate: DEFAULT_OPEN_RATE,
            hold,
            traffic: Traffic::Idle,
            message,
            message_interval,
            proxy,
            url: None,
            reconnect: r.reconnect.is_none_or(|b| *b.get_ref()),
        },
        r.traffic,
    ))
}

/// The demo's echo for `traffic = "tcp" | "websocket"` (no target URL).
pub fn demo_traffic(src: &Source, t: Option<&Spanned<String>>) -> Result<Traffic, ProfileError> {
    match t.map(|t| (t.get_ref().as_str(), t.span())) {
        None | Some(("tcp", _)) => Ok(Traffic::Tcp),
        Some(("websocket", _)) => Ok(Traffic::WebSocket {
            path: rampdeck_demo::config::WS_PATH.to_owned(),
        }),
        Some((other, span)) => Err(src.at(
            span,
            format!("load.traffic: '{other}' is not a demo echo; use \"tcp\" or \"websocket\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_choose_the_traffic() {
        assert_eq!(
            url_of("tcp://127.0.0.1:9000").unwrap(),
            ("http://127.0.0.1:9000".into(), Traffic::Tcp)
        );
        assert_eq!(
            url_of("wss://gw.example:443/chat").unwrap(),
            (
                "https://gw.example:443".into(),
                Traffic::WebSocket {
                    path: "/chat".into()
                }
            )
        );
        assert_eq!(url_of("http://h:1").unwrap().1, Traffic::Idle);
        assert!(url_of("udp://h:1")
            .unwrap_err()
            .contains("unsupported scheme 'udp'"));
        assert!(url_of("tcp://h:1/x").unwrap_err().contains("no path"));
    }
}
