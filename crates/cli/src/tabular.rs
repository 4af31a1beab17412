//! Query results out of the local warehouse, streamed a row at a time — as CSV (RFC 4180),
//! JSON (an array of row objects, or one object per line) or a readable table — so a
//! result of any size is written in bounded memory (`pushfeed sql`, `pushfeed export`).

use rusqlite::types::ValueRef;
use std::io::Write;

/// How rows are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal: numbers right-aligned, long cells cut at 60
    /// characters (widths from the first 500 rows).
    Table,
    /// RFC 4180 CSV with a header row; NULL is an empty field; nothing is cut.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line (NDJSON).
    Jsonl,
}

/// Rows the table format reads before it fixes the column widths.
const TABLE_SAMPLE_ROWS: usize = 500;
/// The widest a table cell is shown.
const TABLE_CELL_CHARS: usize = 60;

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub rows: u64,
}

/// Run `sql` and write its rows to `out`; `progress` is called every 100,000 rows.
pub fn write_query(
    conn: &rusqlite::Connection,
    sql: &str,
    format: Format,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Written> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    let mut writer: Box<dyn RowWriter> = match format {
        Format::Csv => Box::new(Csv),
        Format::Json => Box::new(Json {
            lines: false,
            rows: 0,
        }),
        Format::Jsonl => Box::new(Json {
            lines: true,
            rows: 0,
        }),
        Format::Table => Box::new(Table::default()),
    };
    writer.start(out, &names)?;
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        let cells = (0..names.len())
            .map(|i| row.get_ref(i))
            .collect::<Result<Vec<ValueRef<'_>>, _>>()?;
        writer.row(out, &names, &cells)?;
        n += 1;
        if n.is_multiple_of(100_000) {
            progress(n);
        }
    }
    writer.finish(out, &names, n)?;
    out.flush()?;
    Ok(Written { rows: n })
}

trait RowWriter {
    fn start(&mut self, out: &mut dyn Write, names: &[String]) -> std::io::Result<()>;
    fn row(
        &mut self,
        out: &mut dyn Write,
        names: &[String],
        cells: &[ValueRef<'_>],
    ) -> std::io::Result<()>;
    fn finish(&mut self, out: &mut dyn Write, names: &[String], rows: u64) -> std::io::Result<()>;
}

/// A value as text: integers and reals as SQLite gives them, text as is, a blob as its
/// bytes read as UTF-8 (invalid sequences replaced).
fn text<'a>(v: &ValueRef<'a>) -> Option<std::borrow::Cow<'a, str>> {
    match *v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string().into()),
        ValueRef::Real(f) => Some(f.to_string().into()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t)),
    }
}

struct Csv;

/// One CSV field: quoted when it holds a comma, a quote, a line break or edge spaces.
pub fn csv_field(out: &mut dyn Write, s: &str) -> std::io::Result<()> {
    let quote = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || s.starts_with(' ')
        || s.ends_with(' ');
    if quote {
        out.write_all(b"\"")?;
        out.write_all(s.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(s.as_bytes())
    }
}

impl RowWriter for Csv {
    fn start(&mut self, out: &mut dyn Write, names: &[String]) -> std::io::Result<()> {
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            csv_field(out, n)?;
        }
        out.write_all(b"\r\n")
    }
    fn row(
        &mut self,
        out: &mut dyn Write,
        _names: &[String],
        cells: &[ValueRef<'_>],
    ) -> std::io::Result<()> {
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            if let Some(t) = text(c) {
                csv_field(out, &t)?;
            }
        }
        out.write_all(b"\r\n")
    }
    fn finish(&mut self, _: &mut dyn Write, _: &[String], _: u64) -> std::io::Result<()> {
        Ok(())
    }
}

struct Json {
    lines: bool,
    /// Rows written so far (the array's rows after the first follow a comma).
    rows: u64,
}

fn json_value(v: &ValueRef<'_>) -> serde_json::Value {
    match *v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(n) => n.into(),
        ValueRef::Real(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            serde_json::Value::String(String::from_utf8_lossy(t).into_owned())
        }
    }
}

