//! `pushfeed export --format parquet`: a query's rows as one Parquet file (Snappy), written a
//! row group of 65,536 rows at a time so memory stays bounded whatever the size. Column
//! types come from the warehouse's declared types (INTEGER/BIGINT → INT64, REAL → DOUBLE,
//! anything else → UTF-8 text), or, for an expression, from its first non-null value; every
//! column is nullable.

use anyhow::{bail, Context};
use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use rusqlite::types::ValueRef;
use std::sync::Arc;

/// Rows per row group.
const ROW_GROUP: usize = 65_536;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Int,
    Real,
    Text,
}

/// One column's values of the row group being filled.
enum Values {
    Int(Vec<i64>),
    Real(Vec<f64>),
    Text(Vec<ByteArray>),
}

fn declared(decl: Option<&str>) -> Option<Kind> {
    let d = decl?.to_ascii_uppercase();
    Some(if d.contains("INT") {
        Kind::Int
    } else if d.contains("REAL") || d.contains("DOUB") || d.contains("FLOA") {
        Kind::Real
    } else {
        Kind::Text
    })
}

/// Write the rows of `sql` as Parquet to `out`; how many rows.
pub fn write_query(
    conn: &rusqlite::Connection,
    sql: &str,
    out: std::fs::File,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<u64> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut kinds: Vec<Option<Kind>> = stmt
        .columns()
        .iter()
        .map(|c| declared(c.decl_type()))
        .collect();
    let mut rows = stmt.query([])?;
    let mut writer: Option<SerializedFileWriter<std::fs::File>> = None;
    let mut out = Some(out);
    let mut buffered: Vec<Vec<Option<OwnedValue>>> = Vec::with_capacity(ROW_GROUP);
    let mut n = 0u64;
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let mut values = Vec::with_capacity(names.len());
            for (i, kind) in kinds.iter_mut().enumerate() {
                let v = OwnedValue::from(row.get_ref(i)?);
                if kind.is_none() {
                    *kind = v.as_ref().map(OwnedValue::kind);
                }
                values.push(v);
            }
            buffered.push(values);
            n += 1;
            if n.is_multiple_of(100_000) {
                progress(n);
            }
        }
        let last = row.is_none();
        if buffered.len() == ROW_GROUP || (last && (!buffered.is_empty() || writer.is_none())) {
            if writer.is_none() {
                let fields = names
                    .iter()
                    .zip(&kinds)
                    .map(|(name, kind)| {
                        let kind = kind.unwrap_or(Kind::Text);
                        let physical = match kind {
                            Kind::Int => Physical::INT64,
                            Kind::Real => Physical::DOUBLE,
                            Kind::Text => Physical::BYTE_ARRAY,
                        };
                        let b = Type::primitive_type_builder(name, physical)
                            .with_repetition(Repetition::OPTIONAL);
                        let b = if kind == Kind::Text {
                            b.with_logical_type(Some(LogicalType::String))
                        } else {
                            b
                        };
                        b.build().map(Arc::new)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let schema = Arc::new(
                    Type::group_type_builder("pushfeed")
                        .with_fields(fields)
                        .build()?,
                );
                let props = Arc::new(
                    WriterProperties::builder()
                        .set_compression(Compression::SNAPPY)
                        .build(),
                );
                let file = out.take().context("the output was already used")?;
                writer = Some(SerializedFileWriter::new(file, schema, props)?);
            }
            if !buffered.is_empty() {
                let w = writer.as_mut().context("no writer")?;
                write_group(w, &names, &kinds, &buffered)?;
                buffered.clear();
            }
        }
        if last {
            break;
        }
    }
    if let Some(w) = writer {
        w.close()?;
    }
    Ok(n)
}

/// A value read from SQLite, owned (the row it came from is gone by the time the row group
/// is written).
#[derive(Clone, Debug)]
enum OwnedValue {
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
}

impl OwnedValue {
    fn from(v: ValueRef<'_>) -> Option<OwnedValue> {
        match v {
            ValueRef::Null => None,
            ValueRef::Integer(i) => Some(OwnedValue::Int(i)),
            ValueRef::Real(f) => Some(OwnedValue::Real(f)),
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(OwnedValue::Text(t.to_vec())),
        }
    }
    fn kind(&self) -> Kind {
        match self {
            OwnedValue::Int(_) => Kind::Int,
            OwnedValue::Real(_) => Kind::Real,
            OwnedValue::Text(_) => Kind::Text,
        }
    }
}

fn write_group(
    w: &mut SerializedFileWriter<std::fs::File>,
    names: &[String],
    kinds: &[Option<Kind>],
    rows: &[Vec<Option<OwnedValue>>],
) -> anyhow::Result<()> {
    let mut group = w.next_row_group()?;
    let mut index = 0;
    while let Some(mut column) = group.next_column()? {
        let kind = kinds[index].unwrap_or(Kind::Text);
        let mut defs = Vec::with_capacity(rows.len());
        let mut values = match kind {
            Kind::Int => Values::Int(Vec::with_capacity(rows.len())),
            Kind::Real => Values::Real(Vec::with_capacity(rows.len())),
            Kind::Text => Values::Text(Vec::with_capacity(rows.len())),
        };
        for row in rows {
            let v = &row[index];
            defs.push(i16::from(v.is_some()));
            match (&mut values, v) {
                (_, None) => {}
                (Values::Int(out), Some(OwnedValue::Int(i))) => out.push(*i),
                (Values::Real(out), Some(OwnedValue::Real(f))) => out.push(*f),
                (Values::Real(out), Some(OwnedValue::Int(i))) => out.push(*i as f64),
                (Values::Text(out), Some(OwnedValue::Text(t))) => out.push(ByteArray::from(t.clone())),
                (Values::Text(out), Some(OwnedValue::Int(i))) => out.push(ByteArray::from(i.to_string().into_bytes())),
                (Values::Text(out), Some(OwnedValue::Real(f))) => out.push(ByteArray::from(f.to_string().into_bytes())),
                (_, Some(other)) => bail!(
                    "column {} holds {:?} values and also {other:?}: CAST it to one type in --query",
                    names[index],
                    kind
                ),
            }
        }
        match values {
            Values::Int(v) => {
                column
                    .typed::<Int64Type>()
                    .write_batch(&v, Some(&defs), None)?;
            }
            Values::Real(v) => {
                column
                    .typed::<DoubleType>()
                    .write_batch(&v, Some(&defs), None)?;
            }
            Values::Text(v) => {
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&v, Some(&defs), None)?;
            }
        }
        column.close()?;
        index += 1;
    }
    group.close()?;
    Ok(())
}
