#!/usr/bin/env python3
"""Build two small vocab-only GGUF files and record what llama.cpp makes of them, for Almanac's
tokenizer parity tests on the two vocabulary kinds that SmolLM2 does not cover.

What it produces (relative to the repository root, in tests/fixtures/llamacpp/)
    spm-vocab.gguf        A SentencePiece BPE vocabulary, trained here the way Llama 2's was
                          (byte_fallback, split_digits, identity normalisation, dummy prefix, whitespace-only
                          pieces allowed), written as llama.cpp's convert_hf_to_gguf.py writes Llama 2:
                          general.architecture=llama, tiny llama.* hyperparameters, tokenizer.ggml.model="llama",
                          pre "default", tokens, scores, token_type (normal/unknown/control/byte), bos/eos/unk
                          ids, add_bos_token=true, add_eos_token=false, add_space_prefix=true, a Llama-2-style
                          chat template. No tensors.
    llama3-vocab.gguf     A byte-level BPE vocabulary trained with Hugging Face `tokenizers` using Llama 3's
                          pre-tokenizer (Split on Llama 3's regex, then ByteLevel without its own regex) and
                          Llama 3.1's first 16 special tokens (<|begin_of_text|>, <|end_of_text|>,
                          <|start_header_id|>, <|end_header_id|>, <|eom_id|>, <|eot_id|>, ...) as control
                          tokens after the learned ones, written as convert_hf_to_gguf.py writes Llama 3:
                          tokenizer.ggml.model="gpt2", pre "llama-bpe", tokens, token_type, merges, bos
                          (<|begin_of_text|>), eos (<|eot_id|>), add_bos_token=true. No tensors.
    spm-parity.json       For every test string: llama.cpp's token ids and its detokenization (see below).
    llama3-parity.json

    Both vocabularies are trained on the text of Almanac's own repository (MIT OR Apache-2.0) at the pinned
    commit CORPUS_COMMIT: its Markdown, Rust, Python, shell, TOML and plain-text files, read with
    `git show`, so the corpus (and with it both GGUFs) is the same whenever and wherever this runs. Training
    is single-threaded and deterministic; the script prints the sha256 of every file it writes, and
    --check rebuilds everything in a temporary directory and fails unless it is byte-identical to the
    committed files.

Fixture layout
    {"gguf": "spm-vocab.gguf", "gguf_sha256": "...", "llama_cpp_python": "0.3.36",
     "sentencepiece": "0.2.3", "tokenizers": "0.23.3", "bos": 1, "eos": 2, "add_bos": true,
     "cases": [{"text": "...", "ids": [...], "ids_bos": [...], "ids_literal": [...],
                "decoded": "...", "decoded_special": "...", "decoded_bos": "...",
                "uncleaned": {...}}, ...],
     "corpus": [{"text": "...", "ids": [...]}, ...]}

    * ids         = tokenize(text, add_bos=False, special=True)   (llama_tokenize, add_special=false,
                                                                  parse_special=true)
    * ids_bos     = tokenize(text, add_bos=True,  special=True)
    * ids_literal = tokenize(text, add_bos=False, special=False)  (control-token texts stay plain text)
    * decoded         = llama_detokenize(ids,     remove_special=false, unparse_special=false)
    * decoded_special = llama_detokenize(ids,     remove_special=false, unparse_special=true)
    * decoded_bos     = llama_detokenize(ids_bos, remove_special=true,  unparse_special=false)
      Detokenized bytes that are not valid UTF-8 would be written as {"hex": "..."}; none are today.
    * uncleaned (only where it differs): the same three before llama_detokenize's clean_spaces pass,
      which llama.cpp runs for most byte-level vocabularies (Llama 3's included) and not for
      SentencePiece: it drops the space in " ,", " .", " ?", " !", " 's", " 'm", " 're", " 've" and
      around a lone "'". That is, the concatenated llama_token_to_piece of the tokens, which is also
      what llama.cpp prints while generating.
    * corpus: every 50th training line with ids = tokenize(line, add_bos=False, special=True); the
      script checks that llama.cpp's pieces (special tokens written out) give the line back exactly.

    The strings are those of make_llamacpp_fixture.py (English, Korean, CJK, other scripts, emoji, code,
    whitespace runs, digits, ChatML special tokens, odd Unicode) plus, per vocabulary, its own special
    tokens in text (whole, partial, repeated, glued to words) and a rendered chat prompt.

How to run
    pip install llama-cpp-python==0.3.36 gguf sentencepiece tokenizers
    python3 scripts/reference/make_vocab_parity_fixtures.py            # writes the four files
    python3 scripts/reference/make_vocab_parity_fixtures.py --check    # rebuild and compare, write nothing

    Versions used for the committed files: see tests/fixtures/llamacpp/README.md. A different sentencepiece
    or tokenizers version may learn a different vocabulary; --check says so.
"""

