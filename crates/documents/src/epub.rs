//! EPUB: the OPF package's spine gives the chapters (XHTML) in reading order; each is read like HTML,
//! its sections' heading paths under the book's own headings.

use std::collections::HashMap;
use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::builder::Builder;
use crate::docx::element_text;
use crate::zipped::Zipped;
use crate::{html, Document, Error, Format, Limits, Result};

pub(crate) fn parse(
    path: &Path,
    bytes: &[u8],
    limits: &Limits,
    fallback_title: String,
) -> Result<Document> {
    let mut zip = Zipped::open(path, bytes, Format::Epub, limits.max_unpacked_bytes)?;
    let container = zip.require("META-INF/container.xml")?;
    let opf_path = first_attr(&container, "rootfile", "full-path").ok_or_else(|| {
        Error::malformed(
            path,
            Format::Epub,
            "META-INF/container.xml names no rootfile",
        )
    })?;
    let opf = zip.require(&opf_path)?;
    let base = opf_path
        .rsplit_once('/')
        .map(|(d, _)| format!("{d}/"))
        .unwrap_or_default();
    let (manifest, spine) = manifest_and_spine(&opf);
    let mut b = Builder::new();
    for idref in spine {
        let Some(href) = manifest.get(&idref) else {
            continue;
        };
        let href = href.split('#').next().unwrap_or(href);
        let Some(chapter) = zip.text(&format!("{base}{}", percent_decode(href)))? else {
            continue;
        };
        html::extract_into(&chapter, &[], &mut b);
    }
    let title = element_text(&opf, "title")
        .filter(|t| !t.is_empty())
        .unwrap_or(fallback_title);
    Ok(b.finish(title, Format::Epub, None))
}

fn attr(e: &quick_xml::events::BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

fn first_attr(xml: &str, element: &str, name: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.local_name().as_ref() == element => {
                return attr(&e, name)
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// Manifest id → href (XHTML items only), and the spine's idrefs in order.
fn manifest_and_spine(opf: &str) -> (HashMap<String, String>, Vec<String>) {
    let mut reader = Reader::from_str(opf);
    let (mut manifest, mut spine) = (HashMap::new(), Vec::new());
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "item" => {
                    let media = attr(&e, "media-type").unwrap_or_default();
                    if media.contains("html") {
                        if let (Some(id), Some(href)) = (attr(&e, "id"), attr(&e, "href")) {
                            manifest.insert(id, href);
                        }
                    }
                }
                "itemref" => spine.extend(attr(&e, "idref")),
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    (manifest, spine)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
