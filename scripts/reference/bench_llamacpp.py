#!/usr/bin/env python3
"""llama.cpp's side of `almanac bench generation`: the same GGUF, the same prompt token ids, the same
thread count and greedy decoding, timed the same way (prefill = evaluating the prompt up to the first
sampled token; decode = every later token). Reads a JSON request on stdin, prints one JSON object.

Needs llama-cpp-python (`pip install llama-cpp-python==0.3.36`); it is the reference, not a dependency.
"""
import json
import sys
import time

try:
    import llama_cpp
except ImportError:
    print(json.dumps({"error": "llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36"}))
    sys.exit(0)

request = json.load(sys.stdin)
llm = llama_cpp.Llama(
    model_path=request["model"],
    n_ctx=request["context"],
    n_batch=512,
    n_threads=request["threads"],
    n_threads_batch=request["threads"],
    verbose=False,
)
prompt = request["prompt_ids"]
eos = llm.token_eos()
runs = []
for _ in range(request["runs"] + 1):  # the first run warms caches and is dropped, as on our side
    llm.reset()  # no reuse of the previous run's KV cache for the shared prefix
    started = time.perf_counter()
    first_at = None
    generated = 0
    end_of_turn = False
    for token in llm.generate(prompt, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        now = time.perf_counter()
        if first_at is None:
            first_at = now
        if token == eos:
            end_of_turn = True
            break
        generated += 1
        if generated >= request["decode_tokens"]:
            break
    ended = time.perf_counter()
    runs.append({
        "prefill_s": first_at - started,
        "decode_s": ended - first_at,
        "generated": generated,
        "end_of_turn": end_of_turn,
    })
print(json.dumps({"version": llama_cpp.__version__, "runs": runs[1:]}))
