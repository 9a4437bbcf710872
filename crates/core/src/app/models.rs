//! The local models: which chats and which embeds, the ones available, importing a GGUF file,
//! and the chat model's tokenizer for the token inspector.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use almanac_engine::gguf_file::{Content, Value as GgufValue};
use almanac_engine::{ChatModel, GgufTokenizer, LoadOptions, TokenType};
use serde::{Deserialize, Serialize};

use crate::lock;
use crate::{Error, Paths, Result};

/// The largest GGUF file accepted for import.
pub const MAX_MODEL_BYTES: u64 = 256 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct ModelsInfo {
    /// The model that answers: the local GGUF, or the endpoint's model with a remote backend.
    pub chat: Option<ChatModelInfo>,
    pub embedding: Option<EmbeddingModelInfo>,
    pub available: Vec<ModelFile>,
    /// Where answers are generated, and for an endpoint where its key comes from.
    pub backend: BackendInfo,
}

/// The generation backend in use, as a front end shows it (never the key itself).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackendInfo {
    Local,
    Openai {
        base_url: String,
        model: String,
        context_length: usize,
        timeout_s: u64,
        key: crate::backend_key::KeyStatus,
    },
}

impl BackendInfo {
    pub fn of(backend: &crate::Backend) -> BackendInfo {
        match backend {
            crate::Backend::Local => BackendInfo::Local,
            crate::Backend::Openai {
                base_url,
                model,
                context_length,
                timeout_s,
                ..
            } => BackendInfo::Openai {
                base_url: base_url.clone(),
                model: model.clone(),
                context_length: *context_length,
                timeout_s: *timeout_s,
                key: crate::backend_key::status(backend).expect("an endpoint has a key source"),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatModelInfo {
    /// "local" (a GGUF file) or "openai" (an OpenAI-compatible endpoint).
    pub backend: &'static str,
    /// The GGUF file, or the endpoint's base URL.
    pub path: String,
    pub name: String,
    /// The context window answers use: the smallest of the setting, the model's and the engine's.
    pub context_length: usize,
    /// The model's own trained window.
    pub trained_context_length: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingModelInfo {
    pub path: String,
    pub dim: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelFile {
    pub path: String,
    pub name: String,
    /// "chat" or "embedding".
    pub kind: String,
    pub size_bytes: u64,
    /// Imported from elsewhere on disk (referenced, not copied).
    pub imported: bool,
}

/// One token of the token inspector.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: u32,
    /// The vocabulary entry as stored, e.g. "Ġthe" or "▁계획".
    pub piece: String,
    /// What the token decodes to; U+FFFD where it holds part of a UTF-8 character.
    pub text: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImportedModels {
    chat: Vec<PathBuf>,
}

/// GGUF headers read once per file: name, trained context, tokenizer.
#[derive(Default)]
pub(crate) struct ModelCatalog {
    tokenizers: Mutex<HashMap<PathBuf, Arc<Tokenizer>>>,
}

pub(crate) struct Tokenizer {
    inner: GgufTokenizer,
    byte_level: bool,
}

/// Reads a GGUF header (metadata and tensor list; no weights).
fn read_header(path: &Path) -> Result<Content> {
    // Checked as loading checks it: this reads every file in the models folder.
    almanac_engine::read_checked_header(path).map_err(|e| {
        Error::invalid(
            "path",
            format!("not a readable GGUF file: {}", one_line(&e.to_string())),
        )
    })
}

fn meta_string<'a>(content: &'a Content, key: &str) -> Option<&'a str> {
    match content.metadata.get(key) {
        Some(GgufValue::String(s)) => Some(s),
        _ => None,
    }
}

fn meta_u64(content: &Content, key: &str) -> Option<u64> {
    match *content.metadata.get(key)? {
        GgufValue::U8(v) => Some(v.into()),
        GgufValue::U16(v) => Some(v.into()),
        GgufValue::U32(v) => Some(v.into()),
        GgufValue::U64(v) => Some(v),
        GgufValue::I32(v) => u64::try_from(v).ok(),
        GgufValue::I64(v) => u64::try_from(v).ok(),
        _ => None,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn display_name(content: Option<&Content>, path: &Path) -> String {
    content
        .and_then(|c| meta_string(c, "general.name"))
        .map(str::to_owned)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

impl ModelCatalog {
    /// Models in the models folder (`*.gguf` chat models, folders with `model.safetensors`
    /// embedding models) and imported chat models that still exist, by path.
    pub(crate) fn available(&self, paths: &Paths) -> Vec<ModelFile> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&paths.models_dir) {
            let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            entries.sort();
            for path in entries {
                if is_gguf(&path) && path.is_file() {
                    out.push(model_file(&path, "chat", false));
                } else if path.join("model.safetensors").is_file() {
                    out.push(ModelFile {
                        path: path.to_string_lossy().into_owned(),
                        name: file_name(&path),
                        kind: "embedding".into(),
                        size_bytes: dir_size(&path),
                        imported: false,
                    });
                }
            }
        }
        for path in load_imported(paths).chat {
            let known = out.iter().any(|m| Path::new(&m.path) == path);
            if !known && path.is_file() {
                out.push(model_file(&path, "chat", true));
            }
        }
        out
    }

    /// Chat models that settings may choose, canonical.
    pub(crate) fn chat_model_paths(&self, paths: &Paths) -> Vec<PathBuf> {
        self.available(paths)
            .into_iter()
            .filter(|m| m.kind == "chat")
            .map(|m| {
                let p = PathBuf::from(m.path);
                std::fs::canonicalize(&p).unwrap_or(p)
            })
            .collect()
    }

    pub(crate) fn chat_info(
        &self,
        path: &Path,
        configured_context: usize,
    ) -> Option<ChatModelInfo> {
        if !path.is_file() {
            return None;
        }
        let content = read_header(path).ok();
        let trained = content
            .as_ref()
            .and_then(|c| meta_u64(c, "llama.context_length"))
            .map(|n| n as usize);
        let context_length = [
            Some(configured_context),
            trained,
            Some(almanac_engine::MAX_CONTEXT_LENGTH),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(configured_context);
        Some(ChatModelInfo {
            backend: "local",
            path: path.to_string_lossy().into_owned(),
            name: display_name(content.as_ref(), path),
            context_length,
            trained_context_length: trained,
        })
    }

    /// The tokenizer of the GGUF at `path`, built from its metadata once (without loading the
    /// weights, so the inspector works while an answer is being generated).
    pub(crate) fn tokenizer(&self, path: &Path) -> Result<Arc<Tokenizer>> {
        if let Some(t) = lock(&self.tokenizers).get(path) {
            return Ok(t.clone());
        }
        if !path.is_file() {
            return Err(Error::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let content = read_header(path)?;
        let byte_level = meta_string(&content, "tokenizer.ggml.model") == Some("gpt2");
        let inner = GgufTokenizer::from_gguf(&content)?;
        let tokenizer = Arc::new(Tokenizer { inner, byte_level });
        lock(&self.tokenizers).insert(path.to_path_buf(), tokenizer.clone());
        Ok(tokenizer)
    }

    /// Checks that `path` is a GGUF chat model this engine can load (by loading it), then records
    /// it so it is listed and can be chosen in the settings. The file is referenced, not copied.
    pub(crate) fn import(&self, paths: &Paths, path: &Path) -> Result<ModelFile> {
        let meta = std::fs::metadata(path).map_err(Error::io(path))?;
        if !meta.is_file() {
            return Err(Error::invalid(
                "path",
                format!("{} is not a file", path.display()),
            ));
        }
        if !is_gguf(path) {
            return Err(Error::invalid(
                "path",
                format!("{} is not a .gguf file", path.display()),
            ));
        }
        if meta.len() > MAX_MODEL_BYTES {
            return Err(Error::invalid(
                "path",
                format!(
                    "{} bytes is over the {MAX_MODEL_BYTES}-byte limit",
                    meta.len()
                ),
            ));
        }
        // The real check: header, architecture, hyperparameters, tokenizer, weights.
        ChatModel::load(path, &LoadOptions::default()).map_err(|e| Error::InvalidArgument {
            field: "path".into(),
            message: format!("cannot be used as a chat model: {e}"),
        })?;
        let mut imported = load_imported(paths);
        if !imported.chat.iter().any(|p| p == path) {
            imported.chat.push(path.to_path_buf());
            let json = serde_json::to_vec_pretty(&imported).expect("paths serialise");
            crate::paths::write_atomically(&paths.imported_models_file(), &json)?;
        }
        Ok(model_file(path, "chat", true))
    }
}

impl Tokenizer {
    pub(crate) fn tokenize(&self, text: &str) -> Result<Vec<TokenInfo>> {
        let ids = self.inner.encode_without_bos(text, false)?;
        Ok(ids
            .into_iter()
            .map(|id| {
                let piece = self.inner.raw_token(id).unwrap_or_default().to_owned();
                let text = self.inner.token_piece(id).unwrap_or_default();
                let bytes = self.bytes(id, &piece, &text);
                TokenInfo {
                    id,
                    piece,
                    text,
                    bytes,
                }
            })
            .collect())
    }

    /// The bytes a token stands for: byte-level BPE maps each character of the piece to one byte;
    /// SentencePiece byte tokens are `<0xNN>`; otherwise the UTF-8 of its text.
    fn bytes(&self, id: u32, piece: &str, text: &str) -> Vec<u8> {
        let ty = self.inner.token_type(id);
        if ty.is_some_and(TokenType::is_added) {
            return piece.as_bytes().to_vec();
        }
        if self.byte_level {
            if let Some(bytes) = piece.chars().map(byte_of_char).collect::<Option<Vec<u8>>>() {
                return bytes;
            }
        }
        if ty == Some(TokenType::Byte) {
            if let Some(hex) = piece.strip_prefix("<0x").and_then(|p| p.strip_suffix('>')) {
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    return vec![b];
                }
            }
        }
        if !self.byte_level {
            return piece.replace('\u{2581}', " ").into_bytes();
        }
        text.as_bytes().to_vec()
    }
}

/// GPT-2's byte-to-character table, inverted: printable Latin-1 bytes stand for themselves, the
/// rest for U+0100 onwards in byte order.
fn byte_of_char(c: char) -> Option<u8> {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let code = c as u32;
    if printable(code) {
        return Some(code as u8);
    }
    let offset = code.checked_sub(0x100)?;
    (0u32..=255)
        .filter(|&b| !printable(b))
        .nth(offset as usize)
        .map(|b| b as u8)
}

fn load_imported(paths: &Paths) -> ImportedModels {
    std::fs::read(paths.imported_models_file())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(crate) fn model_file(path: &Path, kind: &str, imported: bool) -> ModelFile {
    let content = read_header(path).ok();
    ModelFile {
        path: path.to_string_lossy().into_owned(),
        name: display_name(content.as_ref(), path),
        kind: kind.into(),
        size_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        imported,
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::byte_of_char;

    #[test]
    fn gpt2_byte_table() {
        assert_eq!(byte_of_char('A'), Some(b'A'));
        assert_eq!(byte_of_char('Ġ'), Some(b' '));
        assert_eq!(byte_of_char('Ċ'), Some(b'\n'));
        assert_eq!(byte_of_char('ê'), Some(0xea));
        assert_eq!(byte_of_char('³'), Some(0xb3));
        assert_eq!(byte_of_char('Ħ'), Some(0x84));
        assert_eq!(byte_of_char('계'), None);
    }
}
