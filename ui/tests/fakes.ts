import type {
  AnswerEvent,
  BackendInfo,
  Catalogue,
  CatalogueModel,
  PullEvent,
  PullRequest,
  Conversation,
  ConversationSummary,
  DocumentText,
  IngestEvent,
  LibraryChange,
  LibraryDocument,
  Models,
  Passage,
  Retrieval,
  Settings,
  Token,
  EvalReportSummary,
  EvalReportView,
  EvalRequest,
  EvalStatus,
} from '../src/api/types';
import type { Host } from '../src/host/types';
import type { Listener, Transport } from '../src/transport/types';

/** A stream the test drives by hand: push events, then end it. */
export class ManualStream<E> {
  onEvent: Listener<E> = () => {};
  private resolve: () => void = () => {};
  readonly finished = new Promise<void>((r) => (this.resolve = r));

  attach(onEvent: Listener<E>): Promise<void> {
    this.onEvent = onEvent;
    return this.finished;
  }

  push(...events: E[]): void {
    for (const e of events) this.onEvent(e);
  }

  end(): void {
    this.resolve();
  }
}

/** An in-memory backend: records calls, answers from its fields, lets tests drive the streams. */
export class FakeTransport implements Transport {
  readonly kind = 'http' as const;
  calls: { op: string; args: unknown[] }[] = [];
  conversations: ConversationSummary[] = [];
  conversation: Record<string, Conversation> = {};
  documents: LibraryDocument[] = [];
  asks: ManualStream<AnswerEvent>[] = [];
  ingests: ManualStream<IngestEvent>[] = [];
  pulls: ManualStream<PullEvent>[] = [];
  catalogue: Catalogue = defaultCatalogue();
  fail: Partial<Record<string, { code: string; message: string; field?: string }>> = {};
  document: DocumentText | null = null;
  tokens: Token[] = [];
  settings: Settings = defaultSettings();

  private record(op: string, ...args: unknown[]): void {
    this.calls.push({ op, args });
    const failure = this.fail[op];
    if (failure) throw failure;
  }

  private async op<T>(op: string, args: unknown[], value: () => T): Promise<T> {
    await Promise.resolve();
    this.record(op, ...args);
    return value();
  }

