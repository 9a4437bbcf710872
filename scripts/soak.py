"""A bounded soak of `almanac serve` on loopback: for SECONDS (default 600) a folder changes under the
server (files added, edited, renamed and removed; the server's watcher follows it, and the folder is
synced through the UI API now and then), questions come through the UI API (`POST /api/ask`, new and
continued conversations) and through the CLI (`almanac ask --backend-url <server>/v1` over a second
library that follows the same folder with `almanac library sync`), and the library and conversation
lists are read. It samples the server's resident memory every 2 s, counts errors, and keeps every
request's latency. At the end it checks that no data was lost: each library holds every file of the
folder with its latest content, none of the removed ones, and every conversation with all its
messages; then the server is stopped and started again and the same checks run on what it reopens.

    python3 scripts/soak.py [--seconds 600] [--binary target/release/almanac] [--json OUT]

Python's standard library only; the installed default models (scripts/install-models.sh). It is a
benchmark, not a test: docs/BENCHMARKS.md ("Soak") has its figures and how they were computed.
Exit status 1 when any check failed or any request failed unexpectedly.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from serve_stats import percentile, rss_kib, slope_kib_per_min

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NAMES = ["Ilsabet Quorne", "Tomas Vrell", "Okonkwo Adeyemi", "Mirela Szabo", "Haruto Kise",
         "Annika Lund", "Rafael Montoya", "Priya Raman", "Joon-ho Bae", "Leila Farouk"]
FILLER = ("The vault stands at the end of a long gallery lined with oak shelves. Visitors sign a "
          "ledger at the door, and the keeper answers their questions about the collection. ")


class Recorder:
    """Latencies and failures per kind of request, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = {}
        self.failures = {}
        self.counts = {}

    def ok(self, kind, seconds):
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)

    def count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def fail(self, kind, detail):
        with self.lock:
            self.failures.setdefault(kind, []).append(str(detail)[:300])


STARTED = []  # every server this run started, stopped on the way out whatever happens


class Server:
    def __init__(self, binary, data_dir, ui_dir):
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--ui", ui_dir],
            stdout=subprocess.PIPE,
            env=dict(os.environ, ALMANAC_DATA_DIR=data_dir),
            text=True,
        )
        STARTED.append(self.proc)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            sys.exit(f"soak: almanac serve did not start: {line!r}")
        self.base = line[len("listening on "):]
        # Keep reading its stdout so it never blocks on a full pipe.
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()

    def request(self, method, path, body=None, timeout=600):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method, path, body=None):
        status, raw = self.request(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {raw[:200]!r}")
        return json.loads(raw) if raw else None

    def stream(self, path, body, on_event=None, timeout=600):
        """POSTs and reads the SSE stream to its end: (status, events, error body)."""
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        events = []
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                for raw in r:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        events.append(event)
                        if on_event:
                            on_event(event)
                return r.status, events, None
        except urllib.error.HTTPError as e:
            return e.code, events, e.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "killed after 60 s"


class Folder:
    """The changing folder and what it must hold: path → content."""

    def __init__(self, path, rng):
        self.path = path
        self.rng = rng
        self.lock = threading.Lock()
        self.expected = {}
        self.written_at = {}
        self.next_id = 0
        self.removed = set()
        self.ops = {"added": 0, "edited": 0, "renamed": 0, "removed": 0}

    def content(self, doc_id, version):
        keeper = NAMES[(doc_id + version) % len(NAMES)]
        paragraphs = [f"# Vault {doc_id}\n",
                      f"Version {version}. The keeper of vault {doc_id} is {keeper}; "
                      f"its code word is soak-{doc_id}-v{version}.\n"]
        paragraphs += [FILLER * 3 + "\n" for _ in range(1 + doc_id % 3)]
        return "\n".join(paragraphs)

    def write(self, name, text):
        path = os.path.join(self.path, name)
        with open(path, "w") as f:
            f.write(text)
        self.expected[path] = text
        self.written_at[path] = time.monotonic()
        self.removed.discard(path)

    def add(self):
        doc_id = self.next_id
        self.next_id += 1
        self.write(f"vault-{doc_id:04d}.md", self.content(doc_id, 1))

    def change(self, min_files, max_files):
        """One change: add, edit, rename or remove, keeping the count between the bounds."""
        with self.lock:
            paths = sorted(self.expected)
            roll = self.rng.random()
            if len(paths) < min_files or (roll < 0.3 and len(paths) < max_files):
                self.add()
                self.ops["added"] += 1
            elif roll < 0.7:
                path = self.rng.choice(paths)
                doc_id = int(os.path.basename(path)[6:10])
                version = int(self.expected[path].split("Version ")[1].split(".")[0]) + 1
                self.write(os.path.basename(path), self.content(doc_id, version))
                self.ops["edited"] += 1
            elif roll < 0.8:
                path = self.rng.choice(paths)
                target = os.path.join(self.path, f"vault-{self.next_id:04d}.md")
                self.next_id += 1
                os.rename(path, target)
                self.expected[target] = self.expected.pop(path)
                self.written_at[target] = time.monotonic()
                self.removed.add(path)
                self.ops["renamed"] += 1
            else:
                path = self.rng.choice(paths)
                os.remove(path)
                del self.expected[path]
                self.removed.add(path)
                self.ops["removed"] += 1

    def question(self):
        with self.lock:
            path = self.rng.choice(sorted(self.expected))
        doc_id = int(os.path.basename(path)[6:10])
        return f"Who is the keeper of vault {doc_id}?"


def run_cli(binary, data_dir, args, timeout=600):
    started = time.monotonic()
    out = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, ALMANAC_DATA_DIR=data_dir))
    return out, time.monotonic() - started


