import { describe, expect, it } from 'vitest';
import type { AnswerEvent, IngestEvent } from '../src/api/types';
import { ApiError } from '../src/transport/errors';
import { HttpTransport } from '../src/transport/http';
import { SseParser } from '../src/transport/sse';

const encoder = new TextEncoder();

/** A response whose body arrives in exactly these byte chunks. */
function streamResponse(chunks: Uint8Array[], init: ResponseInit = {}): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' }, ...init });
}

/** Splits bytes at the given offsets. */
function splitAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let last = 0;
  for (const o of [...offsets, bytes.length]) {
    out.push(bytes.slice(last, o));
    last = o;
  }
  return out;
}

function everyN(bytes: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += n) out.push(bytes.slice(i, i + n));
  return out;
}

interface Request {
  url: string;
  method: string;
  body: unknown;
  headers: Record<string, string>;
}

function stubFetch(respond: (req: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req: Request = {
      url: String(input),
      method: init?.method ?? 'GET',
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      headers: (init?.headers ?? {}) as Record<string, string>,
    };
    requests.push(req);
    return respond(req);
  }) as typeof fetch;
  return { requests, fetchImpl };
}

// A stream as `almanac serve` sends it: CRLF and LF line ends, a comment, a multi-line data field,
// Korean text and an emoji (3- and 4-byte UTF-8 characters).
const ANSWER_STREAM =
  ': keep-alive\r\n\r\n' +
  'event: started\r\ndata: {"event":"started","run_id":"r1","conversation_id":"c1","message_id":"m1"}\r\n\r\n' +
  'data: {"event":"sources","retrieval":{"used":false,"reason":"the library is empty","query":"q",\n' +
  'data: "library_chunks":0,"candidates":0,"min_similarity":0.2,"elapsed_ms":1,"passages":[]}}\n\n' +
  'data: {"event":"token","text":"계획이 "}\n\n' +
  'data: {"event":"token","text":"있다 🙂"}\r\r' +
  'data: {"event":"done","stop_reason":"end_of_turn","cited":[],"timings":{"retrieval_ms":1,"prompt_tokens":5,"cached_tokens":0,"ttft_ms":2,"tokens":3,"tokens_per_s":9,"total_ms":3}}\n\n';

const EXPECTED_TEXT = '계획이 있다 🙂';

async function askWith(chunks: Uint8Array[]): Promise<AnswerEvent[]> {
  const { fetchImpl } = stubFetch(() => streamResponse(chunks));
  const events: AnswerEvent[] = [];
  await new HttpTransport('', fetchImpl).ask(null, 'q', {}, (e) => events.push(e));
  return events;
}

function summary(events: AnswerEvent[]) {
  return {
    kinds: events.map((e) => e.event),
    text: events.map((e) => (e.event === 'token' ? e.text : '')).join(''),
  };
}

describe('SSE over a POST body', () => {
  const bytes = encoder.encode(ANSWER_STREAM);
  const expected = { kinds: ['started', 'sources', 'token', 'token', 'done'], text: EXPECTED_TEXT };

  it('decodes the stream in one chunk', async () => {
    expect(summary(await askWith([bytes]))).toEqual(expected);
  });

  it('decodes it one byte at a time', async () => {
    expect(summary(await askWith(everyN(bytes, 1)))).toEqual(expected);
  });

  it('decodes it split at every single position', async () => {
    for (let i = 1; i < bytes.length; i++) {
      expect(summary(await askWith(splitAt(bytes, [i]))), `split at byte ${i}`).toEqual(expected);
    }
  });

  it('decodes a multi-byte character split across chunks', async () => {
    // Split inside 계 (3 bytes) and inside 🙂 (4 bytes).
    const ko = bytes.indexOf(0xea); // first byte of 계
    const emoji = bytes.indexOf(0xf0); // first byte of 🙂
    expect(ko).toBeGreaterThan(0);
    expect(emoji).toBeGreaterThan(0);
    const events = await askWith(splitAt(bytes, [ko + 1, ko + 2, emoji + 1, emoji + 3]));
    expect(summary(events)).toEqual(expected);
  });

  it('decodes it in chunks of 2 to 13 bytes', async () => {
    for (let n = 2; n <= 13; n++) expect(summary(await askWith(everyN(bytes, n))), `chunks of ${n}`).toEqual(expected);
  });

  it('keeps the events\' fields', async () => {
    const events = await askWith([bytes]);
    expect(events[0]).toEqual({ event: 'started', run_id: 'r1', conversation_id: 'c1', message_id: 'm1' });
    const sources = events[1];
    expect(sources?.event === 'sources' && sources.retrieval.reason).toBe('the library is empty');
    const done = events[4];
    expect(done?.event === 'done' && done.stop_reason).toBe('end_of_turn');
  });

  it('parses CR, LF and CRLF line ends and joins data lines', () => {
    const parser = new SseParser();
    const out = [...parser.push('data: a\r'), ...parser.push('\ndata: b\r\n'), ...parser.push('\revent: x\ndata:c\n\n')];
    expect(out).toEqual([
      { type: 'message', data: 'a\nb' },
      { type: 'x', data: 'c' },
    ]);
  });
});

