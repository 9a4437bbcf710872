#!/usr/bin/env python3
"""llama.cpp as the reference for Almanac's generation bench and fixtures, driven through ctypes over the
C API that xllamacpp's one shared library exports (llama.cpp b11549, prebuilt; see setup.sh).

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout, so a caller can keep
the model loaded and alternate requests with its own runs. Errors come back as {"error": "..."}.
Every reply carries "reference" (the build) and "system_info" (llama_print_system_info).

  {"mode": "info"}
  {"mode": "bench", "model": PATH, "prompt_ids": [...], "threads": 2, "n_ctx": 4096, "runs": 1,
   "decode_tokens": 128, "follow_up_ids": [...]}           (follow_up_ids optional)
      -> {"runs": [{"prefill_s", "decode_s", "generated", "end_of_turn",
                    "follow_up_ttft_s", "follow_up_cached", "follow_up_prompt"}], "peak_rss_kib"}
      Each run starts from an empty KV cache. prefill_s runs from the start to the first greedily sampled
      token (prompt evaluation and that sample), decode_s from there to the end: the definitions of
      crates/cli/src/bench/generation.rs. With follow_up_ids, the run's cache (prompt + answer) is then
      kept up to the longest common prefix with follow_up_ids, as llama-server's prompt cache does, and
      follow_up_ttft_s times evaluating the rest and sampling its first token.
  {"mode": "logits", "model": PATH, "prompts": [[...], ...], "threads": 2, "all_positions": false}
      -> {"logits": [[float per vocab entry] per prompt]}  (last position; with all_positions, one such
         list per position for each prompt, under "all")
  {"mode": "greedy", "model": PATH, "prompt_ids": [...], "steps": 32, "threads": 2, "n_ctx": 2048}
      -> {"tokens": [...], "margins": [...]}
      From an empty KV cache: the prompt in one batch, then one token per step. Each step takes the raw
      argmax of the last position's logits (no sampler) and feeds it back; margin = top-1 minus top-2
      logit, rounded to 4 decimals. Never stops at end-of-turn: always `steps` tokens.
  {"mode": "tokenize", "model": PATH, "texts": ["...", ...]}
      -> {"ids": [[...] per text]}  (llama_tokenize with add_special=False, parse_special=True)

Run: `python3 llamacpp.py < request.json` (one or more lines), with the python of setup.sh's venv.
"""
import ctypes
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import time

# Sizes of the parameter structs in b11549, measured by letting llama_*_default_params write into a
# poisoned buffer (see _defaults). The fields set here are checked after use through llama.cpp's getters.
MODEL_PARAMS_SIZE = 80
CONTEXT_PARAMS_SIZE = 168
CONTEXT_N_CTX, CONTEXT_N_BATCH, CONTEXT_N_UBATCH = 0, 4, 8
CONTEXT_N_THREADS, CONTEXT_N_THREADS_BATCH = 28, 32
# enum llama_flash_attn_type: -1 auto (the default: on for the CPU), 0 disabled, 1 enabled. Checked
# in llama.cpp's own log ("flash_attn = disabled") when the offset was found; no getter exists.
CONTEXT_FLASH_ATTN_TYPE = 52
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}

c_int32, c_float, c_void_p = ctypes.c_int32, ctypes.c_float, ctypes.c_void_p


class Batch(ctypes.Structure):
    """llama_batch (include/llama.h); layout checked against llama_batch_get_one's output."""

    _fields_ = [
        ("n_tokens", c_int32),
        ("token", ctypes.POINTER(c_int32)),
        ("embd", ctypes.POINTER(c_float)),
        ("pos", ctypes.POINTER(c_int32)),
        ("n_seq_id", ctypes.POINTER(c_int32)),
        ("seq_id", ctypes.POINTER(ctypes.POINTER(c_int32))),
        ("logits", ctypes.POINTER(ctypes.c_int8)),
    ]


class ModelParams(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint8 * MODEL_PARAMS_SIZE)]


class ContextParams(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint8 * CONTEXT_PARAMS_SIZE)]


LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, c_void_p)


def library_path() -> str:
    spec = importlib.util.find_spec("xllamacpp")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("xllamacpp is not installed: run scripts/reference/setup.sh")
    return os.path.join(spec.submodule_search_locations[0], "xllamacpp.abi3.so")


