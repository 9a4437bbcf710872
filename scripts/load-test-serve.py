"""A bounded load test of `almanac serve` on loopback: CLIENTS concurrent clients for SECONDS
seconds mixing chat completions, embeddings and library calls. Checks that the server never
crashes and that every request is answered (2xx) or refused with 503; prints the p50/p99 latency of
the non-generating calls and the slope of the server's resident memory.

    target/openai-venv/bin/python scripts/load-test-serve.py [--binary target/release/almanac]
        [--clients 32] [--seconds 120]

It uses a scratch data directory with the test facts (tests/fixtures/facts) and the installed
default models; httpx2 comes with the OpenAI client's venv (scripts/reference/setup-openai.sh).
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import httpx2 as httpx  # what the pinned OpenAI client brings (its own HTTP library)

from serve_stats import percentile, rss_kib, slope_kib_per_min

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_server(binary, data_dir):
    env = dict(os.environ, ALMANAC_DATA_DIR=data_dir)
    proc = subprocess.Popen(
        [binary, "serve", "--port", "0", "--ui", data_dir],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    line = proc.stdout.readline().strip()
    prefix = "listening on "
    if not line.startswith(prefix):
        proc.kill()
        sys.exit(f"almanac serve did not start: {line!r}")
    return proc, line[len(prefix):]


async def client_loop(http, base, chat_model, embed_model, deadline, results, rng):
    while time.monotonic() < deadline:
        roll = rng.random()
        started = time.monotonic()
        if roll < 0.2:
            kind = "chat"
            r = await http.post(
                f"{base}/v1/chat/completions",
                json={
                    "model": chat_model,
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": "Who designed the Zorvath Bridge?"}],
                },
            )
        elif roll < 0.6:
            kind = "embeddings"
            r = await http.post(
                f"{base}/v1/embeddings",
                json={"model": embed_model, "input": ["Drovana cheese", "the Quillon-7 battery"]},
            )
        else:
            kind, path = rng.choice(
                [("library", "/api/library"), ("models", "/v1/models"), ("conversations", "/api/conversations")]
            )
            r = await http.get(f"{base}{path}")
        results.append((kind, r.status_code, time.monotonic() - started))


async def run(base, clients, seconds, pid):
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients)) as http:
        models = (await http.get(f"{base}/v1/models")).json()["data"]
        chat_model, embed_model = models[0]["id"], models[1]["id"]
        results, memory = [], []
        deadline = time.monotonic() + seconds
        t0 = time.monotonic()

        async def sample_memory():
            while time.monotonic() < deadline:
                kib = rss_kib(pid)
                if kib is not None:
                    memory.append((time.monotonic() - t0, kib))
                await asyncio.sleep(1)

        await asyncio.gather(
            sample_memory(),
            *[
                client_loop(http, base, chat_model, embed_model, deadline, results, random.Random(i))
                for i in range(clients)
            ],
        )
        return results, memory


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/almanac"))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        proc, base = start_server(args.binary, data_dir)
        try:
            facts = os.path.join(ROOT, "tests/fixtures/facts")
            with httpx.stream(
                "POST", f"{base}/api/library", json={"paths": [facts]}, timeout=600
            ) as r:
                for _ in r.iter_lines():
                    pass
            results, memory = asyncio.run(run(base, args.clients, args.seconds, proc.pid))
            alive = proc.poll() is None
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    bad = [(k, s) for k, s, _ in results if not (200 <= s < 300 or s == 503)]
    summary = {"clients": args.clients, "seconds": args.seconds, "server_alive": alive, "requests": len(results),
               "unexpected_statuses": bad[:10], "kinds": {}}
    for kind in sorted({k for k, _, _ in results}):
        latencies = [t * 1000 for k, s, t in results if k == kind and 200 <= s < 300]
        summary["kinds"][kind] = {
            "ok": len(latencies),
            "refused_503": sum(1 for k, s, _ in results if k == kind and s == 503),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
        }
    # Memory: the slope over the second half (after warm-up: model loaded, caches filled).
    half = memory[len(memory) // 2:]
    summary["rss_mib_start_end"] = [round(memory[0][1] / 1024, 1), round(memory[-1][1] / 1024, 1)] if memory else None
    summary["rss_slope_kib_per_min_second_half"] = round(slope_kib_per_min(half), 1)
    print(json.dumps(summary, indent=2))
    if not alive or bad:
        sys.exit("the server crashed or answered with an unexpected status")


if __name__ == "__main__":
    main()
