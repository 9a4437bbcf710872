//! Any text, as Markdown and as plain text, through the chunker at small and odd budgets; every
//! chunk must be a slice of the source with lines inside it.
#![no_main]

use almanac_indexes::{chunk_text, ChunkingOptions, SourceText, TextKind, WordCounter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&budget, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let lines = text.lines().count().max(1);
    for kind in [TextKind::Markdown, TextKind::Plain] {
        let source = SourceText {
            title: "fuzz",
            text: &text,
            kind,
        };
        let options = ChunkingOptions {
            max_tokens: usize::from(budget % 64),
            overlap_tokens: usize::from(budget / 4),
        };
        // Chunks come in the text's order, so each is searched for from where the one before it
        // starts (a search of the whole text per chunk made the target quadratic), then anywhere.
        let mut from = 0;
        for chunk in chunk_text(&source, &options, &WordCounter) {
            let at = text[from..]
                .find(chunk.text.as_str())
                .map(|i| from + i)
                .or_else(|| text.find(chunk.text.as_str()));
            assert!(at.is_some(), "{chunk:?}");
            from = at.unwrap_or(from);
            assert!(
                chunk.line_start >= 1 && chunk.line_start <= chunk.line_end,
                "{chunk:?}"
            );
            assert!(chunk.line_end <= lines + 1, "{chunk:?}");
        }
    }
});
