import type { Retrieval } from '../api/types';
import { PassageCard } from './PassageCard';

interface Props {
  retrieval: Retrieval;
  cited: number[];
  /** Sources Almanac attributed sentences of the answer to. */
  attributed?: number[];
}

/** Whether retrieval ran for this answer, why not if it did not, and every passage with its scores. */
export function SourcesPanel({ retrieval, cited, attributed = [] }: Props) {
  const n = retrieval.passages.length;
  const citedSet = new Set(cited);
  const attributedSet = new Set(attributed);
  const citedCount = retrieval.passages.filter((p) => citedSet.has(p.n)).length;
  return (
    <details className="sources" data-testid="sources-panel" data-used={retrieval.used ? 'true' : 'false'}>
      <summary data-testid="retrieval-summary">
        {retrieval.used ? (
          <>
            <strong>{n === 1 ? '1 source' : `${n} sources`}</strong>
            {cited.length > 0 && <span> · {citedCount} cited</span>}
            {attributed.length > 0 && <span> · {attributed.length} attributed by Almanac</span>}
            <span className="muted">
              {' '}
              · searched {retrieval.library_chunks} chunks, {retrieval.candidates} candidates, {Math.round(retrieval.elapsed_ms)} ms
            </span>
          </>
        ) : (
          <>
            <strong>Retrieval not used</strong>
            <span className="muted" data-testid="retrieval-reason">
              {' '}
              — {retrieval.reason ?? 'no reason given'}
            </span>
          </>
        )}
      </summary>
      <p className="muted small query">
        Searched for “{retrieval.query}” · minimum similarity {retrieval.min_similarity}
        {retrieval.web && ` · ${retrieval.web.pages.length === 1 ? '1 web page' : `${retrieval.web.pages.length} web pages`}`}
      </p>
      {retrieval.web && retrieval.web.failed.length > 0 && (
        <ul className="muted small web-failures" data-testid="web-failures">
          {retrieval.web.failed.map((f) => (
            <li key={f.url}>Not used: {f.error}</li>
          ))}
        </ul>
      )}
      {n > 0 && (
        <ol className="passages">
          {retrieval.passages.map((p) => (
            <PassageCard key={p.n} passage={p} cited={citedSet.has(p.n)} attributed={attributedSet.has(p.n)} />
          ))}
        </ol>
      )}
    </details>
  );
}