describe('HttpTransport requests', () => {
  it('posts ask with conversation_id, text and options', async () => {
    const { requests, fetchImpl } = stubFetch(() =>
      streamResponse([encoder.encode('data: {"event":"done","stop_reason":"end_of_turn","cited":[1],"timings":{}}\n\n')]),
    );
    await new HttpTransport('', fetchImpl).ask('c 1', 'Hi?', { web: true }, () => {});
    expect(requests[0]).toMatchObject({
      url: '/api/ask',
      method: 'POST',
      body: { conversation_id: 'c 1', text: 'Hi?', options: { web: true } },
    });
    expect(requests[0]?.headers.Accept).toBe('text/event-stream');
  });

  it('addresses every operation as the contract says', async () => {
    const { requests, fetchImpl } = stubFetch((req) => {
      if (req.url.endsWith('/export')) return new Response('# T\n', { headers: { 'Content-Type': 'text/markdown' } });
      if (req.url.endsWith('/api/tokenize')) return Response.json({ tokens: [{ id: 1, piece: 'a', text: 'a' }] });
      if (req.method === 'GET') return Response.json([]);
      return new Response(null, { status: 204 });
    });
    const t = new HttpTransport('http://127.0.0.1:8080/', fetchImpl);
    await t.cancel('run/1');
    await t.listConversations('bridge & tunnel');
    await t.getConversation('c1');
    await t.renameConversation('c1', 'New');
    await t.deleteConversation('c1');
    expect(await t.exportConversation('c1')).toBe('# T\n');
    await t.listDocuments();
    await t.removeDocument('/a b/c.md');
    await t.reindexDocument('/a.md');
    await t.getDocument('/a b.md', 3, 7);
    await t.getModels();
    await t.getSettings();
    await t.importModel('/m.gguf');
    await t.setBackendKey('sk-1');
    await t.deleteBackendKey();
    expect(await t.tokenize('a')).toEqual([{ id: 1, piece: 'a', text: 'a' }]);
    expect(requests.map((r) => `${r.method} ${r.url.replace('http://127.0.0.1:8080', '')}`)).toEqual([
      'POST /api/runs/run%2F1/cancel',
      'GET /api/conversations?q=bridge%20%26%20tunnel',
      'GET /api/conversations/c1',
      'PATCH /api/conversations/c1',
      'DELETE /api/conversations/c1',
      'GET /api/conversations/c1/export',
      'GET /api/library',
      'DELETE /api/library?path=%2Fa%20b%2Fc.md',
      'POST /api/library/reindex',
      'GET /api/document?path=%2Fa+b.md&line_start=3&line_end=7',
      'GET /api/models',
      'GET /api/settings',
      'POST /api/models/import',
      'PUT /api/backend/key',
      'DELETE /api/backend/key',
      'POST /api/tokenize',
    ]);
    expect(requests[13]?.body).toEqual({ key: 'sk-1' });
    expect(requests[3]?.body).toEqual({ title: 'New' });
    expect(requests[8]?.body).toEqual({ path: '/a.md' });
  });

  it('streams library additions', async () => {
    const sse =
      'data: {"event":"planned","files":2,"skipped":["/x.pdf"]}\n\n' +
      'data: {"event":"indexed","path":"/a.md","chunks":3}\n\n' +
      'data: {"event":"failed","path":"/b.md","error":"not UTF-8"}\n\n' +
      'data: {"event":"finished","indexed":1,"failed":1}\n\n';
    const { requests, fetchImpl } = stubFetch(() => streamResponse(everyN(encoder.encode(sse), 7)));
    const events: IngestEvent[] = [];
    await new HttpTransport('', fetchImpl).addDocuments(['/docs'], (e) => events.push(e));
    expect(requests[0]).toMatchObject({ method: 'POST', url: '/api/library', body: { paths: ['/docs'] } });
    expect(events.map((e) => e.event)).toEqual(['planned', 'indexed', 'failed', 'finished']);
  });
});

