//! Request templates: `{{seq}}`, `{{uuid}}`, `{{rand_int(a, b)}}`, `{{rand_choice("a", ...)}}`, `{{now_ms}}`, `{{agent}}` and `{{data.COLUMN}}` in paths, headers and bodies.
//!
//! A template is compiled once, when the plan is made, into literal and
//! placeholder segments; a request with none keeps its fixed bytes and the
//! engine's path for it is unchanged. Rendering draws every random value
//! from a generator seeded by `load.seed` and the request's slot number, so
//! the same profile and seed send the same sequence of requests, in one
//! process or split over agents.

pub mod data;
pub mod table;
pub mod vars;

use std::fmt::Write as _;

pub use data::{Feeder, Feeders, OnEnd, Order};
pub use table::{Row, Table};

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Literal(String),
    /// The request's slot number (open loop; a per-run counter in closed loop).
    Seq,
    Uuid,
    RandInt(i64, i64),
    RandChoice(Vec<String>),
    NowMs,
    /// The agent's index in a distributed run (0 otherwise).
    Agent,
    /// The request's `[delivery] id` (it makes the request a publish).
    DeliveryId,
    /// The delivery sink's URL.
    DeliveryUrl,
    /// A column of a `[[data]]` feeder's current row; `json`: it sits
    /// inside a JSON string of a JSON body, so its value is escaped there
    /// (a `"` or a JSON object in a data file then stays one string).
    Data {
        feeder: usize,
        column: usize,
        json: bool,
    },
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub segments: Vec<Segment>,
}

/// Why a template does not compile: the byte offset in its text and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

const NAMES: &str =
    "seq, uuid, rand_int(a, b), rand_choice(\"a\", \"b\", ...), now_ms, agent, data.COLUMN, delivery.id, delivery.url";

/// Splits `args` ("1, 2" or "\"a\", \"b\"") into values; strings are quoted.
fn parse_args(args: &str) -> Result<Vec<Arg>, String> {
    let mut out = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r
                .find('"')
                .ok_or("a string argument is not closed with \"")?;
            out.push(Arg::Str(r[..end].to_owned()));
            rest = r[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let text = rest[..end].trim();
            let n = text
                .parse::<i64>()
                .map_err(|_| format!("'{text}' is not a whole number or a \"quoted string\""))?;
            out.push(Arg::Int(n));
            rest = &rest[end..];
        }
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.trim().is_empty() => "",
            None => return Err(format!("expected ',' between arguments, found '{rest}'")),
        };
    }
    Ok(out)
}

#[derive(Debug, PartialEq)]
enum Arg {
    Int(i64),
    Str(String),
}

fn placeholder(expr: &str, feeders: &Feeders, delivery: bool) -> Result<Segment, String> {
    let expr = expr.trim();
    let (name, args) = match expr.split_once('(') {
        Some((n, a)) => {
            let a = a
                .strip_suffix(')')
                .ok_or_else(|| format!("'{expr}': the arguments are not closed with ')'"))?;
            (n.trim(), Some(parse_args(a)?))
        }
        None => (expr, None),
    };
    let no_args = |s: Segment| match &args {
        Some(_) => Err(format!("{name} takes no arguments")),
        None => Ok(s),
    };
    match name {
        "seq" => no_args(Segment::Seq),
        "uuid" => no_args(Segment::Uuid),
        "now_ms" => no_args(Segment::NowMs),
        "agent" => no_args(Segment::Agent),
        "rand_int" => match args.as_deref() {
            Some([Arg::Int(a), Arg::Int(b)]) if a <= b => Ok(Segment::RandInt(*a, *b)),
            Some([Arg::Int(a), Arg::Int(b)]) => Err(format!(
                "rand_int({a}, {b}): the first bound must not be above the second"
            )),
            _ => Err("rand_int takes two whole numbers: rand_int(1, 100)".into()),
        },
        "rand_choice" => {
            let choices: Option<Vec<String>> = args.as_ref().map(|a| {
                a.iter()
                    .filter_map(|x| match x {
                        Arg::Str(s) => Some(s.clone()),
                        Arg::Int(_) => None,
                    })
                    .collect()
            });
            match (choices, &args) {
                (Some(c), Some(a)) if !c.is_empty() && c.len() == a.len() => {
                    Ok(Segment::RandChoice(c))
                }
                _ => Err(
                    "rand_choice takes one or more \"quoted strings\": rand_choice(\"a\", \"b\")"
                        .into(),
                ),
            }
        }
        "delivery.id" | "delivery.url" if !delivery => Err(format!(
            "{name} needs a [delivery] table (the sink it belongs to){}",
            if feeders.delivery {
                "; the delivery id cannot contain it"
            } else {
                ""
            }
        )),
        "delivery.id" => no_args(Segment::DeliveryId),
        "delivery.url" => no_args(Segment::DeliveryUrl),
        _ if name.starts_with("data.") => {
            if args.is_some() {
                return Err(format!("{name} takes no arguments"));
            }
            let column = &name["data.".len()..];
            feeders.find(column).map(|(feeder, column)| Segment::Data {
                feeder,
                column,
                json: false,
            })
        }
        other => Err(format!("unknown placeholder '{other}'; use {NAMES}")),
    }
}

