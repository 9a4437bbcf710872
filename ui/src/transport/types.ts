import type {
  AnswerEvent,
  Catalogue,
  PullEvent,
  PullRequest,
  AskOptions,
  Conversation,
  ConversationSummary,
  DocumentText,
  IngestEvent,
  LibraryChange,
  LibraryDocument,
  Models,
  BackendInfo,
  Settings,
  Token,
  EvalReportSummary,
  EvalReportView,
  EvalRequest,
  EvalStatus,
} from '../api/types';

export type Listener<E> = (event: E) => void;

/**
 * How the UI talks to the backend. Two implementations: Tauri IPC (`tauri.ts`) and HTTP to
 * `almanac serve` (`http.ts`). Plain calls resolve with their result or reject with an ApiError.
 *
 * Streaming calls (ask, regenerate, addDocuments) report everything through `onEvent`, failures
 * included, and never reject: each stream ends with exactly one terminal event (`done` or `error`
 * for answers, `finished` or `error` for ingestion); the promise resolves after it.
 */
export interface Transport {
  readonly kind: 'tauri' | 'http';

  ask(
    conversationId: string | null,
    text: string,
    options: AskOptions,
    onEvent: Listener<AnswerEvent>,
  ): Promise<void>;
  regenerate(conversationId: string, onEvent: Listener<AnswerEvent>): Promise<void>;
  cancel(runId: string): Promise<void>;

  listConversations(query?: string): Promise<ConversationSummary[]>;
  getConversation(id: string): Promise<Conversation>;
  renameConversation(id: string, title: string): Promise<void>;
  deleteConversation(id: string): Promise<void>;
  /** The conversation as Markdown. `path` (Tauri only, from the native save dialog): also write it there. */
  exportConversation(id: string, path?: string): Promise<string>;

  listDocuments(): Promise<LibraryDocument[]>;
  addDocuments(paths: string[], onEvent: Listener<IngestEvent>): Promise<void>;
  removeDocument(path: string): Promise<void>;
  reindexDocument(path: string): Promise<void>;
  getDocument(path: string, lineStart: number, lineEnd: number): Promise<DocumentText>;
  /** Follows the changes the backend's folder watcher makes; returns the function that stops following. */
  watchLibrary(onChange: Listener<LibraryChange>): () => void;

  getModels(): Promise<Models>;
  getSettings(): Promise<Settings>;
  putSettings(settings: Settings): Promise<Settings>;
  importModel(path: string): Promise<void>;
  /** The model catalogue with the memory verdict and the expected speed on this machine. */
  getModelCatalogue(): Promise<Catalogue>;
  /** Downloads a model into the models folder (a stream: started, progress…, then done or error). */
  pullModel(request: PullRequest, onEvent: Listener<PullEvent>): Promise<void>;
  /** Stops a download and removes what it fetched. */
  cancelPull(pullId: string): Promise<void>;
  /** Deletes a downloaded model (catalogue name or file name); the one in use is refused. */
  removeModel(name: string): Promise<void>;
  /** Stores the configured endpoint's API key in the OS keyring; the backend as `getModels` shows it. */
  setBackendKey(key: string): Promise<BackendInfo>;
  /** Removes the configured endpoint's key from the OS keyring. */
  deleteBackendKey(): Promise<BackendInfo>;

  tokenize(text: string): Promise<Token[]>;

  /** Starts an evaluation (one at a time); returns at once with its status. */
  startEvaluation(request: EvalRequest): Promise<EvalStatus>;
  evaluationStatus(): Promise<EvalStatus>;
  /** Stops the running evaluation after the question in hand (the same request resumes it). */
  stopEvaluation(): Promise<EvalStatus>;
  /** Finished evaluations' reports, newest first. */
  listEvalReports(): Promise<EvalReportSummary[]>;
  getEvalReport(name: string): Promise<EvalReportView>;
}

/** Terminal events of each stream kind. */
export const isAnswerEnd = (e: { event: string }): boolean => e.event === 'done' || e.event === 'error';
export const isPullEnd = (e: { event: string }): boolean => e.event === 'done' || e.event === 'error';
export const isIngestEnd = (e: { event: string }): boolean => e.event === 'finished' || e.event === 'error';
