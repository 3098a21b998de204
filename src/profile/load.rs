//! `[load]`: open or closed loop, stages, warmup, interval and connections, validated.

use std::time::Duration;

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::schema::*;
use super::validate::{positive_dur, DEFAULT_INTERVAL, DEFAULT_MAX_CONNECTIONS, DEFAULT_SEED};
use crate::spec::plan::{LoadPlan, Mode, Stage, StageKind};
use crate::util::limits::MAX_CONNECTIONS;

/// A connections plan (but for its traffic) and `load.traffic`.
pub(super) type ConnFields = (
    crate::spec::connections::ConnectionsPlan,
    Option<Spanned<String>>,
);

pub(super) fn load_plan(
    src: &Source,
    load: Spanned<RawLoad>,
) -> Result<(LoadPlan, Option<ConnFields>), ProfileError> {
    let load_span = load.span();
    let mut l = load.into_inner();
    let mode = match (&l.mode, &l.rate, &l.concurrency) {
        (Some(m), _, _) => *m.get_ref(),
        (None, None, Some(_)) => RawMode::Closed,
        _ => RawMode::Open,
    };
    let connection_only = [
        ("target", l.target.as_ref().map(|v| v.span())),
        ("hold", l.hold.as_ref().map(|v| v.span())),
        ("message", l.message.as_ref().map(|v| v.span())),
        (
            "message_interval",
            l.message_interval.as_ref().map(|v| v.span()),
        ),
        (
            "proxy_protocol",
            l.proxy_protocol.as_ref().map(|v| v.span()),
        ),
        ("traffic", l.traffic.as_ref().map(|v| v.span())),
        ("reconnect", l.reconnect.as_ref().map(|v| v.span())),
    ];
    let mut conn = None;
    if mode == RawMode::Connections {
        if let Some(c) = &l.concurrency {
            return Err(src.at(c.span(), "mode = \"connections\": the count of connections to hold is load.target (load.rate is how many open per second)"));
        }
        let (mut plan, traffic) = super::connections::fields(
            src,
            super::connections::Raw {
                hold: l.hold.take(),
                message: l.message.take(),
                message_interval: l.message_interval.take(),
                proxy_protocol: l.proxy_protocol.take(),
                traffic: l.traffic.take(),
                reconnect: l.reconnect.take(),
            },
        )?;
        if let Some(r) = l.rate.take() {
            let v = *r.get_ref();
            if !(v.is_finite() && v > 0.0 && v <= crate::util::limits::MAX_RATE) {
                return Err(src.at(
                    r.span(),
                    format!(
                        "load.rate: connections opened per second must be more than 0 and at most {}, got {}",
                        crate::util::limits::MAX_RATE_TEXT,
                        rampdeck_base::fmt::num(v)
                    ),
                ));
            }
            plan.open_rate = v;
        }
        if let Some(t) = &l.target {
            if !(1..=MAX_CONNECTIONS).contains(t.get_ref()) {
                return Err(src.at(t.span(), format!("load.target: connections to hold, a whole number from 1 to {MAX_CONNECTIONS}, got {}", t.get_ref())));
            }
        }
        // The count is the level, as a closed loop's concurrency is.
        l.concurrency = l.target.take();
        conn = Some((plan, traffic));
    } else if let Some((name, Some(at))) = connection_only.into_iter().find(|(_, s)| s.is_some()) {
        return Err(src.at(at, format!("load.{name} belongs to mode = \"connections\"")));
    }
    let mode = match mode {
        RawMode::Open => Mode::Open,
        RawMode::Closed | RawMode::Connections => Mode::Closed,
    };
    if let (Mode::Open, Some(c)) = (mode, &l.concurrency) {
        return Err(src.at(
            c.span(),
            "load.concurrency applies to mode = \"closed\"; in open mode give load.rate (requests per second)",
        ));
    }
    if let (Mode::Closed, Some(r)) = (mode, &l.rate) {
        return Err(src.at(
            r.span(),
            "load.rate applies to mode = \"open\"; in closed mode give load.concurrency",
        ));
    }
    let duration = positive_dur(src, "load.duration", l.duration)?;
    let shorthand = match (&l.rate, &l.concurrency) {
        (Some(r), _) => {
            let v = *r.get_ref();
            if v.is_nan() || v <= 0.0 || v.is_infinite() {
                return Err(src.at(
                    r.span(),
                    format!(
                        "load.rate: must be more than 0 requests per second, got {}",
                        rampdeck_base::fmt::num(v)
                    ),
                ));
            }
            if v > crate::util::limits::MAX_RATE {
                return Err(src.at(
                    r.span(),
                    format!(
                        "load.rate: {} is more than the most rampdeck sends ({})",
                        rampdeck_base::fmt::num(v),
                        crate::util::limits::MAX_RATE_TEXT
                    ),
                ));
            }
            Some((v, r.span()))
        }
        (None, Some(c)) => {
            let v = *c.get_ref();
            if !(1..=MAX_CONNECTIONS).contains(&v) {
                return Err(src.at(c.span(), format!("load.concurrency: must be a whole number from 1 to {MAX_CONNECTIONS}, got {v}")));
            }
            Some((v as f64, c.span()))
        }
        (None, None) => None,
    };
    let stages = match (shorthand, l.stages) {
        (Some((_, span)), Some(_)) => {
            return Err(src.at(
                span,
                "give either a single level (load.rate / load.concurrency with load.duration) or [[load.stages]], not both",
            ))
        }
        (Some((level, span)), None) => {
            let Some(d) = duration else {
                return Err(src.at(span, "load.duration is missing: how long to hold this level, e.g. duration = \"60s\""));
            };
            vec![Stage::hold(level, d)]
        }
        (None, Some(stages)) => {
            if duration.is_some() {
                return Err(src.at(load_span, "load.duration applies to the single-level form; with [[load.stages]] each stage has its own duration"));
            }
            stage_list(src, mode, stages)?
        }
        (None, None) => {
            return Err(src.at(
                load_span,
                "load needs a level: load.rate and load.duration (open loop), load.concurrency and load.duration (closed loop), or [[load.stages]]",
            ))
        }
    };
    let Some(total) = rampdeck_base::duration::total(stages.iter().map(|s| s.duration)) else {
        return Err(src.at(
            load_span,
            format!(
                "load: the stages add up to more than the longest run rampdeck accepts ({})",
                rampdeck_base::duration::MAX_DURATION_TEXT
            ),
        ));
    };
    let warmup = match l.warmup {
        Some(w) if w.get_ref().0 >= total => {
            return Err(src.at(
                w.span(),
                format!(
                    "load.warmup: '{}' is not shorter than the run ({}); warmup is excluded from statistics, so nothing would be measured",
                    rampdeck_base::fmt::fmt_dur(w.get_ref().0),
                    rampdeck_base::fmt::fmt_dur(total)
                ),
            ))
        }
        Some(w) => w.get_ref().0,
        None => Duration::ZERO,
    };
    let peak = stages.iter().map(|s| s.from.max(s.to)).fold(0.0, f64::max);
    let max_connections = match l.max_connections {
        Some(m) if (1..=MAX_CONNECTIONS).contains(m.get_ref()) => {
            let span = m.span();
            let m = *m.get_ref() as usize;
            if mode == Mode::Closed && (m as f64) < peak {
                return Err(src.at(
                    span,
                    format!("load.max_connections: {m} is below the peak concurrency {peak} the stages ask for"),
                ));
            }
            m
        }
        Some(m) => {
            return Err(src.at(
                m.span(),
                format!(
                "load.max_connections: must be a whole number from 1 to {MAX_CONNECTIONS}, got {}",
                m.get_ref()
            ),
            ))
        }
        None if mode == Mode::Closed => (peak.ceil() as usize).max(1),
        None => DEFAULT_MAX_CONNECTIONS,
    };
    let interval = match l.interval {
        Some(i)
            if i.get_ref().0 < Duration::from_millis(50)
                || i.get_ref().0 > Duration::from_secs(10) =>
        {
            return Err(src.at(i.span(), "load.interval: must be from 50ms to 10s"))
        }
        Some(i) => i.get_ref().0,
        None => DEFAULT_INTERVAL,
    };
    let plan = LoadPlan {
        mode,
        stages,
        max_connections,
        warmup,
        seed: l.seed.unwrap_or(DEFAULT_SEED),
        interval,
    };
    Ok((plan, conn))
}

