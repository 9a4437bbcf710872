use almanac_indexes::{
    chunk_context, chunk_text, ChunkDraft, ChunkingOptions, SourceText, TextKind, TokenCounter,
    WordCounter,
};

fn words(s: &str) -> usize {
    WordCounter.count_tokens(s)
}

fn chunks(title: &str, text: &str, kind: TextKind, max: usize, overlap: usize) -> Vec<ChunkDraft> {
    let opts = ChunkingOptions {
        max_tokens: max,
        overlap_tokens: overlap,
    };
    chunk_text(&SourceText { title, text, kind }, &opts, &WordCounter)
}

/// A document whose words are all distinct (w0, w1, ...), in sentences of `sentence` words and
/// paragraphs of `para` sentences.
fn unique_prose(n_words: usize, sentence: usize, para: usize) -> String {
    let mut out = String::new();
    for i in 0..n_words {
        out.push_str(&format!("w{i}"));
        let end_sentence = (i + 1) % sentence == 0;
        let end_para = (i + 1) % (sentence * para) == 0;
        if end_para {
            out.push_str(".\n\n");
        } else if end_sentence {
            out.push_str(". ");
        } else if i % 13 == 12 {
            out.push('\n'); // soft line wrap inside a sentence
        } else {
            out.push(' ');
        }
    }
    out
}

fn word_index(w: &str) -> usize {
    w.trim_matches(|c: char| !c.is_alphanumeric())
        .trim_start_matches('w')
        .parse()
        .unwrap()
}

