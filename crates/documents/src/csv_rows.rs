//! CSV: each data row becomes one line `header: value; header: value`, so a passage always carries
//! its column names; sections of up to [`ROWS_PER_SECTION`] rows record their first row number.

use std::path::Path;

use crate::builder::Builder;
use crate::{decode_text, Document, Error, Format, Origin, Result};

const ROWS_PER_SECTION: usize = 25;

pub(crate) fn parse(path: &Path, bytes: &[u8], title: String) -> Result<Document> {
    let text = decode_text(path, bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::malformed(path, Format::Csv, e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut b = Builder::new();
    let mut lines = Vec::new();
    let mut first_row = 1u64;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Error::malformed(path, Format::Csv, e))?;
        let cells: Vec<String> = record
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(c, v)| {
                let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
                match header.get(c).filter(|h| !h.is_empty()) {
                    Some(h) => format!("{h}: {v}"),
                    None => v,
                }
            })
            .collect();
        // An empty row still takes its line, so line offsets stay row offsets.
        lines.push(cells.join("; "));
        if lines.len() == ROWS_PER_SECTION {
            b.push("", &lines.join("\n"), Origin::Rows { first_row });
            lines.clear();
            first_row = i as u64 + 2;
        }
    }
    if !lines.is_empty() {
        b.push("", &lines.join("\n"), Origin::Rows { first_row });
    }
    Ok(b.finish(title, Format::Csv, None))
}
