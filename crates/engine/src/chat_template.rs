//! Renders a conversation with the model's own Jinja chat template (`tokenizer.chat_template`),
//! mirroring what Hugging Face's `apply_chat_template` gives a template: `messages`,
//! `add_generation_prompt`, `bos_token`, `eos_token`, `raise_exception`, a Python-style `tojson`,
//! Python string methods, and `trim_blocks` + `lstrip_blocks`.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{Environment, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{one_line, Error, Result};

/// One turn of a conversation. `role` is usually "system", "user" or "assistant".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

const TEMPLATE_NAME: &str = "chat_template";

/// A template comes from a model file, so its work is bounded: minijinja's fuel (one unit per
/// instruction and per 64 bytes a render creates) caps both time and memory; real chat templates
/// spend a few thousand units plus one per 64 bytes of the conversation (a 128k-token context is
/// about 8,000), so 2 million (about 128 MB or a second of work) refuses only runaway templates.
const BASE_FUEL: u64 = 2_000_000;
/// The rendered prompt may be at most this much larger than what went in.
const BASE_OUTPUT_LIMIT: usize = 1 << 20;

/// A compiled chat template with the token texts it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

impl ChatTemplate {
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| Error::ChatTemplate(one_line(e)))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(BASE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", python_tojson);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| {
                Error::ChatTemplate(format!("the template does not compile: {}", one_line(e)))
            })?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with(messages, add_generation_prompt, &serde_json::Map::new())
    }

    /// Like `render`, with extra template variables (for example `date_string` or `tools`).
    pub fn render_with(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| Error::ChatTemplate(one_line(e)))?;
        // Messages go in as serialised structs so their keys keep field order (role, content),
        // which `tojson` shows.
        let mut context: std::collections::BTreeMap<String, Value> = extra
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(Serde(v))))
            .collect();
        context.insert("messages".into(), Value::from(Serde(messages)));
        context.insert(
            "add_generation_prompt".into(),
            Value::from(add_generation_prompt),
        );
        context.insert("bos_token".into(), Value::from(self.bos_token.clone()));
        context.insert("eos_token".into(), Value::from(self.eos_token.clone()));
        let input: usize = messages
            .iter()
            .map(|m| m.role.len() + m.content.len())
            .sum::<usize>()
            + serde_json::Value::Object(extra.clone()).to_string().len();
        let limit = BASE_OUTPUT_LIMIT + 4 * input;
        let mut out = CappedOutput {
            text: Vec::new(),
            limit,
        };
        match template.render_captured_to(Value::from(context), &mut out) {
            Ok(_) => String::from_utf8(out.text).map_err(|_| {
                Error::ChatTemplate("rendering failed: the output is not UTF-8".into())
            }),
            Err(e) if e.kind() == ErrorKind::WriteFailure => Err(Error::ChatTemplate(format!(
                "rendering failed: the prompt passed the output limit of {limit} bytes"
            ))),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(Error::ChatTemplate(
                "rendering failed: the template ran out of fuel (it loops or builds too much)"
                    .into(),
            )),
            Err(e) => Err(Error::ChatTemplate(format!(
                "rendering failed: {}",
                one_line(describe(&e))
            ))),
        }
    }
}

/// The rendered text, refused past `limit` bytes.
struct CappedOutput {
    text: Vec<u8>,
    limit: usize,
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("output limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn describe(err: &minijinja::Error) -> String {
    match err.kind() {
        ErrorKind::InvalidOperation
            if err
                .detail()
                .is_some_and(|d| d.starts_with("template raised")) =>
        {
            err.detail().unwrap_or_default().to_string()
        }
        _ => err.to_string(),
    }
}

/// HF templates call `raise_exception("...")` to reject a conversation they cannot format.
fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("template raised: {message}"),
    ))
}

