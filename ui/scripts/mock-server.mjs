#!/usr/bin/env node
// A stand-in for `almanac serve`: serves ui/dist and the API contract (ui/README.md) from memory,
// with a naive keyword "retrieval" over real files and a canned, streamed answer. It exists to
// develop and test the UI in a browser without the Rust backend, and as a reference for the
// contract. Not a backend: nothing is embedded or generated.
//
//   node scripts/mock-server.mjs [--port 5174] [--dist dist]
import { createServer } from 'node:http';
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve, basename } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const PORT = Number(args.port ?? 5174);
const DIST = resolve(args.dist ?? 'dist');

// The CSP the desktop window uses; the mock sends it so a violation shows in a browser test.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const state = {
  conversations: new Map(), // id -> {id, title, created_at, updated_at, messages}
  documents: new Map(), // path -> {path, title, status, error, chunks, passages}
  runs: new Map(), // run id -> {cancelled}
  settings: {
    context_length: 2048, max_answer_tokens: 256, temperature: 0, top_p: null, top_k: null,
    repeat_penalty: 1.1, seed: 42, system_prompt: null, sources: 4, min_similarity: 0.2,
    backend: { kind: 'local' },
  },
  // Stands in for the OS keyring: endpoint URL -> key (never in settings).
  keyring: new Map(),
  models: [
    { path: '/models/SmolLM2-135M-Instruct.Q4_1.gguf', name: 'SmolLM2-135M-Instruct', kind: 'chat', size_bytes: 99_000_000 },
    { path: '/models/all-MiniLM-L6-v2', name: 'all-MiniLM-L6-v2', kind: 'embedding', size_bytes: 90_900_000 },
  ],
  next: 1,
};
const id = (prefix) => `${prefix}${state.next++}`;
const now = () => new Date().toISOString();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class HttpError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The backend as `GET /api/models` shows it: for an endpoint, whether its key is there. */
function backendInfo() {
  const b = state.settings.backend;
  if (b.kind !== 'openai') return { kind: 'local' };
  const key = b.api_key_from === 'keyring'
    ? { source: 'keyring', present: state.keyring.has(b.base_url) }
    : { source: 'env', env: b.api_key_env, present: Boolean(process.env[b.api_key_env]) };
  return { kind: 'openai', base_url: b.base_url, model: b.model, context_length: b.context_length, timeout_s: b.timeout_s, key };
}

// --- library ------------------------------------------------------------------------------------

async function listFiles(path) {
  const info = await stat(path);
  if (info.isFile()) return [path];
  const out = [];
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const child = join(path, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(child)));
    else out.push(child);
  }
  return out.sort();
}

