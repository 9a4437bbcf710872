//! Checks for every argument a front end passes, as if it came from hostile code: kinds, sizes,
//! and paths. Each failure is `Error::InvalidArgument` naming the field and its limits.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// A question, and text to tokenize.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_SEARCH_CHARS: usize = 200;
pub const MAX_PATH_BYTES: usize = 4096;
/// Paths in one add-documents request.
pub const MAX_PATHS: usize = 1000;
/// Line numbers of a passage.
pub const MAX_LINE: usize = 100_000_000;

/// A stored row id sent as a decimal string.
pub fn id(field: &str, value: &str) -> Result<i64> {
    let ok = !value.is_empty() && value.len() <= 18 && value.bytes().all(|b| b.is_ascii_digit());
    match ok.then(|| value.parse::<i64>().ok()).flatten() {
        Some(id) if id > 0 => Ok(id),
        _ => Err(Error::invalid(
            field,
            format!(
                "{:?} is not an id (a decimal number as a string)",
                clip(value)
            ),
        )),
    }
}

/// Non-blank text of at most `max_bytes`, without NUL characters; returned trimmed.
pub fn text<'a>(field: &str, value: &'a str, max_bytes: usize) -> Result<&'a str> {
    if value.len() > max_bytes {
        return Err(Error::invalid(
            field,
            format!("{} bytes is over the limit of {max_bytes}", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL character"));
    }
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    Ok(trimmed)
}

/// A conversation title: 1 to 200 characters on one line (whitespace runs become one space).
pub fn title(value: &str) -> Result<String> {
    if value.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(Error::invalid("title", "contains control characters"));
    }
    let clean = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = clean.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(Error::invalid(
            "title",
            format!("must be 1 to {MAX_TITLE_CHARS} characters (got {chars})"),
        ));
    }
    Ok(clean)
}

/// A search query: at most 200 characters; blank means no filter.
pub fn search(value: Option<&str>) -> Result<Option<String>> {
    let Some(q) = value.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > MAX_SEARCH_CHARS || q.contains('\0') {
        return Err(Error::invalid(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters without NUL"),
        ));
    }
    Ok(Some(q.to_owned()))
}

/// An absolute, normalised path (no `.` or `..` parts) of at most 4096 bytes. Says nothing about
/// whether it exists.
pub fn absolute_path(field: &str, value: &str) -> Result<PathBuf> {
    if value.is_empty() || value.len() > MAX_PATH_BYTES || value.contains('\0') {
        return Err(Error::invalid(
            field,
            format!("must be a path of 1 to {MAX_PATH_BYTES} bytes without NUL"),
        ));
    }
    let path = Path::new(value);
    if !path.is_absolute() {
        return Err(Error::invalid(
            field,
            format!("{} is not an absolute path", clip(value)),
        ));
    }
    // `components()` hides "." parts, so the segments are checked as written.
    if value.split('/').any(|seg| seg == "." || seg == "..")
        || path.components().any(|c| matches!(c, Component::ParentDir))
    {
        return Err(Error::invalid(
            field,
            format!(
                "{} has . or .. parts; give the plain absolute path",
                clip(value)
            ),
        ));
    }
    Ok(path.to_path_buf())
}

/// An absolute path that exists; returned canonical (symbolic links resolved).
pub fn existing_path(field: &str, value: &str) -> Result<PathBuf> {
    let path = absolute_path(field, value)?;
    std::fs::canonicalize(&path).map_err(|e| {
        Error::invalid(
            field,
            format!("{}: {}", path.display(), e.to_string().to_lowercase()),
        )
    })
}

/// 1-based inclusive line range.
pub fn line_range(start: usize, end: usize) -> Result<(usize, usize)> {
    if start == 0 || start > MAX_LINE {
        return Err(Error::invalid(
            "line_start",
            format!("must be 1 to {MAX_LINE}"),
        ));
    }
    if end < start || end > MAX_LINE {
        return Err(Error::invalid(
            "line_end",
            format!("must be from line_start ({start}) to {MAX_LINE}"),
        ));
    }
    Ok((start, end))
}

/// A value shown in a message, cut so a huge argument cannot make a huge message.
pub fn clip(value: &str) -> String {
    const MAX: usize = 120;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_decimal_strings() {
        assert_eq!(id("id", "42").unwrap(), 42);
        for bad in [
            "",
            "0",
            "-1",
            "1e3",
            " 1",
            "abc",
            "99999999999999999999",
            "１",
        ] {
            let e = id("id", bad).unwrap_err();
            assert_eq!(e.code(), "invalid_argument", "{bad}");
            assert!(e.to_string().starts_with("id: "), "{e}");
        }
    }

    #[test]
    fn text_limits() {
        assert_eq!(text("text", "  hi \n", 10).unwrap(), "hi");
        assert!(text("text", "   ", 10).is_err());
        assert!(text("text", "a\0b", 10).is_err());
        let e = text("text", &"x".repeat(11), 10).unwrap_err();
        assert!(e.to_string().contains("over the limit of 10"), "{e}");
    }

    #[test]
    fn titles() {
        assert_eq!(title("  A \n new\ttitle ").unwrap(), "A new title");
        assert!(title("").is_err());
        assert!(title("a\u{7}b").is_err());
        assert!(title(&"é".repeat(200)).is_ok());
        assert!(title(&"é".repeat(201)).is_err());
    }

    #[test]
    fn paths() {
        assert!(absolute_path("path", "relative/x.md").is_err());
        assert!(absolute_path("path", "/a/../etc/passwd").is_err());
        assert!(absolute_path("path", "/a/./b").is_err());
        assert!(absolute_path("path", "").is_err());
        assert!(absolute_path("path", &format!("/{}", "a".repeat(5000))).is_err());
        assert!(absolute_path("path", "/tmp/x.md").is_ok());
        let e = existing_path("path", "/surely/not/here.md").unwrap_err();
        assert!(e.to_string().contains("/surely/not/here.md"), "{e}");
    }

    #[test]
    fn lines() {
        assert_eq!(line_range(3, 5).unwrap(), (3, 5));
        assert!(line_range(0, 5).is_err());
        assert!(line_range(5, 3).is_err());
    }
}
