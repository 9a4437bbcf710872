//! Token-aware chunking of Markdown and plain text.
//!
//! A document is cut into sections at Markdown headings (each section keeps its heading path), each
//! section into paragraphs (blank lines), each paragraph into sentences and lines, and any sentence
//! that is still over the budget into runs of words (and a single over-long word into runs of
//! characters). Chunks are then packed greedily from these units, preferring to end at the strongest
//! boundary (paragraph, then sentence, then line, then word) once a chunk is at least half full.
//! Consecutive chunks of the same section overlap: the next chunk starts with the last whole units of
//! the previous one that fit in `overlap_tokens`, or, when a single unit is longer than that, with the
//! last words of it.
//!
//! The budget covers [`chunk_context`]`(title, heading, text)`, the text that is embedded, so a chunk
//! is never over `max_tokens` by the caller's own [`TokenCounter`]. The one exception: when the title
//! and heading alone leave no room (or a single character is over the budget), each such chunk holds
//! the smallest unit that can be cut, and is over the budget.

/// Counts tokens the way the embedding model will.
pub trait TokenCounter {
    fn count_tokens(&self, text: &str) -> usize;
}

impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count_tokens(&self, text: &str) -> usize {
        self(text)
    }
}

/// Counts whitespace-separated words; a stand-in when no tokenizer is at hand.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace().count()
    }
}

/// How big chunks are and how much consecutive chunks share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkingOptions {
    /// Budget for [`chunk_context`] of each chunk, in the counter's tokens (0 is treated as 1).
    pub max_tokens: usize,
    /// Tokens a chunk repeats from the end of the previous chunk of the same section; capped at half
    /// of what the title and heading leave of `max_tokens`.
    pub overlap_tokens: usize,
}

impl Default for ChunkingOptions {
    fn default() -> Self {
        ChunkingOptions {
            max_tokens: 200,
            overlap_tokens: 40,
        }
    }
}

/// The syntax of a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TextKind {
    /// ATX headings (`#` .. `######`, outside fenced code) set the heading path.
    Markdown,
    #[default]
    Plain,
}

impl TextKind {
    /// Markdown for `.md`, `.markdown`, `.mdown`, `.mkd` (any case), plain otherwise.
    pub fn for_path(path: &str) -> TextKind {
        let ext = path
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "md" | "markdown" | "mdown" | "mkd" => TextKind::Markdown,
            _ => TextKind::Plain,
        }
    }
}

/// A document's text as the caller read it.
#[derive(Debug, Clone, Copy)]
pub struct SourceText<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub kind: TextKind,
}

/// One chunk before it is embedded and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkDraft {
    /// Heading path such as `Install > Linux`; empty when the chunk is under no heading.
    pub heading: String,
    /// The chunk's text, a verbatim slice of the source (heading lines themselves are left out).
    pub text: String,
    /// First line of the chunk in the source, 1-based.
    pub line_start: usize,
    /// Last line of the chunk in the source, 1-based, inclusive.
    pub line_end: usize,
    /// Where the chunk is in the original file beyond heading and lines (e.g. a PDF page), as the
    /// caller writes it; stored and returned with the chunk, opaque to this crate. Empty from
    /// [`chunk_text`].
    pub location: String,
}

/// The text to embed (and to count against the budget) for a chunk: the title and heading on their
/// own lines, a blank line, then the chunk text. Empty title or heading lines are left out.
pub fn chunk_context(title: &str, heading: &str, text: &str) -> String {
    let (title, heading) = (title.trim(), heading.trim());
    let mut out = String::with_capacity(title.len() + heading.len() + text.len() + 3);
    if !title.is_empty() {
        out.push_str(title);
        out.push('\n');
    }
    if !heading.is_empty() {
        out.push_str(heading);
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
    out
}

/// Cuts a document into chunks; see the module documentation. Empty or blank text gives no chunks.
pub fn chunk_text(
    src: &SourceText,
    opts: &ChunkingOptions,
    counter: &dyn TokenCounter,
) -> Vec<ChunkDraft> {
    let text = src.text;
    let lines = LineIndex::new(text);
    let mut out = Vec::new();
    for section in sections(text, src.kind) {
        let packer = Packer::new(text, src.title, &section.heading, opts, counter);
        let units = packer.units(section.start, section.end);
        for (s, e) in packer.pack(&units) {
            out.push(ChunkDraft {
                heading: section.heading.clone(),
                text: text[s..e].to_owned(),
                line_start: lines.line_of(s),
                line_end: lines.line_of(e - 1),
                location: String::new(),
            });
        }
    }
    out
}

/// 1-based line numbers from byte offsets.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, byte: usize) -> usize {
        self.starts.partition_point(|&s| s <= byte)
    }
}

