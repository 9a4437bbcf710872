import { useState } from 'react';
import { passageLocation } from '../api/location';
import type { Passage } from '../api/types';
import { useApp } from '../context';
import { Markdown } from './Markdown';
import { Snippet } from './Snippet';

/** One numbered source: document, location, scores, cited by the model or not, attributed by
 *  Almanac or not; opens in the passage view. */
export function PassageCard({ passage: p, cited, attributed = false }: { passage: Passage; cited: boolean; attributed?: boolean }) {
  const { passage, host, notices } = useApp();
  const [expanded, setExpanded] = useState(false);
  return (
    <li className={`passage${cited ? ' cited' : ''}`} data-testid="source" data-n={p.n} data-cited={cited ? 'true' : 'false'} data-attributed={attributed ? 'true' : 'false'}>
      <div className="passage-head">
        <button type="button" className="passage-n" data-testid="source-open" title="Show in its document" onClick={() => void passage.open(p)}>
          [{p.n}]
        </button>
        <span className="passage-title">{p.title}</span>
        {cited ? <span className="badge cited-badge">cited</span> : <span className="badge">not cited</span>}
        {attributed && (
          <span className="badge attributed-badge" data-testid="attributed-badge" title="Almanac found sentences of the answer in this source">
            attributed by Almanac
          </span>
        )}
      </div>
      {p.url ? (
        <div className="passage-where muted small" data-testid="web-source">
          <span className="badge">web</span>{' '}
          <a
            className="path"
            href={p.url}
            title={p.url}
            data-testid="source-url"
            onClick={(e) => {
              e.preventDefault();
              void host.openExternal(p.url as string).catch((err: unknown) => notices.error('Opening the page', err));
            }}
          >
            {p.url}
          </a>
          {p.date && <span> · published {p.date}</span>}
          {p.fetched_at && <span data-testid="source-fetched"> · fetched {p.fetched_at.replace('T', ' ').replace('Z', ' UTC')}</span>}
        </div>
      ) : (
        <div className="passage-where muted small">
          <span className="path" title={p.path}>{p.path}</span> · <span data-testid="source-location">{passageLocation(p)}</span>
        </div>
      )}
      <div className="scores small" data-testid="scores">
        <span title="Reciprocal rank fusion of the BM25 and vector rankings">fused {p.score.toFixed(4)}</span>
        <span>BM25 {p.bm25 === null ? '—' : `${p.bm25.toFixed(2)} (#${p.bm25_rank ?? '?'})`}</span>
        <span>vector {p.vector === null ? '—' : `${p.vector.toFixed(3)}${p.vector_rank === null ? '' : ` (#${p.vector_rank})`}`}</span>
      </div>
      <Snippet html={p.snippet_html} />
      <button type="button" className="ghost small" onClick={() => setExpanded(!expanded)} aria-expanded={expanded}>
        {expanded ? 'Hide passage' : 'Show passage'}
      </button>
      {expanded && <Markdown className="passage-text" testId="passage-text" text={p.text} />}
    </li>
  );
}
