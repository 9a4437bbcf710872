//! Assembles a document's text from sections, keeping each section's first line.

use crate::{Document, Format, Origin, Section};

pub(crate) struct Builder {
    text: String,
    lines: usize,
    sections: Vec<Section>,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder {
            text: String::new(),
            lines: 0,
            sections: Vec::new(),
        }
    }

    /// The whole file's text as is: line numbers stay the file's.
    pub(crate) fn push_verbatim(&mut self, text: &str, markdown: bool) {
        self.text.push_str(text);
        self.lines = text.lines().count();
        self.sections.push(Section {
            heading: String::new(),
            first_line: 1,
            text: text.to_owned(),
            markdown,
            origin: Origin::Lines,
        });
    }

    /// A converted section; blank ones are dropped. Sections are separated by a blank line.
    pub(crate) fn push(&mut self, heading: &str, text: &str, origin: Origin) {
        let text = text.trim_matches('\n');
        if text.trim().is_empty() {
            return;
        }
        if self.lines > 0 {
            self.text.push_str("\n\n");
            self.lines += 1;
        }
        let first_line = self.lines + 1;
        self.text.push_str(text);
        self.lines += text.split('\n').count();
        self.sections.push(Section {
            heading: heading.trim().to_owned(),
            first_line,
            text: text.to_owned(),
            markdown: false,
            origin,
        });
    }

    pub(crate) fn finish(self, title: String, format: Format, pages: Option<u32>) -> Document {
        Document {
            title: title.trim().to_owned(),
            format,
            text: self.text,
            sections: self.sections,
            pages,
        }
    }
}

/// Collapses runs of spaces and tabs and trims each line; keeps line breaks, drops blank-line runs
/// longer than one.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&line);
    }
    out
}