/// A run of body text under one heading path.
struct Section {
    heading: String,
    start: usize,
    end: usize,
}

/// Lines with their byte ranges, without the line terminator.
fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= text.len() {
            return None;
        }
        let start = pos;
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        pos = end + 1;
        Some((start, end))
    })
}

fn sections(text: &str, kind: TextKind) -> Vec<Section> {
    if kind == TextKind::Plain {
        return vec![Section {
            heading: String::new(),
            start: 0,
            end: text.len(),
        }];
    }
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut start = 0;
    let mut fence: Option<(u8, usize)> = None;
    for (ls, le) in lines_with_offsets(text) {
        let line = &text[ls..le];
        if let Some((ch, len)) = fence_marker(line) {
            match fence {
                None => fence = Some((ch, len)),
                Some((open_ch, open_len))
                    if ch == open_ch && len >= open_len && is_closing_fence(line) =>
                {
                    fence = None
                }
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some((level, title)) = atx_heading(line) {
            out.push(Section {
                heading: join_path(&path),
                start,
                end: ls,
            });
            path.retain(|(l, _)| *l < level);
            path.push((level, title));
            start = (le + 1).min(text.len());
        }
    }
    out.push(Section {
        heading: join_path(&path),
        start,
        end: text.len(),
    });
    out
}

fn join_path(path: &[(usize, String)]) -> String {
    let parts: Vec<&str> = path
        .iter()
        .map(|(_, t)| t.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    parts.join(" > ")
}

/// `(level, text)` for an ATX heading line.
fn atx_heading(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    let mut title = after.trim();
    // An optional closing sequence of #s, preceded by a space (or making up the whole title).
    let without = title.trim_end_matches('#');
    if without.is_empty() || without.ends_with(' ') || without.ends_with('\t') {
        title = without.trim_end();
    }
    Some((level, title.to_owned()))
}

/// `(fence char, run length)` when the line opens or closes a fenced code block.
fn fence_marker(line: &str) -> Option<(u8, usize)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line.as_bytes()[indent..];
    let ch = *rest.first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = rest.iter().take_while(|&&c| c == ch).count();
    (len >= 3).then_some((ch, len))
}

fn is_closing_fence(line: &str) -> bool {
    line.trim().chars().all(|c| c == '`' || c == '~')
}

/// What separates a unit from the one before it; a chunk preferably ends at the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    Word,
    Line,
    Sentence,
    Paragraph,
}

/// An indivisible run of text (trimmed), with its token count.
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    before: Boundary,
    tokens: usize,
}

struct Packer<'a> {
    text: &'a str,
    title: &'a str,
    heading: &'a str,
    counter: &'a dyn TokenCounter,
    max: usize,
    avail: usize,
    overlap: usize,
}