impl RowWriter for Json {
    fn start(&mut self, out: &mut dyn Write, _: &[String]) -> std::io::Result<()> {
        if !self.lines {
            out.write_all(b"[")?;
        }
        Ok(())
    }
    fn row(
        &mut self,
        out: &mut dyn Write,
        names: &[String],
        cells: &[ValueRef<'_>],
    ) -> std::io::Result<()> {
        let object: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(cells)
            .map(|(n, c)| (n.clone(), json_value(c)))
            .collect();
        if !self.lines && self.rows > 0 {
            out.write_all(b",")?;
        }
        self.rows += 1;
        serde_json::to_writer(&mut *out, &object)?;
        if self.lines {
            out.write_all(b"\n")?;
        }
        Ok(())
    }
    fn finish(&mut self, out: &mut dyn Write, _: &[String], _: u64) -> std::io::Result<()> {
        if !self.lines {
            out.write_all(b"]\n")?;
        }
        Ok(())
    }
}

/// The readable table: the first rows are held to size the columns, the rest streamed.
#[derive(Default)]
struct Table {
    sample: Vec<Vec<Option<String>>>,
    /// Column widths and whether each is numeric (right-aligned), once fixed.
    layout: Option<(Vec<usize>, Vec<bool>)>,
    numeric: Vec<bool>,
}

fn cut(s: &str) -> String {
    if s.chars().count() > TABLE_CELL_CHARS {
        let mut c: String = s.chars().take(TABLE_CELL_CHARS - 1).collect();
        c.push('…');
        c
    } else {
        s.to_owned()
    }
}

impl Table {
    fn fix(&mut self, out: &mut dyn Write, names: &[String]) -> std::io::Result<()> {
        let widths: Vec<usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                self.sample
                    .iter()
                    .map(|r| r[i].as_deref().unwrap_or("NULL").chars().count())
                    .chain([n.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric = self.numeric.clone();
        let header: Vec<Option<String>> = names.iter().map(|n| Some(n.clone())).collect();
        write_line(out, &header, &widths, &vec![false; names.len()])?;
        writeln!(
            out,
            "{}",
            widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("-+-")
        )?;
        for r in std::mem::take(&mut self.sample) {
            write_line(out, &r, &widths, &numeric)?;
        }
        self.layout = Some((widths, numeric));
        Ok(())
    }
}

fn write_line(
    out: &mut dyn Write,
    cells: &[Option<String>],
    widths: &[usize],
    right: &[bool],
) -> std::io::Result<()> {
    let parts: Vec<String> = cells
        .iter()
        .zip(widths)
        .zip(right)
        .map(|((c, w), r)| {
            let s = c.as_deref().unwrap_or("NULL");
            if *r {
                format!("{s:>w$}")
            } else {
                format!("{s:<w$}")
            }
        })
        .collect();
    writeln!(out, "{}", parts.join(" | ").trim_end())
}

impl RowWriter for Table {
    fn start(&mut self, _: &mut dyn Write, names: &[String]) -> std::io::Result<()> {
        self.numeric = vec![true; names.len()];
        Ok(())
    }
    fn row(
        &mut self,
        out: &mut dyn Write,
        names: &[String],
        cells: &[ValueRef<'_>],
    ) -> std::io::Result<()> {
        let row: Vec<Option<String>> = cells.iter().map(|c| text(c).map(|t| cut(&t))).collect();
        match &self.layout {
            Some((widths, numeric)) => write_line(out, &row, widths, numeric),
            None => {
                for (i, c) in cells.iter().enumerate() {
                    if !matches!(c, ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_)) {
                        self.numeric[i] = false;
                    }
                }
                self.sample.push(row);
                if self.sample.len() >= TABLE_SAMPLE_ROWS {
                    self.fix(out, names)?;
                }
                Ok(())
            }
        }
    }
    fn finish(&mut self, out: &mut dyn Write, names: &[String], rows: u64) -> std::io::Result<()> {
        if self.layout.is_none() {
            self.fix(out, names)?;
        }
        writeln!(
            out,
            "({} row{})",
            crate::run::fmt_n(rows),
            if rows == 1 { "" } else { "s" }
        )
    }
}
