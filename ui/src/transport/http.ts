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
import { ApiError, fromErrorBody, toApiError } from './errors';
import { readSse } from './sse';
import { asEvent, guardStream } from './stream';
import { isAnswerEnd, isIngestEnd, isPullEnd, type Listener, type Transport } from './types';

type Fetch = typeof fetch;

/** HTTP to `almanac serve`: JSON requests, and Server-Sent Events read from POST response bodies. */
export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  private readonly base: string;
  private readonly fetch: Fetch;

  /** `base`: the server's origin ('' = the page's own origin). */
  constructor(base = '', fetchImpl: Fetch = (input, init) => globalThis.fetch(input, init)) {
    this.base = base.replace(/\/+$/, '');
    this.fetch = fetchImpl;
  }

  ask(conversationId: string | null, text: string, options: AskOptions, onEvent: Listener<AnswerEvent>) {
    return this.stream('POST', '/api/ask', { conversation_id: conversationId, text, options }, onEvent, isAnswerEnd);
  }

  regenerate(conversationId: string, onEvent: Listener<AnswerEvent>) {
    return this.stream('POST', `/api/conversations/${seg(conversationId)}/regenerate`, {}, onEvent, isAnswerEnd);
  }

  async cancel(runId: string) {
    await this.json('POST', `/api/runs/${seg(runId)}/cancel`);
  }

  listConversations(query?: string) {
    const q = query ? `?q=${encodeURIComponent(query)}` : '';
    return this.json<ConversationSummary[]>('GET', `/api/conversations${q}`);
  }

  getConversation(id: string) {
    return this.json<Conversation>('GET', `/api/conversations/${seg(id)}`);
  }

  async renameConversation(id: string, title: string) {
    await this.json('PATCH', `/api/conversations/${seg(id)}`, { title });
  }

  async deleteConversation(id: string) {
    await this.json('DELETE', `/api/conversations/${seg(id)}`);
  }

  async exportConversation(id: string) {
    const response = await this.request('GET', `/api/conversations/${seg(id)}/export`, undefined, 'text/markdown');
    return response.text();
  }

  /** An EventSource on `/api/library/changes` (it reconnects by itself); none where there is no EventSource. */
  watchLibrary(onChange: Listener<LibraryChange>) {
    if (typeof globalThis.EventSource !== 'function') return () => {};
    const source = new EventSource(`${this.base}/api/library/changes`);
    source.onmessage = (m: MessageEvent<string>) => {
      try {
        onChange(JSON.parse(m.data) as LibraryChange);
      } catch {
        // Not JSON: nothing the library view can use.
      }
    };
    return () => source.close();
  }

  listDocuments() {
    return this.json<LibraryDocument[]>('GET', '/api/library');
  }

  addDocuments(paths: string[], onEvent: Listener<IngestEvent>) {
    return this.stream('POST', '/api/library', { paths }, onEvent, isIngestEnd);
  }

  async removeDocument(path: string) {
    await this.json('DELETE', `/api/library?path=${encodeURIComponent(path)}`);
  }

  async reindexDocument(path: string) {
    await this.json('POST', '/api/library/reindex', { path });
  }

  getDocument(path: string, lineStart: number, lineEnd: number) {
    const q = new URLSearchParams({ path, line_start: String(lineStart), line_end: String(lineEnd) });
    return this.json<DocumentText>('GET', `/api/document?${q}`);
  }

  getModels() {
    return this.json<Models>('GET', '/api/models');
  }

  getSettings() {
    return this.json<Settings>('GET', '/api/settings');
  }

  putSettings(settings: Settings) {
    return this.json<Settings>('PUT', '/api/settings', settings);
  }

  async importModel(path: string) {
    await this.json('POST', '/api/models/import', { path });
  }

  getModelCatalogue() {
    return this.json<Catalogue>('GET', '/api/models/catalogue');
  }

  pullModel(request: PullRequest, onEvent: Listener<PullEvent>) {
    return this.stream('POST', '/api/models/pull', request, onEvent, isPullEnd);
  }

  async cancelPull(pullId: string) {
    await this.json('POST', `/api/models/pulls/${seg(pullId)}/cancel`);
  }

  async removeModel(name: string) {
    await this.json('DELETE', `/api/models?name=${encodeURIComponent(name)}`);
  }

  setBackendKey(key: string) {
    return this.json<BackendInfo>('PUT', '/api/backend/key', { key });
  }

  deleteBackendKey() {
    return this.json<BackendInfo>('DELETE', '/api/backend/key');
  }

  async tokenize(text: string) {
    const body = await this.json<{ tokens: Token[] }>('POST', '/api/tokenize', { text });
    return body.tokens;
  }

  startEvaluation(request: EvalRequest) {
    return this.json<EvalStatus>('POST', '/api/eval/start', request);
  }

  evaluationStatus() {
    return this.json<EvalStatus>('GET', '/api/eval/status');
  }

  stopEvaluation() {
    return this.json<EvalStatus>('POST', '/api/eval/stop', {});
  }

  listEvalReports() {
    return this.json<EvalReportSummary[]>('GET', '/api/eval/reports');
  }

  getEvalReport(name: string) {
    return this.json<EvalReportView>('GET', `/api/eval/reports/${seg(name)}`);
  }

  // --- plumbing -------------------------------------------------------------------------------

  private async request(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<Response> {
    const init: RequestInit = { method, headers: { Accept: accept }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await this.fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError('network', `cannot reach the Almanac server: ${toApiError(e).message}`);
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  private async json<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError('bad_response', `${method} ${path}: the server's answer is not JSON`);
    }
  }

  private async stream<E extends { event: string }>(
    method: string,
    path: string,
    body: unknown,
    onEvent: Listener<E>,
    isEnd: (e: E) => boolean,
  ): Promise<void> {
    const guard = guardStream(onEvent, isEnd);
    try {
      const response = await this.request(method, path, body, 'text/event-stream');
      if (!response.body) throw new ApiError('bad_response', `${method} ${path}: the response has no body`);
      await readSse(response.body, (message) => {
        let value: unknown;
        try {
          value = JSON.parse(message.data);
        } catch {
          guard.fail(new ApiError('bad_event', `not a JSON event: ${message.data.slice(0, 80)}`));
          return;
        }
        // The JSON carries its own "event" tag; an SSE `event:` field fills it in when missing.
        if (typeof value === 'object' && value !== null && !('event' in value) && message.type !== 'message') {
          value = { ...value, event: message.type };
        }
        const event = asEvent(value);
        if (event) guard.emit(event as E);
        else guard.fail(new ApiError('bad_event', `an event without an "event" tag: ${message.data.slice(0, 80)}`));
      });
      guard.finish();
    } catch (e) {
      guard.fail(e);
    }
  }
}

function seg(id: string): string {
  return encodeURIComponent(id);
}

/** A non-2xx response: its JSON `{code, message}` body, or a code made from the status. */
async function errorFrom(response: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body could not be read; the status still says what happened.
  }
  try {
    const error = fromErrorBody(JSON.parse(text));
    if (error) return error;
  } catch {
    // Not JSON: fall through.
  }
  const detail = text.trim().slice(0, 200) || response.statusText || 'no details';
  return new ApiError(`http_${response.status}`, `the server answered ${response.status}: ${detail}`);
}
