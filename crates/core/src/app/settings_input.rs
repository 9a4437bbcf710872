//! Settings sent by a front end: every field checked for its kind and range before anything is
//! stored. Fields left out keep their current values; an unknown field is refused.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::{Error, Result, Settings};

pub const MAX_SYSTEM_PROMPT_CHARS: usize = 8 * 1024;
pub const MAX_CHAT_TEMPLATE_BYTES: usize = 64 * 1024;

/// What the check needs to know besides the values.
pub struct SettingsContext<'a> {
    /// Chat models that may be chosen (the models folder and imported files), as absolute paths.
    pub chat_models: &'a [PathBuf],
    /// Resolves a configured model name to a path.
    pub resolve: &'a dyn Fn(&Path) -> PathBuf,
}

pub fn apply(current: &Settings, input: &Value, ctx: &SettingsContext) -> Result<Settings> {
    let Value::Object(fields) = input else {
        return Err(Error::invalid("settings", "must be a JSON object"));
    };
    let mut s = current.clone();
    for (key, value) in fields {
        match key.as_str() {
            "context_length" => s.context_length = size(key, value, 256, engine_max_context())?,
            "max_answer_tokens" => s.max_answer_tokens = size(key, value, 1, 4096)?,
            "temperature" => s.temperature = number(key, value, 0.0, 2.0)?,
            "top_p" => s.top_p = nullable(value, |v| number_open_low(key, v, 0.0, 1.0))?,
            "top_k" => s.top_k = nullable(value, |v| size(key, v, 1, 1_000_000))?,
            "repeat_penalty" => {
                s.repeat_penalty = number_open_low(key, value, 0.0, 5.0)?;
            }
            "seed" => s.seed = integer(key, value, 0, u64::MAX)?,
            "system_prompt" => {
                s.system_prompt = nullable(value, |v| string(key, v, MAX_SYSTEM_PROMPT_CHARS))?
                    .filter(|p| !p.trim().is_empty());
            }
            "sources" => s.sources = size(key, value, 0, 20)?,
            "min_similarity" => s.min_similarity = number(key, value, -1.0, 1.0)?,
            "web_search_url" => {
                s.web_search_url = nullable(value, |v| {
                    let url = string(key, v, 2048)?;
                    web_url(key, &url)?;
                    Ok(url)
                })?
                .filter(|u| !u.trim().is_empty());
            }
            "web_results" => s.web_results = size(key, value, 1, 10)?,
            "web_cache_max_age_hours" => {
                s.web_cache_max_age_hours = integer(key, value, 0, 24 * 365)?;
            }
            "web_allow" => {
                let Value::Array(items) = value else {
                    return Err(Error::invalid(
                        key,
                        format!(
                            "must be a list of host names or CIDR ranges, not {}",
                            kind(value)
                        ),
                    ));
                };
                let mut rules = Vec::new();
                for item in items {
                    let rule = string(key, item, 256)?;
                    almanac_fetch::AllowRule::parse(&rule)
                        .map_err(|e| Error::invalid(key, e.to_string()))?;
                    rules.push(rule);
                }
                s.web_allow = rules;
            }
            "web_proxy" => {
                s.web_proxy = nullable(value, |v| {
                    let proxy = string(key, v, 2048)?;
                    almanac_fetch::parse_url(&proxy)
                        .map_err(|e| Error::invalid(key, e.to_string()))?;
                    Ok(proxy)
                })?
                .filter(|p| !p.trim().is_empty());
            }
            "web_max_page_bytes" => {
                s.web_max_page_bytes = integer(key, value, 1024, 256 * 1024 * 1024)?;
            }
            "web_timeout_s" => s.web_timeout_s = integer(key, value, 1, 600)?,
            "chunk_tokens" => s.chunk_tokens = size(key, value, 16, 2048)?,
            "chunk_overlap_tokens" => s.chunk_overlap_tokens = size(key, value, 0, 1024)?,
            "max_document_bytes" => {
                s.max_document_bytes = integer(key, value, 1024, 1024 * 1024 * 1024)?;
            }
            "max_pages" => s.max_pages = size(key, value, 1, 100_000)?,
            "max_unpacked_bytes" => {
                s.max_unpacked_bytes = integer(key, value, 1024 * 1024, 16 * 1024 * 1024 * 1024)?;
            }
            "parse_timeout_secs" => s.parse_timeout_secs = integer(key, value, 1, 3600)?,
            "parse_memory_mib" => s.parse_memory_mib = integer(key, value, 64, 65_536)?,
            "chat_template" => {
                s.chat_template = nullable(value, |v| {
                    let source = string(key, v, MAX_CHAT_TEMPLATE_BYTES)?;
                    almanac_engine::ChatTemplate::new(&source, "", "")
                        .map_err(|e| Error::invalid(key, format!("not a usable template: {e}")))?;
                    Ok(source)
                })?
                .filter(|t| !t.trim().is_empty());
            }
            "backend" => s.backend = backend(key, value)?,
            "auto_embedder" => s.auto_embedder = boolean(key, value)?,
            "chat_model" => {
                let name = PathBuf::from(string(key, value, super::validate::MAX_PATH_BYTES)?);
                let resolved = (ctx.resolve)(&name);
                let resolved = std::fs::canonicalize(&resolved).unwrap_or(resolved);
                // Unchanged is always fine (the UI sends every field back).
                if name != current.chat_model && !ctx.chat_models.contains(&resolved) {
                    return Err(Error::invalid(
                        key,
                        format!(
                            "{} is not one of the available chat models; import it first",
                            super::validate::clip(&name.to_string_lossy())
                        ),
                    ));
                }
                s.chat_model = name;
            }
            "embedding_model" => {
                let name = string(key, value, super::validate::MAX_PATH_BYTES)?;
                if Path::new(&name) != current.embedding_model {
                    return Err(Error::invalid(
                        key,
                        "changing the embedding model re-embeds the whole library: run `almanac library embedder NAME` (not from here yet)",
                    ));
                }
            }
            _ => {
                return Err(Error::invalid(
                    super::validate::clip(key),
                    "is not a setting Almanac knows",
                ))
            }
        }
    }
    check_together(&s, fields)?;
    Ok(s)
}

