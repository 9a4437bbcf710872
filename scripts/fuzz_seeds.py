#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (fuzz/fuzz_targets), made at run time from files in the
repository, ../shared/data and the installed models: scripts/fuzz_seeds.py CORPUS_DIR TARGET...

Each seed stays under 64 KiB (the fuzzer's -max_len), so big files give a cut or a sample. Nothing
here is committed as data: scripts/fuzz.sh writes the seeds into fuzz/corpus/ (ignored by git).
Standard library only.
"""

import io
import json
import os
import struct
import sys
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MAX = 64 * 1024


def models_dir():
    if os.environ.get("ALMANAC_MODELS_DIR"):
        return Path(os.environ["ALMANAC_MODELS_DIR"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "almanac" / "models"


def files(*patterns, under=ROOT, limit=MAX):
    out = []
    for pattern in patterns:
        out += [p for p in sorted(under.glob(pattern)) if p.is_file() and p.stat().st_size <= limit]
    return out


# --- GGUF: a reader for metadata, and a writer for tiny complete models ---------------------------

GGUF_TYPES = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf_metadata(path):
    """The metadata of a GGUF file (v2/v3) as a dict; tensors are not read."""
    with open(path, "rb") as f:
        data = f.read(64 << 20)
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string():
        nonlocal pos
        n = take("<Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            inner, n = take("<I"), take("<Q")
            return [value(inner) for _ in range(n)]
        return take(GGUF_TYPES[t])

    if data[:4] != b"GGUF":
        return {}
    _version, _tensors, kvs = struct.unpack_from("<IQQ", data, 4)
    pos = 24
    metadata = {}
    for _ in range(kvs):
        key = string()
        metadata[key] = value(take("<I"))
    return metadata


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(v):
    if isinstance(v, bool):
        return struct.pack("<I?", 7, v)
    if isinstance(v, int):
        return struct.pack("<II", 4, v)
    if isinstance(v, float):
        return struct.pack("<If", 6, v)
    if isinstance(v, str):
        return struct.pack("<I", 8) + gguf_string(v)
    kind = 8 if isinstance(v[0], str) else (6 if isinstance(v[0], float) else 5)
    body = b"".join(gguf_string(x) if kind == 8 else struct.pack(GGUF_TYPES[kind], x) for x in v)
    return struct.pack("<IIQ", 9, kind, len(v)) + body


def byte_alphabet():
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    out, extra = [], 256
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(extra))
            extra += 1
    return out


# GGML tensor types the engine runs: (type id, values per block, bytes per block, offsets of the
# block's f16 scales). The quants between the scales are any bytes.
GGML_BLOCKS = {
    "F32": (0, 1, 4, []), "F16": (1, 1, 2, []),
    "Q4_0": (2, 32, 18, [0]), "Q4_1": (3, 32, 20, [0, 2]), "Q5_0": (6, 32, 22, [0]),
    "Q5_1": (7, 32, 24, [0, 2]), "Q8_0": (8, 32, 34, [0]),
    "Q4_K": (12, 256, 144, [0, 2]), "Q5_K": (13, 256, 176, [0, 2]), "Q6_K": (14, 256, 210, [208]),
}


def tensor_bytes(kind, n, seed):
    """n values of type kind: F32/F16 small values, quantized blocks of pseudo-random quants with
    small positive scales (so the kernels see real sums, not infinities)."""
    if kind == "F32":
        return b"".join(struct.pack("<f", ((i * 37 + seed) % 17 - 8) / 16) for i in range(n))
    if kind == "F16":
        return b"".join(struct.pack("<e", ((i * 37 + seed) % 17 - 8) / 16) for i in range(n))
    _, per_block, size, scales = GGML_BLOCKS[kind]
    state, out = seed * 2654435761 + 1, bytearray()
    for _ in range(n // per_block):
        block = bytearray()
        for _ in range(size):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            block.append(state >> 56)
        for at in scales:
            block[at:at + 2] = struct.pack("<e", 0.01 + (block[at] % 8) / 256)
        out += block
    return bytes(out)


def tiny_gguf(template=None, spm=False, matrices="F32", ffn_down=None, emb=8, ff=16):
    """A complete Llama-shaped model as the engine tests' write_tiny_gguf makes it: 1 layer, 8 wide,
    F32 weights, a byte-level (or SentencePiece) vocabulary of a few hundred tokens. `matrices`
    gives the 2-D weights another type (then emb and ff must fit its blocks), `ffn_down` that of
    the one matrix whose rows are ff long (a K-quant when ff is 256)."""
    arch = "llama"
    if spm:
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581h", "\u2581he", "llo"]
        types = [2, 3, 3] + [6] * 256 + [1, 1, 1]
    else:
        tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + byte_alphabet() + ["he"]
        types = [3, 3, 3] + [1] * 256 + [1]
    vocab, heads, kv = len(tokens), 2, 1
    meta = [
        ("general.architecture", arch),
        (f"{arch}.context_length", 128),
        (f"{arch}.embedding_length", emb),
        (f"{arch}.block_count", 1),
        (f"{arch}.feed_forward_length", ff),
        (f"{arch}.attention.head_count", heads),
        (f"{arch}.attention.head_count_kv", kv),
        (f"{arch}.rope.dimension_count", emb // heads),
        (f"{arch}.attention.layer_norm_rms_epsilon", 1e-5),
        ("tokenizer.ggml.model", "llama" if spm else "gpt2"),
        ("tokenizer.ggml.tokens", tokens),
        ("tokenizer.ggml.token_type", types),
        ("tokenizer.ggml.bos_token_id", 1),
        ("tokenizer.ggml.eos_token_id", 2),
    ]
    if spm:
        meta.append(("tokenizer.ggml.scores", [-float(i) for i in range(vocab)]))
    else:
        meta += [("tokenizer.ggml.pre", "smollm"), ("tokenizer.ggml.merges", ["h e"])]
    if template:
        meta.append(("tokenizer.chat_template", template))
    hd = emb // heads
    shapes = [
        ("token_embd.weight", [emb, vocab], matrices), ("output_norm.weight", [emb], "F32"),
        ("blk.0.attn_norm.weight", [emb], "F32"), ("blk.0.ffn_norm.weight", [emb], "F32"),
        ("blk.0.attn_q.weight", [emb, emb], matrices), ("blk.0.attn_k.weight", [emb, kv * hd], matrices),
        ("blk.0.attn_v.weight", [emb, kv * hd], matrices), ("blk.0.attn_output.weight", [emb, emb], matrices),
        ("blk.0.ffn_gate.weight", [emb, ff], matrices), ("blk.0.ffn_up.weight", [emb, ff], matrices),
        ("blk.0.ffn_down.weight", [ff, emb], ffn_down or matrices),
    ]
    out = b"GGUF" + struct.pack("<IQQ", 3, len(shapes), len(meta))
    for key, v in meta:
        out += gguf_string(key) + gguf_value(v)
    offset, data = 0, b""
    for seed, (name, dims, kind) in enumerate(shapes):
        n = 1
        for d in dims:
            n *= d
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", GGML_BLOCKS[kind][0], offset)
        blob = tensor_bytes(kind, n, seed)
        blob += b"\0" * (-len(blob) % 32)
        data += blob
        offset += len(blob)
    out += b"\0" * (-len(out) % 32)
    return out + data


def installed_ggufs():
    return files("*.gguf", under=models_dir(), limit=1 << 40) + files(
        "crates/engine/tests/fixtures/**/*.gguf", limit=1 << 40)


# --- documents ------------------------------------------------------------------------------------

def pdf(objects):
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects):
        offsets.append(len(out))
        out += f"{i + 1} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def pdf_page(content, font=b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", compress=False):
    stream = zlib.compress(content) if compress else content
    filt = b" /Filter /FlateDecode" if compress else b""
    return pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        font,
        b"<< /Length %d%s >>\nstream\n" % (len(stream), filt) + stream + b"\nendstream",
    ])


def zipped(entries, stored_first=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if stored_first:
            z.writestr(zipfile.ZipInfo(stored_first[0]), stored_first[1], zipfile.ZIP_STORED)
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def small_epub(chapters):
    container = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                 '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
    manifest = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters)))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Seed book</dc:title></metadata>'
           f"<manifest>{manifest}</manifest><spine>{spine}</spine></package>")
    entries = [("META-INF/container.xml", container), ("OEBPS/content.opf", opf)]
    for i, body in enumerate(chapters):
        entries.append((f"OEBPS/c{i}.xhtml",
                        f'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>C{i}</title></head><body>{body}</body></html>'))
    return zipped(entries, stored_first=("mimetype", "application/epub+zip"))


def slimmed_zip(path, keep):
    """A real archive with only the entries `keep` accepts, each cut to a few KiB."""
    entries = []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if keep(info.filename):
                entries.append((info.filename, z.read(info)[:12000]))
    mimetype = [e for e in entries if e[0] == "mimetype"]
    rest = [e for e in entries if e[0] != "mimetype"]
    return zipped(rest, stored_first=mimetype[0] if mimetype else None)


# --- seeds per target -----------------------------------------------------------------------------

def seeds_gguf_header():
    yield "tiny-gpt2.gguf", tiny_gguf()
    yield "tiny-gpt2-template.gguf", tiny_gguf("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}")
    yield "tiny-spm.gguf", tiny_gguf(spm=True)
    # Every weight type the kernels run, within -max_len: 32 wide for the 32-value blocks, the
    # feed-forward 256 wide so that ffn_down's rows are one K-quant block.
    for matrices, down in [("Q8_0", "Q4_K"), ("Q4_0", "Q5_K"), ("Q4_1", "Q6_K"), ("Q5_0", "Q8_0"),
                           ("Q5_1", "Q4_K")]:
        yield f"tiny-{matrices}-{down}.gguf", tiny_gguf(matrices=matrices, ffn_down=down, emb=32, ff=256)
    yield "tiny-F16.gguf", tiny_gguf(matrices="F16", emb=32, ff=32)
    for p in files("crates/engine/tests/fixtures/**/*.gguf", limit=1 << 40):
        yield p.name + ".head", p.read_bytes()[:MAX]


def vocabulary_seed(meta, n_tokens=400, n_merges=300, text="Hello world! 123 <|im_end|> 안녕하세요"):
    model = meta.get("tokenizer.ggml.model", "gpt2")
    tokens = meta.get("tokenizer.ggml.tokens", [])
    types = meta.get("tokenizer.ggml.token_type", [1] * len(tokens))
    specials = [i for i, t in enumerate(types) if t in (2, 3, 4)][:20]
    keep = sorted(set(range(min(n_tokens, len(tokens)))) | set(specials))
    lines = [f"{types[i]}\t{tokens[i]}" if types[i] != 1 else tokens[i] for i in keep]
    lines = [l.replace("\n", "\u010a") for l in lines]
    merges = meta.get("tokenizer.ggml.merges", [])[:n_merges]
    bos = keep.index(meta["tokenizer.ggml.bos_token_id"]) if meta.get("tokenizer.ggml.bos_token_id") in keep else 0
    eos = keep.index(meta["tokenizer.ggml.eos_token_id"]) if meta.get("tokenizer.ggml.eos_token_id") in keep else 1
    head = f"{model} {meta.get('tokenizer.ggml.pre', '-')} 1 {bos} {eos}"
    return "\n%%\n".join([head, "\n".join(lines), "\n".join(merges), text]).encode()[:MAX]


def seeds_tokenizer():
    alphabet = byte_alphabet()
    yield "bytes.txt", "\n%%\n".join([
        "gpt2 smollm 1 0 1", "3\t<|endoftext|>\n3\t<|im_start|>\n3\t<|im_end|>\n" + "\n".join(alphabet) + "\nhe\nll\nhell",
        "h e\nl l\nhe ll", "hello <|im_start|>user\nhi<|im_end|>"]).encode()
    yield "spm.txt", "\n%%\n".join([
        "llama - 11 1 2", "2\t<unk>\n3\t<s>\n3\t</s>\n" + "\n".join(f"6\t<0x{b:02X}>" for b in range(256)) + "\n\u2581h\n\u2581he\nllo\n\u2581hello",
        "", "hello world \u00e9\u4e2d"]).encode()
    for path in installed_ggufs():
        meta = read_gguf_metadata(path)
        if meta.get("tokenizer.ggml.tokens"):
            yield path.name + ".txt", vocabulary_seed(meta)


def seeds_chat_template():
    conversation = "\n%%\n".join(["You answer from the sources.", "What is the capital of France?", "Paris [1].", "And of Korea?"])
    yield "simple.txt", ("{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}\n%%\n" + conversation).encode()
    yield "chatml.txt", ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
                         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}\n%%\n" + conversation).encode()
    for path in installed_ggufs():
        template = read_gguf_metadata(path).get("tokenizer.chat_template")
        if isinstance(template, str):
            yield path.name + ".txt", (template + "\n%%\n" + conversation).encode()[:MAX]


def seeds_html_extract():
    for p in files("crates/fetch/tests/fixtures/chrome/*.html"):
        yield p.name, p.read_bytes()


def seeds_pdf():
    for p in files("ingest-docs/**/*.pdf", under=SHARED):
        yield p.name, p.read_bytes()
    text = b"BT /F1 12 Tf 72 712 Td (Hello from a seed) Tj 0 -14 Td [(Kerned) -200 (text)] TJ ET"
    yield "plain.pdf", pdf_page(text)
    yield "flate.pdf", pdf_page(text, compress=True)
    yield "winansi.pdf", pdf_page(text, font=b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /WinAnsiEncoding >>")
    # The file that makes pdf-extract panic (crates/documents/tests/worker_boundary.rs).
    yield "unknown-encoding.pdf", pdf_page(text, font=b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /AlmanacUnknownEncoding >>")


def seeds_docx():
    for p in files("ingest-docs/**/*.docx", under=SHARED):
        yield p.name, p.read_bytes()
    for p in files("ingest-docs/**/*.docx", under=SHARED, limit=1 << 30):
        if p.stat().st_size > MAX:
            yield p.name + ".slim", slimmed_zip(p, lambda n: n.endswith(".xml") or n.endswith(".rels"))[:MAX]


def seeds_epub():
    yield "small.epub", small_epub(["<h1>One</h1><p>First chapter.</p>", "<h2>Two</h2><p>Second <b>chapter</b>.</p>"])
    for p in files("ingest-docs/**/*.epub", under=SHARED, limit=1 << 30):
        yield p.name + ".slim", slimmed_zip(p, lambda n: not n.lower().endswith((".jpg", ".jpeg", ".png", ".gif", ".ttf", ".otf", ".woff", ".css")))[:MAX]


def seeds_text_formats():
    for p in files("crates/eval/tests/fixtures/**/*.csv", "docs/*.md", "crates/documents/src/encoding.rs",
                   "crates/fetch/tests/fixtures/chrome/0[1-3]*.html"):
        yield p.name, p.read_bytes()[:MAX]
    korean = (SHARED / "seed-ko" / "llm-era-lecture-notes-ko.txt").read_text(encoding="utf-8")[:3000]
    yield "ko-utf8.txt", korean.encode()
    yield "ko-euc-kr.txt", korean.encode("euc-kr", "replace")
    yield "ko-utf16le-bom.txt", b"\xff\xfe" + korean[:500].encode("utf-16-le")
    japanese = "日本語のテキスト、シフトJISで。カタカナとひらがな。\n" * 20
    yield "ja-shift-jis.txt", japanese.encode("shift_jis")
    yield "latin1.csv", "name,city\nJosé,Málaga\nZoë,Köln\n".encode("latin-1")


def seeds_chunker():
    for p in files("docs/*.md", "README.md", "crates/*/README.md"):
        yield p.name, bytes([40]) + p.read_bytes()[:MAX - 1]


def seeds_beir():
    scifact = SHARED / "beir-scifact"
    corpus = (scifact / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    queries = (scifact / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    qrels = (scifact / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    yield "scifact-sample", "\0".join(["\n".join(corpus[:8]), "\n".join(queries[:10]), "\n".join(qrels[:12])]).encode()[:MAX]
    for p in files("crates/**/tests/fixtures/**/corpus.jsonl", "tests/fixtures/**/corpus.jsonl"):
        d = p.parent
        parts = [p, d / "queries.jsonl", d / "qrels" / "test.tsv"]
        if all(x.is_file() for x in parts):
            yield "fixture-" + d.name, b"\0".join(x.read_bytes()[:20000] for x in parts)


def seeds_settings():
    yield "empty.json", b"{}"
    yield "some.json", json.dumps({
        "context_length": 2048, "max_answer_tokens": 256, "temperature": 0.2, "top_p": 0.9, "top_k": 40,
        "sources": 6, "min_similarity": 0.25, "chunk_tokens": 200, "chunk_overlap_tokens": 40,
        "parse_timeout_secs": 60, "parse_memory_mib": 2048, "web_allow": ["10.0.0.0/8"],
        "system_prompt": "Answer from the sources.", "chat_template": "{{ messages[0].content }}",
        "backend": {"kind": "openai", "base_url": "http://127.0.0.1:8081/v1", "model": "m"},
    }, indent=1).encode()
    for p in files("**/settings*.json"):
        yield p.name, p.read_bytes()


def seeds_http_api():
    bodies = [
        (0, {"text": "What is the capital of France?", "options": {"sources": 3}}),
        (0, {"text": "hi", "conversation_id": "1"}),
        (1, {"model": "local", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
             "max_tokens": 16, "temperature": 0.5, "stream": True, "stop": ["\n"]}),
        (1, {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "n": 1, "seed": 3}),
        (2, {"input": ["first passage", "second passage"], "model": "all-MiniLM-L6-v2", "encoding_format": "base64"}),
        (2, {"input": "one passage"}),
        (3, {"temperature": 0.3, "sources": 4, "web_allow": ["192.168.1.0/24"], "backend": {"kind": "local"}}),
        (4, {"text": "Hello <|im_end|> world"}),
        (5, {"title": "Renamed conversation"}),
        (6, {}),
        (7, {"path": "/nonexistent/model.gguf"}),
    ]
    for i, (route, body) in enumerate(bodies):
        yield f"{i:02}-route{route}", bytes([route]) + json.dumps(body).encode()


def main():
    corpus_dir = Path(sys.argv[1])
    for target in sys.argv[2:]:
        make = globals().get("seeds_" + target)
        if make is None:
            sys.exit(f"fuzz_seeds.py: no seeds for target {target}")
        out = corpus_dir / target
        out.mkdir(parents=True, exist_ok=True)
        count = 0
        for name, data in make():
            (out / ("seed-" + name)).write_bytes(data[:MAX])
            count += 1
        print(f"{target}: {count} seeds")


if __name__ == "__main__":
    main()
