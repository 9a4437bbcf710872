//! Documents of every format, read through the real `almanac` binary (parsers in worker processes):
//! citations point at the right page, heading and lines; bad files fail alone, with a reason.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{stderr, Library};

fn shared_docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ingest-docs")
}

/// The sources `ask --json` retrieved for a question (one token of answer: retrieval is what counts).
fn sources(library: &Library, question: &str) -> Vec<Value> {
    let text = library.ok(&[
        "ask",
        "--json",
        "--max-tokens",
        "1",
        "--sources",
        "3",
        question,
    ]);
    let v: Value = serde_json::from_str(&text).unwrap();
    v["sources"].as_array().unwrap().clone()
}

fn status(library: &Library) -> Value {
    serde_json::from_str(&library.ok(&["library", "status", "--json"])).unwrap()
}

/// Every chunk of the catalog is in both search indexes, and nothing else is.
fn assert_consistent(status: &Value) {
    let index = &status["index"];
    assert_eq!(index["chunks"], index["text_chunks"], "{index}");
    assert_eq!(index["chunks"], index["vectors"], "{index}");
}

fn file_status<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {status}"))
}

#[test]
fn citations_point_at_the_page_heading_and_lines() {
    let library = Library::new();
    let docs = shared_docs();
    let files = [
        "markitdown/REPAIR-2022-INV-001_multipage.pdf",
        "docling/unit_test_headers_numbered.docx",
        "readmes/tantivy-README.md",
        "unstructured/fake-html.html",
    ];
    let paths: Vec<String> = files
        .iter()
        .map(|f| docs.join(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["ingest"];
    args.extend(paths.iter().map(String::as_str));
    library.ok(&args);

    // A PDF page: the second estimate (page 2) is Bruce Wayne's.
    let top = &sources(&library, "Bruce Wayne Batmobile insurance claim")[0];
    assert!(
        top["path"]
            .as_str()
            .unwrap()
            .ends_with("REPAIR-2022-INV-001_multipage.pdf"),
        "{top}"
    );
    assert_eq!(top["page"], 2, "{top}");
    assert_eq!(top["location"], "page 2");
    assert!(
        top["open"].as_str().unwrap().ends_with(".pdf#page=2"),
        "{top}"
    );

    // A DOCX heading path.
    let top = &sources(
        &library,
        "Regulatory Constraints Budget Constraints Timeline Constraints",
    )[0];
    assert!(
        top["path"]
            .as_str()
            .unwrap()
            .ends_with("unit_test_headers_numbered.docx"),
        "{top}"
    );
    assert_eq!(
        top["heading"], "Test Document > Section 2 > Section 2.1",
        "{top}"
    );

    // Markdown: heading and the file's own lines.
    let top = &sources(&library, "tantivy minimum supported rust version MSRV")[0];
    assert!(
        top["path"].as_str().unwrap().ends_with("tantivy-README.md"),
        "{top}"
    );
    let readme = std::fs::read_to_string(docs.join("readmes/tantivy-README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let (a, b) = (
        top["line_start"].as_u64().unwrap() as usize,
        top["line_end"].as_u64().unwrap() as usize,
    );
    let span = lines[a - 1..b].join("\n");
    assert!(
        span.to_lowercase().contains("rust"),
        "lines {a}-{b}: {span}"
    );
    assert!(
        top["open"]
            .as_str()
            .unwrap()
            .ends_with(&format!("tantivy-README.md:{a}")),
        "{top}"
    );

    // HTML: the heading path of the section.
    let top = &sources(&library, "how do you fault the cow for its worn hooves")[0];
    assert!(
        top["path"].as_str().unwrap().ends_with("fake-html.html"),
        "{top}"
    );
    assert_eq!(
        top["heading"], "My First Heading > My Second Heading",
        "{top}"
    );
    assert_eq!(
        top["location"], "My First Heading > My Second Heading",
        "{top}"
    );

    assert_consistent(&status(&library));
}

fn pdf(objects: &[&str], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1).unwrap();
    }
    let xref = out.len();
    write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).unwrap();
    for o in offsets {
        writeln!(out, "{o:010} 00000 n ").unwrap();
    }
    write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    )
    .unwrap();
    out
}

