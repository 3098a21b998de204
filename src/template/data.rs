//! `[[data]]` feeders: rows from a CSV (with a header) or JSON Lines file, read once and shared read-only, picked per request by slot number.
//!
//! The row of request *seq* is a function of *seq* and the seed only:
//! `sequential` takes row *seq mod n*, `shuffle` a seeded permutation of
//! the rows, `random` a seeded draw. So a distributed run's agents, which
//! own different slots, use different rows, and a rerun uses the same
//! ones. `on_end = "stop"` ends the run at the first request past the last
//! row (`random`: after n requests); `wrap` starts over.

use std::path::Path;

/// How rows are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Sequential,
    Random,
    Shuffle,
}

/// What happens after the last row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEnd {
    Wrap,
    Stop,
}

/// One loaded data file.
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    pub name: String,
    pub path: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub order: Order,
    pub on_end: OnEnd,
    /// `shuffle`: the seeded order of the rows.
    perm: Vec<u32>,
}

/// The most a data file may hold: the rows also travel to every agent.
pub const MAX_DATA_BYTES: u64 = crate::util::files::DATA.limit;

impl Feeder {
    /// A feeder over rows already read (the agents get them this way).
    pub fn new(
        name: String,
        path: String,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        order: Order,
        on_end: OnEnd,
        seed: u64,
    ) -> Self {
        let mut perm: Vec<u32> = (0..rows.len() as u32).collect();
        if order == Order::Shuffle {
            // Fisher-Yates with the run's seed.
            let mut s = crate::util::rng::splitmix64(seed ^ 0xda7a);
            for i in (1..perm.len()).rev() {
                s = crate::util::rng::splitmix64(s);
                perm.swap(i, (s % (i as u64 + 1)) as usize);
            }
        }
        Feeder {
            name,
            path,
            columns,
            rows,
            order,
            on_end,
            perm,
        }
    }

    /// The row of request `seq`, or None once a `stop` feeder has run out.
    pub fn row(&self, seq: u64, seed: u64) -> Option<&[String]> {
        let n = self.rows.len() as u64;
        if n == 0 || (self.on_end == OnEnd::Stop && seq >= n) {
            return None;
        }
        let i = match self.order {
            Order::Sequential => seq % n,
            Order::Shuffle => self.perm[(seq % n) as usize] as u64,
            Order::Random => {
                crate::util::rng::splitmix64(seed ^ crate::util::rng::splitmix64(seq ^ 0xfeed)) % n
            }
        };
        self.rows.get(i as usize).map(Vec::as_slice)
    }

    /// Reads a CSV (first line: the column names) or, for `.jsonl`/`.ndjson`,
    /// JSON Lines (one object per line; its keys are the columns). Errors
    /// name the line.
    pub fn load(
        path: &Path,
        order: Order,
        on_end: OnEnd,
        seed: u64,
        name: String,
    ) -> Result<Feeder, String> {
        let shown = path.display().to_string();
        let text = crate::util::files::read_text(path, crate::util::files::DATA)
            .map_err(|e| e.to_string())?;
        // A byte-order mark (spreadsheets write one) is not part of the first column's name.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let jsonl = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        );
        let (columns, rows) = if jsonl {
            parse_jsonl(text)
        } else {
            parse_csv(text)
        }
        .map_err(|(line, m)| format!("{shown}:{line}: {m}"))?;
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(format!(
                    "{shown}:1: the column '{c}' is named twice; {{{{data.{c}}}}} would be ambiguous"
                ));
            }
        }
        if rows.is_empty() {
            return Err(format!("{shown}: has no rows"));
        }
        for (i, r) in rows.iter().enumerate() {
            // Tabs aside, control characters fit no header, path or JSON string unescaped.
            if let Some((c, v)) = r
                .iter()
                .enumerate()
                .find(|(_, v)| v.chars().any(|c| c.is_control() && c != '\t'))
            {
                return Err(format!(
                    "{shown}: row {}, column '{}': value '{}' holds a line break or another control character, which no request can carry",
                    i + 1,
                    columns.get(c).map_or("?", String::as_str),
                    v.escape_debug()
                ));
            }
        }
        Ok(Feeder::new(name, shown, columns, rows, order, on_end, seed))
    }
}

type Parsed = Result<(Vec<String>, Vec<Vec<String>>), (usize, String)>;

/// RFC 4180 CSV: comma-separated, fields may be "quoted" with "" inside.
fn parse_csv(text: &str) -> Parsed {
    let mut records: Vec<(usize, Vec<String>)> = Vec::new();
    let mut field = String::new();
    let mut record = Vec::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c)
            }
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut record)));
                line += 1;
                start_line = line;
                any = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err((start_line, "a quoted field is not closed".into()));
    }
    if any {
        record.push(field);
        records.push((start_line, record));
    }
    records.retain(|(_, r)| !(r.len() == 1 && r[0].is_empty()));
    let mut it = records.into_iter();
    let (_, columns) = it.next().ok_or((
        1,
        "is empty: a CSV data file needs a header line".to_owned(),
    ))?;
    let columns: Vec<String> = columns.into_iter().map(|c| c.trim().to_owned()).collect();
    if let Some(c) = columns.iter().find(|c| c.is_empty()) {
        let _ = c;
        return Err((1, "the header has an empty column name".into()));
    }
    let mut rows = Vec::new();
    for (l, r) in it {
        if r.len() != columns.len() {
            return Err((
                l,
                format!("has {} fields; the header has {}", r.len(), columns.len()),
            ));
        }
        rows.push(r);
    }
    Ok((columns, rows))
}

