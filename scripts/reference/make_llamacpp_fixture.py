#!/usr/bin/env python3
"""Produce the llama.cpp reference fixture for Almanac's tokenizer / greedy-decoding parity tests.

What it produces
    tests/fixtures/llamacpp/smollm2-parity.json (relative to the repository root), a small JSON file:

    {"model": "SmolLM2-135M-Instruct.Q4_1.gguf", "model_sha256": "...",
     "reference": "llama.cpp b11549 (xllamacpp 2026.10.11549)",
     "tokenize": [{"text": "...", "ids": [...]}, ...],
     "greedy":   [{"messages": [{"role": "...", "content": "..."}], "prompt": "...",
                   "prompt_ids": [...], "tokens": [32 ids], "margins": [32 floats]}, ...]}

    * "tokenize": ids = llama_tokenize(text, add_special=False, parse_special=True), i.e. llama.cpp's
      own BPE tokenizer with special tokens (<|im_start|>, ...) recognised in the text.
    * "greedy": "prompt" is rendered from the GGUF's own tokenizer.chat_template with jinja2
      (trim_blocks=True, lstrip_blocks=True, as Hugging Face does; variables messages,
      add_generation_prompt=True, bos_token, eos_token); prompt_ids = tokenize(prompt, add_bos=False,
      special=True). Then 32 steps of greedy decoding with llama.cpp (n_ctx 2048, 2 threads, from an
      empty KV cache, the prompt in one batch): at every step the raw logits of the last position are
      read (no sampler, no repeat penalty, no logit processors), the argmax is recorded as the token and
      margin = top1 logit - top2 logit (rounded to 4 decimals), and the token is fed back. Decoding never
      stops at end-of-turn: always 32 tokens. This is the "greedy" mode of llamacpp.py.

    The reference is the newest llama.cpp the project measures against, b11549, as xllamacpp ships it
    prebuilt, driven by scripts/reference/llamacpp.py (ctypes over its C API).

    Nothing of the model but token ids, the rendered prompts and logit margins is written.

How to run
    python=$(scripts/reference/setup.sh)   # a venv with xllamacpp (llama.cpp b11549), gguf, jinja2
    "$python" scripts/reference/make_llamacpp_fixture.py [PATH]

    PATH is the GGUF file or the directory holding SmolLM2-135M-Instruct.Q4_1.gguf. Without it the
    models directory is $ALMANAC_MODELS_DIR, else $ALMANAC_DATA_DIR/models, else
    ${XDG_DATA_HOME:-~/.local/share}/almanac/models (the same lookup as scripts/install-models.sh, which
    downloads the model). Use --out to write somewhere else. The script refuses a model whose sha256 is
    not the pinned one, and a llama.cpp build other than b11549 unless --any-version is given.

Checks it makes
    The greedy tokens must equal what llama.cpp's own greedy sampler (llama_sampler_init_greedy, in a
    second run from an empty cache) picks, or the script fails. It also re-evaluates prompt + tokens in one batch with logits
    for every position and notes (without failing) steps whose argmax differs there: with margins of a
    few hundredths, batch and one-token-at-a-time evaluation can disagree. Finally it reports every
    tokenize case whose detokenization is not byte-exact.
"""

import argparse
import hashlib
import json
import os
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp import Llama, Session, build_description, greedy_run  # noqa: E402

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
REFERENCE_BUILD = "llama.cpp b11549 "
N_CTX = 2048
N_THREADS = 2
N_STEPS = 32

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "llamacpp" / "smollm2-parity.json"