fn check_together(s: &Settings, fields: &Map<String, Value>) -> Result<()> {
    if s.max_answer_tokens >= s.context_length {
        let field = if fields.contains_key("max_answer_tokens") {
            "max_answer_tokens"
        } else {
            "context_length"
        };
        return Err(Error::invalid(
            field,
            format!(
                "max_answer_tokens ({}) must be less than context_length ({})",
                s.max_answer_tokens, s.context_length
            ),
        ));
    }
    if s.chunk_overlap_tokens * 2 > s.chunk_tokens {
        return Err(Error::invalid(
            "chunk_overlap_tokens",
            format!(
                "must be at most half of chunk_tokens ({}), got {}",
                s.chunk_tokens, s.chunk_overlap_tokens
            ),
        ));
    }
    Ok(())
}

/// An http or https URL with a host.
fn web_url(key: &str, url: &str) -> Result<()> {
    let parsed = almanac_fetch::parse_url(url).map_err(|e| Error::invalid(key, e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(Error::invalid(key, "must be an http or https URL"));
    }
    Ok(())
}

/// `{"kind":"local"}` or `{"kind":"openai","base_url",...}` (see [`crate::Backend`]); the key
/// itself is never a setting, only where to read it from. Each refusal names its field
/// (`backend.base_url`), so the models view shows it beside that input.
fn backend(key: &str, value: &Value) -> Result<crate::Backend> {
    let Value::Object(fields) = value else {
        return Err(Error::invalid(
            key,
            format!(
                r#"must be {{"kind": "local"}} or {{"kind": "openai", ...}}, not {}"#,
                kind(value)
            ),
        ));
    };
    match fields.get("kind").and_then(Value::as_str) {
        Some("local") => {
            if let Some(extra) = fields.keys().find(|k| *k != "kind") {
                return Err(Error::invalid(
                    format!("backend.{}", super::validate::clip(extra)),
                    "is not a setting of the local backend",
                ));
            }
            return Ok(crate::Backend::Local);
        }
        Some("openai") => {}
        _ => {
            return Err(Error::invalid(
                "backend.kind",
                r#"must be "local" or "openai""#,
            ))
        }
    }
    for (name, v) in fields {
        let field = format!("backend.{}", super::validate::clip(name));
        let expect_string = |what: &str| match v {
            Value::String(_) => Ok(()),
            _ => Err(Error::invalid(
                &field,
                format!("must be {what}, not {}", kind(v)),
            )),
        };
        match name.as_str() {
            "kind" => {}
            "base_url" => {
                expect_string("a URL")?;
                web_url(&field, v.as_str().unwrap_or_default())?;
            }
            "model" => {
                let model = string(&field, v, 256)?;
                if model.trim().is_empty() {
                    return Err(Error::invalid(&field, "must be 1 to 256 characters"));
                }
            }
            "context_length" => {
                size(&field, v, 256, 1_048_576)?;
            }
            "timeout_s" => {
                integer(&field, v, 1, 3600)?;
            }
            "api_key_from" => {
                if !matches!(v.as_str(), Some("env" | "keyring")) {
                    return Err(Error::invalid(
                        &field,
                        format!(
                            r#"must be "env" or "keyring", got {}"#,
                            super::validate::clip(&v.to_string())
                        ),
                    ));
                }
            }
            "api_key_env" => {
                let name = string(&field, v, 128)?;
                let env_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
                if name.is_empty() || !name.chars().all(env_char) {
                    return Err(Error::invalid(
                        &field,
                        "must be an environment variable name (letters, digits, _)",
                    ));
                }
            }
            "api_key" | "key" => {
                return Err(Error::invalid(
                    &field,
                    "an API key is never stored in the settings: use api_key_from \"keyring\" (and store it there) or \"env\" with api_key_env",
                ))
            }
            _ => return Err(Error::invalid(&field, "is not a setting of an OpenAI-compatible backend")),
        }
    }
    if !fields.contains_key("base_url") {
        return Err(Error::invalid("backend.base_url", "is required"));
    }
    serde_json::from_value(value.clone())
        .map_err(|e| Error::invalid(key, super::validate::clip(&e.to_string())))
}

fn engine_max_context() -> usize {
    almanac_engine::MAX_CONTEXT_LENGTH
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn integer(key: &str, value: &Value, min: u64, max: u64) -> Result<u64> {
    let range = || format!("must be a whole number from {min} to {max}");
    match value.as_u64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::invalid(
            key,
            format!("{}, got {}", range(), describe(value)),
        )),
    }
}