/// HF's `tojson`: Python's `json.dumps(x, ensure_ascii=False, indent=indent)`, so ", " and ": "
/// separators without indent, keys in insertion order, and no HTML escaping.
fn python_tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, minijinja::Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    // Accepted for compatibility with HF's signature; Python's defaults are what we produce.
    let _: Option<Value> = kwargs.get("ensure_ascii")?;
    let _: Option<Value> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_python_json(&value, indent, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_python_json(
    value: &Value,
    indent: Option<usize>,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    let item_separator = if indent.is_some() { "," } else { ", " };
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&value.to_string()),
        ValueKind::String => out.push_str(&quote(value.as_str().unwrap_or_default())),
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                out.push_str(&quote(&key.to_string()));
                out.push_str(": ");
                write_python_json(&value.get_item(key)?, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                write_python_json(item, indent, depth + 1, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        _ => out.push_str(&quote(&value.to_string())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn chatml_with_default_system_message() {
        let t = ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap();
        let text = t.render(&[ChatMessage::user("Hi")], true).unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let text = t
            .render(&[ChatMessage::system("S"), ChatMessage::user("Q")], false)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
        );
    }

    /// A template from a model file that never ends, or that writes gigabytes, or recurses
    /// without end, is stopped with a one-line error, quickly and without the memory.
    #[test]
    fn runaway_templates_are_stopped_by_fuel_and_the_output_limit() {
        let started = std::time::Instant::now();
        let forever = "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}";
        let gigabytes = "{% for i in range(100) %}{{ 'x' * 100000000 }}{% endfor %}";
        let megabytes = "{{ 'x' * 30000000 }}";
        let doubling = "{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}";
        let recursion = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
        for (source, expected) in [
            (forever, &["ran out of fuel"][..]),
            // Whichever comes first: fuel costs are minijinja's to tune.
            (gigabytes, &["ran out of fuel", "output limit"]),
            (megabytes, &["output limit"]),
            (doubling, &["ran out of fuel"]),
            (recursion, &["recursion"]),
        ] {
            let t = ChatTemplate::new(source, "", "").unwrap();
            let err = t.render(&[ChatMessage::user("hi")], true).unwrap_err();
            let message = err.to_string();
            assert!(
                expected.iter().any(|e| message.contains(e)),
                "{source}: {message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        // The limit grows with the conversation: a long context renders.
        let long = "word ".repeat(400_000);
        let t = ChatTemplate::new(SMOLLM2, "", "").unwrap();
        assert!(t.render(&[ChatMessage::user(long)], true).unwrap().len() > 2_000_000);
    }

    #[test]
    fn trim_and_lstrip_blocks_like_hf() {
        let source = "{% for m in messages %}\n    {{ m.content }}\n{% endfor %}";
        let t = ChatTemplate::new(source, "", "").unwrap();
        let text = t
            .render(&[ChatMessage::user("a"), ChatMessage::user("b")], false)
            .unwrap();
        assert_eq!(text, "    a\n    b\n");
    }

    #[test]
    fn bos_token_python_methods_and_namespace() {
        let source = "{{ bos_token }}{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}[{{ m.role.upper() }}] {{ m.content.strip() }}{% if m.content.strip().startswith('x') %}!{% endif %}\n{% endfor %}{{ ns.n }}";
        let t = ChatTemplate::new(source, "<s>", "</s>").unwrap();
        let text = t
            .render(
                &[ChatMessage::user("  xy  "), ChatMessage::assistant("z")],
                false,
            )
            .unwrap();
        // trim_blocks eats the newline after `{% endif %}`, as in Jinja2.
        assert_eq!(text, "<s>[USER] xy![ASSISTANT] z2");
    }

    #[test]
    fn raise_exception_becomes_an_error_with_its_message() {
        let source = "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
        let t = ChatTemplate::new(source, "", "").unwrap();
        let err = t
            .render(&[ChatMessage::assistant("x")], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Conversation must start with user"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert_eq!(t.render(&[ChatMessage::user("x")], false).unwrap(), "ok");
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let source = "{{ messages[0] | tojson }}|{{ [1, 'é<'] | tojson(indent=2) }}";
        let t = ChatTemplate::new(source, "", "").unwrap();
        let text = t.render(&[ChatMessage::user("hi")], false).unwrap();
        assert_eq!(
            text,
            "{\"role\": \"user\", \"content\": \"hi\"}|[\n  1,\n  \"é<\"\n]"
        );
    }

    #[test]
    fn extra_variables_reach_the_template() {
        let t = ChatTemplate::new("{{ date_string }}", "", "").unwrap();
        let mut extra = serde_json::Map::new();
        extra.insert("date_string".into(), "26 Jul 2024".into());
        assert_eq!(t.render_with(&[], false, &extra).unwrap(), "26 Jul 2024");
    }

    #[test]
    fn a_template_that_does_not_compile_is_an_error() {
        let err = ChatTemplate::new("{% for %}", "", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not compile"), "{err}");
    }
}