/// A DOCX whose document.xml inflates to `bytes` of spaces inside a paragraph (a zip bomb when big).
fn docx_bomb(path: &Path, bytes: usize) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(b"<?xml version=\"1.0\"?><Types/>").unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(b"<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>")
        .unwrap();
    let block = vec![b' '; 1 << 16];
    for _ in 0..bytes / block.len() {
        zip.write_all(&block).unwrap();
    }
    zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>")
        .unwrap();
    zip.finish().unwrap();
}

#[test]
fn bad_files_fail_alone_with_a_reason_and_the_rest_is_indexed() {
    let library = Library::new();
    library.write_settings(&serde_json::json!({"max_unpacked_bytes": 1_000_000}));
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::write(
        dir.join("good.md"),
        "# Lighthouse\n\nThe Ostrander lighthouse keeper was Tobiah Wrenfield.\n",
    )
    .unwrap();
    let korean = "오스트랜더 등대지기는 토비아 렌필드였다. 그는 매일 밤 등불을 밝혔다.\n";
    std::fs::write(dir.join("euc-kr.txt"), encoding_rs_encode_euc_kr(korean)).unwrap();
    std::fs::write(dir.join("empty.txt"), b"").unwrap();
    std::fs::write(
        dir.join("image.txt"),
        [0x89u8, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2],
    )
    .unwrap();
    let real = std::fs::read(shared_docs().join("markitdown/test.pdf")).unwrap();
    std::fs::write(dir.join("truncated.pdf"), &real[..real.len() / 3]).unwrap();
    // The page tree's only kid is the page tree itself.
    std::fs::write(
        dir.join("loop.pdf"),
        pdf(
            &[
                "<< /Type /Catalog /Pages 2 0 R >>",
                "<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
            ],
            "",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("encrypted.pdf"),
        pdf(
            &[
                "<< /Type /Catalog /Pages 2 0 R >>",
                "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
                "<< /Filter /Standard /V 1 /R 2 /O <0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20> /U <2122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40> /P -4 >>",
            ],
            "/Encrypt 4 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]",
        ),
    )
    .unwrap();
    docx_bomb(&dir.join("bomb.docx"), 8 << 20);
    assert!(
        std::fs::metadata(dir.join("bomb.docx")).unwrap().len() < 100_000,
        "the bomb is tiny on disk"
    );
    std::os::unix::fs::symlink(dir, dir.join("loop")).unwrap();

    let out = library.run(&["library", "add", dir.to_str().unwrap()]);
    assert!(!out.status.success(), "failed files make the command fail");
    let errors = stderr(&out);
    let status = status(&library);
    assert_eq!(
        file_status(&status, "good.md")["status"],
        "indexed",
        "{status}"
    );
    assert_eq!(
        file_status(&status, "euc-kr.txt")["status"],
        "indexed",
        "{status}"
    );
    let expect_failed = [
        ("empty.txt", "empty file"),
        ("image.txt", "binary"),
        ("encrypted.pdf", "password-protected"),
        ("bomb.docx", "max_unpacked_bytes"),
        ("loop.pdf", "loop.pdf"),
        ("truncated.pdf", "truncated.pdf"),
        ("loop", "symbolic link loop"),
    ];
    for (name, reason) in expect_failed {
        let f = file_status(&status, name);
        assert_eq!(f["status"], "failed", "{name}: {f}");
        let error = f["error"].as_str().unwrap();
        assert!(
            error.contains(reason) && error.contains(name),
            "{name}: {error}"
        );
        assert!(!error.contains('\n'));
        assert!(
            errors
                .lines()
                .any(|l| l.starts_with("error:") && l.contains(name)),
            "{name} not reported: {errors}"
        );
    }
    assert_consistent(&status);
    assert_eq!(status["index"]["documents"], 2, "{status}");

    // The EUC-KR file was read as Korean: a Korean question finds it.
    let top = &sources(&library, "등대지기는 누구였나?")[0];
    assert!(
        top["path"].as_str().unwrap().ends_with("euc-kr.txt"),
        "{top}"
    );
    assert!(top["snippet"].as_str().unwrap().contains("토비아"), "{top}");
}

fn encoding_rs_encode_euc_kr(text: &str) -> Vec<u8> {
    // EUC-KR by hand would be a table; the test builds its input with the same well-kept crate the
    // app decodes with, in the other direction.
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    bytes.into_owned()
}

#[test]
fn a_file_deleted_while_the_folder_is_ingested_leaves_no_trace() {
    let library = Library::new();
    let folder = tempfile::tempdir().unwrap();
    for i in 0..40 {
        std::fs::write(
            folder.path().join(format!("note-{i:02}.md")),
            format!(
                "# Note {i}\n\nWarehouse {i} stores crate number {}.\n",
                i * 7919
            ),
        )
        .unwrap();
    }
    let victim = folder.path().join("note-20.md");
    let mut child = library
        .command(&["library", "add", folder.path().to_str().unwrap()])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    std::fs::remove_file(&victim).unwrap();
    let _ = child.wait().unwrap();
    // Whether it was read before or after it went, a sync leaves the library without it.
    library.ok(&["library", "sync"]);
    let status = status(&library);
    assert_eq!(status["index"]["documents"], 39, "{status}");
    assert!(!status["documents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["path"].as_str().unwrap().ends_with("note-20.md")));
    assert_consistent(&status);
}

#[test]
fn watch_follows_new_changed_deleted_and_renamed_files() {
    let library = Library::new();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::write(
        dir.join("keep.md"),
        "# Keep\n\nThe granary in Velmor holds barley.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("gone.md"),
        "# Gone\n\nThe mill at Osketh grinds rye.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("old-name.md"),
        "# Moved\n\nThe ferry at Drumlane crosses at dawn.\n",
    )
    .unwrap();
    library.ok(&["library", "add", dir.to_str().unwrap()]);
    let before = status(&library);
    let added_at = file_status(&before, "old-name.md")["added_at"].clone();

    let mut watch = support::Running(
        library
            .command(&["watch", "--debounce-ms", "300"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Changes are made once the watch says it follows the folder, not after a guessed delay.
    let stderr = BufReader::new(watch.stderr.take().unwrap());
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .try_for_each(|l| lines.send(l))
    });
    let wait = std::time::Duration::from_secs(180);
    loop {
        let line = said
            .recv_timeout(wait)
            .expect("`watch` says `following DIR`");
        if line.starts_with("following ") {
            break;
        }
    }
    std::fs::write(
        dir.join("new.md"),
        "# New\n\nThe lighthouse at Carrow has a green lamp.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("keep.md"),
        "# Keep\n\nThe granary in Velmor holds oats now.\n",
    )
    .unwrap();
    std::fs::remove_file(dir.join("gone.md")).unwrap();
    std::fs::rename(dir.join("old-name.md"), dir.join("new-name.md")).unwrap();
    // Until the watch has said it handled all four changes (the library is locked while it runs).
    let mut awaited: Vec<String> = [
        ("indexed", "new.md"),
        ("indexed", "keep.md"),
        ("removed", "gone.md"),
        ("removed", "old-name.md"),
        ("indexed", "new-name.md"),
    ]
    .iter()
    .map(|(verb, file)| format!("{verb} {}", dir.join(file).display()))
    .collect();
    while !awaited.is_empty() {
        let Ok(line) = said.recv_timeout(wait) else {
            panic!("`watch` did not report {awaited:?}");
        };
        awaited.retain(|l| !line.starts_with(l.as_str()));
    }
    let pid = watch.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let exit = watch.wait().unwrap();
    assert!(exit.success(), "watch stops cleanly on Ctrl-C: {exit:?}");

    let status = status(&library);
    let names: Vec<&str> = status["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["keep.md", "new-name.md", "new.md"], "{status}");
    assert_eq!(
        file_status(&status, "new-name.md")["added_at"],
        added_at,
        "a renamed file keeps its history"
    );
    assert_consistent(&status);
    let top = &sources(&library, "What does the granary in Velmor hold?")[0];
    assert!(
        top["snippet"].as_str().unwrap().contains("oats"),
        "the changed file was indexed again: {top}"
    );
}
