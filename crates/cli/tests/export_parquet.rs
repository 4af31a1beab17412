//! `pushfeed export --format parquet` reads back, with the parquet crate's own reader, equal
//! to the table as `pushfeed sql --json` gives it: every row, every column, NULLs as NULLs,
//! integers as INT64 and text as UTF-8.

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn pushfeed(args: &[&str], data_dir: &Path) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pushfeed {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn as_json(f: &Field) -> Value {
    match f {
        Field::Null => Value::Null,
        Field::Long(v) => Value::from(*v),
        Field::Double(v) => Value::from(*v),
        Field::Str(s) => Value::String(s.clone()),
        other => panic!("unexpected Parquet value {other:?}"),
    }
}

#[test]
fn a_table_exported_as_parquet_reads_back_equal() {
    let dir = std::env::temp_dir().join(format!("pushfeed-parquet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    pushfeed(&["run", "--events", "3000", "--seed", "9", "--quiet"], &dir);
    for table in ["push_send", "push_quarantine", "pushfeed_load_ledger"] {
        let file = dir.join(format!("{table}.parquet"));
        pushfeed(
            &[
                "export",
                table,
                "--format",
                "parquet",
                "-o",
                file.to_str().unwrap(),
                "--quiet",
            ],
            &dir,
        );
        let expected: Vec<Value> = serde_json::from_slice(&pushfeed(
            &["sql", "--json", &format!("SELECT * FROM {table}")],
            &dir,
        ))
        .unwrap();
        assert!(!expected.is_empty(), "{table} has rows");
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        assert_eq!(
            reader.metadata().file_metadata().num_rows() as usize,
            expected.len()
        );
        let got: Vec<Value> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| {
                let row = row.unwrap();
                Value::Object(
                    row.get_column_iter()
                        .map(|(name, field)| (name.clone(), as_json(field)))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{table}");
    }
    // Parquet's footer comes last: stdout is refused with what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args([
            "export",
            "push_send",
            "--format",
            "parquet",
            "-o",
            "-",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --output FILE.parquet"));
    let _ = std::fs::remove_dir_all(&dir);
}