def _declare(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


class Llama:
    """The C API functions used here, declared once."""

    def __init__(self, verbose: bool = False):
        self.lib = lib = ctypes.CDLL(library_path())
        d = lambda name, res, *args: _declare(lib, name, res, *args)  # noqa: E731
        self.backend_init = d("llama_backend_init", None)
        self.log_set = d("llama_log_set", None, LOG_CALLBACK, c_void_p)
        self.print_system_info = d("llama_print_system_info", ctypes.c_char_p)
        self.model_load = d("llama_model_load_from_file", c_void_p, ctypes.c_char_p, ModelParams)
        self.model_free = d("llama_model_free", None, c_void_p)
        self.model_get_vocab = d("llama_model_get_vocab", c_void_p, c_void_p)
        self.vocab_n_tokens = d("llama_vocab_n_tokens", c_int32, c_void_p)
        self.vocab_is_eog = d("llama_vocab_is_eog", ctypes.c_bool, c_void_p, c_int32)
        self.tokenize = d("llama_tokenize", c_int32, c_void_p, ctypes.c_char_p, c_int32,
                          ctypes.POINTER(c_int32), c_int32, ctypes.c_bool, ctypes.c_bool)
        self.detokenize = d("llama_detokenize", c_int32, c_void_p, ctypes.POINTER(c_int32), c_int32,
                            ctypes.c_char_p, c_int32, ctypes.c_bool, ctypes.c_bool)
        self.init_from_model = d("llama_init_from_model", c_void_p, c_void_p, ContextParams)
        self.free = d("llama_free", None, c_void_p)
        self.n_ctx = d("llama_n_ctx", ctypes.c_uint32, c_void_p)
        self.n_batch = d("llama_n_batch", ctypes.c_uint32, c_void_p)
        self.n_ubatch = d("llama_n_ubatch", ctypes.c_uint32, c_void_p)
        self.n_threads = d("llama_n_threads", c_int32, c_void_p)
        self.n_threads_batch = d("llama_n_threads_batch", c_int32, c_void_p)
        self.batch_get_one = d("llama_batch_get_one", Batch, ctypes.POINTER(c_int32), c_int32)
        self.batch_init = d("llama_batch_init", Batch, c_int32, c_int32, c_int32)
        self.batch_free = d("llama_batch_free", None, Batch)
        self.decode = d("llama_decode", c_int32, c_void_p, Batch)
        self.get_logits_ith = d("llama_get_logits_ith", ctypes.POINTER(c_float), c_void_p, c_int32)
        self.get_memory = d("llama_get_memory", c_void_p, c_void_p)
        self.memory_clear = d("llama_memory_clear", None, c_void_p, ctypes.c_bool)
        self.memory_seq_rm = d("llama_memory_seq_rm", ctypes.c_bool, c_void_p, c_int32, c_int32, c_int32)
        self.sampler_init_greedy = d("llama_sampler_init_greedy", c_void_p)
        self.sampler_sample = d("llama_sampler_sample", c_int32, c_void_p, c_void_p, c_int32)
        self.sampler_free = d("llama_sampler_free", None, c_void_p)
        # Keep llama.cpp's loading chatter off the caller's terminal unless asked for.
        self._log = LOG_CALLBACK(lambda level, text, data: sys.stderr.write(text.decode(errors="replace")) if verbose else None)
        self.log_set(self._log, None)
        self.backend_init()
        self._check_batch_layout()

    def _defaults(self, name: str, size: int) -> bytearray:
        """What llama_<name>_default_params returns, read through the x86-64 SysV convention for
        returning large structs (the caller passes the buffer as a hidden first argument), into a
        buffer poisoned past `size` so a struct that has grown is caught rather than truncated."""
        poison = 0xAB
        buf = (ctypes.c_uint8 * (size + 64))(*([poison] * (size + 64)))
        ctypes.CFUNCTYPE(c_void_p, c_void_p)((name, self.lib))(ctypes.addressof(buf))
        if any(b != poison for b in bytes(buf)[size:]):
            raise RuntimeError(f"{name} writes more than {size} bytes: not the llama.cpp build this script knows")
        return bytearray(bytes(buf)[:size])

    def _check_batch_layout(self) -> None:
        tokens = (c_int32 * 3)()
        batch = self.batch_get_one(tokens, 3)
        if batch.n_tokens != 3 or ctypes.addressof(batch.token.contents) != ctypes.addressof(tokens) or batch.logits:
            raise RuntimeError("llama_batch's layout is not the one this script knows")

    def model_params(self) -> ModelParams:
        return ModelParams.from_buffer_copy(self._defaults("llama_model_default_params", MODEL_PARAMS_SIZE))

    def context_params(self, n_ctx: int, n_batch: int, threads: int, flash_attn: str = "auto") -> ContextParams:
        raw = self._defaults("llama_context_default_params", CONTEXT_PARAMS_SIZE)
        if int.from_bytes(raw[CONTEXT_FLASH_ATTN_TYPE:CONTEXT_FLASH_ATTN_TYPE + 4], "little", signed=True) != -1:
            raise RuntimeError("llama_context_params.flash_attn_type is not where this script expects it")
        raw[CONTEXT_FLASH_ATTN_TYPE:CONTEXT_FLASH_ATTN_TYPE + 4] = FLASH_ATTN[flash_attn].to_bytes(4, "little", signed=True)
        for offset, value in [
            (CONTEXT_N_CTX, n_ctx),
            (CONTEXT_N_BATCH, n_batch),
            (CONTEXT_N_UBATCH, min(n_batch, 512)),  # llama.cpp's default physical batch
            (CONTEXT_N_THREADS, threads),
            (CONTEXT_N_THREADS_BATCH, threads),
        ]:
            raw[offset:offset + 4] = value.to_bytes(4, "little")
        return ContextParams.from_buffer_copy(raw)


def build_description() -> str:
    version = importlib.metadata.version("xllamacpp")
    return f"llama.cpp b{version.rsplit('.', 1)[-1]} (xllamacpp {version})"


class Session:
    """One model and one context, kept while requests ask for the same model, threads and window."""

    def __init__(self, llama: Llama, model: str, threads: int, n_ctx: int, flash_attn: str = "auto"):
        self.llama, self.key = llama, (model, threads, n_ctx)
        self.model = llama.model_load(model.encode(), llama.model_params())
        if not self.model:
            raise RuntimeError(f"llama.cpp cannot load {model}")
        self.vocab = llama.model_get_vocab(self.model)
        self.n_vocab = llama.vocab_n_tokens(self.vocab)
        n_batch = 2048
        self.ctx = llama.init_from_model(self.model, llama.context_params(n_ctx, n_batch, threads, flash_attn))
        if not self.ctx:
            raise RuntimeError("llama.cpp cannot create a context")
        got = (llama.n_ctx(self.ctx), llama.n_batch(self.ctx), llama.n_threads(self.ctx), llama.n_threads_batch(self.ctx))
        if got != (n_ctx, n_batch, threads, threads):
            raise RuntimeError(f"the context has (n_ctx, n_batch, threads, threads_batch) {got}, not what was set")
        self.n_batch = n_batch
        self.memory = llama.get_memory(self.ctx)
        self.sampler = llama.sampler_init_greedy()
        self.cached: list[int] = []

    def close(self) -> None:
        self.llama.sampler_free(self.sampler)
        self.llama.free(self.ctx)
        self.llama.model_free(self.model)

    def clear(self) -> None:
        self.llama.memory_clear(self.memory, True)
        self.cached = []

    def eval(self, ids: list[int]) -> None:
        """Evaluates `ids` after what is cached, in chunks of n_batch; logits of the last one only."""
        for start in range(0, len(ids), self.n_batch):
            chunk = ids[start:start + self.n_batch]
            tokens = (c_int32 * len(chunk))(*chunk)
            status = self.llama.decode(self.ctx, self.llama.batch_get_one(tokens, len(chunk)))
            if status != 0:
                raise RuntimeError(f"llama_decode returned {status}")
        self.cached.extend(ids)

    def sample(self) -> int:
        return self.llama.sampler_sample(self.sampler, self.ctx, -1)

    def keep_prefix(self, n: int) -> None:
        if not self.llama.memory_seq_rm(self.memory, 0, n, -1):
            raise RuntimeError("llama_memory_seq_rm failed")
        del self.cached[n:]

    def tokenize(self, text: str) -> list[int]:
        """llama.cpp's ids for `text`: no BOS added, special tokens recognised in the text."""
        raw = text.encode("utf-8")
        capacity = len(raw) + 8
        while True:
            out = (c_int32 * capacity)()
            n = self.llama.tokenize(self.vocab, raw, len(raw), out, capacity, False, True)
            if n >= 0:
                return list(out[:n])
            capacity = -n  # too small: llama_tokenize returns minus the count it needs

    def detokenize(self, ids: list[int]) -> bytes:
        """The bytes of `ids` with special tokens written out, without llama.cpp's clean-up of spaces."""
        tokens = (c_int32 * max(len(ids), 1))(*ids)
        capacity = 16 * len(ids) + 16
        while True:
            out = ctypes.create_string_buffer(capacity)
            n = self.llama.detokenize(self.vocab, tokens, len(ids), out, capacity, False, True)
            if n >= 0:
                return out.raw[:n]
            capacity = -n

    def last_logits(self) -> list[float]:
        return self.llama.get_logits_ith(self.ctx, -1)[: self.n_vocab]

    def logits(self, ids: list[int], every_position: bool) -> list[list[float]]:
        """Logits at the last position of `ids` (or at each) from an empty cache, in one batch."""
        self.clear()
        n = len(ids)
        if n > self.n_batch:
            raise ValueError(f"a prompt of {n} tokens does not fit one batch of {self.n_batch}")
        batch = self.llama.batch_init(n, 0, 1)
        try:
            batch.n_tokens = n
            for i, token in enumerate(ids):
                batch.token[i] = token
                batch.pos[i] = i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1 if every_position or i == n - 1 else 0
            status = self.llama.decode(self.ctx, batch)
            if status != 0:
                raise RuntimeError(f"llama_decode returned {status}")
        finally:
            self.llama.batch_free(batch)
        rows = [self.llama.get_logits_ith(self.ctx, i)[: self.n_vocab] for i in (range(n) if every_position else [n - 1])]
        self.clear()
        return rows


def peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def bench_run(s: Session, prompt: list[int], decode_tokens: int, follow_up: list[int] | None) -> dict:
    s.clear()
    started = time.perf_counter()
    s.eval(prompt)
    token = s.sample()
    first_at = time.perf_counter()
    generated, end_of_turn = 0, False
    while True:
        if s.llama.vocab_is_eog(s.vocab, token):
            end_of_turn = True
            break
        generated += 1
        if generated >= decode_tokens:
            break
        s.eval([token])
        token = s.sample()
    ended = time.perf_counter()
    run = {"prefill_s": first_at - started, "decode_s": ended - first_at,
           "generated": generated, "end_of_turn": end_of_turn}
    if follow_up:
        # The answer's last sampled token was never evaluated, so the cache holds prompt + answer[:-1].
        reused = min(common_prefix(s.cached, follow_up), len(follow_up) - 1)
        started = time.perf_counter()
        s.keep_prefix(reused)
        s.eval(follow_up[reused:])
        s.sample()
        run.update(follow_up_ttft_s=time.perf_counter() - started, follow_up_cached=reused,
                   follow_up_prompt=len(follow_up))
    return run


def top2(row: list[float]) -> tuple[int, float, float]:
    """The argmax (the first one on a tie, as numpy's), its logit and the runner-up's logit."""
    best, first, second = -1, -math.inf, -math.inf
    for i, value in enumerate(row):
        if not math.isfinite(value):
            raise RuntimeError(f"logit {i} is {value}")
        if value > first:
            best, first, second = i, value, first
        elif value > second:
            second = value
    return best, first, second


def greedy_run(s: Session, prompt: list[int], steps: int) -> tuple[list[int], list[float]]:
    """`steps` greedy tokens on raw logits from an empty cache, and each step's top-1 minus top-2 margin."""
    s.clear()
    s.eval(prompt)
    tokens, margins = [], []
    for step in range(steps):
        token, first, second = top2(s.last_logits())
        tokens.append(token)
        margins.append(round(first - second, 4))
        if step + 1 < steps:
            s.eval([token])
    s.clear()
    return tokens, margins


class Server:
    def __init__(self, verbose: bool):
        self.llama = Llama(verbose)
        self.session: Session | None = None
        self.header = {"reference": build_description(),
                       "system_info": self.llama.print_system_info().decode().strip()}

    def open(self, request: dict) -> Session:
        key = (os.path.abspath(request["model"]), int(request.get("threads", os.cpu_count() or 1)),
               int(request.get("n_ctx", 4096)))
        if self.session is None or self.session.key != key:
            if self.session is not None:
                self.session.close()
            self.session = Session(self.llama, *key)
        return self.session

    def handle(self, request: dict) -> dict:
        mode = request.get("mode")
        if mode == "info":
            return {}
        if mode == "bench":
            s = self.open(request)
            prompt = [int(t) for t in request["prompt_ids"]]
            follow_up = [int(t) for t in request.get("follow_up_ids") or []] or None
            runs = [bench_run(s, prompt, int(request.get("decode_tokens", 128)), follow_up)
                    for _ in range(int(request.get("runs", 1)))]
            return {"runs": runs, "peak_rss_kib": peak_rss_kib()}
        if mode == "logits":
            s = self.open(request)
            prompts = [[int(t) for t in p] for p in request["prompts"]]
            if request.get("all_positions"):
                return {"all": [s.logits(p, True) for p in prompts]}
            return {"logits": [s.logits(p, False)[0] for p in prompts]}
        if mode == "greedy":
            s = self.open({"n_ctx": 2048, **request})
            tokens, margins = greedy_run(s, [int(t) for t in request["prompt_ids"]], int(request.get("steps", 32)))
            return {"tokens": tokens, "margins": margins}
        if mode == "tokenize":
            s = self.open(request)
            return {"ids": [s.tokenize(str(text)) for text in request["texts"]]}
        raise ValueError(f"unknown mode {mode!r} (info, bench, logits, greedy, tokenize)")


def main() -> None:
    try:
        server = Server(verbose=os.environ.get("LLAMACPP_VERBOSE") == "1")
    except Exception as e:  # noqa: BLE001 - reported to the caller, who decides
        print(json.dumps({"error": f"the llama.cpp reference cannot start: {e}"}), flush=True)
        return
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {**server.header, **server.handle(json.loads(line))}
        except Exception as e:  # noqa: BLE001
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
