//! `[[data]]` feeders: rows from a CSV (with a header) or JSON Lines file, read once and shared read-only, picked per request by slot number.
//!
//! The row of request *seq* is a function of *seq* and the seed only:
//! `sequential` takes row *seq mod n*, `shuffle` a seeded permutation of
//! the rows, `random` a seeded draw. So a distributed run's agents, which
//! own different slots, use different rows, and a rerun uses the same
//! ones. `on_end = "stop"` ends the run at the first request past the last
//! row (`random`: after n requests); `wrap` starts over.

use std::path::Path;
use std::sync::Arc;

use super::table::{Builder, Row, Table};

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

/// One loaded data file. Cloning it (plans are cloned for every search
/// step and agent) shares the rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    pub name: String,
    pub path: String,
    pub columns: Vec<String>,
    pub table: Arc<Table>,
    pub order: Order,
    pub on_end: OnEnd,
    /// `shuffle`: the seeded order of the rows.
    perm: Arc<[u32]>,
}

/// The most a data file may hold: the rows also travel to every agent.
pub const MAX_DATA_BYTES: u64 = crate::util::files::DATA.limit;

impl Feeder {
    /// A feeder over rows already read (the agents get them this way).
    pub fn new(
        name: String,
        path: String,
        columns: Vec<String>,
        table: Arc<Table>,
        order: Order,
        on_end: OnEnd,
        seed: u64,
    ) -> Self {
        let perm: Arc<[u32]> = if order == Order::Shuffle {
            let mut perm: Vec<u32> = (0..table.rows() as u32).collect();
            // Fisher-Yates with the run's seed.
            let mut s = rampdeck_base::rng::splitmix64(seed ^ 0xda7a);
            for i in (1..perm.len()).rev() {
                s = rampdeck_base::rng::splitmix64(s);
                perm.swap(i, (s % (i as u64 + 1)) as usize);
            }
            perm.into()
        } else {
            Arc::new([])
        };
        Feeder {
            name,
            path,
            columns,
            table,
            order,
            on_end,
            perm,
        }
    }

    /// The row of request `seq`, or None once a `stop` feeder has run out.
    pub fn row(&self, seq: u64, seed: u64) -> Option<Row<'_>> {
        let n = self.table.rows() as u64;
        if n == 0 || (self.on_end == OnEnd::Stop && seq >= n) {
            return None;
        }
        let i = match self.order {
            Order::Sequential => seq % n,
            Order::Shuffle => *self.perm.get((seq % n) as usize)? as u64,
            Order::Random => {
                rampdeck_base::rng::splitmix64(seed ^ rampdeck_base::rng::splitmix64(seq ^ 0xfeed))
                    % n
            }
        };
        self.table.row(i as usize)
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
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let jsonl = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        );
        let (columns, table) = if jsonl {
            parse_jsonl(body)
        } else {
            parse_csv(body)
        }
        .map_err(|(line, m)| format!("{shown}:{line}: {m}"))?;
        drop(text);
        if table.rows() == 0 {
            return Err(format!("{shown}: has no rows"));
        }
        Ok(Feeder::new(
            name,
            shown,
            columns,
            table.shared(),
            order,
            on_end,
            seed,
        ))
    }
}

type Parsed = Result<(Vec<String>, Table), (usize, String)>;

/// The header's column names (a CSV's trimmed): none empty, none twice.
fn header(names: Vec<String>, trim: bool) -> Result<Vec<String>, (usize, String)> {
    let columns: Vec<String> = match trim {
        true => names.into_iter().map(|c| c.trim().to_owned()).collect(),
        false => names,
    };
    if columns.iter().any(String::is_empty) {
        return Err((1, "the header has an empty column name".into()));
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err((
                1,
                format!("the column '{c}' is named twice; {{{{data.{c}}}}} would be ambiguous"),
            ));
        }
    }
    Ok(columns)
}

/// Adds a cell, refusing what no request can carry: tabs aside, control
/// characters fit no header, path or JSON string unescaped.
fn cell(b: &mut Builder, columns: &[String], line: usize, v: &str) -> Result<(), (usize, String)> {
    if v.chars().any(|c| c.is_control() && c != '\t') {
        return Err((
            line,
            format!(
                "column '{}': value '{}' holds a line break or another control character, which no request can carry",
                columns.get(b.in_row()).map_or("?", String::as_str),
                v.escape_debug()
            ),
        ));
    }
    b.push(v).map_err(|m| (line, m))
}