impl Template {
    /// Compiles `text`; None when it has no placeholder (sent as it is).
    pub fn compile(text: &str, feeders: &Feeders) -> Result<Option<Template>, TemplateError> {
        Self::compile_in(text, feeders, feeders.delivery)
    }

    /// `compile`, with `{{delivery.*}}` allowed or not (the delivery id
    /// itself cannot contain them).
    pub fn compile_in(
        text: &str,
        feeders: &Feeders,
        delivery: bool,
    ) -> Result<Option<Template>, TemplateError> {
        if !text.contains("{{") {
            return Ok(None);
        }
        let mut segments = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                segments.push(Segment::Literal(rest[..start].to_owned()));
            }
            let inner = &rest[start + 2..];
            let end = inner.find("}}").ok_or_else(|| TemplateError {
                offset: offset + start,
                message: "'{{' is not closed with '}}'".into(),
            })?;
            let seg =
                placeholder(&inner[..end], feeders, delivery).map_err(|message| TemplateError {
                    offset: offset + start,
                    message,
                })?;
            segments.push(seg);
            let used = start + 2 + end + 2;
            offset += used;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        Ok(Some(Template { segments }))
    }

    /// Marks the data values that sit inside a JSON string literal (by
    /// the quotes of the literal text around them) to be JSON-escaped
    /// when rendered; values outside strings (`"n": {{data.n}}`) stay raw,
    /// so numbers and objects are inserted as JSON.
    pub fn escape_in_json_strings(&mut self) {
        let (mut inside, mut escaped) = (false, false);
        for s in &mut self.segments {
            match s {
                Segment::Literal(l) => {
                    for c in l.chars() {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' && inside {
                            escaped = true;
                        } else if c == '"' {
                            inside = !inside;
                        }
                    }
                }
                Segment::Data { json, .. } => *json = inside,
                _ => {}
            }
        }
    }

    /// Whether it reads a data row (so the run may end when rows run out).
    pub fn uses_data(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Data { .. }))
    }

    /// Renders into `out`. `row` gives a feeder's row for this request
    /// (None: the rows ran out, and nothing is rendered).
    pub fn render<'a>(
        &self,
        ctx: &mut Context,
        row: &mut impl FnMut(usize) -> Option<Row<'a>>,
        out: &mut String,
    ) -> Option<()> {
        for s in &self.segments {
            match s {
                Segment::Literal(l) => out.push_str(l),
                // itoa: integers are most of what is rendered, and the
                // formatting machinery costs more than the rest of a render.
                Segment::Seq => out.push_str(itoa::Buffer::new().format(ctx.seq)),
                Segment::Agent => out.push_str(itoa::Buffer::new().format(ctx.agent)),
                Segment::NowMs => {
                    let ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    out.push_str(itoa::Buffer::new().format(ms));
                }
                Segment::Uuid => ctx.rng.write_uuid(out),
                Segment::RandInt(lo, hi) => {
                    out.push_str(itoa::Buffer::new().format(ctx.rng.int(*lo, *hi)));
                }
                Segment::RandChoice(c) => {
                    out.push_str(ctx.rng.choose(c).map_or("", String::as_str));
                }
                Segment::DeliveryId => out.push_str(&ctx.delivery_id),
                Segment::DeliveryUrl => out.push_str(ctx.delivery_url.as_deref().unwrap_or("")),
                Segment::Data {
                    feeder,
                    column,
                    json,
                } => {
                    let v = row(*feeder)?.get(*column);
                    if *json {
                        escape_json_into(v, out);
                    } else {
                        out.push_str(v);
                    }
                }
            }
        }
        Some(())
    }
}

/// What a request is rendered from.
pub struct Context {
    pub seq: u64,
    pub agent: u32,
    pub rng: rampdeck_base::rng::Rng,
    /// This request's `[delivery] id`, rendered first (empty without one).
    pub delivery_id: String,
    /// The delivery sink's URL.
    pub delivery_url: Option<std::sync::Arc<str>>,
}