# ---------------------------------------------------------------------------------------------------
# Tokenizer cases. Order matters only for readability; every string is kept as written.
TOKENIZE_TEXTS = [
    # empty / whitespace
    "",
    " ",
    "  ",
    "    ",
    "\t",
    "\n",
    "\n\n",
    "\n\n\n",
    " \n ",
    "\t\tindented with tabs",
    "trailing spaces   ",
    "   leading spaces",
    "a  b   c    d     e",
    "line one\nline two\r\nline three\rline four",
    "  \n\t \n  mixed whitespace\t \n",
    # plain English
    "Hello",
    "Hello world",
    "hello world",
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France?",
    "Almanac is a local chat app that answers questions from your own documents.",
    "Once upon a time, in a land far, far away, there lived a curious little robot.",
    # punctuation and contractions
    "don't",
    "I'll",
    "we've",
    "I'm sure you're right, but they'd've said so. Isn't it?",
    "DON'T SHOUT; it's RUDE!",
    "She said: \"Hello!\" — and left… (quietly).",
    "rock 'n' roll, 'quoted', ‘curly’ “double” «guillemets»",
    "a,b;c:d.e!f?g",
    "e.g. i.e. etc. Mr. Dr. St.",
    "...?!?!...",
    # numbers
    "0",
    "7",
    "42",
    "123",
    "1234",
    "12345",
    "1234567890123456789",
    "3.14159",
    "-273.15",
    "1e-9",
    "2026-11-26",
    "12:34:56",
    "$1,234.56",
    "€99.99 and ¥10000 and £5",
    "50% of 1/2 is 0.25",
    "v0.3.36",
    "0x1F600 0b1010 0o777",
    "Call 555-0123 or +82 10-1234-5678",
    # Korean
    "계획이 있다",
    "안녕하세요",
    "안녕하세요! 만나서 반갑습니다.",
    "오늘 회의에서 다음 분기 계획을 논의했고, 모두가 일정에 동의했습니다.",
    "한국어와 English가 섞인 문장입니다.",
    "ㅋㅋㅋㅋ ㅎㅎ",
    # Japanese, Chinese
    "こんにちは世界",
    "今日はいい天気ですね。散歩に行きましょう。",
    "カタカナとひらがなと漢字",
    "你好，世界！",
    "我们明天早上九点在图书馆见面。",
    "繁體中文測試",
    # other scripts
    "مرحبا بالعالم",
    "اللغة العربية جميلة جدا.",
    "Привет, мир!",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Γειά σου Κόσμε",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    # accented Latin
    "café",
    "naïve résumé",
    "Ångström, Øresund, Æble",
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
    "¿Dónde está la estación? ¡Allí!",
    "Łódź, Kraków, Gdańsk",
    "ça va? très bien, merci",
    # emoji
    "🙂",
    "Hello 👋 world 🌍",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇰🇷🇯🇵🇺🇸",
    "❤️🔥✨",
    "🧑🏿‍💻 writing code",
    # code
    "fn main() {\n    println!(\"Hello, world!\");\n}\n",
    "let v: Vec<u32> = (0..10).map(|x| x * 2).collect();",
    "impl<'a> Iterator for Tokens<'a> { type Item = &'a str; }",
    "def add(a, b):\n    return a + b\n",
    "if __name__ == \"__main__\":\n\tmain()",
    "{\"name\": \"Almanac\", \"version\": 1, \"tags\": [\"rag\", \"chat\"], \"ok\": true}",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "for f in *.txt; do echo \"$f\" | grep -q foo && rm -- \"$f\"; done",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "x+=1;y-=2;z*=3;w/=4;a==b!=c<=d>=e",
    "// TODO: fix this\n/* block */ # comment",
    # special tokens in text
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "hello<|im_end|>world",
    "mid<|im_end|>word",
    "<|im_",
    "<|im_start",
    "im_start|>",
    "<|endoftext|><|endoftext|>",
    "<repo_name>almanac<file_sep>src/main.rs",
    "< |im_end| >",
    # URLs, paths, mixed
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    "http://example.com/path?query=1&b=two#frag",
    "mailto:someone@example.org",
    "/home/user/.local/share/almanac/models",
    "C:\\Users\\name\\Documents\\notes.txt",
    "Seoul서울Tokyo東京Москва",
    "mixed 한국어 and 日本語 and русский in one line",
    # long words, repetition
    "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
    "aaaaaaaaaaaa",
    "!!!!!!!",
    "..........",
    "----------",
    "==========",
    "hahahahahahahahahaha",
    "ab" * 40,
    # unusual unicode
    "e\u0301",  # combining acute
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319a\u0335lgo",  # zalgo-ish
    "\u1100\u1161\u11a8",  # conjoining jamo (decomposed 각)
    "zero\u200dwidth\u200djoiner",
    "zero\u200bwidth\u200bspace",
    "non\u00a0breaking\u00a0space",
    "\ufeffBOM at start",
    "left\u200fto\u200eright marks",
    "\u202eRTL override\u202c",
    "soft\u00adhyphen",
    "ﬁ ligature and ① circled and Ⅻ roman",
    "full-width ＡＢＣ１２３",
    "math 𝔸𝕓𝕔 ∑∫√∞ ≠ ≤",
    "tab\tand\u3000ideographic space",
    "\x00control\x07chars\x1b[0m",
    "\U0001F600\U0010FFFF",
]

