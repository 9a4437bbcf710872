import type { AnsweredSentence } from '../api/types';

interface Props {
  sentences: AnsweredSentence[];
  /** Source numbers that exist for this answer (a click opens one). */
  onCite: (n: number) => void;
}

/** Almanac's check of the answer, sentence by sentence: the sources that support each (citations
 *  added by Almanac, not written by the model) and the sentences no source supports. */
export function AttributionPanel({ sentences, onCite }: Props) {
  if (sentences.length === 0) return null;
  const unsupported = sentences.filter((s) => !s.supported).length;
  return (
    <details className="attribution" data-testid="attribution" data-unsupported={unsupported}>
      <summary className="small">
        <strong>Checked against the sources</strong>
        <span className="muted">
          {' '}
          · {sentences.length - unsupported} of {sentences.length} sentences supported
          {unsupported > 0 && `, ${unsupported} not supported`}
        </span>
      </summary>
      <ol className="attribution-list">
        {sentences.map((s, i) => (
          <li
            key={i}
            className={s.supported ? 'attributed-sentence' : 'attributed-sentence unsupported'}
            data-testid="answer-sentence"
            data-supported={s.supported ? 'true' : 'false'}
          >
            <span className="attributed-text">{s.text}</span>{' '}
            {s.supported ? (
              s.sources.map((n) => (
                <button
                  key={n}
                  type="button"
                  className="citation attributed-citation"
                  data-testid="attributed-citation"
                  data-n={n}
                  title={`Source ${n}, attributed by Almanac (not cited by the model)`}
                  onClick={() => onCite(n)}
                >
                  {n}
                </button>
              ))
            ) : (
              <span className="badge unsupported-badge" data-testid="unsupported" title="No source supports this sentence">
                not in the sources
              </span>
            )}
          </li>
        ))}
      </ol>
    </details>
  );
}