fn size(key: &str, value: &Value, min: usize, max: usize) -> Result<usize> {
    integer(key, value, min as u64, max as u64).map(|n| n as usize)
}

fn number(key: &str, value: &Value, min: f64, max: f64) -> Result<f64> {
    match value.as_f64() {
        Some(x) if x.is_finite() && (min..=max).contains(&x) => Ok(x),
        _ => Err(Error::invalid(
            key,
            format!(
                "must be a number from {min} to {max}, got {}",
                describe(value)
            ),
        )),
    }
}

/// A number in (min, max]: above `min`, at most `max`.
fn number_open_low(key: &str, value: &Value, min: f64, max: f64) -> Result<f64> {
    match value.as_f64() {
        Some(x) if x.is_finite() && x > min && x <= max => Ok(x),
        _ => Err(Error::invalid(
            key,
            format!(
                "must be a number above {min} and at most {max}, got {}",
                describe(value)
            ),
        )),
    }
}

fn string(key: &str, value: &Value, max_chars: usize) -> Result<String> {
    let Value::String(s) = value else {
        return Err(Error::invalid(
            key,
            format!("must be a string, got {}", kind(value)),
        ));
    };
    if s.chars().count() > max_chars || s.contains('\0') {
        return Err(Error::invalid(
            key,
            format!("must be at most {max_chars} characters without NUL"),
        ));
    }
    Ok(s.clone())
}

fn boolean(key: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| Error::invalid(key, format!("must be true or false, got {}", kind(value))))
}

