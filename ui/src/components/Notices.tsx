import { useApp } from '../context';
import { useStore } from '../stores/store';

/** Errors ({code, message}) and confirmations, until dismissed. */
export function Notices() {
  const { notices } = useApp();
  const items = useStore(notices, (s) => s.items);
  if (items.length === 0) return null;
  return (
    <div className="notices" role="status" aria-live="polite">
      {items.map((n) => (
        <div key={n.id} className={`notice notice-${n.kind}`} data-testid={n.kind === 'error' ? 'error' : 'notice'}>
          <span className="notice-text">
            <strong>{n.context}:</strong> {n.message}
            {n.code && <code className="notice-code">{n.code}</code>}
          </span>
          <button type="button" className="ghost small" aria-label="Dismiss" onClick={() => notices.dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
