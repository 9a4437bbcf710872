//! Keeping benchmark figures in a Markdown file: each bench owns one section, delimited by HTML
//! comments, which a new run replaces while the rest of the file stays as it was.

use std::path::Path;

use anyhow::{Context, Result};

/// Replaces the section called `name` in `file` with `body` (appending it if the file has none).
pub fn write_section(file: &Path, name: &str, body: &str) -> Result<()> {
    let begin = format!("<!-- BEGIN {name} (written by `almanac bench`; do not edit by hand) -->");
    let end = format!("<!-- END {name} -->");
    let old = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let section = format!("{begin}\n{}\n{end}", body.trim_end());
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(start), Some(stop)) if start < stop => {
            format!("{}{section}{}", &old[..start], &old[stop + end.len()..])
        }
        (None, None) => format!("{}\n\n{section}\n", old.trim_end()),
        _ => anyhow::bail!(
            "{}: the markers of section {name:?} are damaged; fix them by hand",
            file.display()
        ),
    };
    let partial = file.with_extension("md.partial");
    std::fs::write(&partial, new.trim_start())
        .and_then(|()| std::fs::rename(&partial, file))
        .with_context(|| format!("writing {}", file.display()))
}

/// Prints a bench's report (as JSON with `--json`, else its Markdown) and, with `--write FILE`,
/// puts the Markdown in FILE's section `name`.
pub fn print_and_write(
    report: &impl serde::Serialize,
    markdown: &str,
    json: bool,
    write: Option<&Path>,
    name: &str,
) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{markdown}");
    }
    if let Some(file) = write {
        write_section(file, name, markdown)?;
        eprintln!("written to {}", file.display());
    }
    Ok(())
}

/// The CPU, core count and load average, for the line that says where figures were taken.
pub fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    format!("{cpu}, {cores} cores, load average {load} at the start")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_appended_then_replaced_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("BENCHMARKS.md");
        std::fs::write(&file, "# Benchmarks\n\nHand-written text.\n").unwrap();
        write_section(&file, "generation", "first figures").unwrap();
        write_section(&file, "retrieval", "other figures").unwrap();
        write_section(&file, "generation", "second figures").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# Benchmarks\n\nHand-written text.\n"));
        assert!(text.contains("second figures") && text.contains("other figures"));
        assert!(!text.contains("first figures"));
        assert_eq!(text.matches("<!-- BEGIN generation").count(), 1);
    }

    #[test]
    fn damaged_markers_are_an_error_and_the_file_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("BENCHMARKS.md");
        write_section(&file, "generation", "figures").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let damaged = text.replace("<!-- END generation -->", "");
        std::fs::write(&file, &damaged).unwrap();
        let error = write_section(&file, "generation", "new").unwrap_err();
        assert!(error.to_string().contains("markers"), "{error}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), damaged);
    }
}