describe('HttpTransport errors become {code, message}', () => {
  it('rejects a plain call with the body\'s code and message', async () => {
    const { fetchImpl } = stubFetch(() => Response.json({ code: 'not_found', message: 'no conversation 9' }, { status: 404 }));
    const error = await new HttpTransport('', fetchImpl).getConversation('9').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'not_found', message: 'no conversation 9' });
  });

  it('keeps the field a refusal names', async () => {
    const { fetchImpl } = stubFetch(() =>
      Response.json(
        { code: 'invalid_argument', message: 'backend.base_url: must be an http or https URL', field: 'backend.base_url' },
        { status: 400 },
      ),
    );
    const error = await new HttpTransport('', fetchImpl).putSettings({} as never).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid_argument', field: 'backend.base_url' });
    expect((error as ApiError).toJSON()).toEqual({
      code: 'invalid_argument',
      message: 'backend.base_url: must be an http or https URL',
      field: 'backend.base_url',
    });
  });

  it('accepts {error: {code, message}} too', async () => {
    const { fetchImpl } = stubFetch(() => Response.json({ error: { code: 'invalid', message: 'temperature must be ≥ 0' } }, { status: 422 }));
    await expect(new HttpTransport('', fetchImpl).putSettings({} as never)).rejects.toMatchObject({ code: 'invalid' });
  });

  it('makes a code from the status when the body is not JSON', async () => {
    const { fetchImpl } = stubFetch(() => new Response('upstream exploded', { status: 502, statusText: 'Bad Gateway' }));
    await expect(new HttpTransport('', fetchImpl).listDocuments()).rejects.toMatchObject({
      code: 'http_502',
      message: 'the server answered 502: upstream exploded',
    });
  });

  it('reports an unreachable server', async () => {
    const fetchImpl = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    await expect(new HttpTransport('', fetchImpl).getModels()).rejects.toMatchObject({ code: 'network' });
  });

  it('reports a success answer that is not JSON', async () => {
    const { fetchImpl } = stubFetch(() => new Response('<html>', { status: 200 }));
    await expect(new HttpTransport('', fetchImpl).getSettings()).rejects.toMatchObject({ code: 'bad_response' });
  });

  it('turns a refused stream into one error event, never a rejection', async () => {
    const { fetchImpl } = stubFetch(() => Response.json({ code: 'busy', message: 'another answer is running' }, { status: 409 }));
    const events: AnswerEvent[] = [];
    await new HttpTransport('', fetchImpl).ask(null, 'q', {}, (e) => events.push(e));
    expect(events).toEqual([{ event: 'error', code: 'busy', message: 'another answer is running' }]);
  });

  it('passes an error event from the stream through and ignores anything after it', async () => {
    const sse =
      'data: {"event":"token","text":"a"}\n\n' +
      'data: {"event":"error","code":"model_failed","message":"the model crashed"}\n\n' +
      'data: {"event":"token","text":"late"}\n\n';
    const { fetchImpl } = stubFetch(() => streamResponse([encoder.encode(sse)]));
    const events: AnswerEvent[] = [];
    await new HttpTransport('', fetchImpl).ask(null, 'q', {}, (e) => events.push(e));
    expect(events.map((e) => e.event)).toEqual(['token', 'error']);
    expect(events[1]).toMatchObject({ code: 'model_failed', message: 'the model crashed' });
  });

  it('ends a stream cut off before its last event with an error', async () => {
    const { fetchImpl } = stubFetch(() => streamResponse([encoder.encode('data: {"event":"token","text":"a"}\n\ndata: {"event":"do')]));
    const events: AnswerEvent[] = [];
    await new HttpTransport('', fetchImpl).ask(null, 'q', {}, (e) => events.push(e));
    expect(events.map((e) => e.event)).toEqual(['token', 'error']);
    expect(events[1]).toMatchObject({ code: 'stream_ended' });
  });

  it('reports a malformed event', async () => {
    const { fetchImpl } = stubFetch(() => streamResponse([encoder.encode('data: {not json\n\n')]));
    const events: AnswerEvent[] = [];
    await new HttpTransport('', fetchImpl).ask(null, 'q', {}, (e) => events.push(e));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event: 'error', code: 'bad_event' });
  });

  it('reports a body that fails mid-stream', async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(encoder.encode('data: {"event":"token","text":"a"}\n\n'));
        else controller.error(new Error('connection reset'));
      },
    });
    const { fetchImpl } = stubFetch(() => new Response(body));
    const events: AnswerEvent[] = [];
    await new HttpTransport('', fetchImpl).ask(null, 'q', {}, (e) => events.push(e));
    expect(events.map((e) => e.event)).toEqual(['token', 'error']);
    expect(events[1]).toMatchObject({ message: 'connection reset' });
  });
});
