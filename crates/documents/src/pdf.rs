//! PDF: the text layer, page by page (pdf-extract over lopdf). Each page is a section that knows its
//! number. Encrypted files that do not open with the empty password are reported as
//! password-protected; a file without any text is reported as needing OCR.

use std::path::Path;

use pdf_extract::{Document as Pdf, OutputError, PlainTextOutput};

use crate::builder::{tidy, Builder};
use crate::{Document, Error, Format, Limits, Origin, Result};

pub(crate) fn parse(
    path: &Path,
    bytes: &[u8],
    limits: &Limits,
    fallback_title: String,
) -> Result<Document> {
    let bad = |e: &dyn std::fmt::Display| Error::malformed(path, Format::Pdf, e);
    let mut pdf = match Pdf::load_mem(bytes) {
        Ok(pdf) => pdf,
        Err(e) if is_encryption_error(&e) => return Err(Error::Encrypted { path: path.into() }),
        Err(e) => return Err(bad(&e)),
    };
    if pdf.is_encrypted() && pdf.decrypt("").is_err() {
        return Err(Error::Encrypted { path: path.into() });
    }
    let pages = pdf.get_pages();
    if pages.len() > limits.max_pages {
        return Err(Error::TooManyPages {
            path: path.into(),
            pages: pages.len(),
            limit: limits.max_pages,
        });
    }
    let title = info_title(&pdf).unwrap_or(fallback_title);
    let mut b = Builder::new();
    let mut failures = 0;
    let mut last_error = None;
    for &number in pages.keys() {
        let mut text = String::new();
        let result = {
            let mut out = PlainTextOutput::new(&mut text);
            pdf_extract::output_doc_page(&pdf, &mut out, number)
        };
        match result {
            Ok(()) => b.push("", &tidy(&text), Origin::Page { page: number }),
            Err(e) => {
                failures += 1;
                last_error = Some(describe(&e));
            }
        }
    }
    if failures == pages.len() && failures > 0 {
        return Err(bad(&last_error.unwrap_or_default()));
    }
    Ok(b.finish(title, Format::Pdf, Some(pages.len() as u32)))
}

fn is_encryption_error(e: &pdf_extract::Error) -> bool {
    let s = format!("{e:?}").to_ascii_lowercase();
    s.contains("decrypt") || s.contains("encrypt") || s.contains("password")
}

fn describe(e: &OutputError) -> String {
    match e {
        OutputError::PdfError(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// The Info dictionary's /Title, when it is a readable string.
fn info_title(pdf: &Pdf) -> Option<String> {
    let info = pdf.trailer.get(b"Info").ok()?;
    let dict = match info {
        pdf_extract::Object::Reference(id) => pdf.get_dictionary(*id).ok()?,
        pdf_extract::Object::Dictionary(d) => d,
        _ => return None,
    };
    let pdf_extract::Object::String(bytes, _) = dict.get(b"Title").ok()? else {
        return None;
    };
    let title = if bytes.starts_with(&[0xfe, 0xff]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|&c| c as char).collect()
    };
    let title = title.trim().to_owned();
    (!title.is_empty() && !title.eq_ignore_ascii_case("untitled")).then_some(title)
}
