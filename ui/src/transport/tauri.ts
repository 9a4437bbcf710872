import { Channel, invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
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
import { toApiError } from './errors';
import { asEvent, guardStream } from './stream';
import { isAnswerEnd, isIngestEnd, isPullEnd, type Listener, type Transport } from './types';

type Invoke = <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;
type Listen = <E>(event: string, handler: (e: { payload: E }) => void) => Promise<() => void>;

/**
 * Tauri IPC: one command per operation (snake_case names; Tauri maps the camelCase argument keys
 * here to the Rust parameters' snake_case names). Streams arrive on a `Channel` passed as `onEvent`.
 */
export class TauriTransport implements Transport {
  readonly kind = 'tauri' as const;
  private readonly invoke: Invoke;
  private readonly makeChannel: <E>(onMessage: (e: E) => void) => Channel<E>;
  private readonly listen: Listen;

  constructor(
    invokeImpl: Invoke = (cmd, args) => invoke(cmd, args),
    makeChannel: <E>(onMessage: (e: E) => void) => Channel<E> = (onMessage) => new Channel(onMessage),
    listenImpl: Listen = (event, handler) => listen(event, handler),
  ) {
    this.invoke = invokeImpl;
    this.makeChannel = makeChannel;
    this.listen = listenImpl;
  }

  /** The shell emits each change of its folder watcher as a `library-changed` event. */
  watchLibrary(onChange: Listener<LibraryChange>) {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    void this.listen<LibraryChange>('library-changed', (e) => onChange(e.payload)).then((u) => {
      if (stopped) u();
      else unlisten = u;
    });
    return () => {
      stopped = true;
      unlisten?.();
    };
  }

  ask(conversationId: string | null, text: string, options: AskOptions, onEvent: Listener<AnswerEvent>) {
    return this.stream('ask', { conversationId, text, options }, onEvent, isAnswerEnd);
  }

  regenerate(conversationId: string, onEvent: Listener<AnswerEvent>) {
    return this.stream('regenerate', { conversationId }, onEvent, isAnswerEnd);
  }

  cancel(runId: string) {
    return this.call<void>('cancel_run', { runId });
  }

  listConversations(query?: string) {
    return this.call<ConversationSummary[]>('list_conversations', { q: query ?? null });
  }

  getConversation(id: string) {
    return this.call<Conversation>('get_conversation', { id });
  }

  renameConversation(id: string, title: string) {
    return this.call<void>('rename_conversation', { id, title });
  }

  deleteConversation(id: string) {
    return this.call<void>('delete_conversation', { id });
  }

  exportConversation(id: string, path?: string) {
    return this.call<string>('export_conversation', { id, path: path ?? null });
  }

  listDocuments() {
    return this.call<LibraryDocument[]>('list_documents');
  }

  addDocuments(paths: string[], onEvent: Listener<IngestEvent>) {
    return this.stream('add_documents', { paths }, onEvent, isIngestEnd);
  }

  removeDocument(path: string) {
    return this.call<void>('remove_document', { path });
  }

  reindexDocument(path: string) {
    return this.call<void>('reindex_document', { path });
  }

  getDocument(path: string, lineStart: number, lineEnd: number) {
    return this.call<DocumentText>('get_document', { path, lineStart, lineEnd });
  }

  getModels() {
    return this.call<Models>('get_models');
  }

  getSettings() {
    return this.call<Settings>('get_settings');
  }

  putSettings(settings: Settings) {
    return this.call<Settings>('put_settings', { settings });
  }

  importModel(path: string) {
    return this.call<void>('import_model', { path });
  }

  getModelCatalogue() {
    return this.call<Catalogue>('get_model_catalogue');
  }

  pullModel(request: PullRequest, onEvent: Listener<PullEvent>) {
    return this.stream('pull_model', { request }, onEvent, isPullEnd);
  }

  cancelPull(pullId: string) {
    return this.call<void>('cancel_pull', { pullId });
  }

  removeModel(name: string) {
    return this.call<void>('remove_model', { name });
  }

  setBackendKey(key: string) {
    return this.call<BackendInfo>('set_backend_key', { key });
  }

  deleteBackendKey() {
    return this.call<BackendInfo>('delete_backend_key');
  }

  async tokenize(text: string) {
    const body = await this.call<{ tokens: Token[] }>('tokenize', { text });
    return body.tokens;
  }

  startEvaluation(request: EvalRequest) {
    return this.call<EvalStatus>('start_evaluation', { request });
  }

  evaluationStatus() {
    return this.call<EvalStatus>('evaluation_status', {});
  }

  stopEvaluation() {
    return this.call<EvalStatus>('stop_evaluation', {});
  }

  listEvalReports() {
    return this.call<EvalReportSummary[]>('list_eval_reports', {});
  }

  getEvalReport(name: string) {
    return this.call<EvalReportView>('get_eval_report', { name });
  }

  private async call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await this.invoke<T>(cmd, args);
    } catch (e) {
      throw toApiError(e);
    }
  }

  private async stream<E extends { event: string }>(
    cmd: string,
    args: Record<string, unknown>,
    onEvent: Listener<E>,
    isEnd: (e: E) => boolean,
  ): Promise<void> {
    const guard = guardStream(onEvent, isEnd);
    let resolveEnd: () => void = () => {};
    const ended = new Promise<void>((resolve) => (resolveEnd = resolve));
    const channel = this.makeChannel<unknown>((message) => {
      const event = asEvent(message);
      if (!event) {
        guard.fail({ code: 'bad_event', message: 'an event without an "event" tag' });
      } else {
        guard.emit(event as E);
        if (!isEnd(event as E)) return;
      }
      resolveEnd();
    });
    try {
      // The command may return when the run starts or when it ends; the stream ends with its
      // terminal event either way.
      await this.invoke(cmd, { ...args, onEvent: channel });
    } catch (e) {
      guard.fail(e);
      return;
    }
    await ended;
  }
}
