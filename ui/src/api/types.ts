// The data the backend serves, the same over Tauri IPC and over HTTP (`almanac serve`).
// ui/README.md describes each operation; the field names are the Rust structs' serde names.

/** Every failure the UI sees: a stable machine-readable code and a one-line message for people. */
export interface ApiErrorBody {
  code: string;
  message: string;
  /** The refused argument or setting (`backend.base_url`), when the refusal is about one. */
  field?: string;
}

export interface Passage {
  n: number;
  title: string;
  /** The document's absolute path; for a web page, its URL. */
  path: string;
  /** A web page's URL (after redirects); null for a library document. */
  url: string | null;
  /** When a web page was fetched (RFC 3339, UTC); null for a library document. */
  fetched_at: string | null;
  heading: string;
  line_start: number;
  line_end: number;
  /** The PDF page the passage is on. */
  page?: number | null;
  /** CSV data rows (1-based, header not counted), first and last. */
  rows?: [number, number] | null;
  /** The lines are lines of text converted from the file (PDF, DOCX, HTML, EPUB), not the file's own. */
  converted?: boolean;
  /** Where in the document, as a person reads it: "page 3", "rows 10-24", "Install > Linux (lines 5-9)".
   *  Absent in answers stored before it existed. */
  location?: string;
  /** Where to open it: "path#page=N", "path:LINE", the path, or a web page's URL. */
  open?: string;
  /** The best sentences of the passage, plain text. */
  snippet: string;
  /** The same as HTML: escaped text with query terms in <b>…</b>. The UI never inserts it as markup. */
  snippet_html: string;
  text: string;
  /** The document's modification date, or the publication date a web page states (YYYY-MM-DD). */
  date: string | null;
  /** Reciprocal-rank-fusion score. */
  score: number;
  bm25: number | null;
  bm25_rank: number | null;
  vector: number | null;
  vector_rank: number | null;
}

export interface Retrieval {
  used: boolean;
  reason: string | null;
  query: string;
  library_chunks: number;
  candidates: number;
  min_similarity: number;
  elapsed_ms: number;
  passages: Passage[];
  /** Present when web pages were fetched for the question (its URLs, or web search on). */
  web?: WebReport;
}

export interface WebReport {
  /** The pages searched with the library (final URLs). */
  pages: string[];
  /** Pages that could not be used, with why. */
  failed: { url: string; error: string }[];
  /** The query sent to the search provider, when web search ran. */
  searched: string | null;
}

export interface Timings {
  retrieval_ms: number;
  prompt_tokens: number;
  /**
   * Of `prompt_tokens`, those the model reused from the previous prompt (the prefix they share)
   * instead of computing again; at most `prompt_tokens`. Absent in answers stored before it existed.
   */
  cached_tokens?: number;
  ttft_ms: number;
  tokens: number;
  tokens_per_s: number;
  total_ms: number;
  /** Finding the quoted evidence (before generation, part of `ttft_ms`). Absent in older answers. */
  evidence_ms?: number;
  /** Matching the answer's sentences to the sources (after generation). Absent in older answers. */
  attribution_ms?: number;
}

/** A sentence or table row of a source that answers the question, quoted as the source has it. */
export interface Evidence {
  /** The source number ([n]) of its passage. */
  n: number;
  /** The quote (runs of whitespace made one space). */
  text: string;
  title: string;
  path: string;
  /** "page 3", "row 14", "Install > Linux (lines 5-6)". */
  location: string;
  open: string;
  /** The document lines the quote spans: the passage view highlights these. */
  line_start: number;
  line_end: number;
  page: number | null;
  rows: [number, number] | null;
  score: number;
  /** BM25 over the sources' sentences, as a share of the best (0 to 1). */
  lexical: number;
  /** Embedding similarity to the question. */
  semantic: number;
}

/** A sentence of the answer with the sources Almanac found supporting it (not the model's [n]). */
export interface AnsweredSentence {
  text: string;
  /** Source numbers, best first; empty when no source supports it. */
  sources: number[];
  score: number;
  supported: boolean;
}

export type StopReason =
  | 'end_of_turn'
  | 'stop_string'
  | 'max_tokens'
  | 'context_full'
  | 'cancelled'
  | 'repetition'
  | (string & {});

export interface AskOptions {
  web?: boolean;
}

