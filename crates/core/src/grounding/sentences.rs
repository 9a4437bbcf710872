//! Cutting text into the pieces that can be quoted or checked: sentences of prose (never across a
//! paragraph, heading, list item or table row), and each row of a table on its own, each with its
//! byte range in the text.

use unicode_segmentation::UnicodeSegmentation;

/// A sentence shorter than this many words joins the next one ("e.g.", "Fig. 3.", "Mr.").
const MIN_WORDS: usize = 4;
/// A sentence longer than this (bytes) is cut at its line breaks: text without full stops (a PDF
/// table, a list without punctuation) would otherwise be one quote of a whole page.
const MAX_BYTES: usize = 400;

/// The byte ranges of the sentences of `text`, in order, trimmed, never empty. A block of lines
/// with no sentence in it (a form, a receipt, a list) gives its lines instead, and a title-like
/// first line stands alone.
pub fn sentence_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (mut start, end) in blocks(text) {
        let block = &text[start..end];
        if block.lines().count() >= 3 && !has_sentence_end(block) {
            out.extend(
                line_ranges(block)
                    .into_iter()
                    .map(|(s, e)| (start + s, start + e)),
            );
            continue;
        }
        if let Some(title_end) = title_line(block) {
            out.push((start, start + title_end));
            start += title_end;
        }
        sentences_of(text, start, end, &mut out);
    }
    out
}

/// The sentences of the block `text[start..end]`, added to `out`.
fn sentences_of(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let block = &text[start..end];
    // Inside a block a line break is wrapping, not a paragraph (UAX #29 would end a sentence
    // there), and a citation mark after a full stop ("programming.[15] In 1972") belongs to the
    // sentence before: segment a copy with spaces instead, same length, so offsets hold.
    let unwrapped = blank_citation_marks(&block.replace(['\n', '\r'], " "));
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
        let piece = &block[range.0..range.1];
        if word_count(piece) < MIN_WORDS || ends_with_abbreviation(piece) {
            pending = Some(range);
        } else {
            out.extend(cut_long(block, range).map(|(s, e)| (start + s, start + e)));
        }
    }
    if let Some((s, e)) = pending {
        // A short last piece belongs to the sentence before it, when there is one in this block.
        match out.last_mut() {
            Some(last) if last.0 >= start => last.1 = start + e,
            _ => out.push((start + s, start + e)),
        }
    }
}

/// Whether the text has a full stop, question or exclamation mark ending a sentence (after a
/// letter or closing mark, before a space or the end): "12.5" and "11/23/2024" are no ends.
fn has_sentence_end(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        matches!(c, '.' | '!' | '?')
            && i > 0
            && (chars[i - 1].is_alphabetic() || matches!(chars[i - 1], ')' | '"' | '”' | '\''))
            && chars.get(i + 1).is_none_or(|n| n.is_whitespace())
    })
}

/// The end of the block's first line when it reads as a title ("Boots Self-Locking Nut", a PDF
/// heading on its own line): a few words, mostly capitalised, no closing punctuation, and the
/// next line starts a sentence.
fn title_line(block: &str) -> Option<usize> {
    let end = block.find('\n')?;
    let line = block[..end].trim();
    let next = block[end + 1..].trim_start();
    let words: Vec<&str> = line.split_whitespace().collect();
    let capitalised = words
        .iter()
        .filter(|w| !w.starts_with(|c: char| c.is_lowercase()))
        .count();
    let titled = !words.is_empty()
        && words.len() <= 8
        && capitalised * 5 >= words.len() * 4
        && !line.ends_with(|c: char| ".,;:!?-–—".contains(c))
        && next.starts_with(|c: char| c.is_uppercase());
    titled.then(|| block[..end].trim_end().len())
}

/// `[12]` and `[3, 4]` made spaces (ASCII for ASCII: byte offsets stay).
fn blank_citation_marks(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'[' {
            let inside = bytes[i + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b',' || **b == b' ')
                .count();
            let close = i + 1 + inside;
            if inside > 0 && bytes.get(close) == Some(&b']') {
                bytes[i..=close].fill(b' ');
                i = close;
            }
        }
        i += 1;
    }
    String::from_utf8(bytes).expect("only ASCII bytes were replaced by ASCII")
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

/// Whether the text ends with an abbreviation ("vs.", "e.g.", "Fig.", an initial "J."), after
/// which UAX #29 ends a sentence that goes on.
fn ends_with_abbreviation(text: &str) -> bool {
    const ABBREVIATIONS: &[&str] = &[
        "vs.", "e.g.", "i.e.", "cf.", "al.", "fig.", "figs.", "no.", "nos.", "vol.", "pp.", "p.",
        "mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "approx.", "jr.", "sr.", "u.s.", "ca.", "eq.",
        "sec.", "ch.", "ed.", "eds.",
    ];
    let last = text.split_whitespace().last().unwrap_or("");
    let last = last.trim_start_matches(|c: char| !c.is_alphanumeric());
    let lower = last.to_lowercase();
    let initial =
        last.len() == 2 && last.starts_with(|c: char| c.is_uppercase()) && last.ends_with('.');
    ABBREVIATIONS.contains(&lower.as_str()) || initial
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
    fn abbreviations_do_not_end_sentences() {
        assert_eq!(
            pieces("DPR beats BM25 by a large margin (65.2% vs. 42.9% in Top-5 accuracy). It was written by J. Smith and others in 2020."),
            vec![
                "DPR beats BM25 by a large margin (65.2% vs. 42.9% in Top-5 accuracy).",
                "It was written by J. Smith and others in 2020."
            ]
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
    fn forms_give_lines_and_titles_stand_alone() {
        let form =
            "Order: 2024-12-5678\nCinema: Downtown Multiplex\nPrimary Contact: Sarah Johnson\n";
        assert_eq!(
            pieces(form),
            vec![
                "Order: 2024-12-5678",
                "Cinema: Downtown Multiplex",
                "Primary Contact: Sarah Johnson"
            ]
        );
        let pdf = "Boots Self-Locking Nut\nThe Boots nut is of one piece, all-metal\nconstruction. The two sections are connected with a spring.";
        assert_eq!(
            pieces(pdf),
            vec![
                "Boots Self-Locking Nut",
                "The Boots nut is of one piece, all-metal\nconstruction.",
                "The two sections are connected with a spring."
            ]
        );
        // Prose wrapped before a name is no title.
        let prose = "The bridge was designed by Ilsabet\nQuorne in 1931, over six long years.";
        assert_eq!(pieces(prose).len(), 1);
    }

    #[test]
    fn citation_marks_stay_with_their_sentence() {
        assert_eq!(
            pieces("They liked computer programming a lot.[15] In 1972, they founded Traf-O-Data."),
            vec![
                "They liked computer programming a lot.[15]",
                "In 1972, they founded Traf-O-Data."
            ]
        );
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