/// JSON Lines: each line an object; its keys (the first line's) are the columns.
fn parse_jsonl(text: &str) -> Parsed {
    let mut columns: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(l).map_err(|e| (i + 1, format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or((i + 1, "not a JSON object".to_owned()))?;
        if columns.is_empty() {
            columns = obj.keys().cloned().collect();
        }
        let row = columns
            .iter()
            .map(|c| match obj.get(c) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Null) | None => {
                    Err((i + 1, format!("has no '{c}' (the first line has it)")))
                }
                Some(other) => Ok(other.to_string()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(row);
    }
    Ok((columns, rows))
}

/// The run's feeders, in profile order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feeders {
    pub feeders: Vec<Feeder>,
    /// The plan has `[delivery]`: `{{delivery.id}}` and `{{delivery.url}}` are known.
    pub delivery: bool,
}

impl Feeders {
    /// The feeder and column index of `column`: a plain column name, or
    /// `FEEDER.column` when two feeders share one.
    pub fn find(&self, column: &str) -> Result<(usize, usize), String> {
        if self.feeders.is_empty() {
            return Err(format!(
                "data.{column}: there is no [[data]] feeder to take it from"
            ));
        }
        if let Some((f, c)) = column.split_once('.') {
            if let Some(fi) = self.feeders.iter().position(|x| x.name == f) {
                return self.feeders[fi]
                    .columns
                    .iter()
                    .position(|x| x == c)
                    .map(|ci| (fi, ci))
                    .ok_or_else(|| {
                        format!(
                            "data.{column}: feeder '{f}' has no column '{c}' (it has: {})",
                            self.feeders[fi].columns.join(", ")
                        )
                    });
            }
        }
        let hits: Vec<(usize, usize)> = self
            .feeders
            .iter()
            .enumerate()
            .filter_map(|(fi, f)| {
                f.columns
                    .iter()
                    .position(|x| x == column)
                    .map(|ci| (fi, ci))
            })
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!(
                "data.{column}: no [[data]] file has a column '{column}' (columns: {})",
                self.feeders
                    .iter()
                    .map(|f| format!("{} in {}", f.columns.join(", "), f.path))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            _ => Err(format!(
                "data.{column}: more than one [[data]] file has '{column}'; write data.NAME.{column} with the feeder's name"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_its_errors() {
        let (c, r) = parse_csv("user,note\nann,\"hi, there\"\nbob,\"say \"\"x\"\"\"\n").unwrap();
        assert_eq!(c, vec!["user", "note"]);
        assert_eq!(r[0], vec!["ann", "hi, there"]);
        assert_eq!(r[1], vec!["bob", "say \"x\""]);
        assert_eq!(
            parse_csv("a,b\n1\n").unwrap_err(),
            (2, "has 1 fields; the header has 2".into())
        );
        assert!(parse_csv("a\n\"open\n")
            .unwrap_err()
            .1
            .contains("not closed"));
        let (_, r) =
            parse_jsonl("{\"id\": 1, \"name\": \"x\"}\n{\"id\": 2, \"name\": \"y\"}\n").unwrap();
        assert_eq!(r[1], vec!["2", "y"]);
        assert_eq!(parse_jsonl("{\"id\": 1}\nnope\n").unwrap_err().0, 2);
    }

    #[test]
    fn rows_follow_the_order_and_the_seed() {
        let rows: Vec<Vec<String>> = (0..10).map(|i| vec![i.to_string()]).collect();
        let mk = |order, on_end, seed| {
            Feeder::new(
                "d".into(),
                "d.csv".into(),
                vec!["n".into()],
                rows.clone(),
                order,
                on_end,
                seed,
            )
        };
        let seq = mk(Order::Sequential, OnEnd::Stop, 1);
        assert_eq!(seq.row(3, 1).unwrap()[0], "3");
        assert_eq!(seq.row(10, 1), None, "stop after the last row");
        let wrap = mk(Order::Sequential, OnEnd::Wrap, 1);
        assert_eq!(wrap.row(13, 1).unwrap()[0], "3");
        let order = |f: &Feeder, seed| {
            (0..10)
                .map(|s| f.row(s, seed).unwrap()[0].clone())
                .collect::<Vec<_>>()
        };
        let a = mk(Order::Shuffle, OnEnd::Stop, 7);
        assert_eq!(
            order(&a, 7),
            order(&mk(Order::Shuffle, OnEnd::Stop, 7), 7),
            "same seed, same order"
        );
        assert_ne!(order(&a, 7), order(&mk(Order::Shuffle, OnEnd::Stop, 8), 8));
        let mut sorted = order(&a, 7);
        sorted.sort_by_key(|s| s.parse::<u32>().unwrap());
        assert_eq!(sorted, order(&seq, 1), "a shuffle uses every row once");
        let r = mk(Order::Random, OnEnd::Wrap, 3);
        assert_eq!(order(&r, 3), order(&r, 3));
    }
}
