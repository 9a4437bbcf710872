import { useEffect, useRef } from 'react';
import { passageLocation } from '../api/location';
import { useApp } from '../context';
import { isOpenableUrl } from '../host';
import { useStore } from '../stores/store';
import { DocumentLines } from './DocumentLines';

/** A cited passage, highlighted in its document, beside the chat. */
export function PassageView() {
  const { passage: store, host, notices } = useApp();
  const { passage, document, loading, error } = useStore(store);
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => closeRef.current?.focus(), [passage]);

  if (!passage) return null;
  const web = isOpenableUrl(passage.path);
  return (
    <aside className="passage-view" role="dialog" aria-label={`Source ${passage.n}`} data-testid="passage-view">
      <header className="passage-view-head">
        <div>
          <h2>
            [{passage.n}] {document?.title ?? passage.title}
          </h2>
          <p className="muted small path" title={passage.path}>
            {passage.path} · <span data-testid="passage-location">{passageLocation(passage)}</span>
          </p>
          {document?.changed && (
            <p className="muted small" data-testid="passage-changed">
              The file changed since it was indexed; the highlighted lines may be off.
            </p>
          )}
        </div>
        <button ref={closeRef} type="button" className="ghost" data-testid="passage-close" aria-label="Close" onClick={() => store.close()}>
          ×
        </button>
      </header>
      {web && (
        <button type="button" className="ghost small" onClick={() => host.openExternal(passage.path).catch((e: unknown) => notices.error('Opening the page', e))}>
          Open the page in the browser
        </button>
      )}
      {loading && <p className="muted">Loading the document…</p>}
      {error && (
        <p className="answer-error" role="alert">
          {error}
        </p>
      )}
      {document ? (
        <DocumentLines text={document.text} start={document.line_start} end={document.line_end} />
      ) : (
        !loading && <DocumentLines text={passage.text} start={1} end={passage.text.split('\n').length} />
      )}
    </aside>
  );
}