  ask(conversationId: string | null, text: string, options: object, onEvent: Listener<AnswerEvent>) {
    this.calls.push({ op: 'ask', args: [conversationId, text, options] });
    const stream = new ManualStream<AnswerEvent>();
    this.asks.push(stream);
    return stream.attach(onEvent);
  }
  regenerate(conversationId: string, onEvent: Listener<AnswerEvent>) {
    this.calls.push({ op: 'regenerate', args: [conversationId] });
    const stream = new ManualStream<AnswerEvent>();
    this.asks.push(stream);
    return stream.attach(onEvent);
  }
  cancel(runId: string) {
    return this.op('cancel', [runId], () => undefined);
  }
  listConversations(query?: string) {
    return this.op('listConversations', [query], () =>
      this.conversations.filter((c) => !query || c.title.toLowerCase().includes(query.toLowerCase())),
    );
  }
  getConversation(id: string) {
    return this.op('getConversation', [id], () => {
      const c = this.conversation[id];
      if (!c) throw { code: 'not_found', message: `no conversation ${id}` };
      return c;
    });
  }
  renameConversation(id: string, title: string) {
    return this.op('renameConversation', [id, title], () => {
      this.conversations = this.conversations.map((c) => (c.id === id ? { ...c, title } : c));
    });
  }
  deleteConversation(id: string) {
    return this.op('deleteConversation', [id], () => {
      this.conversations = this.conversations.filter((c) => c.id !== id);
    });
  }
  exportConversation(id: string, path?: string) {
    return this.op('exportConversation', [id, path], () => `# ${id}\n`);
  }
  libraryWatchers: Listener<LibraryChange>[] = [];
  watchLibrary(onChange: Listener<LibraryChange>) {
    this.calls.push({ op: 'watchLibrary', args: [] });
    this.libraryWatchers.push(onChange);
    return () => {
      this.libraryWatchers = this.libraryWatchers.filter((l) => l !== onChange);
    };
  }
  listDocuments() {
    return this.op('listDocuments', [], () => this.documents);
  }
  addDocuments(paths: string[], onEvent: Listener<IngestEvent>) {
    this.calls.push({ op: 'addDocuments', args: [paths] });
    const stream = new ManualStream<IngestEvent>();
    this.ingests.push(stream);
    return stream.attach(onEvent);
  }
  removeDocument(path: string) {
    return this.op('removeDocument', [path], () => {
      this.documents = this.documents.filter((d) => d.path !== path);
    });
  }
  reindexDocument(path: string) {
    return this.op('reindexDocument', [path], () => undefined);
  }
  getDocument(path: string, lineStart: number, lineEnd: number) {
    return this.op('getDocument', [path, lineStart, lineEnd], () => {
      if (!this.document) throw { code: 'not_found', message: `no document ${path}` };
      return this.document;
    });
  }
  getModels(): Promise<Models> {
    return this.op('getModels', [], () => {
      const backend = this.backendInfo();
      return {
        chat:
          backend.kind === 'openai'
            ? { path: backend.base_url, name: backend.model, context_length: backend.context_length, backend: 'openai' }
            : { path: '/models/smollm2.gguf', name: 'SmolLM2-135M-Instruct', context_length: 8192, backend: 'local' },
        embedding: { path: '/models/minilm', dim: 384 },
        available: [{ path: '/models/smollm2.gguf', name: 'SmolLM2-135M-Instruct', kind: 'chat', size_bytes: 99_000_000 }],
        backend,
      };
    });
  }
  /** The keys "stored in the OS keyring", by endpoint URL. */
  keyring: Record<string, string> = {};
  /** Environment variables "set" where the backend runs. */
  env: Record<string, string> = {};
  private backendInfo(): BackendInfo {
    const b = this.settings.backend;
    if (!b || b.kind === 'local') return { kind: 'local' };
    const key =
      b.api_key_from === 'keyring'
        ? { source: 'keyring' as const, present: b.base_url in this.keyring }
        : { source: 'env' as const, env: b.api_key_env, present: b.api_key_env in this.env };
    const { base_url, model, context_length, timeout_s } = b;
    return { kind: 'openai', base_url, model, context_length, timeout_s, key };
  }
  setBackendKey(key: string) {
    return this.op('setBackendKey', [key], () => {
      const b = this.settings.backend;
      if (b?.kind !== 'openai' || b.api_key_from !== 'keyring') {
        throw { code: 'invalid_argument', message: 'backend.api_key_from: save it first', field: 'backend.api_key_from' };
      }
      this.keyring[b.base_url] = key;
      return this.backendInfo();
    });
  }
  deleteBackendKey() {
    return this.op('deleteBackendKey', [], () => {
      const b = this.settings.backend;
      if (b?.kind === 'openai') delete this.keyring[b.base_url];
      return this.backendInfo();
    });
  }
  getSettings() {
    return this.op('getSettings', [], () => this.settings);
  }
  putSettings(settings: Settings) {
    return this.op('putSettings', [settings], () => (this.settings = settings));
  }
  importModel(path: string) {
    return this.op('importModel', [path], () => undefined);
  }
  getModelCatalogue() {
    return this.op('getModelCatalogue', [], () => this.catalogue);
  }
  async pullModel(request: PullRequest, onEvent: Listener<PullEvent>) {
    this.record('pullModel', request);
    const stream = new ManualStream<PullEvent>();
    this.pulls.push(stream);
    return stream.attach(onEvent);
  }
  cancelPull(pullId: string) {
    return this.op('cancelPull', [pullId], () => undefined);
  }
  removeModel(name: string) {
    return this.op('removeModel', [name], () => undefined);
  }
  tokenize(text: string) {
    return this.op('tokenize', [text], () => this.tokens);
  }
  evalStatus: EvalStatus = { state: 'idle', kind: null, title: null, progress: null, report: null, error: null };
  evalReports: EvalReportSummary[] = [];
  evalViews: Record<string, EvalReportView> = {};
  startEvaluation(request: EvalRequest) {
    return this.op('startEvaluation', [request], () => {
      this.evalStatus = { ...this.evalStatus, state: 'running', kind: request.kind, title: 'MMLU 5-shot', progress: null };
      return this.evalStatus;
    });
  }
  evaluationStatus() {
    return this.op('evaluationStatus', [], () => this.evalStatus);
  }
  stopEvaluation() {
    return this.op('stopEvaluation', [], () => this.evalStatus);
  }
  listEvalReports() {
    return this.op('listEvalReports', [], () => this.evalReports);
  }
  getEvalReport(name: string) {
    return this.op('getEvalReport', [name], () => {
      const view = this.evalViews[name];
      if (!view) throw { code: 'not_found', message: `no report ${name}` };
      return view;
    });
  }