import argparse
import ctypes
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
OUT_DIR = REPO_ROOT / "tests" / "fixtures" / "llamacpp"
sys.path.insert(0, str(HERE))
from make_llamacpp_fixture import TOKENIZE_TEXTS, escape_invisible  # noqa: E402

LLAMA_CPP_PYTHON = "0.3.36"

# The corpus: Almanac's own files at this commit (the project's licence, MIT OR Apache-2.0).
CORPUS_COMMIT = "56c40971ce649f78cc2732ecb6f515aecb7c5d00"
CORPUS_SUFFIXES = (".md", ".rs", ".py", ".sh", ".toml", ".txt")

SPM_VOCAB_SIZE = 3000
BPE_VOCAB_SIZE = 3000  # learned tokens; the special tokens come on top
CORPUS_STRIDE = 50  # every 50th training line also goes into the fixtures

# Llama 3's pre-tokenizer regex, as in its tokenizer.json.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Llama 3.1's first 16 added tokens, in its order (128000..128015 there).
LLAMA3_SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    "<|reserved_special_token_3|>",
    "<|reserved_special_token_4|>",
    "<|reserved_special_token_5|>",
    "<|reserved_special_token_6|>",
    "<|reserved_special_token_7|>",
]

# A Llama-2-style chat template (written for this test vocabulary).
SPM_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + message['content'] + '\\n<</SYS>>\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)

# gguf token types (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Spaces before punctuation and apostrophes: what llama_detokenize's clean_spaces pass removes for
# byte-level vocabularies (Llama 3 among them).
CLEANUP_TEXT = "Hello , world . Really ? Yes ! It 's fine , isn 't it ? I 'm sure they 're right ' q ' x"

SPM_EXTRA_TEXTS = [
    "<s>",
    "</s>",
    "<unk>",
    "<s>hello",
    "hello</s>",
    "<s> hello",
    "hello <s> world",
    "a<s>b</s>c<unk>d",
    "<s><s>",
    "</s></s> x",
    "<s",
    "s>",
    "<0x41>",
    "<0x0A>",
    "\u2581already escaped",
    "\u2581\u2581two",
    "[INST] What is 2+2? [/INST] 4 </s>",
    "<s>[INST] <<SYS>>\nAnswer briefly.\n<</SYS>>\n\nWhat is the capital of France? [/INST]",
    "100,000,000 and 3.14",
    "  two leading spaces",
    "\n leading newline",
    "ends with newline\n",
    CLEANUP_TEXT,
]

LLAMA3_EXTRA_TEXTS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|python_tag|>",
    "<|reserved_special_token_0|>",
    "<|begin_of_text|>hello",
    "<|begin_of_text|><|begin_of_text|>",
    "hello<|eot_id|>world",
    "<|eot_id",
    "eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    "Answer from the sources.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
    "When was the tower built?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "1234567",
    "12 345 6789",
    "it's IT'S It'Ll we'RE",
    "\n\n\n\nfour newlines",
    "spaces   \n\n   then text",
    "tab\t\tnewline\r\n\r\nend",
    CLEANUP_TEXT,
]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def corpus_lines() -> list[str]:
    """The lines of Almanac's own text files at CORPUS_COMMIT, in path order."""
    try:
        names = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "ls-tree", "-r", "--name-only", CORPUS_COMMIT],
            check=True, capture_output=True, text=True,
        ).stdout.split("\n")
    except subprocess.CalledProcessError as e:
        sys.exit(f"cannot list the corpus at {CORPUS_COMMIT} (is this a full clone?): {e.stderr.strip()}")
    names = sorted(n for n in names if n.endswith(CORPUS_SUFFIXES))
    lines = []
    for name in names:
        blob = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "show", f"{CORPUS_COMMIT}:{name}"],
            check=True, capture_output=True,
        ).stdout
        lines.extend(line for line in blob.decode("utf-8").split("\n") if line.strip())
    return lines


