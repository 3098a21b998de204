//! A `[[data]]` file's cells in one buffer: the text of every cell, each followed by a newline, and where each cell ends.
//!
//! A `Vec<Vec<String>>` costs about 60 bytes a cell beyond its text (an 8
//! MB file of short cells took 470 MB); this costs 5. No cell holds a
//! newline (control characters are refused when a file is read), so the
//! buffer is also what an agent is sent, in parts, and rebuilt from.

use std::sync::Arc;

/// Rows of `width` cells, read-only once built; cloned as an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Every cell's text followed by `\n`, row by row.
    text: String,
    /// The byte offset where each cell's text ends (at its `\n`).
    ends: Vec<u32>,
    width: usize,
}

/// One row of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    table: &'a Table,
    first: usize,
}

impl<'a> Row<'a> {
    /// The text of column `c` ("" past the row's width).
    pub fn get(&self, c: usize) -> &'a str {
        if c >= self.table.width {
            return "";
        }
        self.table.cell(self.first + c)
    }

    /// The row's cells in order.
    pub fn cells(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (t, first) = (self.table, self.first);
        (first..first + t.width).map(move |i| t.cell(i))
    }
}

impl Table {
    pub fn rows(&self) -> usize {
        self.ends.len().checked_div(self.width).unwrap_or(0)
    }

    /// Row `i`, if the table has it.
    pub fn row(&self, i: usize) -> Option<Row<'_>> {
        (i < self.rows()).then(|| Row {
            table: self,
            first: i * self.width,
        })
    }

    fn cell(&self, i: usize) -> &str {
        let end = self.ends[i] as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize + 1,
        };
        &self.text[start..end]
    }

    /// The buffer an agent is sent: every cell followed by a newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The table `text()` came from, given its width; the cell count must
    /// be a whole number of rows.
    pub fn from_text(text: String, width: usize) -> Result<Table, String> {
        if width == 0 {
            return Err("a table has at least one column".into());
        }
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("the last cell is not ended".into());
        }
        let ends: Vec<u32> = text
            .match_indices('\n')
            .map(|(i, _)| u32::try_from(i).map_err(|_| "the table is larger than 4 GiB".to_owned()))
            .collect::<Result<_, _>>()?;
        if ends.len() % width != 0 {
            return Err(format!(
                "{} cells are not whole rows of {width}",
                ends.len()
            ));
        }
        Ok(Table { text, ends, width })
    }

    /// Built from rows (tests, small tables).
    pub fn of_rows<S: AsRef<str>>(width: usize, rows: &[Vec<S>]) -> Result<Table, String> {
        let mut b = Builder::new(width);
        for r in rows {
            for c in r {
                b.push(c.as_ref())?;
            }
            b.end_row()?;
        }
        Ok(b.finish())
    }

    pub fn shared(self) -> Arc<Table> {
        Arc::new(self)
    }
}

/// Fills a table cell by cell as a file is parsed.
pub struct Builder {
    table: Table,
    in_row: usize,
}

impl Builder {
    pub fn new(width: usize) -> Self {
        Builder {
            table: Table {
                text: String::new(),
                ends: Vec::new(),
                width,
            },
            in_row: 0,
        }
    }

    /// Appends a cell to the current row. A newline has no place in a cell
    /// (the caller refuses control characters with the row and column named).
    pub fn push(&mut self, cell: &str) -> Result<(), String> {
        if cell.contains('\n') {
            return Err("a value holds a line break".into());
        }
        self.table.text.push_str(cell);
        let end = u32::try_from(self.table.text.len())
            .map_err(|_| "the data is larger than 4 GiB".to_owned())?;
        self.table.text.push('\n');
        self.table.ends.push(end);
        self.in_row += 1;
        Ok(())
    }

    /// Ends the current row; it must have exactly the table's width.
    pub fn end_row(&mut self) -> Result<(), String> {
        let n = std::mem::take(&mut self.in_row);
        if n != self.table.width {
            return Err(format!(
                "has {n} fields; the header has {}",
                self.table.width
            ));
        }
        Ok(())
    }

    /// How many cells the current row has so far.
    pub fn in_row(&self) -> usize {
        self.in_row
    }

    pub fn finish(mut self) -> Table {
        self.table.text.shrink_to_fit();
        self.table.ends.shrink_to_fit();
        self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_come_back_by_row_and_column_and_through_the_text() {
        let t = Table::of_rows(2, &[vec!["ann", ""], vec!["bob", "x y"]]).unwrap();
        assert_eq!(t.rows(), 2);
        assert_eq!(t.row(0).unwrap().get(0), "ann");
        assert_eq!(t.row(0).unwrap().get(1), "");
        assert_eq!(
            t.row(1).unwrap().cells().collect::<Vec<_>>(),
            ["bob", "x y"]
        );
        assert_eq!(t.row(1).unwrap().get(5), "");
        assert!(t.row(2).is_none());
        assert_eq!(t.text(), "ann\n\nbob\nx y\n");
        let back = Table::from_text(t.text().to_owned(), 2).unwrap();
        assert_eq!(back, t);
        assert!(Table::from_text("a\nb\nc\n".into(), 2).is_err());
        assert!(Table::from_text("a\nb".into(), 1).is_err());
    }

    #[test]
    fn rows_of_the_wrong_width_are_refused() {
        let mut b = Builder::new(2);
        b.push("a").unwrap();
        assert!(b
            .end_row()
            .unwrap_err()
            .contains("has 1 fields; the header has 2"));
        assert!(Builder::new(1).push("a\nb").is_err());
    }
}
