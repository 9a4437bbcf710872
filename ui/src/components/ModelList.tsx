import type { Models } from '../api/types';
import { useApp } from '../context';

export function ModelList({ models }: { models: Models }) {
  const { downloads } = useApp();
  const { chat, embedding, available, backend } = models;
  const remote = backend?.kind === 'openai' ? backend : null;
  return (
    <div className="model-list" data-testid="models">
      <dl className="in-use">
        <dt>Chats with</dt>
        <dd data-testid="chat-model" data-backend={remote ? 'openai' : 'local'}>
          {remote ? (
            <>
              <strong>{remote.model}</strong> <span className="muted small">context {remote.context_length} tokens</span>
              <div className="small" data-testid="chat-backend">
                on the OpenAI-compatible server <span className="path">{remote.base_url}</span>
                {' · key '}
                {remote.key.source === 'keyring'
                  ? remote.key.present
                    ? 'in the OS keyring'
                    : 'missing from the OS keyring'
                  : `from ${remote.key.env ?? 'the environment'}${remote.key.present ? '' : ' (not set)'}`}
              </div>
            </>
          ) : chat ? (
            <>
              <strong>{chat.name}</strong> <span className="muted small">context {chat.context_length} tokens</span>
              <div className="muted small path">{chat.path}</div>
              <div className="muted small" data-testid="chat-backend">
                on this computer
              </div>
            </>
          ) : (
            <span className="answer-error">no chat model</span>
          )}
        </dd>
        <dt>Embeds with</dt>
        <dd data-testid="embedding-model">
          {embedding ? (
            <>
              <strong>{baseName(embedding.path)}</strong> <span className="muted small">{embedding.dim} dimensions</span>
              <div className="muted small path">{embedding.path}</div>
            </>
          ) : (
            <span className="answer-error">no embedding model</span>
          )}
        </dd>
      </dl>
      {available.length > 0 && (
        <table className="available">
          <thead>
            <tr>
              <th>Local model</th>
              <th>Kind</th>
              <th className="num">Size</th>
              <th>In use</th>
            </tr>
          </thead>
          <tbody>
            {available.map((m) => (
              <tr key={m.path} data-testid="model-row">
                <td>
                  <div>{m.name}</div>
                  <div className="muted small path">{m.path}</div>
                </td>
                <td>{m.kind ?? '—'}</td>
                <td className="num">{m.size_bytes === undefined ? '—' : size(m.size_bytes)}</td>
                <td>
                  {m.path === chat?.path ? (
                    'chat'
                  ) : m.path === embedding?.path ? (
                    'embeddings'
                  ) : m.kind === 'chat' ? (
                    <button type="button" className="small" data-testid="use-local-model" onClick={() => void downloads.use(m.path)}>
                      Use for chat
                    </button>
                  ) : (
                    ''
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function baseName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}

function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`;
  return `${Math.ceil(bytes / 1e3)} kB`;
}
