use std::path::Path;

use serde::{Deserialize, Serialize};

/// A file type Almanac reads, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
    Epub,
    Csv,
    /// Source code: indexed as lines.
    Code,
}

/// Source code and configuration files, read as text.
pub const CODE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "java", "kt", "kts", "scala", "c",
    "h", "cc", "cpp", "cxx", "hpp", "hh", "cs", "rb", "php", "swift", "m", "mm", "sh", "bash",
    "zsh", "fish", "ps1", "lua", "pl", "r", "jl", "hs", "ml", "mli", "ex", "exs", "erl", "clj",
    "sql", "css", "scss", "toml", "yaml", "yml", "json", "xml", "ini", "cfg", "conf", "proto",
    "gradle", "cmake", "dart", "zig", "nim", "vue", "svelte",
];

impl Format {
    pub fn for_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" | "log" | "rst" | "org" => Format::Text,
            "md" | "markdown" | "mdown" | "mkd" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "epub" => Format::Epub,
            "csv" => Format::Csv,
            e if CODE_EXTENSIONS.contains(&e) => Format::Code,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text file",
            Format::Markdown => "Markdown file",
            Format::Html => "HTML page",
            Format::Pdf => "PDF",
            Format::Docx => "DOCX",
            Format::Epub => "EPUB",
            Format::Csv => "CSV file",
            Format::Code => "source file",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