impl<'a> Packer<'a> {
    fn new(
        text: &'a str,
        title: &'a str,
        heading: &'a str,
        opts: &ChunkingOptions,
        counter: &'a dyn TokenCounter,
    ) -> Packer<'a> {
        let max = opts.max_tokens.max(1);
        let context = counter.count_tokens(&chunk_context(title, heading, ""));
        let avail = max.saturating_sub(context).max(1);
        let overlap = opts.overlap_tokens.min(avail / 2);
        Packer {
            text,
            title,
            heading,
            counter,
            max,
            avail,
            overlap,
        }
    }

    fn count(&self, s: usize, e: usize) -> usize {
        self.counter.count_tokens(&self.text[s..e])
    }

    fn fits(&self, s: usize, e: usize) -> bool {
        self.counter
            .count_tokens(&chunk_context(self.title, self.heading, &self.text[s..e]))
            <= self.max
    }

    /// Paragraphs, sentences and lines of `text[start..end]`, over-long ones cut further.
    fn units(&self, start: usize, end: usize) -> Vec<Unit> {
        let mut out = Vec::new();
        let mut para: Option<usize> = None;
        let mut last_end = start;
        let body = &self.text[start..end];
        for (ls, le) in lines_with_offsets(body) {
            let (ls, le) = (start + ls, start + le);
            if self.text[ls..le].trim().is_empty() {
                if let Some(ps) = para.take() {
                    self.paragraph_units(ps, last_end, &mut out);
                }
                continue;
            }
            if para.is_none() {
                para = Some(ls);
            }
            last_end = le;
        }
        if let Some(ps) = para {
            self.paragraph_units(ps, last_end, &mut out);
        }
        out
    }

    fn paragraph_units(&self, start: usize, end: usize, out: &mut Vec<Unit>) {
        let mut before = Boundary::Paragraph;
        for (s, e, next) in segments(self.text, start, end) {
            let tokens = self.count(s, e);
            if tokens <= self.avail {
                out.push(Unit {
                    start: s,
                    end: e,
                    before,
                    tokens,
                });
            } else {
                let first = out.len();
                self.split_long(s, e, tokens, out);
                out[first].before = before;
            }
            before = next;
        }
    }

    /// Halves `text[s..e]` at word boundaries (or, for a single word, at character boundaries) until
    /// each piece fits the budget less the overlap.
    fn split_long(&self, s: usize, e: usize, tokens: usize, out: &mut Vec<Unit>) {
        // Pieces leave room for the overlap, so that a chunk can start with it.
        if tokens <= (self.avail - self.overlap).max(1) {
            out.push(Unit {
                start: s,
                end: e,
                before: Boundary::Word,
                tokens,
            });
            return;
        }
        let piece = &self.text[s..e];
        let words = word_spans(piece);
        let (left, right) = if words.len() >= 2 {
            let mid = words.len() / 2;
            ((s, s + words[mid - 1].1), (s + words[mid].0, e))
        } else {
            let chars: Vec<usize> = piece.char_indices().map(|(i, _)| i).collect();
            if chars.len() < 2 {
                out.push(Unit {
                    start: s,
                    end: e,
                    before: Boundary::Word,
                    tokens,
                });
                return;
            }
            let mid = chars[chars.len() / 2];
            ((s, s + mid), (s + mid, e))
        };
        for (a, b) in [left, right] {
            let t = self.count(a, b);
            self.split_long(a, b, t, out);
        }
    }

    /// Byte ranges of the chunks.
    fn pack(&self, units: &[Unit]) -> Vec<(usize, usize)> {
        let mut chunks = Vec::new();
        let n = units.len();
        if n == 0 {
            return chunks;
        }
        let mut u = 0; // first unit not yet in any chunk
        let mut s = units[0].start; // start of the current chunk (before units[u] when it carries overlap)
        let mut carry = 0; // tokens of text[s..units[u].start]
        while u < n {
            let mut e = u;
            let mut total = carry;
            while e < n && total + units[e].tokens <= self.avail {
                total += units[e].tokens;
                e += 1;
            }
            if e == u {
                if carry > 0 {
                    (s, carry) = (units[u].start, 0);
                    continue;
                }
                e = u + 1; // a unit that cannot be cut to fit
            }
            let mut b = e;
            if e < n {
                // End at the strongest boundary that still leaves the chunk at least half full.
                let mut best = units[e].before;
                let mut size = total;
                for cand in (u + 1..e).rev() {
                    size -= units[cand].tokens;
                    if size < self.avail / 2 {
                        break;
                    }
                    if units[cand].before > best {
                        (b, best) = (cand, units[cand].before);
                    }
                }
            }
            while b > u + 1 && !self.fits(s, units[b - 1].end) {
                b -= 1;
            }
            if carry > 0 && !self.fits(s, units[b - 1].end) {
                (s, carry) = (units[u].start, 0);
                continue;
            }
            chunks.push((s, units[b - 1].end));
            if b >= n {
                break;
            }
            (s, carry) = self.overlap_start(units, u, b);
            u = b;
        }
        chunks
    }

    /// Where the chunk after `units[u..b]` starts, and the tokens it repeats.
    fn overlap_start(&self, units: &[Unit], u: usize, b: usize) -> (usize, usize) {
        if self.overlap == 0 {
            return (units[b].start, 0);
        }
        let mut j = b;
        let mut tail = 0;
        while j > u && tail + units[j - 1].tokens <= self.overlap {
            tail += units[j - 1].tokens;
            j -= 1;
        }
        let mut start = units[j].start;
        if tail * 2 < self.overlap && j > u {
            // Not enough whole units: take the last words of the unit before.
            let unit = units[j - 1];
            let budget = self.overlap - tail;
            let words = word_spans(&self.text[unit.start..unit.end]);
            // Earliest word (not the first: the whole unit is known to be too long) whose tail fits.
            let (mut lo, mut hi) = (1, words.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.count(unit.start + words[mid].0, unit.end) <= budget {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            if lo < words.len() {
                let ws = unit.start + words[lo].0;
                let t = self.count(ws, unit.end);
                if t > 0 {
                    start = ws;
                    tail += t;
                }
            }
        }
        (start, tail)
    }
}

/// `(start, end)` byte spans of whitespace-separated words.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

const CLOSERS: &[char] = &[
    ')', ']', '}', '"', '\'', '\u{201d}', '\u{2019}', '\u{bb}', '*', '_', '`',
];

/// Sentences and lines of a paragraph: trimmed `(start, end, boundary after)` spans.
fn segments(text: &str, start: usize, end: usize) -> Vec<(usize, usize, Boundary)> {
    let para = &text[start..end];
    let mut out = Vec::new();
    let mut seg = 0;
    let mut chars = para.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let cut = match c {
            '\n' => Some((i, i + 1, Boundary::Line)),
            '.' | '!' | '?' | '\u{3002}' | '\u{ff01}' | '\u{ff1f}' => {
                let mut j = i + c.len_utf8();
                while let Some(&(k, d)) = chars.peek() {
                    if CLOSERS.contains(&d) {
                        chars.next();
                        j = k + d.len_utf8();
                    } else {
                        break;
                    }
                }
                match chars.peek() {
                    Some(&(_, d)) if d.is_whitespace() => Some((j, j, Boundary::Sentence)),
                    None => Some((j, j, Boundary::Sentence)),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((cut_end, next, kind)) = cut {
            push_trimmed(para, start, seg, cut_end, kind, &mut out);
            seg = next;
        }
    }
    push_trimmed(para, start, seg, para.len(), Boundary::Line, &mut out);
    // A line break right after a sentence end is a sentence boundary.
    for seg in &mut out {
        let (s, e, _) = *seg;
        if text[s..e]
            .trim_end_matches(CLOSERS)
            .ends_with(['.', '!', '?', '\u{3002}', '\u{ff01}', '\u{ff1f}'])
        {
            seg.2 = Boundary::Sentence;
        }
    }
    out
}

fn push_trimmed(
    para: &str,
    base: usize,
    s: usize,
    e: usize,
    kind: Boundary,
    out: &mut Vec<(usize, usize, Boundary)>,
) {
    let piece = &para[s..e];
    let trimmed = piece.trim();
    if trimmed.is_empty() {
        return;
    }
    let lead = piece.len() - piece.trim_start().len();
    let start = base + s + lead;
    out.push((start, start + trimmed.len(), kind));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atx_headings() {
        assert_eq!(atx_heading("# Title"), Some((1, "Title".into())));
        assert_eq!(atx_heading("### Deep ###"), Some((3, "Deep".into())));
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(atx_heading("####### seven"), None);
        assert_eq!(atx_heading("    # code"), None);
        assert_eq!(atx_heading("## C#"), Some((2, "C#".into())));
    }

    #[test]
    fn sentence_segments() {
        let t = "One. Two? \"Three!\" four\nfive.";
        let segs: Vec<&str> = segments(t, 0, t.len())
            .iter()
            .map(|&(s, e, _)| &t[s..e])
            .collect();
        assert_eq!(segs, ["One.", "Two?", "\"Three!\"", "four", "five."]);
    }

    #[test]
    fn kind_for_path() {
        assert_eq!(TextKind::for_path("a/b/README.MD"), TextKind::Markdown);
        assert_eq!(TextKind::for_path("notes.txt"), TextKind::Plain);
        assert_eq!(TextKind::for_path("noext"), TextKind::Plain);
    }
}
