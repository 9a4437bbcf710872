import { useApp } from '../context';
import { useStore } from '../stores/store';

/** Progress of the current ingestion: files done of planned, failures, chunks per second and the
 *  time left while it runs, the final report. */
export function IngestProgress() {
  const { library } = useApp();
  const ingest = useStore(library, (s) => s.ingest);
  if (!ingest) return null;
  const { running, total, done, failed, skipped, chunksPerSecond, secondsLeft, report } = ingest;
  return (
    <div className="progress" data-testid="library-progress" data-running={running ? 'true' : 'false'}>
      <div className="progress-line">
        <span>
          {running ? 'Indexing' : 'Finished'}: {done}
          {total !== null && ` of ${total}`} files
          {failed > 0 && <span className="answer-error"> · {failed} failed</span>}
          {skipped.length > 0 && <span className="muted"> · {skipped.length} skipped</span>}
          {running && chunksPerSecond !== null && (
            <span className="muted" data-testid="library-rate">
              {' '}
              · {chunksPerSecond.toFixed(1)} chunks/s · {timeLeft(secondsLeft)}
            </span>
          )}
        </span>
        {!running && (
          <button type="button" className="ghost small" onClick={() => library.dismissProgress()}>
            Dismiss
          </button>
        )}
      </div>
      <progress max={total ?? undefined} value={total === null ? undefined : done} aria-label="Indexing progress" />
      {report && <p className="muted small">{summarise(report)}</p>}
      {skipped.length > 0 && (
        <details className="small">
          <summary>Skipped files</summary>
          <ul>
            {skipped.map((p) => (
              <li key={p} className="path">
                {p}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

function summarise(report: Record<string, unknown>): string {
  return Object.entries(report)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v)}`)
    .join(' · ');
}

/** "about 2 min left", "under a minute left"; null while the backend cannot estimate it. */
export function timeLeft(seconds: number | null): string {
  if (seconds === null) return 'estimating the time left';
  if (seconds < 60) return 'under a minute left';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  const hours = Math.floor(minutes / 60);
  return `about ${hours} h ${minutes % 60} min left`;
}