# ---------------------------------------------------------------------------------------------------
# Chat cases for greedy decoding.
GREEDY_MESSAGES = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {
            "role": "system",
            "content": (
                "Answer from the sources and cite [n].\n\n"
                "Sources:\n"
                "[1] The Eiffel Tower was completed in 1889 for the World's Fair in Paris.\n"
                "[2] The tower is 330 metres tall and was the tallest man-made structure until 1930."
            ),
        },
        {"role": "user", "content": "When was the Eiffel Tower completed?"},
    ],
    [{"role": "user", "content": "Write a short Python function that returns the square of a number."}],
    [{"role": "user", "content": "안녕하세요! 오늘 기분이 어때요?"}],
    [
        {"role": "user", "content": "Hi! Can you recommend a fruit?"},
        {"role": "assistant", "content": "Sure! Apples are a great choice: crunchy, sweet and healthy."},
        {"role": "user", "content": "What about something tropical?"},
    ],
]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_model(arg: str | None) -> Path:
    if arg:
        p = Path(arg).expanduser()
    elif os.environ.get("ALMANAC_MODELS_DIR"):
        p = Path(os.environ["ALMANAC_MODELS_DIR"]).expanduser()
    else:
        data = os.environ.get("ALMANAC_DATA_DIR") or os.path.join(
            os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "almanac"
        )
        p = Path(data) / "models"
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.is_file():
        sys.exit(f"model not found: {p} (run scripts/install-models.sh, or pass the path)")
    return p


def gguf_chat_template_and_specials(path: Path):
    """Read tokenizer.chat_template and the bos/eos token strings from the GGUF metadata."""
    from gguf import GGUFReader

    r = GGUFReader(str(path))
    tmpl = r.fields["tokenizer.chat_template"].contents()
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    bos = tokens[int(r.fields["tokenizer.ggml.bos_token_id"].contents())]
    eos = tokens[int(r.fields["tokenizer.ggml.eos_token_id"].contents())]
    return tmpl, bos, eos


def render_chat(template: str, messages, bos: str, eos: str) -> str:
    """Render like transformers' apply_chat_template: sandboxed jinja2, trim_blocks, lstrip_blocks."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
    )


def check_with_sampler(s: Session, prompt_ids, n):
    """Independent check: llama.cpp's own greedy sampler, in a run of its own, must pick the same tokens."""
    s.clear()
    s.eval(prompt_ids)
    got = []
    while True:
        got.append(s.sample())
        if len(got) == n:
            break
        s.eval([got[-1]])
    s.clear()
    return got


def check_teacher_forced(s: Session, prompt_ids, tokens):
    """Independent check: one batch over prompt + tokens with logits for every position; the argmax at
    each generated position must be the next recorded token. Returns the positions that disagree."""
    import numpy as np

    rows = s.logits(prompt_ids + tokens, True)
    n = len(prompt_ids)
    return [step for step, tok in enumerate(tokens) if int(np.argmax(rows[n - 1 + step])) != tok]


