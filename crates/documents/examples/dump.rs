//! Prints what Almanac reads from a file: `cargo run -p almanac-documents --example dump -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: dump FILE");
    match almanac_documents::parse_file(
        std::path::Path::new(&path),
        &almanac_documents::Limits::default(),
    ) {
        Ok(doc) => {
            println!(
                "title: {}\nformat: {:?}\npages: {:?}",
                doc.title, doc.format, doc.pages
            );
            for s in &doc.sections {
                let head: String = s.text.chars().take(160).collect();
                println!(
                    "--- line {} {:?} heading {:?}\n{}",
                    s.first_line,
                    s.origin,
                    s.heading,
                    head.replace('\n', " / ")
                );
            }
        }
        Err(e) => println!("error: {e}"),
    }
}
