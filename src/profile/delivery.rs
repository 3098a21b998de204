//! Validates `[delivery]` into a `delivery::DeliveryConfig`: the sink's address, the id and where arrivals carry it, deadline, copies, the sink's answers.

use std::time::Duration;

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::RawDelivery;
use crate::delivery::default_capacity;
use crate::spec::delivery::{DeliveryConfig, IdFrom, Respond};

/// The default deadline: how long a delivery may take before its event is lost.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
/// The most events the correlation table may be asked to hold.
pub const MAX_CAPACITY: i64 = 50_000_000;

pub fn delivery_config(
    src: &Source,
    raw: Spanned<RawDelivery>,
    peak_rate: Option<f64>,
    feeders: &crate::template::Feeders,
) -> Result<DeliveryConfig, ProfileError> {
    let span = raw.span();
    let d = raw.into_inner();
    let listen = match &d.listen {
        None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(l) => l.get_ref().parse().map_err(|_| {
            src.at(
                l.span(),
                format!(
                    "delivery.listen: '{}' is not an address; give IP:PORT, e.g. \"127.0.0.1:0\" (0: any free port)",
                    l.get_ref()
                ),
            )
        })?,
    };
    let id_text = d.id.as_ref().map_or("{{uuid}}", |s| s.get_ref().as_str());
    let id_span = d.id.as_ref().map_or(span.clone(), Spanned::span);
    // The id is made from the request's own values; it cannot name itself.
    let id = crate::template::Template::compile_in(id_text, feeders, false)
        .map_err(|e| src.at(id_span.clone(), format!("delivery.id: {}", e.message)))?
        .ok_or_else(|| {
            src.at(
                id_span.clone(),
                format!("delivery.id: '{id_text}' has no placeholder, so every event would have the same id; use \"{{{{uuid}}}}\" or \"evt-{{{{seq}}}}\""),
            )
        })?;
    let id_from = match (&d.id_header, &d.id_pointer) {
        (Some(_), Some(p)) => {
            return Err(src.at(
                p.span(),
                "delivery: give id_header or id_pointer, not both",
            ))
        }
        (Some(h), None) => IdFrom::Header(
            http::HeaderName::from_bytes(h.get_ref().as_bytes()).map_err(|_| {
                src.at(
                    h.span(),
                    format!("delivery.id_header: '{}' is not a header name", h.get_ref()),
                )
            })?,
        ),
        (None, Some(p)) if p.get_ref().is_empty() || p.get_ref().starts_with('/') => {
            IdFrom::Pointer(p.get_ref().clone())
        }
        (None, Some(p)) => {
            return Err(src.at(
                p.span(),
                format!(
                    "delivery.id_pointer: '{}' is not a JSON pointer; it starts with '/', e.g. \"/data/id\"",
                    p.get_ref()
                ),
            ))
        }
        (None, None) => IdFrom::Header(http::HeaderName::from_static("x-event-id")),
    };
    let deadline = match &d.deadline {
        None => DEFAULT_DEADLINE,
        Some(t) if t.get_ref().0.is_zero() => {
            return Err(src.at(t.span(), "delivery.deadline: must be longer than 0"))
        }
        Some(t) => t.get_ref().0,
    };
    let expect_copies = match &d.expect_copies {
        None => 1,
        Some(c) if (1..=1000).contains(c.get_ref()) => *c.get_ref() as u32,
        Some(c) => {
            return Err(src.at(
                c.span(),
                format!(
                    "delivery.expect_copies: must be from 1 to 1000, got {}",
                    c.get_ref()
                ),
            ))
        }
    };
    let capacity = match &d.capacity {
        None => {
            let needed = default_capacity(peak_rate, deadline);
            if needed > MAX_CAPACITY as usize {
                // Refused here, not when the run would try to hold them all.
                let at = d.deadline.as_ref().map_or(span.clone(), Spanned::span);
                return Err(src.at(
                    at,
                    format!(
                        "delivery.deadline: at the plan's peak of {} events/s, a {} deadline (events are kept twice as long, to catch late copies) needs room for {} events in flight, more than the most rampdeck holds ({}); shorten the deadline or lower the rate",
                        rampdeck_base::fmt::group(peak_rate.unwrap_or(0.0).round() as u64),
                        humantime::format_duration(deadline),
                        rampdeck_base::fmt::group(needed as u64),
                        rampdeck_base::fmt::group(MAX_CAPACITY as u64),
                    ),
                ));
            }
            needed
        }
        Some(c) if (1..=MAX_CAPACITY).contains(c.get_ref()) => *c.get_ref() as usize,
        Some(c) => {
            return Err(src.at(
                c.span(),
                format!(
                    "delivery.capacity: must be from 1 to {MAX_CAPACITY} events, got {}",
                    c.get_ref()
                ),
            ))
        }
    };
    let mut respond = Respond::default();
    if let Some(r) = &d.respond {
        let r = r.get_ref();
        let status = |s: &Spanned<i64>, field: &str| {
            if (200..=599).contains(s.get_ref()) {
                Ok(*s.get_ref() as u16)
            } else {
                Err(src.at(
                    s.span(),
                    format!(
                        "delivery.respond.{field}: must be an HTTP status from 200 to 599, got {}",
                        s.get_ref()
                    ),
                ))
            }
        };
        if let Some(s) = &r.status {
            respond.status = status(s, "status")?;
        }
        if let Some(s) = &r.failure_status {
            respond.failure_status = status(s, "failure_status")?;
        }
        if let Some(l) = &r.latency {
            respond.latency = l.get_ref().0;
        }
        if let Some(f) = &r.failure_rate {
            let v = *f.get_ref();
            if !(0.0..=1.0).contains(&v) {
                return Err(src.at(
                    f.span(),
                    format!("delivery.respond.failure_rate: must be from 0 to 1 (a share of deliveries), got {v}"),
                ));
            }
            respond.failure_rate = v;
        }
    }
    Ok(DeliveryConfig {
        listen,
        id,
        id_text: id_text.to_owned(),
        id_from,
        deadline,
        expect_copies,
        capacity,
        respond,
    })
}