def check_library(server, folder_path, expected, removed, label, problems):
    """The library lists exactly the folder's files, indexed, each from its latest content."""
    documents = server.json("GET", "/api/library")
    listed = {d["path"]: d for d in documents if d["path"].startswith(folder_path + os.sep)}
    missing = sorted(set(expected) - set(listed))
    extra = sorted(set(listed) - set(expected))
    stale, unindexed = [], []
    for path, text in expected.items():
        doc = listed.get(path)
        if doc is None:
            continue
        if doc["status"] != "indexed":
            unindexed.append(f"{path}: {doc['status']} {doc.get('error')}")
            continue
        # `changed`: the file's hash now differs from the one its indexed chunks were made from.
        try:
            got = server.json("GET", "/api/document?" + urllib.parse.urlencode(
                {"path": path, "line_start": 1, "line_end": 1}))
        except RuntimeError as e:
            stale.append(f"{path}: {e}")
            continue
        if got.get("changed") is not False or got["text"].strip() != text.strip():
            stale.append(path)
    for name, items in [("missing", missing), ("not removed", extra), ("stale content", stale),
                        ("not indexed", unindexed)]:
        if items:
            problems.append(f"{label}: {len(items)} {name}: {items[:3]}")
    return {"documents": len(listed), "expected": len(expected), "removed_files_checked": len(removed),
            "missing": len(missing), "not_removed": len(extra), "stale": len(stale),
            "not_indexed": len(unindexed)}


def check_conversations(server, conversations, label, problems):
    """Every conversation is stored with all its messages."""
    listed = {c["id"]: c for c in server.json("GET", "/api/conversations")}
    short = []
    for conv_id, messages in conversations.items():
        got = listed.get(conv_id)
        if got is None or got["message_count"] != messages:
            short.append(f"{conv_id}: {got and got['message_count']} of {messages} messages")
    if short:
        problems.append(f"{label}: {len(short)} conversations missing or short: {short[:3]}")
    return {"conversations": len(conversations), "messages": sum(conversations.values()),
            "missing_or_short": len(short)}