#[test]
fn every_chunk_fits_the_budget_including_title_and_heading() {
    let mut text = String::from("# Getting started with the thing\n\n");
    text.push_str(&unique_prose(400, 7, 4));
    text.push_str("\n## A very long sentence\n\n");
    text.push_str(
        &(0..300)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    text.push_str("\n\n## Short\n\nTiny.\n");
    let title = "A title of six words here";
    for (max, overlap) in [(20, 5), (50, 10), (200, 40), (64, 0)] {
        let cs = chunks(title, &text, TextKind::Markdown, max, overlap);
        assert!(cs.len() > 3, "max {max}: {} chunks", cs.len());
        for c in &cs {
            let n = words(&chunk_context(title, &c.heading, &c.text));
            assert!(n <= max, "max {max}: chunk of {n} tokens: {:?}", c.text);
            assert!(!c.text.trim().is_empty());
        }
    }
}

#[test]
fn chunks_are_reasonably_full() {
    let text = unique_prose(2000, 9, 3);
    let cs = chunks("", &text, TextKind::Plain, 100, 20);
    // Greedy packing with boundary preference keeps chunks at least half full (except the last).
    for c in &cs[..cs.len() - 1] {
        assert!(words(&c.text) >= 50, "{} words", words(&c.text));
    }
    // 2000 words at <=100 per chunk and ~20 repeated: at least 21 chunks, not absurdly many.
    assert!(cs.len() >= 21 && cs.len() <= 45, "{} chunks", cs.len());
}

#[test]
fn consecutive_chunks_overlap_by_about_overlap_tokens() {
    let text = unique_prose(1500, 5, 6);
    let overlap = 12;
    let cs = chunks("", &text, TextKind::Plain, 60, overlap);
    assert!(cs.len() > 10);
    for pair in cs.windows(2) {
        let prev: Vec<usize> = pair[0].text.split_whitespace().map(word_index).collect();
        let next: Vec<usize> = pair[1].text.split_whitespace().map(word_index).collect();
        let last_prev = *prev.last().unwrap();
        let shared = next.iter().take_while(|&&w| w <= last_prev).count();
        // The shared words are exactly the tail of the previous chunk.
        assert_eq!(&next[..shared], &prev[prev.len() - shared..]);
        // About overlap_tokens: never more, and with 5-word sentences at least half of it.
        assert!(shared <= overlap, "shared {shared}");
        assert!(shared * 2 >= overlap, "shared {shared}");
        // And progress: the next chunk goes on right after the previous one.
        assert_eq!(next[shared], last_prev + 1);
    }
}

#[test]
fn overlap_within_one_long_sentence_takes_trailing_words() {
    // One 500-word "sentence": units are runs of words, the overlap is the last words.
    let text = (0..500)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let cs = chunks("", &text, TextKind::Plain, 40, 10);
    for pair in cs.windows(2) {
        let prev: Vec<usize> = pair[0].text.split_whitespace().map(word_index).collect();
        let next: Vec<usize> = pair[1].text.split_whitespace().map(word_index).collect();
        let shared = next
            .iter()
            .take_while(|&&w| w <= *prev.last().unwrap())
            .count();
        assert!((5..=10).contains(&shared), "shared {shared}");
        assert_eq!(&next[..shared], &prev[prev.len() - shared..]);
    }
}

#[test]
fn no_overlap_when_zero() {
    let text = unique_prose(600, 6, 2);
    let cs = chunks("", &text, TextKind::Plain, 50, 0);
    let mut seen = Vec::new();
    for c in &cs {
        seen.extend(c.text.split_whitespace().map(word_index));
    }
    assert_eq!(seen, (0..600).collect::<Vec<_>>());
}

#[test]
fn all_text_is_covered_in_order() {
    let text = unique_prose(3000, 11, 5);
    let cs = chunks("Title", &text, TextKind::Plain, 80, 16);
    let mut next_new = 0;
    for c in &cs {
        let ws: Vec<usize> = c.text.split_whitespace().map(word_index).collect();
        assert!(ws[0] <= next_new, "gap before {:?}", &ws[..3]);
        assert!(
            ws.windows(2).all(|p| p[1] == p[0] + 1),
            "chunk is not contiguous"
        );
        next_new = next_new.max(ws.last().unwrap() + 1);
    }
    assert_eq!(next_new, 3000);
}

#[test]
fn markdown_headings_set_the_heading_path() {
    let text = "Intro line.\n\n# Install\nStep one.\n## Linux\nUse apt.\n```sh\n# not a heading\n```\n## Windows ##\nUse the installer.\n# Usage\n\nRun it.\n";
    let cs = chunks("Doc", text, TextKind::Markdown, 200, 40);
    let got: Vec<(&str, &str, usize, usize)> = cs
        .iter()
        .map(|c| {
            (
                c.heading.as_str(),
                c.text.as_str(),
                c.line_start,
                c.line_end,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("", "Intro line.", 1, 1),
            ("Install", "Step one.", 4, 4),
            (
                "Install > Linux",
                "Use apt.\n```sh\n# not a heading\n```",
                6,
                9
            ),
            ("Install > Windows", "Use the installer.", 11, 11),
            ("Usage", "Run it.", 14, 14),
        ]
    );
}

#[test]
fn plain_text_ignores_hashes() {
    let cs = chunks("", "# not a heading\nbody", TextKind::Plain, 200, 40);
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].heading, "");
    assert_eq!(cs[0].text, "# not a heading\nbody");
}

#[test]
fn line_ranges_point_at_the_chunk_in_the_source() {
    let mut text = String::new();
    for s in 0..6 {
        text.push_str(&format!("## Section {s}\n\n"));
        text.push_str(&unique_prose(150, 6, 3).replace('w', &format!("s{s}w")));
        text.push('\n');
    }
    let text = text.replace("\r", "");
    let lines: Vec<&str> = text.split('\n').collect();
    let cs = chunks("", &text, TextKind::Markdown, 40, 8);
    assert!(cs.len() > 20);
    for c in &cs {
        assert!(c.line_start >= 1 && c.line_start <= c.line_end && c.line_end <= lines.len());
        let span = lines[c.line_start - 1..c.line_end].join("\n");
        assert!(
            span.contains(&c.text),
            "lines {}..={} do not hold {:?}",
            c.line_start,
            c.line_end,
            c.text
        );
        // Tight: the first and last lines hold the chunk's first and last words.
        let first = c.text.split_whitespace().next().unwrap();
        let last = c.text.split_whitespace().last().unwrap();
        assert!(lines[c.line_start - 1].contains(first));
        assert!(lines[c.line_end - 1].contains(last));
    }
}