/** Chunks of up to 6 lines, keeping the nearest heading and the line range. */
function chunk(path, text) {
  const lines = text.split(/\r\n|\n|\r/);
  const title = lines.find((l) => l.startsWith('# '))?.slice(2) ?? basename(path);
  const chunks = [];
  let heading = '';
  let start = -1;
  const flush = (end) => {
    if (start >= 0) {
      const body = lines.slice(start, end).join('\n').trim();
      if (body) chunks.push({ title, path, heading, line_start: start + 1, line_end: end, text: body });
    }
    start = -1;
  };
  lines.forEach((line, i) => {
    if (/^#{1,6} /.test(line)) {
      flush(i);
      heading = line.replace(/^#+ /, '');
      return;
    }
    if (line.trim() === '') return flush(i);
    if (start < 0) start = i;
    if (i - start >= 5) flush(i + 1);
  });
  flush(lines.length);
  return { title, chunks };
}

async function ingest(paths, send) {
  const files = [];
  const skipped = [];
  for (const p of paths) {
    try {
      for (const f of await listFiles(p)) (['.md', '.txt'].includes(extname(f)) ? files : skipped).push(f);
    } catch {
      files.push(p); // fails below with its own error
    }
  }
  send({ event: 'planned', files: files.length, skipped });
  let indexed = 0, failed = 0, unchanged = 0, chunks = 0;
  const started = Date.now();
  for (const path of files) {
    send({ event: 'indexing', path });
    await sleep(150);
    try {
      const text = await readFile(path, 'utf8');
      if (text.includes('\uFFFD')) throw new Error('not valid UTF-8');
      const known = state.documents.get(path);
      const parsed = chunk(path, text);
      if (known && known.status === 'indexed' && known.text === text) {
        unchanged++;
        send({ event: 'unchanged', path });
        continue;
      }
      state.documents.set(path, { path, title: parsed.title, status: 'indexed', error: null, chunks: parsed.chunks.length, passages: parsed.chunks, text });
      indexed++;
      chunks += parsed.chunks.length;
      send({ event: 'indexed', path, chunks: parsed.chunks.length });
      const seconds = (Date.now() - started) / 1000;
      const done = indexed + failed + unchanged;
      send({
        event: 'progress',
        chunks,
        chunks_per_second: chunks / seconds,
        seconds_left: (seconds / done) * (files.length - done),
      });
    } catch (e) {
      failed++;
      const error = e.code === 'ENOENT' ? `${path} does not exist` : e.message;
      state.documents.set(path, { path, title: basename(path), status: 'failed', error, chunks: 0, passages: [] });
      send({ event: 'failed', path, error });
    }
  }
  send({ event: 'progress', chunks, chunks_per_second: chunks / ((Date.now() - started) / 1000), seconds_left: 0 });
  send({ event: 'finished', files: files.length, indexed, unchanged, failed, chunks, elapsed_ms: Date.now() - started });
}

function retrieve(question) {
  const all = [...state.documents.values()].flatMap((d) => d.passages);
  const terms = question.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? [];
  const base = { query: question, library_chunks: all.length, min_similarity: state.settings.min_similarity, elapsed_ms: 3.2 };
  if (all.length === 0) return { ...base, used: false, reason: 'the library is empty', candidates: 0, passages: [] };
  const scored = all
    .map((p) => ({ p, hits: terms.filter((t) => p.text.toLowerCase().includes(t) || p.title.toLowerCase().includes(t)).length }))
    .filter((x) => x.hits > 0)
    .sort((a, b) => b.hits - a.hits)
    .slice(0, state.settings.sources);
  if (scored.length === 0) return { ...base, used: false, reason: 'nothing above the similarity threshold', candidates: all.length, passages: [] };
  const passages = scored.map(({ p, hits }, i) => ({
    n: i + 1, title: p.title, path: p.path, url: null, fetched_at: null, heading: p.heading, line_start: p.line_start, line_end: p.line_end,
    snippet: p.text.slice(0, 200),
    snippet_html: escapeHtml(p.text.slice(0, 200)).replace(new RegExp(`(${terms.map(escapeRegExp).join('|')})`, 'gi'), '<b>$1</b>'),
    text: p.text, date: null, score: 1 / (61 + i) + 1 / (61 + i), bm25: 2.5 * hits, bm25_rank: i + 1, vector: 0.8 - i * 0.1, vector_rank: i + 1,
  }));
  return { ...base, used: true, reason: null, candidates: scored.length, passages };
}

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// --- answers ------------------------------------------------------------------------------------

function cannedAnswer(question, retrieval) {
  if (/\blong\b/i.test(question)) return Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
  if (!retrieval.used) return `I could not find anything about that in your library (${retrieval.reason}).`;
  const [first, second] = retrieval.passages;
  let text = `According to **${first.title}**, ${first.text.split('\n')[0].replace(/^[#*\- ]+/, '')} [1].`;
  if (second) text += `\n\nSee also *${second.title}* [2].`;
  return text + '\n\n```rust\nfn main() { println!("cited"); }\n```';
}

async function answer(conversation, question, send, replaceLast = false) {
  const runId = id('run-');
  const run = { cancelled: false };
  state.runs.set(runId, run);
  const messageId = id('m');
  send({ event: 'started', run_id: runId, conversation_id: conversation.id, message_id: messageId });
  const t0 = Date.now();
  const retrieval = retrieve(question);
  send({ event: 'sources', retrieval });
  const evidence = quoteEvidence(retrieval);
  send({ event: 'evidence', evidence });
  const words = cannedAnswer(question, retrieval).split(/(?<=\s)/);
  let text = '';
  let stop = 'end_of_turn';
  let ttft = 0;
  let emitted = 0;
  for (const w of words) {
    if (run.cancelled) {
      stop = 'cancelled';
      break;
    }
    await sleep(/\blong\b/i.test(question) ? 60 : 25);
    if (!ttft) ttft = Date.now() - t0;
    text += w;
    emitted++;
    send({ event: 'token', text: w });
  }
  const cited = [...new Set([...text.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1])))];
  const total = Date.now() - t0;
  const timings = { retrieval_ms: 3.2, prompt_tokens: 320, cached_tokens: 0, ttft_ms: ttft, tokens: emitted, tokens_per_s: emitted / (total / 1000), total_ms: total };
  const { attributed, sentences } = attribute(text, retrieval);
  const message = { id: messageId, role: 'assistant', text, retrieval, cited, evidence, attributed, sentences, timings, stop_reason: stop, created_at: now() };
  if (replaceLast) conversation.messages.pop();
  conversation.messages.push(message);
  conversation.updated_at = now();
  state.runs.delete(runId);
  send({ event: 'done', stop_reason: stop, cited, attributed, sentences, timings });
}