def wait_until(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(1)
    return predicate()


def library_matches(server, folder_path, expected):
    documents = server.json("GET", "/api/library")
    listed = {d["path"]: d["status"] for d in documents if d["path"].startswith(folder_path + os.sep)}
    return set(listed) == set(expected) and all(s == "indexed" for s in listed.values())


def main():
    try:
        soak()
    finally:
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def soak():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/almanac"))
    parser.add_argument("--files", type=int, default=40, help="files in the folder at the start")
    parser.add_argument("--change-every", type=float, default=2.0, help="seconds between folder changes")
    parser.add_argument("--sync-every", type=float, default=30.0, help="seconds between UI folder syncs")
    parser.add_argument("--max-tokens", type=int, default=48, help="answer length of every question")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds left out of the memory slope (the models load)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (libraries, folder)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="almanac-soak-")
    try:
        run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work):
    rng = random.Random(args.seed)
    serve_data, cli_data = os.path.join(work, "serve-data"), os.path.join(work, "cli-data")
    ui_dir, docs = os.path.join(work, "ui"), os.path.join(work, "docs")
    for d in (serve_data, cli_data, ui_dir, docs):
        os.makedirs(d)
    folder = Folder(docs, rng)
    for _ in range(args.files):
        folder.add()

    rec = Recorder()
    problems = []
    conversations_ui, conversations_cli = {}, {}
    server = Server(args.binary, serve_data, ui_dir)
    pid = server.proc.pid
    print(f"soak: {server.base}, pid {pid}, work folder {work}, {args.seconds} s", file=sys.stderr)
    settings = server.json("GET", "/api/settings")
    settings["max_answer_tokens"] = args.max_tokens
    server.json("PUT", "/api/settings", settings)
    status, events, error = server.stream("/api/library", {"paths": [docs]})
    if status != 200 or events[-1]["event"] != "finished":
        sys.exit(f"soak: adding the folder failed: {status} {error} {events[-1:]}")
    chat_model = server.json("GET", "/v1/models")["data"][0]["id"]
    out, _ = run_cli(args.binary, cli_data, ["library", "add", docs])
    if out.returncode != 0:
        sys.exit(f"soak: almanac library add failed: {out.stderr}")

    t0 = time.monotonic()
    deadline = t0 + args.seconds
    stop = threading.Event()
    memory = []

    def sample_memory():
        while not stop.is_set():
            kib = rss_kib(pid)
            if kib is not None:
                memory.append((time.monotonic() - t0, kib))
            stop.wait(2)

    def change_folder():
        while not stop.wait(args.change_every):
            folder.change(args.files // 2, args.files * 2)

    def watch_changes():
        """The watcher's events: file written → indexed, the ingestion latency a user sees."""
        def on_event(event):
            kind = event.get("event")
            if kind == "indexed":
                with folder.lock:
                    written = folder.written_at.pop(event["path"], None)
                if written is not None:
                    rec.ok("watcher: file written → indexed", time.monotonic() - written)
            elif kind in ("failed", "error"):
                rec.fail("watcher", event)
            if kind in ("indexed", "removed", "failed"):
                rec.count(f"watcher events: {kind}")
        req = urllib.request.Request(server.base + "/api/library/changes")
        try:
            with urllib.request.urlopen(req, timeout=args.seconds + 600) as r:
                for raw in r:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("data: "):
                        on_event(json.loads(line[6:]))
                    if stop.is_set():
                        return
        except Exception as e:  # the stream ends when the server stops
            if not stop.is_set():
                rec.fail("watcher", f"changes stream ended: {e}")

    def ui_sync():
        while not stop.wait(args.sync_every):
            started = time.monotonic()
            status, events, error = server.stream("/api/library", {"paths": [docs]})
            if status == 409:
                rec.count("UI folder sync: busy (409)")
            elif status == 200 and events and events[-1]["event"] == "finished":
                rec.ok("UI folder sync (POST /api/library)", time.monotonic() - started)
            else:
                rec.fail("UI folder sync", f"{status} {error} {events[-1:]}")

    def ui_reads():
        while not stop.wait(1.0):
            for kind, path in [("GET /api/library", "/api/library"),
                               ("GET /api/conversations", "/api/conversations")]:
                started = time.monotonic()
                status, _ = server.request("GET", path)
                if status == 200:
                    rec.ok(kind, time.monotonic() - started)
                else:
                    rec.fail(kind, status)

    def ui_ask():
        local = random.Random(args.seed + 1)
        while not stop.is_set():
            conv = None
            if conversations_ui and local.random() < 0.3:
                conv = local.choice(sorted(conversations_ui))
            body = {"conversation_id": conv, "text": folder.question()}
            started = time.monotonic()
            first_token = []

            def on_event(event):
                if event.get("event") == "token" and not first_token:
                    first_token.append(time.monotonic() - started)
            status, events, error = server.stream("/api/ask", body, on_event)
            if status == 409:
                rec.count("UI ask: busy (409, the model answers another)")
                stop.wait(0.5)
                continue
            last = events[-1] if events else {}
            if status == 200 and last.get("event") == "done":
                rec.ok("UI ask (POST /api/ask, whole answer)", time.monotonic() - started)
                if first_token:
                    rec.ok("UI ask: first token", first_token[0])
                conv_id = events[0]["conversation_id"]
                conversations_ui[conv_id] = conversations_ui.get(conv_id, 0) + 2
            else:
                rec.fail("UI ask", f"{status} {error} {last}")

    def cli_ask():
        local = random.Random(args.seed + 2)
        while not stop.is_set():
            out, took = run_cli(args.binary, cli_data, ["library", "sync"])
            if out.returncode == 0:
                rec.ok("CLI library sync", took)
            else:
                rec.fail("CLI library sync", out.stderr.strip()[-300:])
            conv = None
            if conversations_cli and local.random() < 0.3:
                conv = local.choice(sorted(conversations_cli))
            cmd = ["ask", "--json", "--max-tokens", str(args.max_tokens),
                   "--backend-url", server.base + "/v1", "--backend-model", chat_model]
            if conv:
                cmd += ["--conversation", conv]
            out, took = run_cli(args.binary, cli_data, cmd + [folder.question()])
            if out.returncode == 0:
                rec.ok("CLI ask (almanac ask --backend-url, whole answer)", took)
                conv_id = json.loads(out.stdout)["conversation_id"]
                conversations_cli[conv_id] = conversations_cli.get(conv_id, 0) + 2
            else:
                rec.fail("CLI ask", out.stderr.strip()[-300:])

    threads = [threading.Thread(target=f, daemon=True)
               for f in (sample_memory, change_folder, ui_sync, ui_reads, ui_ask, cli_ask)]
    watcher = threading.Thread(target=watch_changes, daemon=True)
    watcher.start()
    for t in threads:
        t.start()
    while time.monotonic() < deadline:
        time.sleep(5)
        if server.proc.poll() is not None:
            problems.append(f"the server exited during the run: {server.proc.returncode}")
            break
        elapsed = time.monotonic() - t0
        print(f"soak: {elapsed:5.0f} s, RSS {memory[-1][1] / 1024 if memory else 0:.0f} MiB, "
              f"{sum(len(v) for v in rec.latencies.values())} requests, "
              f"{sum(len(v) for v in rec.failures.values())} failures", file=sys.stderr, flush=True)
    stop.set()
    for t in threads:
        t.join(timeout=600)
    ran_for = time.monotonic() - t0

    # No data lost: the watcher alone must catch up with the folder; then one last sync each.
    with folder.lock:
        expected, removed = dict(folder.expected), set(folder.removed)
    settle_started = time.monotonic()
    caught_up = wait_until(lambda: library_matches(server, docs, expected), 120)
    settle_seconds = time.monotonic() - settle_started
    if not caught_up:
        problems.append("the watcher had not caught up with the folder 120 s after the last change")
    server.stream("/api/library", {"paths": [docs]})
    serve_library = check_library(server, docs, expected, removed, "serve library", problems)
    serve_conversations = check_conversations(server, conversations_ui, "serve conversations", problems)
    rss_end = rss_kib(pid)
    exit_status = server.stop()
    if exit_status != 0:
        problems.append(f"the server did not stop cleanly on SIGTERM: {exit_status}")

    # What survives a restart, and the CLI's own library (read through a server on it).
    reopened = Server(args.binary, serve_data, ui_dir)
    reopened_library = check_library(reopened, docs, expected, removed, "serve library after a restart",
                                     problems)
    check_conversations(reopened, conversations_ui, "serve conversations after a restart", problems)
    reopened.stop()
    out, _ = run_cli(args.binary, cli_data, ["library", "sync"])
    if out.returncode != 0:
        problems.append(f"the last CLI library sync failed: {out.stderr.strip()}")
    cli_server = Server(args.binary, cli_data, ui_dir)
    cli_library = check_library(cli_server, docs, expected, removed, "CLI library", problems)
    cli_conversations = check_conversations(cli_server, conversations_cli, "CLI conversations", problems)
    cli_server.stop()

    after_warmup = [(t, m) for t, m in memory if t >= args.warmup]
    half = [(t, m) for t, m in memory if t >= ran_for / 2]
    figures = {
        "seconds": round(ran_for),
        "load_average_at_end": os.getloadavg(),
        "folder": {"files_at_start": args.files, "files_at_end": len(expected), **folder.ops},
        "memory": {
            "samples": len(memory),
            "rss_mib_start": round(memory[0][1] / 1024, 1) if memory else None,
            "rss_mib_peak": round(max(m for _, m in memory) / 1024, 1) if memory else None,
            "rss_mib_end": round(rss_end / 1024, 1) if rss_end else None,
            "slope_mib_per_min_after_warmup": round(slope_kib_per_min(after_warmup) / 1024, 2),
            "slope_mib_per_min_second_half": round(slope_kib_per_min(half) / 1024, 2),
            "warmup_seconds": args.warmup,
        },
        "requests": {
            kind: {"count": len(v), "p50_ms": round(percentile(v, 50) * 1000, 1),
                   "p95_ms": round(percentile(v, 95) * 1000, 1), "max_ms": round(max(v) * 1000, 1)}
            for kind, v in sorted(rec.latencies.items())
        },
        "counts": rec.counts,
        "errors": {kind: {"count": len(v), "first": v[:3]} for kind, v in rec.failures.items()},
        "watcher_caught_up_seconds": round(settle_seconds, 1) if caught_up else None,
        "serve_library": serve_library,
        "serve_library_after_restart": reopened_library,
        "serve_conversations": serve_conversations,
        "cli_library": cli_library,
        "cli_conversations": cli_conversations,
        "problems": problems,
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    if problems or rec.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
