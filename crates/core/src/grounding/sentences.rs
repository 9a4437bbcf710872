//! Cutting text into the pieces that can be quoted or checked: sentences of prose (never across a
//! paragraph, heading, list item or table row), and each row of a table on its own, each with its
//! byte range in the text.

use unicode_segmentation::UnicodeSegmentation;

/// A sentence shorter than this many words joins the next one ("e.g.", "Fig. 3.", "Mr.").
const MIN_WORDS: usize = 4;
/// A sentence longer than this (bytes) is cut at its line breaks: text without full stops (a PDF
/// table, a list without punctuation) would otherwise be one quote of a whole page.
const MAX_BYTES: usize = 400;

/// The byte ranges of the sentences of `text`, in order, trimmed, never empty.
pub fn sentence_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (block_start, block_end) in blocks(text) {
        let block = &text[block_start..block_end];
        // Inside a block a line break is wrapping, not a paragraph (UAX #29 would end a sentence
        // there): segment a copy with spaces instead, same length, so offsets hold for `block`.
        let unwrapped = block.replace(['\n', '\r'], " ");
        let mut pending: Option<(usize, usize)> = None;
        for (offset, sentence) in unwrapped.split_sentence_bound_indices() {
            let (s, e) = trimmed(block, offset, offset + sentence.len());
            if s >= e {
                continue;
            }
            let range = match pending.take() {
                Some((ps, _)) => (ps, e),
                None => (s, e),
            };
            if word_count(&block[range.0..range.1]) < MIN_WORDS {
                pending = Some(range);
            } else {
                out.extend(cut_long(block, range).map(|(s, e)| (block_start + s, block_start + e)));
            }
        }
        if let Some((s, e)) = pending {
            // A short last piece belongs to the sentence before it, when there is one in this block.
            match out.last_mut() {
                Some(last) if last.0 >= block_start => last.1 = block_start + e,
                _ => out.push((block_start + s, block_start + e)),
            }
        }
    }
    out
}

/// The byte ranges of lines of `text` that have something on them (table rows).
pub fn line_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let (s, e) = trimmed(text, start, start + line.len());
        if s < e {
            out.push((s, e));
        }
        start += line.len();
    }
    out
}

/// `text` with every run of whitespace (line breaks included) made one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Paragraph-like blocks: a blank line, a Markdown heading, list item, quote or table row ends
/// one, and such a line is a block of its own.
fn blocks(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let content = line.trim();
        if content.is_empty() || starts_block(content) {
            out.extend(current.take());
            if !content.is_empty() && !content.starts_with('#') && !is_rule(content) {
                out.push((start, end));
            }
        } else {
            current = Some(match current {
                Some((s, _)) => (s, end),
                None => (start, end),
            });
        }
        start = end;
    }
    out.extend(current);
    out
}

/// A line that stands alone: a heading, list item, quote, table row or rule.
fn starts_block(line: &str) -> bool {
    if line.starts_with(['#', '>', '|']) || is_rule(line) {
        return true;
    }
    if let Some(rest) = line
        .strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("+ "))
    {
        return !rest.is_empty();
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0
        && digits < 4
        && line[digits..].starts_with([')', '.'])
        && line[digits + 1..].starts_with(' ')
}

fn is_rule(line: &str) -> bool {
    line.len() >= 3
        && line
            .chars()
            .all(|c| matches!(c, '-' | '*' | '_' | '=' | ' '))
}

/// A long sentence cut at line breaks into pieces of at most [`MAX_BYTES`] (a piece keeps whole lines).
fn cut_long(text: &str, (s, e): (usize, usize)) -> impl Iterator<Item = (usize, usize)> {
    let mut pieces = Vec::new();
    if e - s <= MAX_BYTES {
        pieces.push((s, e));
        return pieces.into_iter();
    }
    let mut piece_start = s;
    let mut last_break = None;
    for (i, _) in text[s..e].match_indices('\n') {
        let at = s + i;
        if at - piece_start > MAX_BYTES {
            if let Some(b) = last_break.filter(|&b| b > piece_start) {
                pieces.push((piece_start, b));
                piece_start = b + 1;
            }
        }
        last_break = Some(at);
    }
    pieces.push((piece_start, e));
    pieces
        .into_iter()
        .map(|(a, b)| trimmed(text, a, b))
        .filter(|(a, b)| a < b)
        .collect::<Vec<_>>()
        .into_iter()
}

/// `[s, e)` without the whitespace at either end.
fn trimmed(text: &str, s: usize, e: usize) -> (usize, usize) {
    let piece = &text[s..e];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead == piece.len() {
        return (s, s);
    }
    (s + lead, e - trail)
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        sentence_ranges(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect()
    }

    #[test]
    fn sentences_of_prose_across_line_breaks() {
        let text = "The bridge was designed by Ilsabet\nQuorne in 1931. It is 412 metres long.\n\nA new paragraph starts here now.";
        assert_eq!(
            pieces(text),
            vec![
                "The bridge was designed by Ilsabet\nQuorne in 1931.",
                "It is 412 metres long.",
                "A new paragraph starts here now."
            ]
        );
    }

    #[test]
    fn headings_are_skipped_and_list_items_stand_alone() {
        let text = "# Zorvath Bridge\n\n- Designer: Ilsabet Quorne\n- Opened: 1931 after six years\nBody text follows here, one sentence.";
        assert_eq!(
            pieces(text),
            vec![
                "- Designer: Ilsabet Quorne",
                "- Opened: 1931 after six years",
                "Body text follows here, one sentence."
            ]
        );
    }

    #[test]
    fn short_fragments_join_their_neighbour() {
        assert_eq!(
            pieces("See Fig. 3. The cheese is aged for 19 months. Yes."),
            vec!["See Fig. 3. The cheese is aged for 19 months. Yes."]
        );
    }

    #[test]
    fn long_unpunctuated_text_is_cut_at_lines() {
        let line = "word ".repeat(30);
        let text = format!("{line}\n{line}\n{line}\n{line}");
        let got = pieces(&text);
        assert!(got.len() >= 2, "{got:?}");
        assert!(got.iter().all(|p| p.len() <= 2 * 160), "{got:?}");
    }

    #[test]
    fn rows_are_lines() {
        let text = "name: a; size: 1\n\nname: b; size: 2\n";
        let rows: Vec<&str> = line_ranges(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(rows, vec!["name: a; size: 1", "name: b; size: 2"]);
    }
}