// The stand-in for core's grounding: the first line of each of the first two passages as evidence,
// and each answer sentence attributed to the passages that share a word of 5+ letters with it.
function quoteEvidence(retrieval) {
  return retrieval.passages.slice(0, 2).map((p, i) => {
    const line = p.text.split('\n').find((l) => /[\p{L}]{3}/u.test(l) && !l.startsWith('#')) ?? p.text;
    const at = p.line_start + p.text.split('\n').indexOf(line);
    return {
      n: p.n, text: line.trim(), title: p.title, path: p.path, location: `${p.heading ? `${p.heading} ` : ''}(line ${at})`,
      open: `${p.path}:${at}`, line_start: at, line_end: at, page: null, rows: null, score: 0.8 - i * 0.1, lexical: 1 - i * 0.2, semantic: 0.6,
    };
  });
}

function attribute(text, retrieval) {
  const words = (s) => new Set((s.toLowerCase().match(/[\p{L}\p{N}]{5,}/gu) ?? []));
  const sentences = text
    .split(/\n\n|(?<=[.!?])\s+/)
    .filter((s) => !s.startsWith('```') && /[\p{L}]{3}/u.test(s))
    .map((s) => {
      const mine = words(s);
      const sources = retrieval.passages.filter((p) => [...words(p.text)].some((w) => mine.has(w))).map((p) => p.n).slice(0, 2);
      return { text: s.trim(), sources, score: sources.length ? 0.8 : 0.2, supported: sources.length > 0 };
    });
  const attributed = [...new Set(sentences.flatMap((s) => s.sources))];
  return { attributed, sentences };
}

function conversationOr404(cid) {
  const c = state.conversations.get(cid);
  if (!c) throw new HttpError(404, 'not_found', `no conversation ${cid}`);
  return c;
}

const summary = ({ messages, ...rest }) => ({ ...rest, message_count: messages.length });

function toMarkdown(c) {
  const parts = [`# ${c.title}`];
  for (const m of c.messages) {
    parts.push(m.role === 'user' ? `## Question\n\n${m.text}` : `## Answer\n\n${m.text}`);
    if (m.retrieval?.passages?.length) {
      parts.push('Sources:\n\n' + m.retrieval.passages.map((p) => `${p.n}. ${p.title} — ${p.path}, lines ${p.line_start}–${p.line_end}`).join('\n'));
    }
  }
  return parts.join('\n\n') + '\n';
}

// --- HTTP ---------------------------------------------------------------------------------------

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  if (chunks.length === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'bad_request', 'the request body is not JSON');
  }
}

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(value === undefined ? '' : JSON.stringify(value));
}

async function stream(res, work) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' });
  const send = (event) => res.write(`data: ${JSON.stringify(event)}\n\n`);
  try {
    await work(send);
  } catch (e) {
    send({ event: 'error', code: e.code ?? 'internal', message: e.message });
  }
  res.end();
}