def escape_invisible(text: str) -> str:
    """Write control, format (zero-width, bidi, BOM), separator and unassigned characters as \\uXXXX so
    the file shows them and no editor or code viewer reorders it; JSON decoding gives the same strings."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch != " " and (cat[0] == "Z" or cat in ("Cc", "Cf", "Co", "Cn")):
            cp = ord(ch)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
            else:
                out.append("\\u%04x" % cp)
        else:
            out.append(ch)
    return "".join(out)


def compact_json(obj) -> str:
    """Readable JSON: one case per line, id arrays compact."""
    def dump(v):
        return escape_invisible(json.dumps(v, ensure_ascii=False, separators=(", ", ": ")))

    out = ["{"]
    for k in ("model", "model_sha256", "reference"):
        out.append(f"  {dump(k)}: {dump(obj[k])},")
    out.append('  "tokenize": [')
    rows = [f"    {{\"text\": {dump(c['text'])}, \"ids\": {json.dumps(c['ids'], separators=(',', ':'))}}}" for c in obj["tokenize"]]
    out.append(",\n".join(rows))
    out.append("  ],")
    out.append('  "greedy": [')
    rows = []
    for c in obj["greedy"]:
        parts = [
            f"      \"messages\": {dump(c['messages'])}",
            f"      \"prompt\": {dump(c['prompt'])}",
            f"      \"prompt_ids\": {json.dumps(c['prompt_ids'], separators=(',', ':'))}",
            f"      \"tokens\": {json.dumps(c['tokens'], separators=(',', ':'))}",
            f"      \"margins\": {json.dumps(c['margins'], separators=(',', ':'))}",
        ]
        rows.append("    {\n" + ",\n".join(parts) + "\n    }")
    out.append(",\n".join(rows))
    out.append("  ]")
    out.append("}")
    text = "\n".join(out) + "\n"
    assert json.loads(text) == obj
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?", help=f"GGUF file or directory holding {MODEL_FILE}")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--any-version", action="store_true", help="allow a llama.cpp build other than " + REFERENCE_BUILD)
    args = ap.parse_args()

    reference = build_description()
    if not reference.startswith(REFERENCE_BUILD) and not args.any_version:
        sys.exit(f"{reference} found, {REFERENCE_BUILD.strip()} wanted (run scripts/reference/setup.sh)")

    model = resolve_model(args.model)
    sha = sha256_of(model)
    if sha != MODEL_SHA256:
        sys.exit(f"{model}: sha256 {sha}, expected {MODEL_SHA256}")
    if len(set(TOKENIZE_TEXTS)) != len(TOKENIZE_TEXTS):
        sys.exit("duplicate tokenize texts")

    template, bos, eos = gguf_chat_template_and_specials(model)

    llm = Session(Llama(), str(model), N_THREADS, N_CTX)

    tokenize = [{"text": text, "ids": llm.tokenize(text)} for text in TOKENIZE_TEXTS]

    cases = []
    for messages in GREEDY_MESSAGES:
        prompt = render_chat(template, messages, bos, eos)
        prompt_ids = llm.tokenize(prompt)
        tokens, margins = greedy_run(llm, prompt_ids, N_STEPS)
        sampled = check_with_sampler(llm, prompt_ids, len(tokens))
        if sampled != tokens:
            sys.exit(f"case {len(cases) + 1}: llama.cpp's greedy sampler gives {sampled}, raw argmax {tokens}")
        bad = check_teacher_forced(llm, prompt_ids, tokens)
        if bad:
            print(f"note: case {len(cases) + 1}: teacher-forced batch argmax differs at steps {bad}", file=sys.stderr)
        cases.append({"messages": messages, "prompt": prompt, "prompt_ids": prompt_ids, "tokens": tokens, "margins": margins})
        print(f"greedy {len(cases)}: min margin {min(margins):.4f}: "
              f"{llm.detokenize(tokens).decode('utf-8', 'replace')!r}", file=sys.stderr)

    fixture = {
        "model": MODEL_FILE,
        "model_sha256": sha,
        "reference": reference,
        "tokenize": tokenize,
        "greedy": cases,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(compact_json(fixture), encoding="utf-8")
    print(f"wrote {out}: {len(tokenize)} tokenize cases, {len(cases)} greedy cases, {out.stat().st_size} bytes", file=sys.stderr)

    # Round-trip report (informative; llama.cpp's detokenizer is not always the inverse of its tokenizer).
    for c in tokenize:
        back = llm.detokenize(c["ids"])
        if back != c["text"].encode("utf-8"):
            print(f"round trip differs: {c['text']!r} -> {back.decode('utf-8', 'replace')!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
