import type { Evidence, Passage } from '../api/types';
import { useApp } from '../context';

interface Props {
  evidence: Evidence[];
  passages: Passage[];
}

/** The passage a quote comes from, narrowed to the quote's own lines, for the passage view. */
export function quotedPassage(e: Evidence, passages: Passage[]): Passage {
  const p = passages.find((x) => x.n === e.n);
  const base: Passage = p ?? {
    n: e.n,
    title: e.title,
    path: e.path,
    url: null,
    fetched_at: null,
    heading: '',
    line_start: e.line_start,
    line_end: e.line_end,
    snippet: e.text,
    snippet_html: '',
    text: e.text,
    date: null,
    score: e.score,
    bm25: null,
    bm25_rank: null,
    vector: null,
    vector_rank: null,
  };
  return { ...base, line_start: e.line_start, line_end: e.line_end, rows: e.rows, location: e.location, open: e.open };
}

/** Quoted evidence: the sentences and table rows of the sources that best answer the question,
 *  found by Almanac whatever the model wrote; each opens its passage with the quote highlighted. */
export function EvidencePanel({ evidence, passages }: Props) {
  const { passage } = useApp();
  if (evidence.length === 0) return null;
  return (
    <section className="evidence" data-testid="evidence" aria-label="Evidence from the sources">
      <h3 className="evidence-title small">Evidence from the sources</h3>
      <ol className="evidence-list">
        {evidence.map((e, i) => (
          <li key={`${e.n}-${e.line_start}-${i}`} className="evidence-item" data-testid="evidence-quote" data-n={e.n}>
            <button
              type="button"
              className="evidence-open"
              data-testid="evidence-open"
              title="Show in its document"
              onClick={() => void passage.open(quotedPassage(e, passages))}
            >
              <span className="passage-n">[{e.n}]</span> <q className="evidence-text">{e.text}</q>
            </button>
            <div className="muted small evidence-where">
              {e.title} · <span data-testid="evidence-location">{e.location}</span> ·{' '}
              <span title={`words ${e.lexical.toFixed(2)}, meaning ${e.semantic.toFixed(2)}`}>score {e.score.toFixed(2)}</span>
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}