export type StartedEvent = {
  event: 'started';
  run_id: string;
  conversation_id: string;
  message_id: string;
  /** The model writing the answer: the GGUF file name, or the endpoint's model name. */
  model?: string;
};
export type SourcesEvent = { event: 'sources'; retrieval: Retrieval };
export type EvidenceEvent = { event: 'evidence'; evidence: Evidence[] };
export type TokenEvent = { event: 'token'; text: string };
export type DoneEvent = {
  event: 'done';
  stop_reason: StopReason;
  /** The sources the model cited itself as [n]. */
  cited: number[];
  /** The sources Almanac attributed the answer's sentences to. */
  attributed?: number[];
  sentences?: AnsweredSentence[];
  timings: Timings;
  /** The answer as stored, when it is not the tokens joined (after `repetition`, without the repeats). */
  text?: string;
};
export type ErrorEvent = { event: 'error'; code: string; message: string };

/** What ask and regenerate stream: started, sources, evidence, token…, then exactly one of done or error. */
export type AnswerEvent = StartedEvent | SourcesEvent | EvidenceEvent | TokenEvent | DoneEvent | ErrorEvent;

export interface ConversationSummary {
  id: string;
  title: string;
  /** RFC 3339. */
  updated_at: string;
  created_at?: string;
  message_count?: number;
}

export interface Message {
  id: string;
  role: 'user' | 'assistant';
  text: string;
  created_at?: string;
  /** Assistant messages: the model that wrote the answer (absent for answers stored before models were recorded). */
  model?: string | null;
  /** Assistant messages: what retrieval found for this answer. */
  retrieval?: Retrieval | null;
  cited?: number[];
  /** Quotes of the sources that answer the question (the `evidence` event). */
  evidence?: Evidence[] | null;
  /** Sources Almanac attributed the answer's sentences to, and the sentences. */
  attributed?: number[] | null;
  sentences?: AnsweredSentence[] | null;
  timings?: Timings | null;
  stop_reason?: StopReason | null;
  /** True when generation was cut off (the app was killed or the run failed) before `done`. */
  interrupted?: boolean;
  error?: ApiErrorBody | null;
}

export interface Conversation extends ConversationSummary {
  messages: Message[];
}

export type DocumentStatus = 'queued' | 'indexing' | 'indexed' | 'failed';

export interface LibraryDocument {
  path: string;
  title: string;
  status: DocumentStatus;
  error?: string | null;
  chunks: number;
}

export type IngestEvent =
  | EmbedderChosenEvent
  | { event: 'planned'; files: number; skipped: string[] }
  | { event: 'indexing'; path: string }
  | { event: 'indexed'; path: string; chunks: number }
  | { event: 'unchanged'; path: string }
  | { event: 'failed'; path: string; error: string }
  | { event: 'progress'; chunks: number; chunks_per_second: number; seconds_left: number | null }
  | ({ event: 'finished' } & Record<string, unknown>)
  | ErrorEvent;

/**
 * The empty library is built with this embedding model because most incoming documents are Chinese,
 * Japanese or Korean; `installed: false` when that model is missing (the library stays on the default).
 */
export interface EmbedderChosenEvent {
  event: 'embedder_chosen';
  model: string;
  installed: boolean;
}

/** What the backend's folder watcher changed in the library while the app runs (no terminal event). */
export type LibraryChange =
  | { event: 'watching'; active: boolean }
  | { event: 'indexed'; path: string; chunks: number }
  | { event: 'failed'; path: string; error: string }
  | { event: 'removed'; path: string }
  | { event: 'following'; path: string }
  | EmbedderChosenEvent
  | { event: 'ping' }
  | ErrorEvent;

export interface DocumentText {
  path: string;
  title: string;
  /** The whole document; line numbers are 1-based. */
  text: string;
  line_start: number;
  line_end: number;
  /** The file changed since it was indexed: the line numbers may be off. */
  changed?: boolean;
  /** The PDF page the highlighted lines are on. */
  page?: number | null;
  /** "PDF", "DOCX", "Markdown file", … */
  format?: string;
}

export interface ModelFile {
  path: string;
  name: string;
  kind?: 'chat' | 'embedding' | (string & {});
  size_bytes?: number;
}

export interface Models {
  /** The model that answers: a local GGUF (`path` its file) or an endpoint's model (`path` its URL). */
  chat: { path: string; name: string; context_length: number; backend?: 'local' | 'openai' } | null;
  embedding: { path: string; dim: number } | null;
  available: ModelFile[];
  /** Where answers are generated; absent from backends that predate remote generation. */
  backend?: BackendInfo;
}

/** Where an endpoint's API key is read from: never the settings. */
export type KeySource = 'env' | 'keyring';

/** The backend as `GET /api/models` shows it: for an endpoint, whether its key is there (never the key). */
export type BackendInfo =
  | { kind: 'local' }
  | {
      kind: 'openai';
      base_url: string;
      model: string;
      context_length: number;
      timeout_s: number;
      key: { source: KeySource; env?: string; present: boolean; error?: string };
    };