const routes = [
  ['POST', /^\/api\/ask$/, async (req, res) => {
    const { conversation_id, text } = await body(req);
    if (typeof text !== 'string' || text.trim() === '') throw new HttpError(400, 'invalid_text', 'text must be a non-empty string');
    let c = conversation_id ? conversationOr404(conversation_id) : null;
    if (!c) {
      c = { id: id('c'), title: text.slice(0, 60), created_at: now(), updated_at: now(), messages: [] };
      state.conversations.set(c.id, c);
    }
    c.messages.push({ id: id('m'), role: 'user', text, created_at: now() });
    await stream(res, (send) => answer(c, text, send));
  }],
  ['POST', /^\/api\/runs\/([^/]+)\/cancel$/, async (_req, res, [runId]) => {
    const run = state.runs.get(runId);
    if (!run) throw new HttpError(404, 'no_run', `no run ${runId} is in progress`);
    run.cancelled = true;
    json(res, 204);
  }],
  ['GET', /^\/api\/conversations$/, async (_req, res, _m, url) => {
    const q = (url.searchParams.get('q') ?? '').toLowerCase();
    const list = [...state.conversations.values()]
      .filter((c) => !q || c.title.toLowerCase().includes(q) || c.messages.some((m) => m.text.toLowerCase().includes(q)))
      .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
      .map(summary);
    json(res, 200, list);
  }],
  ['GET', /^\/api\/conversations\/([^/]+)$/, async (_req, res, [cid]) => json(res, 200, conversationOr404(cid))],
  ['PATCH', /^\/api\/conversations\/([^/]+)$/, async (req, res, [cid]) => {
    const c = conversationOr404(cid);
    const { title } = await body(req);
    if (typeof title !== 'string' || title.trim() === '' || title.length > 200) throw new HttpError(400, 'invalid_title', 'the title must be 1 to 200 characters');
    c.title = title.trim();
    json(res, 200, summary(c));
  }],
  ['DELETE', /^\/api\/conversations\/([^/]+)$/, async (_req, res, [cid]) => {
    conversationOr404(cid);
    state.conversations.delete(cid);
    json(res, 204);
  }],
  ['GET', /^\/api\/conversations\/([^/]+)\/export$/, async (_req, res, [cid]) => {
    res.writeHead(200, { 'Content-Type': 'text/markdown; charset=utf-8' });
    res.end(toMarkdown(conversationOr404(cid)));
  }],
  ['POST', /^\/api\/conversations\/([^/]+)\/regenerate$/, async (_req, res, [cid]) => {
    const c = conversationOr404(cid);
    const lastUser = [...c.messages].reverse().find((m) => m.role === 'user');
    if (!lastUser || c.messages.at(-1)?.role !== 'assistant') throw new HttpError(409, 'nothing_to_regenerate', 'the conversation has no answer to regenerate');
    await stream(res, (send) => answer(c, lastUser.text, send, true));
  }],
  // The stand-in has no folder watcher: the stream says so and stays open (no change ever comes).
  ['GET', /^\/api\/library\/changes$/, async (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' });
    res.write(`data: ${JSON.stringify({ event: 'watching', active: false })}\n\n`);
  }],
  ['GET', /^\/api\/library$/, async (_req, res) => {
    json(res, 200, [...state.documents.values()].map(({ passages, text, ...d }) => d));
  }],
  ['POST', /^\/api\/library$/, async (req, res) => {
    const { paths } = await body(req);
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.startsWith('/'))) {
      throw new HttpError(400, 'invalid_paths', 'paths must be a non-empty list of absolute paths');
    }
    await stream(res, (send) => ingest(paths, send));
  }],
  ['DELETE', /^\/api\/library$/, async (_req, res, _m, url) => {
    const path = url.searchParams.get('path');
    if (!state.documents.delete(path)) throw new HttpError(404, 'not_found', `${path} is not in the library`);
    json(res, 204);
  }],
  ['POST', /^\/api\/library\/reindex$/, async (req, res) => {
    const { path } = await body(req);
    if (!state.documents.has(path)) throw new HttpError(404, 'not_found', `${path} is not in the library`);
    state.documents.delete(path);
    let report;
    await ingest([path], (e) => (report = e));
    json(res, 200, report);
  }],
  ['GET', /^\/api\/document$/, async (_req, res, _m, url) => {
    const path = url.searchParams.get('path');
    const doc = state.documents.get(path);
    if (!doc || doc.status !== 'indexed') throw new HttpError(404, 'not_found', `${path} is not in the library`);
    json(res, 200, { path, title: doc.title, text: doc.text, line_start: Number(url.searchParams.get('line_start')), line_end: Number(url.searchParams.get('line_end')) });
  }],
  ['GET', /^\/api\/models$/, async (_req, res) => {
    const backend = backendInfo();
    json(res, 200, {
      chat: backend.kind === 'openai'
        ? { path: backend.base_url, name: backend.model, context_length: backend.context_length, backend: 'openai' }
        : { path: state.models[0].path, name: state.models[0].name, context_length: 8192, backend: 'local' },
      embedding: { path: state.models[1].path, dim: 384 },
      available: state.models,
      backend,
    });
  }],
  ['PUT', /^\/api\/backend\/key$/, async (req, res) => {
    const { key } = await body(req);
    const b = state.settings.backend;
    if (b.kind !== 'openai' || b.api_key_from !== 'keyring') {
      throw new HttpError(400, 'invalid_argument', 'backend.api_key_from: save the backend with the keyring first', 'backend.api_key_from');
    }
    if (typeof key !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(key)) {
      throw new HttpError(400, 'invalid_argument', 'key: must be printable ASCII without spaces', 'key');
    }
    state.keyring.set(b.base_url, key);
    json(res, 200, backendInfo());
  }],
  ['DELETE', /^\/api\/backend\/key$/, async (_req, res) => {
    if (state.settings.backend.kind === 'openai') state.keyring.delete(state.settings.backend.base_url);
    json(res, 200, backendInfo());
  }],
  // The catalogue as the real backend shapes it (one entry; no downloads in the mock).
  ['GET', /^\/api\/models\/catalogue$/, async (_req, res) => {
    const measured = { model: state.models[0].path, model_bytes: 99_000_000, parameters: 134_515_008, threads: 2, prefill_tokens_per_second: 190, decode_tokens_per_second: 26 };
    json(res, 200, {
      models: [{
        name: 'llama-3.2-1b-q4_k_m', title: 'Llama 3.2 1B Instruct', repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF',
        file: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf', quantisation: 'Q4_K_M', size_bytes: 807_694_464, licence: 'llama3.2',
        parameters: 1_235_814_400, context_length: 2048, layers: 16, kv_heads: 8, head_dim: 64, memory_bytes: 874_803_328,
        available_memory_bytes: 8_000_000_000, verdict: 'fits',
        speed: { prefill_tokens_per_second: 20.7, decode_tokens_per_second: 3.2, measured_on: 'SmolLM2-135M-Instruct.Q4_1.gguf' },
        downloaded: false, path: '/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf', partial_bytes: 0,
      }],
      available_memory_bytes: 8_000_000_000,
      context_length: 2048,
      measured,
    });
  }],
  ['POST', /^\/api\/models\/import$/, async (req, res) => {
    const { path } = await body(req);
    if (typeof path !== 'string' || !path.endsWith('.gguf')) throw new HttpError(400, 'invalid_model', 'the path must name a .gguf file');
    state.models.push({ path, name: basename(path, '.gguf'), kind: 'chat', size_bytes: 0 });
    json(res, 200, {});
  }],
  ['GET', /^\/api\/settings$/, async (_req, res) => json(res, 200, state.settings)],
  ['PUT', /^\/api\/settings$/, async (req, res) => {
    const next = await body(req);
    if (typeof next.temperature !== 'number' || next.temperature < 0 || next.temperature > 2) {
      throw new HttpError(400, 'invalid_setting', 'temperature must be between 0 and 2');
    }
    state.settings = { ...state.settings, ...next };
    json(res, 200, state.settings);
  }],
  ['POST', /^\/api\/tokenize$/, async (req, res) => {
    const { text } = await body(req);
    // Not a real tokenizer: words split into pieces of up to two characters, ids from a hash.
    const tokens = [];
    for (const m of String(text).matchAll(/\s?[^\s]+/gu)) {
      const word = m[0];
      for (let i = 0; i < word.length; ) {
        const size = word[i] === ' ' ? 3 : 2;
        const piece = word.slice(i, i + size);
        tokens.push({ id: [...piece].reduce((h, c) => (h * 31 + c.codePointAt(0)) % 49152, 7), piece: piece.replace(/^ /, 'Ġ'), text: piece });
        i += size;
      }
    }
    json(res, 200, { tokens });
  }],
  // Evaluation: a run "finishes" at once with a fixed report.
  ['POST', /^\/api\/eval\/start$/, async (req, res) => {
    const request = await body(req);
    if (request.kind === 'mcq' && !String(request.data ?? '').startsWith('/')) {
      throw new HttpError(400, 'invalid_argument', `data: ${JSON.stringify(request.data)} is not an absolute path`, 'data');
    }
    const name = `20261205-120000-${request.kind === 'qa' ? 'qa-after-cutoff' : 'mmlu-5-shot'}`;
    state.evalReports = [{ name, kind: request.kind, title: request.kind === 'qa' ? 'Question answering' : 'MMLU 5-shot', headline: 'accuracy 0.3000 on 3 questions', finished_at: '2026-12-05T12:00:00Z' }];
    state.evalStatus = { state: 'finished', kind: request.kind, title: state.evalReports[0].title, progress: { done: 3, total: 3, stage: 'done', elapsed_s: 1, seconds_left: 0 }, report: name, error: null };
    json(res, 200, { ...state.evalStatus, state: 'running' });
  }],
  ['GET', /^\/api\/eval\/status$/, async (_req, res) => json(res, 200, state.evalStatus ?? { state: 'idle', kind: null, title: null, progress: null, report: null, error: null })],
  ['POST', /^\/api\/eval\/stop$/, async (_req, res) => json(res, 200, state.evalStatus ?? { state: 'idle', kind: null, title: null, progress: null, report: null, error: null })],
  ['GET', /^\/api\/eval\/reports$/, async (_req, res) => json(res, 200, state.evalReports ?? [])],
  ['GET', /^\/api\/eval\/reports\/([^/]+)$/, async (_req, res, [name]) => {
    const found = (state.evalReports ?? []).find((r) => r.name === name);
    if (!found) throw new HttpError(404, 'not_found', `no report ${name}`);
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="60"><rect width="90" height="20" y="20" fill="#426eb4"/><text x="100" y="35">0.300</text></svg>';
    json(res, 200, { name, report: { kind: found.kind, accuracy: 0.3 }, markdown: `# ${found.title}\n\n![chart](${name}.svg)\n\nAccuracy **0.3000**.\n`, svg });
  }],
];

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png' };

async function serveStatic(res, pathname) {
  const file = resolve(DIST, '.' + (pathname === '/' ? '/index.html' : pathname));
  if (!file.startsWith(DIST)) throw new HttpError(404, 'not_found', 'not found');
  try {
    const data = await readFile(file);
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': CSP });
    res.end(data);
  } catch {
    throw new HttpError(404, 'not_found', `${pathname} not found`);
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (!url.pathname.startsWith('/api/')) return await serveStatic(res, url.pathname);
    for (const [method, pattern, handler] of routes) {
      const m = url.pathname.match(pattern);
      if (m && req.method === method) return await handler(req, res, m.slice(1).map(decodeURIComponent), url);
    }
    throw new HttpError(404, 'not_found', `no route ${req.method} ${url.pathname}`);
  } catch (e) {
    if (res.headersSent) return res.end();
    json(res, e.status ?? 500, { code: e.code ?? 'internal', message: e.message, ...(e.field ? { field: e.field } : {}) });
  }
});

server.listen(PORT, '127.0.0.1', () => console.log(`mock almanac serve on http://127.0.0.1:${PORT}`));
