import { describe, expect, it } from 'vitest';
import { createApp } from '../src/stores';
import { fileName } from '../src/stores/conversations';
import { FakeTransport, fakeHost, flush, passage, retrieval, timings } from './fakes';

function setup() {
  const transport = new FakeTransport();
  transport.conversations = [
    { id: 'a', title: 'Bridges', updated_at: '2026-01-02T00:00:00Z' },
    { id: 'b', title: 'Observatory', updated_at: '2026-01-01T00:00:00Z' },
  ];
  const app = createApp(transport, fakeHost());
  return { transport, app };
}

describe('conversations store', () => {
  it('loads and searches', async () => {
    const { app, transport } = setup();
    await app.conversations.load();
    expect(app.conversations.get().items.map((c) => c.id)).toEqual(['a', 'b']);
    await app.conversations.search('observ');
    expect(app.conversations.get().items.map((c) => c.id)).toEqual(['b']);
    expect(transport.callsOf('listConversations').at(-1)).toEqual(['observ']);
  });

  it('keeps the latest search when an earlier answer arrives late', async () => {
    const { app, transport } = setup();
    const slow = transport.listConversations.bind(transport);
    let release: () => void = () => {};
    transport.listConversations = async (q?: string) => {
      if (q === 'b') await new Promise<void>((r) => (release = r));
      return slow(q);
    };
    const first = app.conversations.search('b');
    await app.conversations.search('obs');
    release();
    await first;
    expect(app.conversations.get().items.map((c) => c.title)).toEqual(['Observatory']);
  });

  it('updates the list on rename, and puts the old title back when the backend refuses', async () => {
    const { app, transport } = setup();
    await app.conversations.load();
    expect(await app.conversations.rename('a', '  Suspension bridges ')).toBe(true);
    expect(app.conversations.get().items[0]?.title).toBe('Suspension bridges');
    expect(transport.callsOf('renameConversation')).toEqual([['a', 'Suspension bridges']]);

    transport.fail.renameConversation = { code: 'invalid_title', message: 'the title is too long' };
    const renaming = app.conversations.rename('a', 'x'.repeat(500));
    expect(app.conversations.get().items[0]?.title).toBe('x'.repeat(500)); // at once
    expect(await renaming).toBe(false);
    expect(app.conversations.get().items[0]?.title).toBe('Suspension bridges');
    expect(app.notices.get().items.at(-1)).toMatchObject({ kind: 'error', code: 'invalid_title', message: 'the title is too long' });
  });

  it('removes a deleted conversation and leaves it if it was open', async () => {
    const { app, transport } = setup();
    transport.conversation.a = { id: 'a', title: 'Bridges', updated_at: '', messages: [{ id: 'm1', role: 'user', text: 'hi' }] };
    await app.conversations.load();
    await app.chat.open('a');
    expect(app.chat.get().messages).toHaveLength(1);
    expect(await app.conversations.remove('a')).toBe(true);
    expect(app.conversations.get().items.map((c) => c.id)).toEqual(['b']);
    expect(app.chat.get()).toMatchObject({ conversationId: null, messages: [] });
  });

  it('keeps a conversation whose delete failed, and shows why', async () => {
    const { app, transport } = setup();
    await app.conversations.load();
    transport.fail.deleteConversation = { code: 'locked', message: 'the database is locked' };
    expect(await app.conversations.remove('a')).toBe(false);
    expect(app.conversations.get().items).toHaveLength(2);
    expect(app.notices.get().items[0]).toMatchObject({ code: 'locked' });
  });

  it('exports through the host: a download in a browser', async () => {
    const { app } = setup();
    await app.conversations.load();
    const downloads: [string, string][] = [];
    await app.conversations.exportMarkdown('a', { ...fakeHost(), download: (name, text) => downloads.push([name, text]) });
    expect(downloads).toEqual([['Bridges.md', '# a\n']]);
    expect(fileName('Qu’est-ce / que: «ça»?')).toBe('Qu-est-ce-que-ça');
    expect(fileName('///')).toBe('conversation');
  });
});