/// A stage's `name`: what `stage.NAME.p99` and compare call it, so one
/// word of letters, digits, `_` and `-`, and no two stages alike.
fn stage_name(
    src: &Source,
    field: &str,
    name: &Spanned<String>,
    before: &[Stage],
) -> Result<String, ProfileError> {
    let n = name.get_ref();
    let ok = !n.is_empty()
        && n.len() <= 40
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !n.chars().all(|c| c.is_ascii_digit());
    if !ok {
        return Err(src.at(
            name.span(),
            format!("{field}.name: '{n}' is not a stage name; use up to 40 letters, digits, '_' and '-' (not only digits: stage.N is the stage's number), e.g. \"peak\""),
        ));
    }
    if let Some(i) = before.iter().position(|s| s.name.as_deref() == Some(n)) {
        return Err(src.at(
            name.span(),
            format!(
                "{field}.name: load.stages[{i}] is already called '{n}'; stage names must differ"
            ),
        ));
    }
    Ok(n.clone())
}

pub(super) fn stage_list(
    src: &Source,
    mode: Mode,
    stages: Spanned<Vec<Spanned<RawStage>>>,
) -> Result<Vec<Stage>, ProfileError> {
    let span = stages.span();
    let stages = stages.into_inner();
    if stages.is_empty() {
        return Err(src.at(
            span,
            "load.stages is empty: add at least one stage, e.g. { kind = \"hold\", target = 100, duration = \"60s\" }",
        ));
    }
    let max = if mode == Mode::Closed {
        MAX_CONNECTIONS as f64
    } else {
        crate::util::limits::MAX_RATE
    };
    let level = |field: String, v: &Spanned<f64>| -> Result<f64, ProfileError> {
        let x = *v.get_ref();
        if !(0.0..=max).contains(&x) || !x.is_finite() {
            return Err(src.at(
                v.span(),
                format!(
                    "{field}: must be from 0 to {}, got {}",
                    rampdeck_base::fmt::group(max as u64),
                    rampdeck_base::fmt::num(x)
                ),
            ));
        }
        if mode == Mode::Closed && x.fract() != 0.0 {
            return Err(src.at(
                v.span(),
                format!("{field}: concurrency must be a whole number, got {x}"),
            ));
        }
        Ok(x)
    };
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for (i, s) in stages.into_iter().enumerate() {
        let field = format!("load.stages[{i}]");
        let s_span = s.span();
        let s = s.into_inner();
        let prev = out.last().map(|p| p.to);
        let duration = s.duration.get_ref().0;
        if duration.is_zero() {
            return Err(src.at(
                s.duration.span(),
                format!("{field}.duration: must be longer than 0"),
            ));
        }
        let stage = match *s.kind.get_ref() {
            RawStageKind::Ramp => {
                if let Some(t) = &s.target {
                    return Err(src.at(
                        t.span(),
                        format!("{field}: a ramp takes 'from' and 'to', not 'target'"),
                    ));
                }
                let from = match (&s.from, prev) {
                    (Some(f), _) => level(format!("{field}.from"), f)?,
                    (None, Some(p)) => p,
                    (None, None) => {
                        return Err(src.at(
                            s_span,
                            format!("{field}: the first ramp needs 'from' (where it starts)"),
                        ))
                    }
                };
                let Some(to) = &s.to else {
                    return Err(src.at(
                        s_span,
                        format!("{field}: a ramp needs 'to' (where it ends)"),
                    ));
                };
                Stage {
                    kind: StageKind::Ramp,
                    from,
                    to: level(format!("{field}.to"), to)?,
                    duration,
                    name: None,
                }
            }
            RawStageKind::Hold => {
                if let Some(f) = s.from.as_ref().or(s.to.as_ref()) {
                    return Err(src.at(
                        f.span(),
                        format!("{field}: a hold takes 'target', not 'from'/'to'"),
                    ));
                }
                let target = match (&s.target, prev) {
                    (Some(t), _) => level(format!("{field}.target"), t)?,
                    (None, Some(p)) => p,
                    (None, None) => {
                        return Err(src.at(
                            s_span,
                            format!("{field}: the first hold needs 'target' (the level to hold)"),
                        ))
                    }
                };
                Stage::hold(target, duration)
            }
        };
        let name = match &s.name {
            Some(n) => Some(stage_name(src, &field, n, &out)?),
            None => None,
        };
        out.push(Stage { name, ..stage });
    }
    if out.iter().all(|s| s.from <= 0.0 && s.to <= 0.0) {
        return Err(src.at(
            span,
            "load.stages: every stage is at level 0, so nothing would be sent",
        ));
    }
    Ok(out)
}
