//! Hand-written GGUF v3 files for the hostile kinds (candle's writer cannot express them), and
//! one file of each kind the hardening issue lists. Only std: tests/bad_input.rs includes this
//! file too, to give each kind to `almanac ask --model FILE`.
#![allow(dead_code)]

/// GGUF value types.
pub const U32: u32 = 4;
pub const STRING: u32 = 8;
pub const ARRAY: u32 = 9;

/// A GGUF file written field by field.
pub struct RawGguf(pub Vec<u8>);

impl RawGguf {
    pub fn new(tensors: u64, entries: u64) -> RawGguf {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend(3u32.to_le_bytes());
        bytes.extend(tensors.to_le_bytes());
        bytes.extend(entries.to_le_bytes());
        RawGguf(bytes)
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    pub fn string(self, s: &str) -> Self {
        let mut out = self.u64(s.len() as u64);
        out.0.extend(s.as_bytes());
        out
    }
    /// A metadata entry holding a u32.
    pub fn kv_u32(self, key: &str, v: u32) -> Self {
        self.string(key).u32(U32).u32(v)
    }
    /// A metadata entry holding a string.
    pub fn kv_string(self, key: &str, v: &str) -> Self {
        self.string(key).u32(STRING).string(v)
    }
    /// A metadata entry holding an array of strings.
    pub fn kv_strings(self, key: &str, items: &[&str]) -> Self {
        let mut out = self
            .string(key)
            .u32(ARRAY)
            .u32(STRING)
            .u64(items.len() as u64);
        for item in items {
            out = out.string(item);
        }
        out
    }
    /// A tensor entry (dimensions innermost first, as GGUF stores them).
    pub fn tensor(self, name: &str, dims: &[u64], ggml_type: u32, offset: u64) -> Self {
        let mut out = self.string(name).u32(dims.len() as u32);
        for &d in dims {
            out = out.u64(d);
        }
        out.u32(ggml_type).u64(offset)
    }
    pub fn padded(mut self, len: usize) -> Self {
        self.0.resize(self.0.len().max(len), 0);
        self
    }
}

/// A Llama header with a byte-level vocabulary and no tensors: the loader reads the tokenizer
/// before it looks for weights, so a bad vocabulary is what it refuses.
pub fn llama_vocabulary(tokens: &[&str], merges: &[&str]) -> RawGguf {
    RawGguf::new(0, 4)
        .kv_string("general.architecture", "llama")
        .kv_string("tokenizer.ggml.model", "gpt2")
        .kv_strings("tokenizer.ggml.tokens", tokens)
        .kv_strings("tokenizer.ggml.merges", merges)
        .padded(64)
}

/// One crafted file: what it is, its bytes, and a piece of the one-line error it must give.
pub struct Hostile {
    pub kind: &'static str,
    pub bytes: Vec<u8>,
    pub expected: &'static str,
}

/// One file of each hostile kind of the hardening issue (and of the header's other limits).
pub fn hostile_files() -> Vec<Hostile> {
    let hostile = |kind, file: RawGguf, expected| Hostile {
        kind,
        bytes: file.0,
        expected,
    };
    let mut nested = RawGguf::new(0, 1).string("general.deep").u32(ARRAY);
    for _ in 0..20_000 {
        nested = nested.u32(ARRAY).u64(1);
    }
    let nested = nested.u32(U32).u64(1).u32(7);
    vec![
        Hostile {
            kind: "empty file",
            bytes: Vec::new(),
            expected: "is not a GGUF file",
        },
        hostile(
            "alignment 0",
            RawGguf::new(0, 1).kv_u32("general.alignment", 0).padded(64),
            "general.alignment is 0",
        ),
        hostile(
            "string length 2^63",
            RawGguf::new(0, 1)
                .string("general.name")
                .u32(STRING)
                .u64(1 << 63)
                .padded(64),
            "claims 9223372036854775808 bytes",
        ),
        hostile(
            "array length 2^40",
            RawGguf::new(0, 1)
                .string("tokenizer.ggml.scores")
                .u32(ARRAY)
                .u32(6)
                .u64(1 << 40)
                .padded(64),
            "claims 1099511627776 elements",
        ),
        hostile(
            "arrays nested 20,000 deep",
            nested,
            "nests arrays more than",
        ),
        hostile(
            "2^62 metadata entries",
            RawGguf::new(0, 1 << 62).padded(64),
            "declares",
        ),
        hostile(
            "dimensions that multiply past 2^64",
            RawGguf::new(1, 0)
                .tensor("token_embd.weight", &[1 << 32, 1 << 32, 16], 0, 0)
                .padded(128),
            "multiply past 2^64",
        ),
        hostile(
            "a tensor larger than the file",
            RawGguf::new(1, 0)
                .tensor("token_embd.weight", &[1 << 20, 1 << 20], 0, 0)
                .padded(128),
            "ends at byte",
        ),
        hostile(
            "a tensor offset outside the file",
            RawGguf::new(1, 0)
                .tensor("output_norm.weight", &[8], 0, 1 << 40)
                .padded(256),
            "ends at byte",
        ),
        hostile(
            "an unknown tensor type",
            RawGguf::new(1, 0)
                .tensor("output_norm.weight", &[8], 99, 0)
                .padded(256),
            "unknown type 99",
        ),
        hostile(
            "an unknown value type",
            RawGguf::new(0, 1).string("general.odd").u32(13).padded(64),
            "unknown value type 13",
        ),
        hostile(
            "a duplicate key",
            RawGguf::new(0, 2)
                .kv_u32("llama.block_count", 1)
                .kv_u32("llama.block_count", 4000)
                .padded(64),
            "metadata key llama.block_count appears twice",
        ),
        hostile(
            "a vocabulary of 0 tokens",
            llama_vocabulary(&[], &["h e"]),
            "tokenizer.ggml.tokens has an unusable size 0",
        ),
        hostile(
            "a vocabulary of 2^32 tokens",
            RawGguf::new(0, 1)
                .string("tokenizer.ggml.tokens")
                .u32(ARRAY)
                .u32(STRING)
                .u64(1 << 32)
                .padded(4096),
            "claims 4294967296 elements",
        ),
        hostile(
            "merges that name missing tokens",
            llama_vocabulary(&["h", "e", "he"], &["h e", "q z"]),
            r#"tokenizer.ggml.merges entry 1 "q z" names "q" which is not in the vocabulary"#,
        ),
    ]
}