# ---------------------------------------------------------------------------------------------------
# SentencePiece


def train_spm(lines: list[str], workdir: Path) -> bytes:
    import sentencepiece as spm

    corpus = workdir / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = io.BytesIO()
    # Llama 2's trainer_spec, scaled down; single-threaded and unshuffled so it is deterministic.
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_writer=model,
        model_type="bpe",
        vocab_size=SPM_VOCAB_SIZE,
        character_coverage=0.99995,
        byte_fallback=True,
        split_digits=True,
        split_by_unicode_script=True,
        split_by_whitespace=True,
        split_by_number=True,
        allow_whitespace_only_pieces=True,
        treat_whitespace_as_suffix=False,
        max_sentencepiece_length=16,
        max_sentence_length=4192,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        unk_piece="<unk>",
        bos_piece="<s>",
        eos_piece="</s>",
        hard_vocab_limit=True,
        vocabulary_output_piece_score=True,
        num_threads=1,
        shuffle_input_sentence=False,
        input_sentence_size=0,
        minloglevel=2,
    )
    return model.getvalue()


def spm_vocab(model_proto: bytes):
    """tokens, scores, types exactly as convert_hf_to_gguf.py's _create_vocab_sentencepiece makes them."""
    from sentencepiece import SentencePieceProcessor

    sp = SentencePieceProcessor(model_proto=model_proto)
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        if sp.IsUnknown(i):
            t = UNKNOWN
        elif sp.IsControl(i):
            t = CONTROL
        elif sp.IsUnused(i):
            t = UNUSED
        elif sp.IsByte(i):
            t = BYTE
        else:
            t = NORMAL
        tokens.append(sp.IdToPiece(i).encode("utf-8"))
        scores.append(sp.GetScore(i))
        types.append(t)
    return tokens, scores, types


def write_llama_header(w, vocab_size: int, rope_base: float):
    """Tiny llama.* hyperparameters: enough for llama.cpp's vocab_only load, no tensors."""
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(16)
    w.add_rope_freq_base(rope_base)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab_size)
    w.add_file_type(0)  # all F32 (there are no tensors)


def finish_gguf(w) -> None:
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_spm_gguf(path: Path, model_proto: bytes) -> None:
    import gguf

    tokens, scores, types = spm_vocab(model_proto)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Almanac SentencePiece test vocabulary")
    w.add_license("MIT OR Apache-2.0")
    write_llama_header(w, len(tokens), 10000.0)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_space_prefix(True)
    w.add_chat_template(SPM_CHAT_TEMPLATE)
    finish_gguf(w)


# ---------------------------------------------------------------------------------------------------
# Llama 3 style byte-level BPE