#[test]
fn crlf_text_keeps_line_numbers() {
    let text = "first para\r\nstill first\r\n\r\nsecond para\r\n";
    let cs = chunks("", text, TextKind::Plain, 3, 0);
    let got: Vec<(String, usize, usize)> = cs
        .iter()
        .map(|c| (c.text.clone(), c.line_start, c.line_end))
        .collect();
    assert_eq!(
        got,
        [
            ("first para".to_string(), 1, 1),
            ("still first".to_string(), 2, 2),
            ("second para".to_string(), 4, 4)
        ]
    );
}

#[test]
fn empty_and_blank_text_give_no_chunks() {
    assert!(chunks("T", "", TextKind::Plain, 200, 40).is_empty());
    assert!(chunks("T", "  \n\n\t \n", TextKind::Markdown, 200, 40).is_empty());
    assert!(chunks("T", "# Only\n## Headings\n", TextKind::Markdown, 200, 40).is_empty());
}

/// About four characters a token, like a subword tokenizer on long words.
struct CharCounter;
impl TokenCounter for CharCounter {
    fn count_tokens(&self, text: &str) -> usize {
        text.split_whitespace()
            .map(|w| w.chars().count().div_ceil(4))
            .sum()
    }
}

#[test]
fn a_word_longer_than_the_budget_is_cut_at_characters() {
    let long: String = "é".repeat(1000) + "ab";
    let text = format!("short words first {long} and after");
    let opts = ChunkingOptions {
        max_tokens: 30,
        overlap_tokens: 5,
    };
    let cs = chunk_text(
        &SourceText {
            title: "t",
            text: &text,
            kind: TextKind::Plain,
        },
        &opts,
        &CharCounter,
    );
    assert!(cs.len() >= 9, "{} chunks", cs.len());
    let mut joined_long = 0;
    for c in &cs {
        assert!(
            CharCounter.count_tokens(&chunk_context("t", "", &c.text)) <= 30,
            "{:?}",
            c.text
        );
        joined_long += c.text.matches('é').count();
    }
    // Every character of the long word is somewhere (some twice, through overlap).
    assert!(joined_long >= 1000);
    assert!(cs.last().unwrap().text.ends_with("and after"));
}

#[test]
fn closures_count_tokens_too() {
    let by_chars = |s: &str| s.len();
    let opts = ChunkingOptions {
        max_tokens: 64,
        overlap_tokens: 8,
    };
    let text = "alpha beta gamma. ".repeat(40);
    let cs = chunk_text(
        &SourceText {
            title: "",
            text: &text,
            kind: TextKind::Plain,
        },
        &opts,
        &by_chars,
    );
    assert!(cs.len() > 5);
    assert!(cs.iter().all(|c| c.text.len() <= 64));
}

#[test]
fn tiny_budgets_terminate_and_cover_everything() {
    let text = unique_prose(50, 4, 2);
    let cs = chunks("A long title", &text, TextKind::Plain, 1, 5);
    let mut seen: Vec<usize> = cs
        .iter()
        .flat_map(|c| c.text.split_whitespace().map(word_index))
        .collect();
    seen.dedup();
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
}

#[test]
fn chunk_context_layout() {
    assert_eq!(
        chunk_context("Title", "A > B", "text"),
        "Title\nA > B\n\ntext"
    );
    assert_eq!(chunk_context("Title", "", "text"), "Title\n\ntext");
    assert_eq!(chunk_context("", "", "text"), "text");
}
