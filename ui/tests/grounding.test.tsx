import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Evidence } from '../src/api/types';
import { AttributionPanel } from '../src/components/AttributionPanel';
import { quotedPassage } from '../src/components/EvidencePanel';
import { FakeTransport, flush, passage, retrieval, timings } from './fakes';
import { mountApp } from './mount';

function quote(n: number, patch: Partial<Evidence> = {}): Evidence {
  return {
    n,
    text: `The bridge was designed by Ada ${n}.`,
    title: `Doc ${n}`,
    path: `/library/doc${n}.md`,
    location: `Section ${n} (line 4)`,
    open: `/library/doc${n}.md:4`,
    line_start: 4,
    line_end: 4,
    page: null,
    rows: null,
    score: 0.91,
    lexical: 1,
    semantic: 0.8,
    ...patch,
  };
}

const mount = () => mountApp();

async function ask(transport: FakeTransport) {
  const input = screen.getByTestId('question') as HTMLTextAreaElement;
  fireEvent.change(input, { target: { value: 'Who designed the bridge?' } });
  fireEvent.keyDown(input, { key: 'Enter' });
  return transport.asks[transport.asks.length - 1]!;
}

describe('quoted evidence', () => {
  it('shows the quotes above the sources, as text, and opens a quote with its own lines highlighted', async () => {
    const { transport } = await mount();
    transport.document = {
      path: '/library/doc2.md',
      title: 'Doc 2',
      text: 'one\ntwo\nthree\nThe bridge was designed by Ada 2.\nfive',
      line_start: 4,
      line_end: 4,
    };
    const s = await ask(transport);
    act(() => {
      s.push({ event: 'started', run_id: 'r1', conversation_id: 'c1', message_id: 'm1' });
      s.push({ event: 'sources', retrieval: retrieval([passage(1), passage(2)]) });
      s.push({ event: 'evidence', evidence: [quote(2), quote(1, { text: '<img src=x onerror=alert(1)> rows', rows: [7, 7], location: 'row 7' })] });
    });
    const panel = screen.getByTestId('evidence');
    // Above the sources panel in the answer.
    const answer = screen.getByTestId('answer');
    const order = [...answer.querySelectorAll('[data-testid="evidence"], [data-testid="sources-panel"]')].map((el) => el.getAttribute('data-testid'));
    expect(order).toEqual(['evidence', 'sources-panel']);
    const quotes = within(panel).getAllByTestId('evidence-quote');
    expect(quotes.map((q) => q.dataset.n)).toEqual(['2', '1']);
    expect(within(quotes[1]!).getByTestId('evidence-location').textContent).toBe('row 7');
    // Document text is text, never markup.
    expect(panel.querySelector('img')).toBeNull();
    expect(quotes[1]!.textContent).toContain('<img src=x');

    await act(async () => {
      fireEvent.click(within(quotes[0]!).getByTestId('evidence-open'));
      await flush();
    });
    expect(transport.callsOf('getDocument')).toEqual([['/library/doc2.md', 4, 4]]);
    const view = screen.getByTestId('passage-view');
    expect(within(view).getByTestId('passage-highlight').textContent).toBe('4The bridge was designed by Ada 2.');
    expect(within(view).getByTestId('passage-location').textContent).toBe('Section 2 (line 4)');
  });

  it('narrows the passage to the quote, keeping the passage text for web pages', () => {
    const web = passage(3, { path: 'https://example.org/a', url: 'https://example.org/a', text: 'page text', line_start: 1, line_end: 9 });
    const opened = quotedPassage(quote(3, { path: web.path, line_start: 5, line_end: 6, location: 'lines 5-6' }), [web]);
    expect([opened.line_start, opened.line_end, opened.location, opened.text, opened.url]).toEqual([5, 6, 'lines 5-6', 'page text', web.url]);
    // A quote whose passage is not in the list (should not happen) still opens its document.
    const alone = quotedPassage(quote(9), []);
    expect([alone.path, alone.line_start, alone.title]).toEqual(['/library/doc9.md', 4, 'Doc 9']);
  });
});

describe('attributed citations', () => {
  it("marks the sources Almanac attributed apart from the model's own and flags unsupported sentences", async () => {
    const { transport } = await mount();
    const s = await ask(transport);
    act(() => {
      s.push({ event: 'started', run_id: 'r1', conversation_id: 'c1', message_id: 'm1' });
      s.push({ event: 'sources', retrieval: retrieval([passage(1), passage(2)]) });
      s.push({ event: 'token', text: 'Ada designed it. Pirates painted it.' });
    });
    // Nothing to check while the answer streams.
    expect(screen.queryByTestId('attribution')).toBeNull();
    act(() =>
      s.push({
        event: 'done',
        stop_reason: 'end_of_turn',
        cited: [],
        attributed: [2],
        sentences: [
          { text: 'Ada designed it.', sources: [2], score: 0.9, supported: true },
          { text: 'Pirates painted it.', sources: [], score: 0.2, supported: false },
        ],
        timings,
      }),
    );
    const check = screen.getByTestId('attribution');
    expect(check.dataset.unsupported).toBe('1');
    const sentences = within(check).getAllByTestId('answer-sentence');
    expect(sentences.map((el) => el.dataset.supported)).toEqual(['true', 'false']);
    expect(within(sentences[0]!).getByTestId('attributed-citation').dataset.n).toBe('2');
    expect(within(sentences[1]!).getByTestId('unsupported').textContent).toBe('not in the sources');
    const sources = within(screen.getByTestId('sources-panel')).getAllByTestId('source');
    expect(sources.map((el) => [el.dataset.n, el.dataset.cited, el.dataset.attributed])).toEqual([
      ['1', 'false', 'false'],
      ['2', 'false', 'true'],
    ]);
    expect(within(sources[1]!).getByTestId('attributed-badge').textContent).toBe('attributed by Almanac');
    expect(screen.getByTestId('retrieval-summary').textContent).toContain('1 attributed by Almanac');
  });

  it('opens an attributed citation as its source', () => {
    const opened: number[] = [];
    render(<AttributionPanel sentences={[{ text: 'A.', sources: [3, 1], score: 0.7, supported: true }]} onCite={(n) => opened.push(n)} />);
    const buttons = screen.getAllByTestId('attributed-citation');
    expect(buttons.map((b) => b.textContent)).toEqual(['3', '1']);
    fireEvent.click(buttons[1]!);
    expect(opened).toEqual([1]);
  });

  it('shows nothing for an answer stored before attribution existed', () => {
    const { container } = render(<AttributionPanel sentences={[]} onCite={() => {}} />);
    expect(container.innerHTML).toBe('');
  });
});