def train_llama3_bpe(lines: list[str]):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(lines, trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    if [i for _, i in vocab] != list(range(len(vocab))):
        sys.exit("the trained BPE vocabulary has gaps in its ids")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return [t for t, _ in vocab], merges


def write_llama3_gguf(path: Path, learned: list[str], merges: list[str]) -> None:
    import gguf

    tokens = learned + LLAMA3_SPECIALS
    types = [NORMAL] * len(learned) + [CONTROL] * len(LLAMA3_SPECIALS)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Almanac Llama-3-style test vocabulary")
    w.add_license("MIT OR Apache-2.0")
    write_llama_header(w, len(tokens), 500000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|begin_of_text|>"))
    w.add_eos_token_id(tokens.index("<|eot_id|>"))
    w.add_add_bos_token(True)
    finish_gguf(w)


# ---------------------------------------------------------------------------------------------------
# llama.cpp


def load_vocab(path: Path):
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    return LlamaModel(path_model=str(path), params=params, verbose=False)


def detokenize(model, ids, remove_special: bool, unparse_special: bool) -> bytes:
    import llama_cpp

    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 64 + 16 * len(ids)
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(model.vocab, arr, len(ids), buf, size, remove_special, unparse_special)
        if n >= 0:
            return buf.raw[:n]
        size = -n + 1


def token_pieces(model, ids, special: bool, strip_first: bool) -> bytes:
    """What llama_detokenize puts together before its clean_spaces pass: llama_token_to_piece of every
    token, one leading space stripped from the first when the vocabulary adds a prefix space."""
    import llama_cpp

    out = b""
    for n, token in enumerate(ids):
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            k = llama_cpp.llama_token_to_piece(model.vocab, token, buf, size, 1 if n == 0 and strip_first else 0, special)
            if k >= 0:
                out += buf.raw[:k]
                break
            size = -k + 1
    return out


def text_or_hex(data: bytes):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": data.hex()}


def reference_cases(model, texts, spm: bool):
    cases = []
    for text in texts:
        raw = text.encode("utf-8")
        ids = [int(i) for i in model.tokenize(raw, add_bos=False, special=True)]
        ids_bos = [int(i) for i in model.tokenize(raw, add_bos=True, special=True)]
        ids_literal = [int(i) for i in model.tokenize(raw, add_bos=False, special=False)]
        case = {"text": text, "ids": ids, "ids_bos": ids_bos, "ids_literal": ids_literal}
        uncleaned = {}
        for key, seq, remove_special, special in (
            ("decoded", ids, False, False),
            ("decoded_special", ids, False, True),
            ("decoded_bos", ids_bos, True, False),
        ):
            full = detokenize(model, seq, remove_special, special)
            # With remove_special llama_detokenize drops the leading BOS (add_eos is false) and strips no
            # prefix space; keeping BOS, whose piece is empty when special is false, comes to the same.
            parts = token_pieces(model, seq, special, spm)
            case[key] = text_or_hex(full)
            if parts != full:
                if spm:
                    sys.exit(f"{text!r}: {key}: llama_detokenize {full!r} is not its pieces {parts!r}")
                uncleaned[key] = text_or_hex(parts)
        if uncleaned:
            case["uncleaned"] = uncleaned
        cases.append(case)
    return cases


def corpus_cases(model, lines, spm: bool):
    """Every CORPUS_STRIDE-th training line: the text the merges were learned from, so long merges
    and their order are exercised. llama.cpp must decode each back to the exact line."""
    cases = []
    for text in lines[::CORPUS_STRIDE]:
        ids = [int(i) for i in model.tokenize(text.encode("utf-8"), add_bos=False, special=True)]
        back = token_pieces(model, ids, True, spm)
        if back != text.encode("utf-8"):
            sys.exit(f"corpus line {text!r}: llama.cpp decodes it as {back!r}")
        cases.append({"text": text, "ids": ids})
    return cases


def fixture_json(obj) -> str:
    """One case per line, as make_llamacpp_fixture.py writes; invisible characters as \\u escapes."""
    def dump(v):
        return escape_invisible(json.dumps(v, ensure_ascii=False, separators=(", ", ": ")))

    lists = ("cases", "corpus")
    head = [f"  {dump(k)}: {dump(obj[k])}" for k in obj if k not in lists]
    blocks = []
    for name in lists:
        rows = []
        for c in obj[name]:
            parts = []
            for k, v in c.items():
                if k.startswith("ids"):
                    parts.append(f"\"{k}\": {json.dumps(v, separators=(',', ':'))}")
                else:
                    parts.append(f"{dump(k)}: {dump(v)}")
            rows.append("    {" + ", ".join(parts) + "}")
        blocks.append(f"  \"{name}\": [\n" + ",\n".join(rows) + "\n  ]")
    text = "{\n" + ",\n".join(head + blocks) + "\n}\n"
    assert json.loads(text) == obj
    return text


def build(out_dir: Path) -> dict:
    """Writes the four files into out_dir; returns {name: sha256}."""
    import llama_cpp
    import sentencepiece
    import tokenizers

    lines = corpus_lines()
    print(f"corpus: {len(lines)} lines of Almanac text at {CORPUS_COMMIT[:12]}", file=sys.stderr)
    texts_common = list(TOKENIZE_TEXTS)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        proto = train_spm(lines, Path(tmp))
    spm_path = out_dir / "spm-vocab.gguf"
    write_spm_gguf(spm_path, proto)

    learned, merges = train_llama3_bpe(lines)
    llama3_path = out_dir / "llama3-vocab.gguf"
    write_llama3_gguf(llama3_path, learned, merges)

    for name, path, extra in (
        ("spm-parity.json", spm_path, SPM_EXTRA_TEXTS),
        ("llama3-parity.json", llama3_path, LLAMA3_EXTRA_TEXTS),
    ):
        texts = texts_common + [t for t in extra if t not in texts_common]
        if len(set(texts)) != len(texts):
            sys.exit(f"{name}: duplicate texts")
        model = load_vocab(path)
        vocab = model.vocab
        fixture = {
            "gguf": path.name,
            "gguf_sha256": sha256_bytes(path.read_bytes()),
            "llama_cpp_python": llama_cpp.__version__,
            "sentencepiece": sentencepiece.__version__,
            "tokenizers": tokenizers.__version__,
            "bos": int(llama_cpp.llama_vocab_bos(vocab)),
            "eos": int(llama_cpp.llama_vocab_eos(vocab)),
            "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
            "cases": reference_cases(model, texts, name.startswith("spm")),
            "corpus": corpus_cases(model, lines, name.startswith("spm")),
        }
        model.close()
        (out_dir / name).write_text(fixture_json(fixture), encoding="utf-8")
        round_trip = sum(c["decoded_special"] == c["text"] for c in fixture["cases"])
        print(f"{name}: {len(texts)} cases, {round_trip} decode back to the exact text; "
              f"{len(fixture['corpus'])} corpus lines", file=sys.stderr)
    for name in ("spm-vocab.gguf", "llama3-vocab.gguf", "spm-parity.json", "llama3-parity.json"):
        data = (out_dir / name).read_bytes()
        out[name] = sha256_bytes(data)
        print(f"{name}: {len(data)} bytes, sha256 {out[name]}", file=sys.stderr)
    return out


try:
    import llama_cpp as _llama_cpp

    @_llama_cpp.llama_log_callback
    def _quiet_log(level, text, user_data):
        pass
except ImportError:  # reported by main()
    _quiet_log = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="rebuild in a temporary directory and compare with the committed files")
    ap.add_argument("--out-dir", default=str(OUT_DIR))
    ap.add_argument("--any-version", action="store_true",
                    help="allow a llama-cpp-python other than " + LLAMA_CPP_PYTHON)
    args = ap.parse_args()

    import llama_cpp

    if llama_cpp.__version__ != LLAMA_CPP_PYTHON and not args.any_version:
        sys.exit(f"llama-cpp-python {llama_cpp.__version__} found, {LLAMA_CPP_PYTHON} wanted")
    # llama.cpp logs a warning for every doubled BOS (texts that start with BOS, add_bos=True).
    llama_cpp.llama_log_set(_quiet_log, ctypes.c_void_p(0))

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = build(Path(tmp))
        differ = [n for n, h in fresh.items()
                  if not (Path(args.out_dir) / n).exists()
                  or sha256_bytes((Path(args.out_dir) / n).read_bytes()) != h]
        if differ:
            sys.exit(f"rebuilt files differ from {args.out_dir}: {', '.join(differ)}")
        print("rebuilt files are byte-identical to the committed ones", file=sys.stderr)
    else:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        build(out)


if __name__ == "__main__":
    main()