/** The `backend` setting: the local GGUF (`chat_model`) or an OpenAI-compatible endpoint. */
export type Backend =
  | { kind: 'local' }
  | {
      kind: 'openai';
      base_url: string;
      model: string;
      context_length: number;
      timeout_s: number;
      api_key_from: KeySource;
      api_key_env: string;
    };

export interface Settings {
  context_length: number;
  max_answer_tokens: number;
  temperature: number;
  top_p: number | null;
  top_k: number | null;
  repeat_penalty: number;
  seed: number;
  system_prompt: string | null;
  sources: number;
  min_similarity: number;
  chat_model?: string;
  embedding_model?: string;
  backend?: Backend;
  [other: string]: unknown;
}

export interface Token {
  id: number;
  /** The vocabulary entry as stored, e.g. "Ġthe" or "▁계획". */
  piece: string;
  /** The text this token decodes to; U+FFFD where it holds only part of a UTF-8 character. */
  text: string;
  /** The token's bytes, when it stands for bytes rather than whole characters (byte-level BPE). */
  bytes?: number[];
}

/** Whether a model fits in the memory free now (weights + key/value cache at the configured context). */
export type MemoryVerdict = 'fits' | 'tight' | 'too_large' | 'unknown';

/** Expected speed, scaled from one measurement of the engine (see `Catalogue.measured`). */
export interface SpeedEstimate {
  prefill_tokens_per_second: number;
  decode_tokens_per_second: number;
  measured_on: string;
}

/** One model of the reviewed catalogue, as this machine sees it. */
export interface CatalogueModel {
  name: string;
  title: string;
  repo: string;
  file: string;
  quantisation: string;
  size_bytes: number;
  licence: string;
  parameters: number;
  context_length: number;
  memory_bytes: number;
  available_memory_bytes: number | null;
  verdict: MemoryVerdict;
  speed: SpeedEstimate | null;
  downloaded: boolean;
  path: string;
  /** Bytes of an interrupted download that the next pull resumes. */
  partial_bytes: number;
}

export interface Catalogue {
  models: CatalogueModel[];
  available_memory_bytes: number | null;
  context_length: number;
  /** The measurement the speeds are scaled from: prefill scaled by parameters, decode by weight bytes. */
  measured: {
    model: string;
    model_bytes: number;
    parameters: number;
    threads: number;
    prefill_tokens_per_second: number;
    decode_tokens_per_second: number;
  } | null;
}

/** What to pull: a catalogue model, or any GGUF file of a Hugging Face repository. */
export type PullRequest = { name: string } | { repo: string; file: string; revision?: string };

/** A download's stream: started, progress…, then exactly one of done or error. */
export type PullEvent =
  | { event: 'started'; pull_id: string; repo: string; file: string }
  | {
      event: 'progress';
      pull_id: string;
      downloaded: number;
      total: number;
      resumed_from: number;
      bytes_per_second: number;
      seconds_left: number | null;
    }
  | { event: 'done'; pull_id: string; model: ModelFile; already_present: boolean; resumed_from: number }
  | (ErrorEvent & { pull_id?: string });

/** What to evaluate (`POST /api/eval/start`): a model's MMLU/KMMLU accuracy, or answers with and without retrieval. */
export type EvalRequest =
  | { kind: 'mcq'; data: string; format: 'mmlu' | 'kmmlu'; shots: number; subjects?: string[]; limit?: number | null }
  | { kind: 'qa'; set?: string | null; limit?: number | null; max_tokens?: number | null };

export interface EvalProgress {
  done: number;
  total: number;
  /** The subject or stage being evaluated now. */
  stage: string;
  elapsed_s: number;
  seconds_left: number | null;
}

export interface EvalStatus {
  state: 'idle' | 'running' | 'finished' | 'stopped' | 'failed';
  kind: 'mcq' | 'qa' | null;
  title: string | null;
  progress: EvalProgress | null;
  /** The finished run's report name. */
  report: string | null;
  error: { code: string; message: string; field?: string } | null;
}

export interface EvalReportSummary {
  name: string;
  kind: 'mcq' | 'qa';
  title: string;
  headline: string;
  finished_at: string;
}

/** A report with its Markdown page and SVG chart; `report` is the JSON `almanac eval … --json` prints. */
export interface EvalReportView {
  name: string;
  report: { kind: 'mcq' | 'qa'; [field: string]: unknown };
  markdown: string;
  svg: string;
}
