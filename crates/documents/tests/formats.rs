//! Real documents from ../shared/data/ingest-docs: titles, text and the location of known passages.

use std::path::{Path, PathBuf};

use almanac_documents::{parse_file, Document, Error, Format, Limits, Origin};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ingest-docs")
}

fn parse(rel: &str) -> Document {
    parse_file(&docs().join(rel), &Limits::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The section holding `needle`.
fn section_with<'a>(doc: &'a Document, needle: &str) -> &'a almanac_documents::Section {
    doc.sections
        .iter()
        .find(|s| s.text.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {:?}", doc.title))
}

/// Each section's first line is where its text starts in the whole text.
fn assert_lines_consistent(doc: &Document) {
    let lines: Vec<&str> = doc.text.split('\n').collect();
    for s in &doc.sections {
        let first = s.text.split('\n').next().unwrap();
        assert_eq!(
            lines[s.first_line - 1],
            first,
            "section at line {} of {:?}",
            s.first_line,
            doc.title
        );
    }
}

#[test]
fn pdf_pages_are_kept() {
    let doc = parse("markitdown/REPAIR-2022-INV-001_multipage.pdf");
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.pages, Some(3));
    let pages: Vec<Origin> = doc.sections.iter().map(|s| s.origin).collect();
    assert_eq!(pages, [1, 2, 3].map(|page| Origin::Page { page }));
    assert_lines_consistent(&doc);

    let doc = parse("docling/redp5110_sampled.pdf");
    assert_eq!(doc.pages, Some(18));
    assert_lines_consistent(&doc);
}

#[test]
fn docx_headings_are_kept() {
    let doc = parse("docling/unit_test_headers_numbered.docx");
    assert_eq!(doc.title, "Test Document");
    assert_eq!(
        section_with(&doc, "Paragraph 2.1.1.1").heading,
        "Test Document > Section 2 > Section 2.1.1"
    );
    assert_eq!(
        section_with(&doc, "Paragraph 1.2.3.1").heading,
        "Test Document > Section 1 > Section 1.2 > Section 1.2.3"
    );
    assert_lines_consistent(&doc);

    let doc = parse("markitdown/test.docx");
    assert!(doc.title.starts_with("AutoGen"), "{}", doc.title);
    assert!(section_with(&doc, "AutoGen is an open-source framework")
        .heading
        .ends_with("Abstract"));
}

#[test]
fn html_headings_and_title() {
    let doc = parse("docling/wiki_duck.html");
    assert!(doc.title.contains("Duck"), "{}", doc.title);
    let s = section_with(&doc, "dabbling");
    assert!(s.heading.starts_with("Duck"), "{}", s.heading);
    assert!(!doc.text.contains("function("), "scripts are left out");
    assert_lines_consistent(&doc);
}

#[test]
fn markdown_and_text_keep_file_lines() {
    let doc = parse("readmes/ripgrep-README.md");
    assert_eq!(doc.sections.len(), 1);
    assert!(doc.sections[0].markdown);
    assert_eq!(doc.sections[0].origin, Origin::Lines);
    let original = std::fs::read_to_string(docs().join("readmes/ripgrep-README.md")).unwrap();
    assert_eq!(doc.text, original);
    assert_eq!(
        doc.title, "ripgrep-README",
        "no level-one heading: the file name"
    );
    assert_eq!(parse("readmes/docling-README.md").title, "Docling");
    // `# ...` inside fenced code is a shell comment, not a title.
    assert_eq!(parse("readmes/ripgrep-GUIDE.md").title, "ripgrep-GUIDE");

    let doc = parse("unstructured/book-war-and-peace-1p.txt");
    assert_eq!(doc.format, Format::Text);
    assert!(doc.text.contains("the well-known Anna Pavlovna\nScherer"));
}

#[test]
fn epub_chapters_in_reading_order() {
    let doc = parse("docling/epub_purvis_poetry.epub");
    assert_eq!(doc.format, Format::Epub);
    assert_eq!(doc.title, "Poetry");
    assert!(doc.sections.len() > 5);
    assert!(doc.sections.iter().any(|s| !s.heading.is_empty()));
    assert_lines_consistent(&doc);
}

#[test]
fn csv_rows_keep_their_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts.csv");
    let mut csv = String::from("code,name,price\n");
    for i in 1..=60 {
        csv.push_str(&format!("P-{i:03},\"Widget, size {i}\",{}.50\n", i * 2));
    }
    std::fs::write(&path, csv).unwrap();
    let doc = parse_file(&path, &Limits::default()).unwrap();
    let s = section_with(&doc, "code: P-042;");
    assert!(s
        .text
        .contains("code: P-042; name: Widget, size 42; price: 84.50"));
    let Origin::Rows { first_row } = s.origin else {
        panic!("{:?}", s.origin)
    };
    let offset = s
        .text
        .split('\n')
        .position(|l| l.starts_with("code: P-042;"))
        .unwrap() as u64;
    assert_eq!(first_row + offset, 42, "row 42 of the data");
}

#[test]
fn limits_and_bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = docs().join("markitdown/REPAIR-2022-INV-001_multipage.pdf");
    let e = parse_file(
        &pdf,
        &Limits {
            max_pages: 2,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooManyPages {
                pages: 3,
                limit: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("2-page limit"), "{e}");

    let e = parse_file(
        &pdf,
        &Limits {
            max_file_bytes: 1000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("1000-byte limit"), "{e}");

    let docx = docs().join("markitdown/test.docx");
    let e = parse_file(
        &docx,
        &Limits {
            max_unpacked_bytes: 10_000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::TooMuchUnpacked { .. }), "{e}");

    let empty = dir.path().join("empty.md");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        parse_file(&empty, &Limits::default()),
        Err(Error::Empty { .. })
    ));

    let scanned = docs().join("unstructured/single_table.pdf");
    let e = parse_file(&scanned, &Limits::default()).unwrap_err();
    assert!(matches!(e, Error::NoText { .. }), "{e}");
    assert!(e.to_string().contains("OCR"), "{e}");

    let unknown = dir.path().join("picture.bmp");
    std::fs::write(&unknown, b"BM").unwrap();
    assert!(matches!(
        parse_file(&unknown, &Limits::default()),
        Err(Error::Unsupported { .. })
    ));
}