fn nullable<T>(value: &Value, f: impl FnOnce(&Value) -> Result<T>) -> Result<Option<T>> {
    match value {
        Value::Null => Ok(None),
        v => f(v).map(Some),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: Value) -> Result<Settings> {
        let models = [PathBuf::from("/models/a.gguf")];
        let ctx = SettingsContext {
            chat_models: &models,
            resolve: &|p: &Path| Path::new("/models").join(p),
        };
        apply(&Settings::default(), &input, &ctx)
    }

    fn field_error(input: Value) -> String {
        let e = check(input).unwrap_err();
        assert_eq!(e.code(), "invalid_argument");
        e.to_string()
    }

    #[test]
    fn accepts_the_defaults_and_changes() {
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        let s = check(defaults).unwrap();
        assert_eq!(s.context_length, Settings::default().context_length);
        let s = check(
            json!({"temperature": 0.7, "top_p": 0.9, "top_k": null, "seed": 7,
            "system_prompt": "Be brief.", "chat_model": "a.gguf"}),
        )
        .unwrap();
        assert_eq!(s.temperature, 0.7);
        assert_eq!(s.top_p, Some(0.9));
        assert_eq!(s.seed, 7);
        assert_eq!(s.system_prompt.as_deref(), Some("Be brief."));
        assert_eq!(s.chat_model, PathBuf::from("a.gguf"));
    }

    #[test]
    fn decimals_come_back_as_they_were_given() {
        // A setting kept as f32 would come back as 1.100000023841858.
        let s = check(json!({"repeat_penalty": 1.1, "min_similarity": 0.2})).unwrap();
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["repeat_penalty"], json!(1.1));
        assert_eq!(back["min_similarity"], json!(0.2));
    }

    #[test]
    fn refuses_out_of_range_wrong_kind_and_unknown() {
        assert!(field_error(json!({"temperature": 3}))
            .starts_with("temperature: must be a number from 0 to 2"));
        assert!(field_error(json!({"temperature": "hot"})).contains("got a string"));
        assert!(field_error(json!({"context_length": 100})).starts_with("context_length:"));
        assert!(field_error(json!({"context_length": 2048.5})).starts_with("context_length:"));
        assert!(field_error(json!({"max_answer_tokens": 0})).starts_with("max_answer_tokens:"));
        assert!(
            field_error(json!({"max_answer_tokens": 3000})).contains("less than context_length")
        );
        assert!(field_error(json!({"top_p": 0})).starts_with("top_p:"));
        assert!(field_error(json!({"top_k": -1})).starts_with("top_k:"));
        assert!(field_error(json!({"sources": 21})).starts_with("sources:"));
        assert!(field_error(json!({"seed": -5})).starts_with("seed:"));
        assert!(
            field_error(json!({"system_prompt": "x".repeat(9000)})).starts_with("system_prompt:")
        );
        assert!(
            field_error(json!({"chat_model": "/etc/passwd"})).contains("not one of the available")
        );
        assert!(field_error(json!({"embedding_model": "other"})).starts_with("embedding_model:"));
        assert!(field_error(json!({"auto_embedder": "yes"}))
            .starts_with("auto_embedder: must be true or false, got a string"));
        assert!(field_error(json!({"colour": "red"})).starts_with("colour: is not a setting"));
        assert!(field_error(json!({"chat_template": "{% if %}"})).starts_with("chat_template:"));
        assert!(field_error(json!([1, 2])).starts_with("settings:"));
    }

    #[test]
    fn a_remote_backend_is_checked_field_by_field_and_never_holds_a_key() {
        let s = check(json!({"backend": {"kind": "openai", "base_url": "http://gpu-box:8000/v1",
            "model": "llama-3-8b", "context_length": 8192, "api_key_from": "keyring", "timeout_s": 30}}))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&s.backend).unwrap(),
            json!({"kind": "openai", "base_url": "http://gpu-box:8000/v1", "model": "llama-3-8b",
                "context_length": 8192, "api_key_from": "keyring",
                "api_key_env": "ALMANAC_BACKEND_KEY", "timeout_s": 30})
        );
        let remote = |extra: Value| {
            let mut b = json!({"kind": "openai", "base_url": "http://gpu-box:8000/v1"});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({ "backend": b })
        };
        let cases = [
            (json!({"base_url": "ftp://gpu-box/v1"}), "backend.base_url:"),
            (
                json!({"base_url": 8000}),
                "backend.base_url: must be a URL, not a number",
            ),
            (json!({"model": ""}), "backend.model:"),
            (json!({"model": "m".repeat(300)}), "backend.model:"),
            (
                json!({"context_length": 100}),
                "backend.context_length: must be a whole number from 256",
            ),
            (json!({"context_length": "big"}), "backend.context_length:"),
            (json!({"timeout_s": 0}), "backend.timeout_s:"),
            (
                json!({"api_key_from": "file"}),
                r#"backend.api_key_from: must be "env" or "keyring""#,
            ),
            (json!({"api_key_env": "MY KEY"}), "backend.api_key_env:"),
            (
                json!({"api_key": "sk-1"}),
                "backend.api_key: an API key is never stored",
            ),
            (json!({"colour": "red"}), "backend.colour: is not a setting"),
            (json!({"kind": "vllm"}), "backend.kind:"),
        ];
        for (extra, expected) in cases {
            let error = field_error(remote(extra.clone()));
            assert!(error.starts_with(expected), "{extra}: {error}");
            assert_eq!(
                check(remote(extra)).unwrap_err().field(),
                Some(expected.split(':').next().unwrap())
            );
        }
        assert!(field_error(json!({"backend": {"kind": "openai"}}))
            .starts_with("backend.base_url: is required"));
        assert!(
            field_error(json!({"backend": {"kind": "local", "model": "x"}}))
                .starts_with("backend.model:")
        );
        assert!(field_error(json!({"backend": "local"})).starts_with("backend:"));
    }
}