  callsOf(op: string): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }
}

export function defaultSettings(): Settings {
  return {
    context_length: 2048,
    max_answer_tokens: 256,
    temperature: 0,
    top_p: null,
    top_k: null,
    repeat_penalty: 1.1,
    seed: 42,
    system_prompt: null,
    sources: 4,
    min_similarity: 0.2,
    backend: { kind: 'local' },
  };
}

export function fakeHost(): Host & { opened: string[] } {
  const opened: string[] = [];
  return {
    kind: 'browser',
    opened,
    async openExternal(url) {
      opened.push(url);
    },
    download() {},
  };
}

export function passage(n: number, patch: Partial<Passage> = {}): Passage {
  return {
    n,
    title: `Doc ${n}`,
    path: `/library/doc${n}.md`,
    url: null,
    fetched_at: null,
    heading: `Section ${n}`,
    line_start: 3,
    line_end: 4,
    snippet: `the bridge & more ${n}`,
    snippet_html: `the <b>bridge</b> &amp; more ${n}`,
    text: `Passage ${n} text`,
    date: null,
    score: 0.0321,
    bm25: 4.2,
    bm25_rank: n,
    vector: 0.61,
    vector_rank: n,
    ...patch,
  };
}

export function retrieval(passages: Passage[], patch: Partial<Retrieval> = {}): Retrieval {
  return {
    used: passages.length > 0,
    reason: passages.length > 0 ? null : 'the library is empty',
    query: 'who designed the bridge',
    library_chunks: 120,
    candidates: 10,
    min_similarity: 0.2,
    elapsed_ms: 12.5,
    passages,
    ...patch,
  };
}

export const timings = { retrieval_ms: 10, prompt_tokens: 300, cached_tokens: 0, ttft_ms: 400, tokens: 20, tokens_per_s: 25, total_ms: 1200 };

/** Lets pending promise callbacks run. */
export const flush = () => new Promise((r) => setTimeout(r, 0));

export function catalogueModel(patch: Partial<CatalogueModel> = {}): CatalogueModel {
  return {
    name: 'llama-3.2-1b-q4_k_m',
    title: 'Llama 3.2 1B Instruct',
    repo: 'bartowski/Llama-3.2-1B-Instruct-GGUF',
    file: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf',
    quantisation: 'Q4_K_M',
    size_bytes: 807_694_464,
    licence: 'llama3.2',
    parameters: 1_235_814_400,
    context_length: 2048,
    memory_bytes: 874_803_328,
    available_memory_bytes: 8_000_000_000,
    verdict: 'fits',
    speed: { prefill_tokens_per_second: 21.5, decode_tokens_per_second: 3.25, measured_on: 'smollm2.gguf' },
    downloaded: false,
    path: '/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf',
    partial_bytes: 0,
    ...patch,
  };
}

export function defaultCatalogue(): Catalogue {
  return {
    models: [
      catalogueModel(),
      catalogueModel({
        name: 'llama-3.1-8b-q4_k_m',
        title: 'Llama 3.1 8B Instruct',
        file: 'Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf',
        path: '/models/Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf',
        size_bytes: 4_920_739_232,
        memory_bytes: 9_200_000_000,
        verdict: 'too_large',
        speed: { prefill_tokens_per_second: 3.3, decode_tokens_per_second: 0.53, measured_on: 'smollm2.gguf' },
      }),
    ],
    available_memory_bytes: 8_000_000_000,
    context_length: 2048,
    measured: {
      model: '/models/smollm2.gguf',
      model_bytes: 99_000_000,
      parameters: 134_515_008,
      threads: 2,
      prefill_tokens_per_second: 197,
      decode_tokens_per_second: 26.5,
    },
  };
}