impl Context {
    /// The generator for request `seq` of a run seeded with `seed`.
    pub fn new(seed: u64, seq: u64, agent: u32) -> Self {
        Context {
            seq,
            agent,
            rng: rampdeck_base::rng::Rng::for_request(seed, seq),
            delivery_id: String::new(),
            delivery_url: None,
        }
    }
}

/// The templated parts of one request (the rest stays fixed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestTemplate {
    pub path: Option<Template>,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: Option<Template>,
}

impl RequestTemplate {
    pub fn is_empty(&self) -> bool {
        self.path.is_none() && self.headers.is_empty() && self.body.is_none()
    }

    /// Whether the request carries `{{delivery.id}}`: it is a publish.
    pub fn publishes(&self) -> bool {
        let has = |t: &Template| t.segments.contains(&Segment::DeliveryId);
        self.path.as_ref().is_some_and(has)
            || self.headers.iter().any(|(_, t)| has(t))
            || self.body.as_ref().is_some_and(has)
    }

    pub fn uses_data(&self) -> bool {
        self.path.as_ref().is_some_and(Template::uses_data)
            || self.headers.iter().any(|(_, t)| t.uses_data())
            || self.body.as_ref().is_some_and(Template::uses_data)
    }
}

/// Whether a URI path or query may carry `b` as it is: RFC 3986's
/// unreserved and reserved characters, less `#` (it would end the path at
/// a fragment) and `[` `]` (host only), plus `%` (a value may already be
/// percent-encoded). So `/`, `?`, `&` and `=` in a value keep their meaning.
pub fn path_may_carry(b: u8) -> bool {
    // A table: the engine asks this of every byte of every templated path.
    PATH_BYTES[b as usize]
}

const PATH_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~:/?@!$&'()*+,;=%";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
};

/// Percent-encodes what a rendered value may not carry in a URI path or
/// query (spaces, controls, non-ASCII, `"`, `<`, `>`, `{`, `|`, `#`, ...),
/// leaving the rest.
pub fn encode_path_value(v: &str, out: &mut String) {
    for b in v.bytes() {
        if path_may_carry(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// `v` as the inside of a JSON string: `"`, `\` and control characters escaped.
pub fn escape_json_into(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Template, seq: u64) -> String {
        let mut ctx = Context::new(7, seq, 0);
        let mut out = String::new();
        t.render(&mut ctx, &mut |_| None, &mut out).unwrap();
        out
    }

    #[test]
    fn templates_compile_render_and_repeat_with_the_seed() {
        let f = Feeders::default();
        assert_eq!(Template::compile("/plain", &f), Ok(None));
        let t = Template::compile(
            "/item/{{seq}}?r={{rand_int(1, 6)}}&c={{rand_choice(\"a\", \"b\")}}&id={{uuid}}",
            &f,
        )
        .unwrap()
        .unwrap();
        let a = render(&t, 41);
        assert!(a.starts_with("/item/41?r="), "{a}");
        assert_eq!(a, render(&t, 41), "same seed and slot, same request");
        assert_ne!(a, render(&t, 42));
        let id = a.rsplit("id=").next().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "a version 4 uuid: {id}");
        for seq in 0..200 {
            let r: i64 = render(&t, seq)
                .split("r=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=6).contains(&r));
        }
    }

    #[test]
    fn bad_templates_say_where_and_what() {
        let f = Feeders::default();
        let e = Template::compile("/a/{{sequence}}", &f).unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(
            e.message.contains("unknown placeholder 'sequence'"),
            "{}",
            e.message
        );
        assert!(Template::compile("/a/{{seq", &f)
            .unwrap_err()
            .message
            .contains("not closed"));
        assert!(Template::compile("{{rand_int(5, 1)}}", &f)
            .unwrap_err()
            .message
            .contains("first bound"));
        assert!(Template::compile("{{rand_int(1)}}", &f)
            .unwrap_err()
            .message
            .contains("two whole numbers"));
        assert!(Template::compile("{{rand_choice(1, 2)}}", &f)
            .unwrap_err()
            .message
            .contains("quoted"));
        assert!(Template::compile("{{seq(1)}}", &f)
            .unwrap_err()
            .message
            .contains("no arguments"));
        let e = Template::compile("{{data.user}}", &f).unwrap_err();
        assert!(e.message.contains("no [[data]]"), "{}", e.message);
    }

    #[test]
    fn path_values_are_percent_encoded() {
        let mut s = String::new();
        encode_path_value("a b#ü", &mut s);
        assert_eq!(s, "a%20b%23%C3%BC");
    }
}
