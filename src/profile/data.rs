//! `[[data]]`: feeders read and checked, errors pointing into the data file's line.

use toml::Spanned;

use super::error::{ProfileError, Source};

/// `[[data]]` files, read now (relative to the profile), so a bad one is
/// bad input before the run.
pub(super) fn data_feeders(
    src: &Source,
    raw: &[Spanned<super::schema::RawData>],
    seed: u64,
) -> Result<crate::template::Feeders, ProfileError> {
    use crate::template::{Feeder, OnEnd, Order};
    let mut feeders = Vec::new();
    for (i, d) in raw.iter().enumerate() {
        let d = d.get_ref();
        let order = match d.order.as_ref().map(|o| o.get_ref().as_str()) {
            None | Some("sequential") => Order::Sequential,
            Some("random") => Order::Random,
            Some("shuffle") => Order::Shuffle,
            Some(other) => {
                return Err(src.at(
                    d.order.as_ref().map_or(0..0, |o| o.span()),
                    format!("data[{i}].order: '{other}' is not an order; use \"sequential\", \"random\" or \"shuffle\""),
                ))
            }
        };
        let on_end = match d.on_end.as_ref().map(|o| o.get_ref().as_str()) {
            None | Some("wrap") => OnEnd::Wrap,
            Some("stop") => OnEnd::Stop,
            Some(other) => {
                return Err(src.at(
                    d.on_end.as_ref().map_or(0..0, |o| o.span()),
                    format!("data[{i}].on_end: '{other}' is not allowed; use \"wrap\" or \"stop\""),
                ))
            }
        };
        let file = std::path::Path::new(d.file.get_ref());
        let path = match std::path::Path::new(src.path).parent() {
            Some(dir) if file.is_relative() => dir.join(file),
            _ => file.to_owned(),
        };
        let name = d.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map_or_else(|| format!("data{i}"), |s| s.to_string_lossy().into_owned())
        });
        let f = Feeder::load(&path, order, on_end, seed, name)
            .map_err(|e| src.at(d.file.span(), format!("data[{i}].file: {e}")))?;
        feeders.push(f);
    }
    Ok(crate::template::Feeders {
        feeders,
        delivery: false,
    })
}

/// The span of byte `offset` inside a TOML string value at `span` (after
/// its opening quote; exact for strings without escapes).
pub(super) fn inside(span: &std::ops::Range<usize>, offset: usize) -> std::ops::Range<usize> {
    let at = span.start + 1 + offset;
    at..(at + 2).min(span.end.max(at + 1))
}
