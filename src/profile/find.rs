//! `[find]`: a capacity search's levels, steps and SLO, validated.

use toml::Spanned;

use super::error::{ProfileError, Source};
use super::validate::positive_dur;

/// `[find]` into a search configuration; every value checked against what makes a search.
pub(super) fn find_config(
    src: &Source,
    raw: Spanned<super::schema::RawFind>,
    probes: &crate::spec::probes::ProbesConfig,
) -> Result<crate::spec::find::FindConfig, ProfileError> {
    let f = raw.into_inner();
    let closed = f.concurrency.unwrap_or(false);
    let mut c = crate::spec::find::FindConfig::defaults(closed);
    let positive =
        |v: &Option<Spanned<f64>>, field: &str, what: &str| -> Result<Option<f64>, ProfileError> {
            match v {
                Some(x) if !(x.get_ref().is_finite() && *x.get_ref() > 0.0) => Err(src.at(
                    x.span(),
                    format!(
                        "find.{field}: must be more than 0 ({what}), got {}",
                        x.get_ref()
                    ),
                )),
                Some(x) => Ok(Some(*x.get_ref())),
                None => Ok(None),
            }
        };
    let unit = if closed {
        "requests in flight"
    } else {
        "requests per second"
    };
    if let Some(v) = positive(&f.start, "start", unit)? {
        c.search.start = v;
    }
    if let Some(v) = positive(&f.max, "max", unit)? {
        c.search.max = v;
    }
    if c.search.max < c.search.start {
        let span = f
            .max
            .as_ref()
            .or(f.start.as_ref())
            .map_or(0..0, |s| s.span());
        return Err(src.at(
            span,
            format!(
                "find.max: {} is below find.start {}",
                c.search.max, c.search.start
            ),
        ));
    }
    if let Some(x) = &f.factor {
        if !(x.get_ref().is_finite() && *x.get_ref() > 1.0 && *x.get_ref() <= 10.0) {
            return Err(src.at(
                x.span(),
                format!(
                    "find.factor: the growth per step must be more than 1 and at most 10, got {}",
                    x.get_ref()
                ),
            ));
        }
        c.search.factor = *x.get_ref();
    }
    if let Some(x) = &f.precision {
        if !(x.get_ref().is_finite() && *x.get_ref() > 0.0 && *x.get_ref() < 1.0) {
            return Err(src.at(x.span(), format!("find.precision: a fraction of the passing level, more than 0 and below 1 (0.02 is 2%), got {}", x.get_ref())));
        }
        c.search.precision = *x.get_ref();
    }
    if let Some(x) = &f.max_steps {
        if !(2..=100).contains(x.get_ref()) {
            return Err(src.at(
                x.span(),
                format!("find.max_steps: must be from 2 to 100, got {}", x.get_ref()),
            ));
        }
        c.search.max_steps = *x.get_ref() as u32;
    }
    if let Some(d) = positive_dur(src, "find.step", f.step)? {
        c.step = d;
    }
    if let Some(d) = &f.settle {
        c.settle = d.get_ref().0;
    }
    if let Some(d) = positive_dur(src, "find.confirm", f.confirm)? {
        c.confirm = d;
    }
    if let Some(list) = &f.slo {
        for text in list.get_ref() {
            let t = crate::spec::thresholds::parse_criterion(text)
                .map_err(|m| src.at(list.span(), format!("find.slo: {m}")))?;
            c.slo.push(t);
        }
        crate::spec::find::check_slo(&c.slo, probes)
            .map_err(|m| src.at(list.span(), format!("find.slo: {m}")))?;
    }
    Ok(c)
}
