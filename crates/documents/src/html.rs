//! HTML (and EPUB chapters): visible text by block, cut into sections at `<h1>`..`<h6>`, each
//! section keeping its heading path. Scripts, styles, navigation and forms are left out.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use crate::builder::{tidy, Builder};
use crate::{Document, Format, Origin};

pub(crate) fn parse(source: &str, fallback_title: String) -> Document {
    let mut b = Builder::new();
    let title = extract_into(source, &[], &mut b);
    b.finish(title.unwrap_or(fallback_title), Format::Html, None)
}

/// Appends the page's sections to `b`, their heading paths under `prefix`; returns the page's
/// title (`<title>`, else its first `<h1>`).
pub(crate) fn extract_into(source: &str, prefix: &[String], b: &mut Builder) -> Option<String> {
    let html = Html::parse_document(source);
    let mut walker = Walker {
        path: Vec::new(),
        prefix,
        buf: String::new(),
        first_h1: None,
        title: None,
        b,
        pre: 0,
    };
    walker.walk(html.tree.root());
    walker.flush();
    walker.title.or(walker.first_h1).filter(|t| !t.is_empty())
}

struct Walker<'a> {
    path: Vec<(usize, String)>,
    prefix: &'a [String],
    buf: String,
    first_h1: Option<String>,
    title: Option<String>,
    b: &'a mut Builder,
    pre: usize,
}

const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "nav", "form", "button", "select", "iframe",
    "object", "math",
];
const PARAGRAPH: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "aside",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "dl",
    "table",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "hr",
    "body",
];
const LINE: &[&str] = &[
    "br", "li", "tr", "dt", "dd", "caption", "thead", "tbody", "tfoot",
];

impl Walker<'_> {
    fn heading(&self) -> String {
        self.prefix
            .iter()
            .cloned()
            .chain(self.path.iter().map(|(_, t)| t.clone()))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" > ")
    }

    fn newline(&mut self) {
        if !self.buf.trim_end_matches(' ').ends_with('\n') {
            self.buf.push('\n');
        }
    }

    fn flush(&mut self) {
        let text = tidy(&self.buf);
        self.buf.clear();
        let heading = self.heading();
        self.b.push(&heading, &text, Origin::Converted);
    }

    fn walk(&mut self, node: NodeRef<'_, Node>) {
        match node.value() {
            Node::Text(t) => {
                if self.pre > 0 {
                    self.buf.push_str(t);
                } else {
                    // Whitespace in HTML text is a single space.
                    let mut last_space = self.buf.ends_with([' ', '\n']);
                    for c in t.chars() {
                        if c.is_whitespace() {
                            if !last_space {
                                self.buf.push(' ');
                                last_space = true;
                            }
                        } else {
                            self.buf.push(c);
                            last_space = false;
                        }
                    }
                }
            }
            Node::Element(e) => {
                let name = e.name();
                if name == "title" {
                    if self.title.is_none() {
                        let t: String = node
                            .descendants()
                            .filter_map(|n| n.value().as_text().map(|t| t.to_string()))
                            .collect();
                        self.title = Some(t.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                    return;
                }
                if SKIP.contains(&name) || name == "head" {
                    if name == "head" {
                        for child in node.children() {
                            self.walk(child);
                        }
                    }
                    return;
                }
                if let Some(level) = heading_level(name) {
                    let text: String = node
                        .descendants()
                        .filter_map(|n| n.value().as_text().map(|t| t.to_string()))
                        .collect();
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    self.flush();
                    if level == 1 && self.first_h1.is_none() {
                        self.first_h1 = Some(text.clone());
                    }
                    self.path.retain(|(l, _)| *l < level);
                    self.path.push((level, text));
                    return;
                }
                let paragraph = PARAGRAPH.contains(&name);
                let line = LINE.contains(&name);
                if paragraph {
                    self.buf.push_str("\n\n");
                } else if line {
                    self.newline();
                } else if matches!(name, "td" | "th")
                    && !self.buf.ends_with('\n')
                    && !self.buf.is_empty()
                {
                    self.buf.push_str(" | ");
                }
                if name == "pre" {
                    self.pre += 1;
                }
                for child in node.children() {
                    self.walk(child);
                }
                if name == "pre" {
                    self.pre -= 1;
                }
                if paragraph {
                    self.buf.push_str("\n\n");
                } else if line {
                    self.newline();
                }
            }
            _ => {
                for child in node.children() {
                    self.walk(child);
                }
            }
        }
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_make_sections_and_scripts_vanish() {
        let doc = parse(
            "<html><head><title>Birds</title><script>var x = 1;</script></head><body><nav>Menu</nav>\
             <h1>Ducks</h1><p>Ducks  swim.</p><h2>Diet</h2><p>They eat <b>plants</b>.</p><table><tr><td>a</td><td>b</td></tr></table>\
             <h2>Range</h2><ul><li>Europe</li><li>Asia</li></ul></body></html>",
            "x".into(),
        );
        assert_eq!(doc.title, "Birds");
        let got: Vec<(&str, &str)> = doc
            .sections
            .iter()
            .map(|s| (s.heading.as_str(), s.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Ducks", "Ducks swim."),
                ("Ducks > Diet", "They eat plants.\n\na | b"),
                ("Ducks > Range", "Europe\nAsia")
            ]
        );
        assert!(!doc.text.contains("var x") && !doc.text.contains("Menu"));
        for s in &doc.sections {
            let line = doc.text.lines().nth(s.first_line - 1).unwrap();
            assert!(s.text.starts_with(line), "{s:?}");
        }
    }
}
