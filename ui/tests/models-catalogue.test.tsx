import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../src/components/App';
import { AppProvider } from '../src/context';
import { createApp } from '../src/stores';
import { FakeTransport, catalogueModel, fakeHost, flush, retrieval } from './fakes';
import { mountApp } from './mount';

const mountModels = () => mountApp(new FakeTransport(), 'models');

const row = (name: string) => screen.getAllByTestId('catalogue-row').find((r) => r.dataset.name === name)!;

describe('the model catalogue', () => {
  it('shows sizes, the memory verdict, the speed estimate and how it is made', async () => {
    await mountModels();
    const small = row('llama-3.2-1b-q4_k_m');
    expect(small.textContent).toContain('Llama 3.2 1B Instruct');
    expect(small.textContent).toContain('808 MB');
    expect(within(small).getByTestId('verdict').dataset.verdict).toBe('fits');
    expect(within(small).getByTestId('speed').textContent).toBe('~22 / ~3.3 tokens/s');
    const big = row('llama-3.1-8b-q4_k_m');
    expect(within(big).getByTestId('verdict').textContent).toContain('too large');
    const method = screen.getByTestId('speed-method').textContent ?? '';
    expect(method).toContain('scaled by parameter count for the prompt');
    expect(method).toContain('smollm2.gguf');
  });

  it('downloads with progress and cancel, then uses the model for chat', async () => {
    const { transport } = await mountModels();
    fireEvent.click(within(row('llama-3.2-1b-q4_k_m')).getByTestId('download-model'));
    await act(flush);
    expect(transport.callsOf('pullModel')).toEqual([[{ name: 'llama-3.2-1b-q4_k_m' }]]);
    const pull = transport.pulls[0]!;
    act(() => {
      pull.push({ event: 'started', pull_id: 'p1', repo: 'r/x', file: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf' });
      pull.push({
        event: 'progress',
        pull_id: 'p1',
        downloaded: 400_000_000,
        total: 800_000_000,
        resumed_from: 0,
        bytes_per_second: 20_000_000,
        seconds_left: 20,
      });
    });
    expect(screen.getByTestId('pull-progress').textContent).toContain('Llama-3.2-1B-Instruct-Q4_K_M.gguf');
    expect(screen.getByTestId('pull-figures').textContent).toBe('400 MB of 800 MB · 20 MB/s · 20 s left');
    // One download at a time.
    expect((within(row('llama-3.1-8b-q4_k_m')).getByTestId('download-model') as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByTestId('cancel-pull'));
    await act(flush);
    expect(transport.callsOf('cancelPull')).toEqual([['p1']]);

    // The backend finishes the stream; the catalogue then lists the model as downloaded.
    transport.catalogue = { ...transport.catalogue, models: [catalogueModel({ downloaded: true })] };
    await act(async () => {
      pull.push({
        event: 'done',
        pull_id: 'p1',
        model: { path: '/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf', name: 'Llama 3.2 1B', kind: 'chat' },
        already_present: false,
        resumed_from: 0,
      });
      pull.end();
      await flush();
    });
    expect(screen.queryByTestId('pull-progress')).toBeNull();
    await act(async () => {
      fireEvent.click(within(row('llama-3.2-1b-q4_k_m')).getByTestId('use-model'));
      await flush();
    });
    expect(transport.callsOf('putSettings')[0]?.[0]).toMatchObject({ chat_model: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf' });
    await act(async () => {
      fireEvent.click(within(row('llama-3.2-1b-q4_k_m')).getByTestId('remove-model'));
      await flush();
    });
    expect(transport.callsOf('removeModel')).toEqual([['llama-3.2-1b-q4_k_m']]);
  });

  it('shows a failed download as a notice and pulls any repository file', async () => {
    const { transport } = await mountModels();
    fireEvent.change(screen.getByTestId('pull-repo'), { target: { value: 'someone/gated' } });
    fireEvent.change(screen.getByTestId('pull-file'), { target: { value: 'm.gguf' } });
    fireEvent.click(screen.getByTestId('pull-submit'));
    await act(flush);
    expect(transport.callsOf('pullModel')).toEqual([[{ repo: 'someone/gated', file: 'm.gguf' }]]);
    await act(async () => {
      transport.pulls[0]!.push({ event: 'started', pull_id: 'p1', repo: 'someone/gated', file: 'm.gguf' });
      transport.pulls[0]!.push({
        event: 'error',
        pull_id: 'p1',
        code: 'gated',
        message: 'repository someone/gated is gated (HTTP 401): set HF_TOKEN',
      });
      transport.pulls[0]!.end();
      await flush();
    });
    expect(document.body.textContent).toContain('set HF_TOKEN');
    expect(screen.queryByTestId('pull-progress')).toBeNull();
  });
});

describe('answers name their model', () => {
  it('shows the model from the started event and from stored messages', async () => {
    const transport = new FakeTransport();
    const app = createApp(transport, fakeHost());
    render(
      <AppProvider app={app}>
        <App />
      </AppProvider>,
    );
    await act(flush);
    fireEvent.change(screen.getByTestId('question'), { target: { value: 'Hi?' } });
    fireEvent.keyDown(screen.getByTestId('question'), { key: 'Enter' });
    const s = transport.asks[0]!;
    act(() => {
      s.push({ event: 'started', run_id: 'r1', conversation_id: 'c2', message_id: 'm1', model: 'Llama-3.2-3B-Instruct-Q4_K_M.gguf' });
      s.push({ event: 'sources', retrieval: retrieval([]) });
      s.push({ event: 'token', text: 'Hello.' });
    });
    expect(screen.getByTestId('answer-model').textContent).toBe('Llama-3.2-3B-Instruct-Q4_K_M.gguf');
  });
});
