//! DOCX: `word/document.xml` paragraph by paragraph (quick-xml). Paragraphs whose style is a
//! heading (`Heading 1`.. or `Title`, by the style's name in `word/styles.xml`, or an outline level)
//! start sections; tables become one line per row, cells separated by ` | `.

use std::collections::HashMap;
use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::builder::Builder;
use crate::zipped::Zipped;
use crate::{Document, Error, Format, Limits, Origin, Result};

pub(crate) fn parse(
    path: &Path,
    bytes: &[u8],
    limits: &Limits,
    fallback_title: String,
) -> Result<Document> {
    let mut zip = Zipped::open(path, bytes, Format::Docx, limits.max_unpacked_bytes)?;
    let body = zip.require("word/document.xml")?;
    let styles = zip
        .text("word/styles.xml")?
        .map(|s| heading_styles(&s))
        .unwrap_or_default();
    let core_title = zip
        .text("docProps/core.xml")?
        .and_then(|c| element_text(&c, "title"));
    let paragraphs = paragraphs(path, &body, &styles)?;

    let mut b = Builder::new();
    let mut path_stack: Vec<(usize, String)> = Vec::new();
    let mut buf: Vec<String> = Vec::new();
    let mut title_para = None;
    let heading_of = |stack: &[(usize, String)]| {
        stack
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" > ")
    };
    for p in paragraphs {
        match p.level {
            Some(level) if !p.text.trim().is_empty() => {
                b.push(
                    &heading_of(&path_stack),
                    &buf.join("\n\n"),
                    Origin::Converted,
                );
                buf.clear();
                if level == 0 && title_para.is_none() {
                    title_para = Some(p.text.trim().to_owned());
                }
                path_stack.retain(|(l, _)| *l < level);
                path_stack.push((level, p.text.trim().to_owned()));
            }
            _ => {
                if !p.text.trim().is_empty() {
                    buf.push(p.text.trim().to_owned());
                }
            }
        }
    }
    b.push(
        &heading_of(&path_stack),
        &buf.join("\n\n"),
        Origin::Converted,
    );
    let title = core_title
        .filter(|t| !t.trim().is_empty())
        .or(title_para)
        .unwrap_or(fallback_title);
    Ok(b.finish(title, Format::Docx, None))
}

struct Paragraph {
    text: String,
    /// Heading level (0 for Title, 1.. for Heading N), `None` for body text.
    level: Option<usize>,
}

/// Style id → heading level, from the style names (`heading 1`, `Title`) and outline levels.
fn heading_styles(xml: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut reader = Reader::from_str(xml);
    let mut id: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "style" => id = attr(&e, "styleId"),
                "name" => {
                    if let (Some(id), Some(name)) = (&id, attr(&e, "val")) {
                        if let Some(level) = level_from_name(&name) {
                            out.insert(id.clone(), level);
                        }
                    }
                }
                "outlineLvl" => {
                    if let (Some(id), Some(v)) =
                        (&id, attr(&e, "val").and_then(|v| v.parse::<usize>().ok()))
                    {
                        if v < 9 {
                            out.entry(id.clone()).or_insert(v + 1);
                        }
                    }
                }
                _ => {}
            },
            Ok(Event::End(e)) if e.local_name().as_ref() == "style" => id = None,
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn level_from_name(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if lower == "title" {
        return Some(0);
    }
    let rest = lower.strip_prefix("heading")?.trim();
    rest.parse::<usize>().ok().filter(|l| (1..=9).contains(l))
}

fn attr(e: &quick_xml::events::BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

fn paragraphs(path: &Path, xml: &str, styles: &HashMap<String, usize>) -> Result<Vec<Paragraph>> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut text = String::new();
    let mut level: Option<usize> = None;
    let mut in_text = false;
    // Table nesting: a paragraph inside a cell is part of the row's line.
    let mut cell_depth = 0usize;
    let mut row = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Error::malformed(path, Format::Docx, format!("word/document.xml: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "pStyle" => {
                    if let Some(id) = attr(&e, "val") {
                        level = styles.get(&id).copied().or_else(|| level_from_name(&id));
                    }
                }
                "outlineLvl" => {
                    if let Some(v) = attr(&e, "val")
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|v| *v < 9)
                    {
                        level = level.or(Some(v + 1));
                    }
                }
                "t" => in_text = true,
                "tab" => text.push('\t'),
                "br" | "cr" => text.push('\n'),
                "tc" => cell_depth += 1,
                _ => {}
            },
            Event::Text(t) if in_text => {
                let s = t.xml10_content();
                text.push_str(&s);
            }
            Event::GeneralRef(r) if in_text => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.xml10_content();
                    text.push_str(match name.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => {
                    let t = std::mem::take(&mut text);
                    if cell_depth > 0 {
                        if !t.trim().is_empty() {
                            if !row.is_empty() && !row.ends_with(" | ") {
                                row.push(' ');
                            }
                            row.push_str(t.trim());
                        }
                    } else {
                        out.push(Paragraph {
                            text: t,
                            level: level.take(),
                        });
                    }
                    level = None;
                }
                "tc" => {
                    cell_depth = cell_depth.saturating_sub(1);
                    if cell_depth == 0 {
                        row.push_str(" | ");
                    }
                }
                "tr" if cell_depth == 0 => {
                    let line = row.trim().trim_end_matches('|').trim().to_owned();
                    row.clear();
                    out.push(Paragraph {
                        text: line,
                        level: None,
                    });
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

/// Text of the first element with this local name (e.g. `dc:title`).
pub(crate) fn element_text(xml: &str, local: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    let mut out = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == local => inside = true,
            Ok(Event::Text(t)) if inside => out.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) if inside => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else if &*r.xml10_content() == "amp" {
                    out.push('&');
                }
            }
            Ok(Event::End(e)) if inside && e.local_name().as_ref() == local => {
                return Some(out.trim().to_owned())
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}
