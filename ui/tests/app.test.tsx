import { act, fireEvent, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Timings } from '../src/api/types';
import { FakeTransport, flush, passage, retrieval, timings } from './fakes';
import { mountApp } from './mount';

async function mount() {
  const transport = new FakeTransport();
  transport.conversations = [{ id: 'c1', title: 'Bridges', updated_at: '' }];
  return mountApp(transport);
}

const question = () => screen.getByTestId('question') as HTMLTextAreaElement;

describe('the chat view', () => {
  it('sends on Enter, not on Shift+Enter, and streams the answer with its sources', async () => {
    const { transport } = await mount();
    fireEvent.change(question(), { target: { value: 'Who designed it?' } });
    fireEvent.keyDown(question(), { key: 'Enter', shiftKey: true });
    expect(transport.callsOf('ask')).toHaveLength(0);
    fireEvent.keyDown(question(), { key: 'Enter' });
    expect(transport.callsOf('ask')).toEqual([[null, 'Who designed it?', {}]]);
    expect(question().value).toBe('');
    expect(screen.getByTestId('stop')).toBeTruthy();

    const s = transport.asks[0]!;
    act(() => {
      s.push({ event: 'started', run_id: 'r1', conversation_id: 'c2', message_id: 'm1' });
      s.push({ event: 'sources', retrieval: retrieval([passage(1), passage(2)]) });
      s.push({ event: 'token', text: 'It was **Ada** [1]' });
    });
    expect(screen.getByTestId('answer-text').innerHTML).toContain('<strong>Ada</strong>');
    act(() => s.push({ event: 'done', stop_reason: 'end_of_turn', cited: [1], timings }));

    const panel = screen.getByTestId('sources-panel');
    expect(panel.dataset.used).toBe('true');
    const sources = within(panel).getAllByTestId('source');
    expect(sources.map((el) => [el.dataset.n, el.dataset.cited])).toEqual([
      ['1', 'true'],
      ['2', 'false'],
    ]);
    expect(within(sources[0]!).getByTestId('scores').textContent).toContain('BM25 4.20 (#1)');
    expect(screen.getByTestId('timings').textContent).toContain('20 tokens');
    expect(screen.queryByTestId('stop')).toBeNull();
  });

  it('shows the prompt tokens and, once the model reused some, how many were cached', async () => {
    const { transport } = await mount();
    const { cached_tokens: _, ...stored } = timings;
    const answers: Timings[] = [timings, { ...timings, prompt_tokens: 412, cached_tokens: 380 }, stored];
    answers.forEach((t, i) => {
      fireEvent.change(question(), { target: { value: `question ${i}` } });
      fireEvent.keyDown(question(), { key: 'Enter' });
      act(() => transport.asks[i]!.push({ event: 'done', stop_reason: 'end_of_turn', cited: [], timings: t }));
    });
    const shown = screen.getAllByTestId('timings').map((el) => el.textContent);
    expect(shown).toHaveLength(3);
    // A first question: nothing reused, nothing to say about the cache.
    expect(shown[0]).toContain('300 prompt tokens ·');
    expect(shown[1]).toContain('412 prompt tokens (380 cached)');
    // An answer stored before `cached_tokens` existed.
    expect(shown[2]).toContain('300 prompt tokens ·');
    expect(shown.join()).not.toContain('undefined');
  });

  it('opens a citation as the passage highlighted in its document; Esc closes it', async () => {
    const { transport } = await mount();
    transport.document = {
      path: '/library/doc1.md',
      title: 'Doc 1',
      text: 'one\ntwo\nthe bridge was designed\nby Ada\nfive',
      line_start: 3,
      line_end: 4,
    };
    fireEvent.change(question(), { target: { value: 'q' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    const s = transport.asks[0]!;
    act(() => {
      s.push({ event: 'sources', retrieval: retrieval([passage(1)]) });
      s.push({ event: 'token', text: 'Ada [1].' });
      s.push({ event: 'done', stop_reason: 'end_of_turn', cited: [1], timings });
    });
    const citation = within(screen.getByTestId('answer-text')).getByTestId('citation');
    await act(async () => {
      fireEvent.click(citation);
      await flush();
    });
    expect(transport.callsOf('getDocument')).toEqual([['/library/doc1.md', 3, 4]]);
    const view = screen.getByTestId('passage-view');
    expect(within(view).getByTestId('passage-highlight').textContent).toBe('3the bridge was designed4by Ada');
    fireEvent.keyDown(window, { key: 'Escape' });
    expect(screen.queryByTestId('passage-view')).toBeNull();
  });

  it('names the page, rows or heading of each source and opens the document there', async () => {
    const { transport } = await mount();
    transport.document = {
      path: '/library/report.pdf',
      title: 'Report',
      text: 'Estimate 1\nClark Kent\nEstimate 2\nBruce Wayne, Batmobile\nTotal',
      line_start: 3,
      line_end: 4,
      page: 2,
      changed: true,
    };
    fireEvent.change(question(), { target: { value: 'Batmobile?' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    const pdf = passage(1, { path: '/library/report.pdf', heading: '', page: 2, converted: true, location: 'page 2', open: '/library/report.pdf#page=2' });
    const csv = passage(2, { path: '/library/t.csv', heading: '', rows: [10, 24], location: 'rows 10-24' });
    // An answer stored before passages carried `location`: heading and lines instead.
    const old = passage(3);
    act(() => {
      transport.asks[0]!.push({ event: 'sources', retrieval: retrieval([pdf, csv, old]) });
      transport.asks[0]!.push({ event: 'done', stop_reason: 'end_of_turn', cited: [1], timings });
    });
    const where = screen.getAllByTestId('source-location').map((el) => el.textContent);
    expect(where).toEqual(['page 2', 'rows 10-24', 'Section 3 (lines 3–4)']);
    await act(async () => {
      fireEvent.click(screen.getAllByTestId('source-open')[0]!);
      await flush();
    });
    const view = screen.getByTestId('passage-view');
    expect(within(view).getByTestId('passage-location').textContent).toBe('page 2');
    expect(within(view).getByTestId('passage-highlight').textContent).toBe('3Estimate 24Bruce Wayne, Batmobile');
    expect(within(view).getByTestId('passage-changed')).toBeTruthy();
  });

  it('stops with the Stop button and with Esc', async () => {
    const { transport } = await mount();
    fireEvent.change(question(), { target: { value: 'long' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    act(() => transport.asks[0]!.push({ event: 'started', run_id: 'r1', conversation_id: 'c', message_id: 'm' }));
    await act(async () => {
      fireEvent.keyDown(question(), { key: 'Escape' });
      await flush();
    });
    expect(transport.callsOf('cancel')).toEqual([['r1']]);
    act(() => transport.asks[0]!.push({ event: 'done', stop_reason: 'cancelled', cited: [], timings }));
    expect(screen.getByTestId('stop-reason').textContent).toBe('Stopped.');

    fireEvent.change(question(), { target: { value: 'again' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    act(() => transport.asks[1]!.push({ event: 'started', run_id: 'r2', conversation_id: 'c', message_id: 'm2' }));
    await act(async () => {
      fireEvent.click(screen.getByTestId('stop'));
      await flush();
    });
    expect(transport.callsOf('cancel')).toEqual([['r1'], ['r2']]);
  });

  it('asks with the web toggle on and shows web sources with their URLs, dates and failures', async () => {
    const { transport, host } = await mount();
    fireEvent.click(screen.getByTestId('web-toggle'));
    fireEvent.change(question(), { target: { value: 'Who captains the ferry?' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    expect(transport.callsOf('ask')).toEqual([[null, 'Who captains the ferry?', { web: true }]]);
    const url = 'https://news.example/ferry';
    const web = passage(1, { path: url, url, title: 'The ferry', date: '2026-11-20', fetched_at: '2026-11-26T10:00:00Z', heading: '' });
    act(() =>
      transport.asks[0]!.push({
        event: 'sources',
        retrieval: retrieval([web, passage(2)], {
          web: { pages: [url], failed: [{ url: 'https://down.example/', error: 'https://down.example/: timed out' }], searched: 'Who captains the ferry?' },
        }),
      }),
    );
    const panel = screen.getByTestId('sources-panel');
    const [first, second] = within(panel).getAllByTestId('source');
    const link = within(first!).getByTestId('source-url') as HTMLAnchorElement;
    expect(link.textContent).toBe(url);
    expect(within(first!).getByTestId('web-source').textContent).toContain('published 2026-11-20');
    expect(within(first!).getByTestId('source-fetched').textContent).toContain('fetched 2026-11-26 10:00:00 UTC');
    expect(within(second!).queryByTestId('web-source')).toBeNull();
    expect(within(second!).getByText('/library/doc2.md')).toBeTruthy();
    expect(panel.textContent).toContain('1 web page');
    expect(within(panel).getByTestId('web-failures').textContent).toContain('timed out');
    fireEvent.click(link);
    await act(flush);
    expect(host.opened).toEqual([url]);
  });

  it('says when retrieval was not used, and why', async () => {
    const { transport } = await mount();
    fireEvent.change(question(), { target: { value: 'q' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    act(() => transport.asks[0]!.push({ event: 'sources', retrieval: retrieval([], { reason: 'nothing above the similarity threshold' }) }));
    expect(screen.getByTestId('sources-panel').dataset.used).toBe('false');
    expect(screen.getByTestId('retrieval-reason').textContent).toContain('nothing above the similarity threshold');
  });

  it('shows an error from the stream on the answer and in the banner', async () => {
    const { transport } = await mount();
    fireEvent.change(question(), { target: { value: 'q' } });
    fireEvent.keyDown(question(), { key: 'Enter' });
    act(() => transport.asks[0]!.push({ event: 'error', code: 'model_missing', message: 'no chat model at /m.gguf' }));
    expect(screen.getByTestId('answer-error').textContent).toContain('no chat model at /m.gguf');
    expect(screen.getByTestId('error').textContent).toContain('model_missing');
  });
});

describe('the sidebar', () => {
  it('lists, renames and deletes conversations', async () => {
    const { transport } = await mount();
    const item = () => screen.getByTestId('conversation-item');
    expect(item().textContent).toContain('Bridges');
    fireEvent.click(within(item()).getByTestId('rename'));
    const input = screen.getByTestId('rename-input');
    fireEvent.change(input, { target: { value: 'Famous bridges' } });
    await act(async () => {
      fireEvent.keyDown(input, { key: 'Enter' });
      await flush();
    });
    expect(transport.callsOf('renameConversation')).toEqual([['c1', 'Famous bridges']]);
    expect(item().textContent).toContain('Famous bridges');
    fireEvent.click(within(item()).getByTestId('delete'));
    await act(async () => {
      fireEvent.click(within(item()).getByTestId('confirm-delete'));
      await flush();
    });
    expect(screen.queryByTestId('conversation-item')).toBeNull();
  });
});

describe('the library, models and token views', () => {
  it('adds paths and shows per-file progress and errors', async () => {
    const { transport } = await mount();
    fireEvent.click(screen.getByTestId('tab-library'));
    await act(flush);
    fireEvent.change(screen.getByTestId('library-paths'), { target: { value: '/docs\n/notes.md' } });
    fireEvent.click(screen.getByTestId('library-add'));
    expect(transport.callsOf('addDocuments')).toEqual([[['/docs', '/notes.md']]]);
    const s = transport.ingests[0]!;
    act(() => {
      s.push({ event: 'planned', files: 2, skipped: [] });
      s.push({ event: 'indexed', path: '/docs/a.md', chunks: 5 });
      s.push({ event: 'failed', path: '/notes.md', error: 'not valid UTF-8' });
    });
    expect(screen.getByTestId('library-progress').textContent).toContain('2 of 2 files');
    expect(screen.queryByTestId('library-rate')).toBeNull();
    act(() => s.push({ event: 'progress', chunks: 30, chunks_per_second: 12.34, seconds_left: null }));
    expect(screen.getByTestId('library-rate').textContent).toContain('12.3 chunks/s · estimating the time left');
    act(() => s.push({ event: 'progress', chunks: 90, chunks_per_second: 24.06, seconds_left: 125 }));
    expect(screen.getByTestId('library-rate').textContent).toContain('24.1 chunks/s · about 2 min left');
    act(() => s.push({ event: 'progress', chunks: 90, chunks_per_second: 24.06, seconds_left: 4000 }));
    expect(screen.getByTestId('library-rate').textContent).toContain('about 1 h 7 min left');
    const rows = screen.getAllByTestId('library-row');
    expect(rows.map((r) => r.dataset.status)).toEqual(['indexed', 'failed']);
    expect(within(rows[1]!).getByTestId('library-error').textContent).toBe('not valid UTF-8');
  });

  it('shows the changes the folder watcher makes while the library is open, and reloads the list', async () => {
    const { transport } = await mount();
    transport.documents = [{ path: '/docs/old.md', title: 'old.md', status: 'indexed', chunks: 2 }];
    fireEvent.click(screen.getByTestId('tab-library'));
    await act(flush);
    expect(transport.libraryWatchers).toHaveLength(1);
    const tell = transport.libraryWatchers[0]!;
    transport.documents = [{ path: '/docs/new.md', title: 'New', status: 'indexed', chunks: 3 }];
    act(() => {
      tell({ event: 'indexed', path: '/docs/new.md', chunks: 3 });
      tell({ event: 'removed', path: '/docs/old.md' });
    });
    // At once, before any reload.
    const rows = () => screen.getAllByTestId('library-row').map((r) => [r.dataset.path, r.dataset.status]);
    expect(rows()).toEqual([['/docs/new.md', 'indexed']]);
    const loads = transport.callsOf('listDocuments').length;
    await act(() => new Promise((r) => setTimeout(r, 400)));
    // One reload for the burst, whose answer (the title) shows.
    expect(transport.callsOf('listDocuments').length).toBe(loads + 1);
    expect(screen.getByText('New')).toBeTruthy();
    act(() => tell({ event: 'error', code: 'io', message: 'the watch stopped' }));
    expect(screen.getByTestId('error').textContent).toContain('the watch stopped');
    // Leaving the view stops following.
    fireEvent.click(screen.getByTestId('tab-chat'));
    expect(transport.libraryWatchers).toHaveLength(0);
  });

  it('shows the token pieces and ids', async () => {
    const { transport } = await mount();
    transport.tokens = [
      { id: 17, piece: '▁계', text: ' 계' },
      { id: 254, piece: '획', text: '획' },
    ];
    fireEvent.click(screen.getByTestId('tab-tokens'));
    await act(() => new Promise((r) => setTimeout(r, 200)));
    expect(transport.callsOf('tokenize')[0]).toEqual(['계획이 있다']);
    expect(screen.getAllByTestId('token').map((t) => t.textContent)).toEqual(['▁계·계17', '획획254']);
    expect(screen.getByTestId('token-ids').textContent).toBe('[17, 254]');
  });

  it('shows the models in use and saves settings', async () => {
    const { transport } = await mount();
    fireEvent.click(screen.getByTestId('tab-models'));
    await act(flush);
    expect(screen.getByTestId('chat-model').textContent).toContain('SmolLM2-135M-Instruct');
    expect(screen.getByTestId('embedding-model').textContent).toContain('384 dimensions');
    fireEvent.change(screen.getByTestId('setting-temperature'), { target: { value: '0.7' } });
    fireEvent.change(screen.getByTestId('setting-top_k'), { target: { value: '' } });
    await act(async () => {
      fireEvent.click(screen.getByTestId('save-settings'));
      await flush();
    });
    expect(transport.callsOf('putSettings')[0]?.[0]).toMatchObject({ temperature: 0.7, top_k: null, context_length: 2048 });
  });
});

describe('the generation backend in the models view', () => {
  const value = (id: string) => (screen.getByTestId(id) as HTMLInputElement).value;
  const type = (id: string, text: string) => fireEvent.change(screen.getByTestId(id), { target: { value: text } });
  const fieldErrors = () =>
    Object.fromEntries(screen.queryAllByTestId('field-error').map((e) => [e.getAttribute('data-field'), e.textContent]));
  const click = async (id: string) => {
    await act(async () => {
      fireEvent.click(screen.getByTestId(id));
      await flush();
    });
  };

  it('switches to an OpenAI-compatible server: field errors before sending, the refusal by its field, the answering backend shown', async () => {
    const { transport } = await mount();
    fireEvent.click(screen.getByTestId('tab-models'));
    await act(flush);
    expect(screen.getByTestId('chat-model').getAttribute('data-backend')).toBe('local');
    expect(screen.getByTestId('chat-backend').textContent).toContain('on this computer');
    expect(screen.queryByTestId('backend-base_url')).toBeNull();

    fireEvent.click(screen.getByTestId('backend-kind-openai'));
    expect(value('backend-model')).toBe('default');
    expect(value('backend-context_length')).toBe('4096');
    type('backend-base_url', 'ftp://gpu-box/v1');
    type('backend-context_length', '100');
    type('backend-timeout_s', '0');
    type('backend-model', ' ');
    await click('save-backend');
    expect(transport.callsOf('putSettings')).toHaveLength(0);
    expect(Object.keys(fieldErrors()).sort()).toEqual([
      'backend.base_url',
      'backend.context_length',
      'backend.model',
      'backend.timeout_s',
    ]);
    expect(screen.getByTestId('backend-base_url').getAttribute('aria-invalid')).toBe('true');
    // Errors follow the typing once shown.
    type('backend-base_url', 'http://gpu-box:8000/v1/');
    type('backend-context_length', '8192');
    type('backend-timeout_s', '30');
    type('backend-model', 'llama-3-8b');
    expect(fieldErrors()).toEqual({});

    // A refusal only the backend can make comes back by the field it names.
    transport.fail.putSettings = {
      code: 'invalid_argument',
      message: 'backend.base_url: the host does not resolve',
      field: 'backend.base_url',
    };
    await click('save-backend');
    expect(fieldErrors()).toEqual({ 'backend.base_url': 'backend.base_url: the host does not resolve' });
    expect(screen.getByTestId('error').textContent).toContain('the host does not resolve');

    delete transport.fail.putSettings;
    await click('save-backend');
    const sent = transport.callsOf('putSettings').at(-1)?.[0] as Record<string, unknown>;
    expect(sent.backend).toEqual({
      kind: 'openai',
      base_url: 'http://gpu-box:8000/v1',
      model: 'llama-3-8b',
      context_length: 8192,
      timeout_s: 30,
      api_key_from: 'env',
      api_key_env: 'ALMANAC_BACKEND_KEY',
    });
    expect(sent.temperature).toBe(0);
    // The answering model is the endpoint's now, named with its server.
    expect(screen.getByTestId('chat-model').getAttribute('data-backend')).toBe('openai');
    expect(screen.getByTestId('chat-model').textContent).toContain('llama-3-8b');
    expect(screen.getByTestId('chat-backend').textContent).toContain('http://gpu-box:8000/v1');
    expect(screen.getByTestId('chat-backend').textContent).toContain('from ALMANAC_BACKEND_KEY (not set)');
    expect(screen.getByTestId('backend-key-status').textContent).toContain('is not set where Almanac runs');

    // And back to the local model.
    fireEvent.click(screen.getByTestId('backend-kind-local'));
    await click('save-backend');
    expect((transport.callsOf('putSettings').at(-1)?.[0] as Record<string, unknown>).backend).toEqual({ kind: 'local' });
    expect(screen.getByTestId('chat-model').textContent).toContain('SmolLM2-135M-Instruct');
  });

  it('keeps the key in the OS keyring, never in the settings', async () => {
    const { transport } = await mount();
    fireEvent.click(screen.getByTestId('tab-models'));
    await act(flush);
    fireEvent.click(screen.getByTestId('backend-kind-openai'));
    type('backend-base_url', 'https://llm.example.org/v1');
    fireEvent.change(screen.getByTestId('backend-api_key_from'), { target: { value: 'keyring' } });
    expect(screen.queryByTestId('backend-api_key_env')).toBeNull();
    // No key field before the endpoint it belongs to is saved.
    expect(screen.queryByTestId('backend-key')).toBeNull();
    expect(screen.getByTestId('backend-key-status').textContent).toContain('Save the backend first');
    await click('save-backend');
    expect(screen.getByTestId('backend-key-status').textContent).toContain('No key for this server');
    expect(screen.getByTestId('chat-backend').textContent).toContain('missing from the OS keyring');
    expect((screen.getByTestId('backend-store-key') as HTMLButtonElement).disabled).toBe(true);

    type('backend-key', 'sk-secret-1');
    await click('backend-store-key');
    expect(transport.callsOf('setBackendKey')).toEqual([['sk-secret-1']]);
    expect(transport.keyring).toEqual({ 'https://llm.example.org/v1': 'sk-secret-1' });
    expect(value('backend-key')).toBe('');
    expect(screen.getByTestId('backend-key-status').textContent).toContain('is stored in the OS keyring');
    expect(screen.getByTestId('chat-backend').textContent).toContain('in the OS keyring');
    for (const [settings] of transport.callsOf('putSettings')) {
      expect(JSON.stringify(settings)).not.toContain('sk-secret-1');
    }

    // A refused key is shown by the key field.
    transport.fail.setBackendKey = { code: 'invalid_argument', message: 'key: must be printable ASCII', field: 'key' };
    type('backend-key', 'with space');
    await click('backend-store-key');
    expect(fieldErrors()).toEqual({ key: 'key: must be printable ASCII' });
    delete transport.fail.setBackendKey;

    await click('backend-delete-key');
    expect(transport.callsOf('deleteBackendKey')).toHaveLength(1);
    expect(transport.keyring).toEqual({});
    expect(screen.getByTestId('backend-key-status').textContent).toContain('No key for this server');
    expect(screen.queryByTestId('backend-delete-key')).toBeNull();
  });
});

describe('the token inspector with byte-level pieces', () => {
  it('shows the bytes of a token that holds part of a character', async () => {
    const { transport } = await mount();
    transport.tokens = [
      { id: 166, piece: 'ê³', text: '\uFFFD', bytes: [0xea, 0xb3] },
      { id: 250, piece: 'Ħ', text: '\uFFFD', bytes: [0x84] },
    ];
    fireEvent.click(screen.getByTestId('tab-tokens'));
    await act(() => new Promise((r) => setTimeout(r, 200)));
    expect(screen.getAllByTestId('token').map((t) => t.textContent)).toEqual(['ê³EA B3166', 'Ħ84250']);
  });
});
