import type { LibraryDocument } from '../api/types';
import { useApp } from '../context';

export function DocumentRow({ document: d, busy }: { document: LibraryDocument; busy: boolean }) {
  const { library } = useApp();
  return (
    <tr data-testid="library-row" data-path={d.path} data-status={d.status}>
      <td>
        <div className="doc-title">{d.title}</div>
        <div className="muted small path" title={d.path}>
          {d.path}
        </div>
        {d.error && (
          <div className="answer-error small" data-testid="library-error">
            {d.error}
          </div>
        )}
      </td>
      <td>
        <span className={`status status-${d.status}`}>{d.status}</span>
      </td>
      <td className="num">{d.chunks}</td>
      <td className="row-buttons">
        <button type="button" className="ghost small" data-testid="reindex" disabled={busy} onClick={() => void library.reindex(d.path)}>
          Re-index
        </button>
        <button type="button" className="ghost small" data-testid="remove" disabled={busy} onClick={() => void library.remove(d.path)}>
          Remove
        </button>
      </td>
    </tr>
  );
}