describe('chat store', () => {
  it('streams an answer: started, sources, tokens appended, done', async () => {
    const { app, transport } = setup();
    expect(app.chat.send('  Who designed the bridge?  ')).toBe(true);
    expect(transport.callsOf('ask')).toEqual([[null, 'Who designed the bridge?', {}]]);
    expect(app.chat.get().run).toEqual({ runId: null, status: 'starting' });
    const s = transport.asks[0]!;

    s.push({ event: 'started', run_id: 'r1', conversation_id: 'c9', message_id: 'm2' });
    expect(app.chat.get().conversationId).toBe('c9');
    expect(app.chat.get().run).toEqual({ runId: 'r1', status: 'streaming' });
    expect(app.conversations.get().items[0]).toMatchObject({ id: 'c9', title: 'Who designed the bridge?' });

    s.push({ event: 'sources', retrieval: retrieval([passage(1), passage(2)]) });
    s.push({ event: 'token', text: 'Ada ' }, { event: 'token', text: 'Lovelace [1]' }, { event: 'token', text: '.' });
    const answer = () => app.chat.get().messages[1]!;
    expect(answer()).toMatchObject({ id: 'm2', role: 'assistant', text: 'Ada Lovelace [1].', pending: true });
    expect(answer().retrieval?.passages).toHaveLength(2);

    s.push({ event: 'done', stop_reason: 'end_of_turn', cited: [1], timings });
    s.end();
    expect(answer()).toMatchObject({ pending: false, cited: [1], stop_reason: 'end_of_turn', timings });
    expect(app.chat.get().run).toBeNull();
    expect(app.chat.get().messages.map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('refuses to send an empty question or a second one while answering', () => {
    const { app, transport } = setup();
    expect(app.chat.send('   ')).toBe(false);
    expect(app.chat.send('one')).toBe(true);
    expect(app.chat.send('two')).toBe(false);
    expect(transport.callsOf('ask')).toHaveLength(1);
  });

  it('sends the web option when it is on', () => {
    const { app, transport } = setup();
    app.chat.setWeb(true);
    app.chat.send('news?');
    expect(transport.callsOf('ask')[0]?.[2]).toEqual({ web: true });
  });

  it('keeps the stored text of an answer stopped for repeating itself', () => {
    const { app, transport } = setup();
    app.chat.send('loop');
    const s = transport.asks[0]!;
    s.push({ event: 'started', run_id: 'r8', conversation_id: 'c1', message_id: 'm1' });
    s.push({ event: 'token', text: 'Yes. No. No. No.' });
    s.push({ event: 'done', stop_reason: 'repetition', cited: [], timings, text: 'Yes. No.' });
    expect(app.chat.get().messages[1]).toMatchObject({ text: 'Yes. No.', stop_reason: 'repetition', pending: false });
  });

  it('cancels a streaming run by its id', async () => {
    const { app, transport } = setup();
    app.chat.send('long story');
    const s = transport.asks[0]!;
    s.push({ event: 'started', run_id: 'r7', conversation_id: 'c1', message_id: 'm1' });
    s.push({ event: 'token', text: 'Once' });
    await app.chat.stop();
    expect(transport.callsOf('cancel')).toEqual([['r7']]);
    expect(app.chat.get().run?.status).toBe('stopping');
    s.push({ event: 'done', stop_reason: 'cancelled', cited: [], timings });
    expect(app.chat.get().run).toBeNull();
    expect(app.chat.get().messages[1]).toMatchObject({ text: 'Once', stop_reason: 'cancelled', pending: false });
  });

  it('cancels as soon as the run is named when Stop came first', async () => {
    const { app, transport } = setup();
    app.chat.send('q');
    await app.chat.stop();
    expect(transport.callsOf('cancel')).toEqual([]);
    transport.asks[0]!.push({ event: 'started', run_id: 'r2', conversation_id: 'c1', message_id: 'm1' });
    await flush();
    expect(transport.callsOf('cancel')).toEqual([['r2']]);
    expect(app.chat.get().run?.status).toBe('stopping');
  });

  it('shows a failed cancel and keeps streaming', async () => {
    const { app, transport } = setup();
    app.chat.send('q');
    transport.asks[0]!.push({ event: 'started', run_id: 'r3', conversation_id: 'c1', message_id: 'm1' });
    transport.fail.cancel = { code: 'no_run', message: 'no run r3' };
    await app.chat.stop();
    expect(app.chat.get().run?.status).toBe('streaming');
    expect(app.notices.get().items.at(-1)).toMatchObject({ code: 'no_run' });
  });

  it('marks an answer that failed, and shows the error', () => {
    const { app, transport } = setup();
    app.chat.send('q');
    const s = transport.asks[0]!;
    s.push({ event: 'token', text: 'Part' });
    s.push({ event: 'error', code: 'context_overflow', message: 'the question does not fit in 2048 tokens' });
    expect(app.chat.get().messages[1]).toMatchObject({
      text: 'Part',
      pending: false,
      interrupted: true,
      error: { code: 'context_overflow', message: 'the question does not fit in 2048 tokens' },
    });
    expect(app.chat.get().run).toBeNull();
    expect(app.notices.get().items[0]).toMatchObject({ context: 'Answering', code: 'context_overflow' });
  });

  it('regenerates the last answer in place', async () => {
    const { app, transport } = setup();
    transport.conversation.c = {
      id: 'c',
      title: 'T',
      updated_at: '',
      messages: [
        { id: 'u', role: 'user', text: 'q' },
        { id: 'a1', role: 'assistant', text: 'old answer' },
      ],
    };
    await app.chat.open('c');
    expect(app.chat.regenerate()).toBe(true);
    expect(transport.callsOf('regenerate')).toEqual([['c']]);
    const s = transport.asks[0]!;
    s.push({ event: 'started', run_id: 'r', conversation_id: 'c', message_id: 'a2' });
    s.push({ event: 'token', text: 'new answer' });
    s.push({ event: 'done', stop_reason: 'end_of_turn', cited: [], timings });
    expect(app.chat.get().messages.map((m) => [m.id, m.text])).toEqual([
      ['u', 'q'],
      ['a2', 'new answer'],
    ]);
  });

  it('stops following a run when another conversation is opened', async () => {
    const { app, transport } = setup();
    transport.conversation.b = { id: 'b', title: 'B', updated_at: '', messages: [] };
    app.chat.send('q');
    const s = transport.asks[0]!;
    s.push({ event: 'started', run_id: 'r', conversation_id: 'c1', message_id: 'm' });
    await app.chat.open('b');
    s.push({ event: 'token', text: 'stray' });
    expect(app.chat.get()).toMatchObject({ conversationId: 'b', messages: [], run: null });
  });
});

describe('library store', () => {
  it('follows ingestion events per file, then reloads the list', async () => {
    const { app, transport } = setup();
    const adding = app.library.add(['/docs', ' ', '/docs', '/more.md']);
    expect(transport.callsOf('addDocuments')).toEqual([[['/docs', '/more.md']]]);
    const s = transport.ingests[0]!;
    s.push({ event: 'planned', files: 3, skipped: ['/docs/a.pdf'] });
    expect(app.library.get().ingest).toMatchObject({ running: true, total: 3, done: 0, skipped: ['/docs/a.pdf'] });
    s.push({ event: 'indexed', path: '/docs/one.md', chunks: 4 });
    s.push({ event: 'failed', path: '/docs/two.md', error: 'not valid UTF-8' });
    s.push({ event: 'unchanged', path: '/more.md' });
    const docs = app.library.get().documents;
    expect(docs.map((d) => [d.path, d.title, d.status, d.chunks, d.error ?? null])).toEqual([
      ['/docs/one.md', 'one.md', 'indexed', 4, null],
      ['/docs/two.md', 'two.md', 'failed', 0, 'not valid UTF-8'],
      ['/more.md', 'more.md', 'indexed', 0, null],
    ]);
    expect(app.library.get().ingest).toMatchObject({ done: 3, failed: 1, chunksPerSecond: null, secondsLeft: null });
    s.push({ event: 'progress', chunks: 40, chunks_per_second: 20.5, seconds_left: null });
    expect(app.library.get().ingest).toMatchObject({ chunksPerSecond: 20.5, secondsLeft: null });
    s.push({ event: 'progress', chunks: 60, chunks_per_second: 21, seconds_left: 12.5 });
    expect(app.library.get().ingest).toMatchObject({ chunksPerSecond: 21, secondsLeft: 12.5 });
    transport.documents = [{ path: '/docs/one.md', title: 'One', status: 'indexed', chunks: 4 }];
    s.push({ event: 'finished', indexed: 1, failed: 1, unchanged: 1 });
    s.end();
    await adding;
    expect(app.library.get().ingest).toMatchObject({ running: false, report: { indexed: 1, failed: 1, unchanged: 1 } });
    expect(app.library.get().documents).toEqual(transport.documents);
  });

  it('says when a Korean, Japanese or Chinese library gets the multilingual embedder', async () => {
    const { app, transport } = setup();
    const adding = app.library.add(['/notes-ko']);
    const s = transport.ingests[0]!;
    s.push({ event: 'embedder_chosen', model: 'multilingual-e5-small', installed: true });
    s.push({ event: 'embedder_chosen', model: 'multilingual-e5-small', installed: false });
    s.push({ event: 'finished', indexed: 0, failed: 0, unchanged: 0 });
    s.end();
    await adding;
    const [used, missing] = app.notices.get().items;
    expect(used).toMatchObject({ kind: 'info', context: 'Embedding model' });
    expect(used!.message).toContain('the library uses multilingual-e5-small');
    expect(missing!.message).toContain('multilingual-e5-small is not installed');
  });

  it('shows an ingestion that failed as a whole', async () => {
    const { app, transport } = setup();
    const adding = app.library.add(['/nope']);
    transport.ingests[0]!.push({ event: 'error', code: 'not_found', message: '/nope does not exist' });
    transport.ingests[0]!.end();
    await adding;
    expect(app.library.get().ingest?.running).toBe(false);
    expect(app.notices.get().items[0]).toMatchObject({ code: 'not_found', message: '/nope does not exist' });
  });

  it('removes and re-indexes documents, and shows failures on the row', async () => {
    const { app, transport } = setup();
    transport.documents = [
      { path: '/a.md', title: 'A', status: 'indexed', chunks: 2 },
      { path: '/b.md', title: 'B', status: 'indexed', chunks: 3 },
    ];
    await app.library.load();
    await app.library.remove('/a.md');
    expect(app.library.get().documents.map((d) => d.path)).toEqual(['/b.md']);
    transport.fail.reindexDocument = { code: 'io', message: 'cannot read /b.md' };
    await app.library.reindex('/b.md');
    expect(app.library.get().documents[0]).toMatchObject({ status: 'failed', error: 'cannot read /b.md' });
    expect(app.library.get().busy).toEqual([]);
  });
});

describe('settings, passage and token stores', () => {
  it('loads models and settings, saves, and shows a refusal', async () => {
    const { app, transport } = setup();
    await app.settings.load();
    expect(app.settings.get().models?.chat?.name).toBe('SmolLM2-135M-Instruct');
    expect(app.settings.get().settings?.context_length).toBe(2048);
    const next = { ...app.settings.get().settings!, temperature: 0.7 };
    expect(await app.settings.save(next)).toBe(true);
    expect(app.settings.get().settings?.temperature).toBe(0.7);
    transport.fail.putSettings = { code: 'invalid_setting', message: 'temperature must be between 0 and 2' };
    expect(await app.settings.save({ ...next, temperature: 9 })).toBe(false);
    expect(app.settings.get().settings?.temperature).toBe(0.7);
    expect(app.notices.get().items.at(-1)).toMatchObject({ code: 'invalid_setting' });
  });

  it('opens a passage in its document', async () => {
    const { app, transport } = setup();
    transport.document = { path: '/library/doc1.md', title: 'Doc 1', text: 'a\nb\nc\nd', line_start: 3, line_end: 4 };
    await app.passage.open(passage(1));
    expect(transport.callsOf('getDocument')).toEqual([['/library/doc1.md', 3, 4]]);
    expect(app.passage.get().document?.title).toBe('Doc 1');
    app.passage.close();
    expect(app.passage.get().passage).toBeNull();
  });

  it('shows a web passage without asking for a local document', async () => {
    const { app, transport } = setup();
    await app.passage.open(passage(2, { path: 'https://example.org/page' }));
    expect(transport.callsOf('getDocument')).toEqual([]);
    expect(app.passage.get()).toMatchObject({ loading: false, document: null });
  });

  it('tokenizes, keeping only the latest text\'s answer', async () => {
    const { app, transport } = setup();
    transport.tokens = [
      { id: 1, piece: '계획', text: '계획' },
      { id: 2, piece: '이', text: '이' },
    ];
    await app.tokens.tokenize('계획이');
    expect(app.tokens.get().tokens.map((t) => t.id)).toEqual([1, 2]);
    transport.fail.tokenize = { code: 'no_model', message: 'no chat model is loaded' };
    await app.tokens.tokenize('x');
    expect(app.tokens.get()).toMatchObject({ tokens: [], error: 'no chat model is loaded' });
  });
});

describe('the backend form checks', () => {
  it('checks an endpoint with the limits the backend applies, keyed by its field names', async () => {
    const { validateBackend, toBackendDraft, fromBackendDraft } = await import('../src/components/BackendForm');
    expect(validateBackend(toBackendDraft({ kind: 'local' }))).toEqual({});
    const ok = { ...toBackendDraft(undefined), kind: 'openai' as const, base_url: 'http://127.0.0.1:8000/v1' };
    expect(validateBackend(ok)).toEqual({});
    expect(Object.keys(validateBackend({ ...ok, base_url: 'gpu-box:8000' }))).toEqual(['backend.base_url']);
    expect(Object.keys(validateBackend({ ...ok, context_length: '4096.5' }))).toEqual(['backend.context_length']);
    expect(Object.keys(validateBackend({ ...ok, context_length: '2000000' }))).toEqual(['backend.context_length']);
    expect(Object.keys(validateBackend({ ...ok, timeout_s: '3601' }))).toEqual(['backend.timeout_s']);
    expect(Object.keys(validateBackend({ ...ok, api_key_env: 'MY-KEY' }))).toEqual(['backend.api_key_env']);
    // The variable name does not matter when the key comes from the keyring.
    expect(validateBackend({ ...ok, api_key_from: 'keyring', api_key_env: '' })).toEqual({});
    expect(fromBackendDraft({ ...ok, base_url: ' http://h/v1// ', timeout_s: '30' })).toMatchObject({
      base_url: 'http://h/v1',
      timeout_s: 30,
    });
  });
});