/// RFC 4180 CSV: comma-separated, fields may be "quoted" with "" inside.
/// Data rows go straight into the table: the file is never held twice.
fn parse_csv(text: &str) -> Parsed {
    let mut columns: Option<Vec<String>> = None;
    let mut head: Vec<String> = Vec::new();
    let mut table = Builder::new(0);
    let mut field = String::new();
    let mut fields = 0usize;
    let mut quoted = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    // Ends a field: into the header until it is read, then into the table.
    let end_field = |field: &mut String,
                     fields: &mut usize,
                     columns: &Option<Vec<String>>,
                     head: &mut Vec<String>,
                     table: &mut Builder,
                     at: usize|
     -> Result<(), (usize, String)> {
        *fields += 1;
        match columns {
            None => head.push(std::mem::take(field)),
            Some(c) => {
                cell(table, c, at, field)?;
                field.clear();
            }
        }
        Ok(())
    };
    loop {
        let c = chars.next();
        let record_end = match (quoted, c) {
            (true, None) => return Err((start_line, "a quoted field is not closed".into())),
            (false, None) => any,
            (true, Some('"')) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
                false
            }
            (true, Some('"')) => {
                quoted = false;
                false
            }
            (true, Some(c)) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
                false
            }
            (false, Some('"')) if field.is_empty() => {
                quoted = true;
                false
            }
            (false, Some(',')) => {
                end_field(
                    &mut field,
                    &mut fields,
                    &columns,
                    &mut head,
                    &mut table,
                    start_line,
                )?;
                false
            }
            (false, Some('\r')) => false,
            (false, Some('\n')) => true,
            (false, Some(c)) => {
                field.push(c);
                false
            }
        };
        if c.is_some() {
            any = true;
        }
        if record_end {
            // A blank line is one empty field: skipped, not a row.
            let blank = fields == 0 && field.is_empty();
            if !blank {
                end_field(
                    &mut field,
                    &mut fields,
                    &columns,
                    &mut head,
                    &mut table,
                    start_line,
                )?;
                match &columns {
                    None => {
                        let c = header(std::mem::take(&mut head), true)?;
                        table = Builder::new(c.len());
                        columns = Some(c);
                    }
                    Some(_) => table.end_row().map_err(|m| (start_line, m))?,
                }
            }
            fields = 0;
            any = false;
            line += 1;
            start_line = line;
        }
        if c.is_none() {
            break;
        }
    }
    let columns = columns.ok_or((
        1,
        "is empty: a CSV data file needs a header line".to_owned(),
    ))?;
    Ok((columns, table.finish()))
}

/// JSON Lines: each line an object; its keys (the first line's) are the columns.
fn parse_jsonl(text: &str) -> Parsed {
    let mut columns: Vec<String> = Vec::new();
    let mut table = Builder::new(0);
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
            columns = header(obj.keys().cloned().collect(), false).map_err(|(_, m)| (i + 1, m))?;
            table = Builder::new(columns.len());
        }
        for c in &columns {
            match obj.get(c) {
                Some(serde_json::Value::String(s)) => cell(&mut table, &columns, i + 1, s)?,
                Some(serde_json::Value::Null) | None => {
                    return Err((i + 1, format!("has no '{c}' (the first line has it)")))
                }
                Some(other) => cell(&mut table, &columns, i + 1, &other.to_string())?,
            }
        }
        table.end_row().map_err(|m| (i + 1, m))?;
    }
    Ok((columns, table.finish()))
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
        fn cells(t: &Table, i: usize) -> Vec<&str> {
            t.row(i).unwrap().cells().collect()
        }
        let (c, r) = parse_csv("user,note\r\nann,\"hi, there\"\n\nbob,\"say \"\"x\"\"\"").unwrap();
        assert_eq!(c, vec!["user", "note"]);
        assert_eq!(r.rows(), 2, "the blank line is not a row");
        assert_eq!(cells(&r, 0), vec!["ann", "hi, there"]);
        assert_eq!(cells(&r, 1), vec!["bob", "say \"x\""]);
        assert_eq!(parse_csv("a,b\n1,\"x\ny\"\n").unwrap_err().0, 2);
        assert!(parse_csv("a,a\n1,2\n")
            .unwrap_err()
            .1
            .contains("named twice"));
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
        assert_eq!(cells(&r, 1), vec!["2", "y"]);
        assert_eq!(parse_jsonl("{\"id\": 1}\nnope\n").unwrap_err().0, 2);
    }

    #[test]
    fn rows_follow_the_order_and_the_seed() {
        let rows: Vec<Vec<String>> = (0..10).map(|i| vec![i.to_string()]).collect();
        let table = Table::of_rows(1, &rows).unwrap().shared();
        let mk = |order, on_end, seed| {
            Feeder::new(
                "d".into(),
                "d.csv".into(),
                vec!["n".into()],
                table.clone(),
                order,
                on_end,
                seed,
            )
        };
        let seq = mk(Order::Sequential, OnEnd::Stop, 1);
        assert_eq!(seq.row(3, 1).unwrap().get(0), "3");
        assert_eq!(seq.row(10, 1), None, "stop after the last row");
        let wrap = mk(Order::Sequential, OnEnd::Wrap, 1);
        assert_eq!(wrap.row(13, 1).unwrap().get(0), "3");
        let order = |f: &Feeder, seed| {
            (0..10)
                .map(|s| f.row(s, seed).unwrap().get(0).to_owned())
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
