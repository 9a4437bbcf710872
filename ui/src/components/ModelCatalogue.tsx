import { useEffect, useState } from 'react';
import type { Catalogue, CatalogueModel, MemoryVerdict } from '../api/types';
import { useApp } from '../context';
import type { Pull } from '../stores/downloads';
import { useStore } from '../stores/store';

const VERDICT: Record<MemoryVerdict, string> = {
  fits: 'fits',
  tight: 'fits, tight',
  too_large: 'too large',
  unknown: 'unknown',
};

/** The recommended models with their size, licence, memory verdict and expected speed; download
 *  one (with progress and cancel), use it for chat, or remove it. Also any GGUF of a repository. */
export function ModelCatalogue() {
  const { downloads, settings } = useApp();
  const state = useStore(downloads);
  const chatPath = useStore(settings, (s) => s.models?.chat?.path);

  useEffect(() => {
    void downloads.load();
  }, [downloads]);

  const { catalogue, pull } = state;
  return (
    <div className="model-catalogue" data-testid="catalogue">
      {pull && <PullProgress pull={pull} onCancel={() => void downloads.cancel()} />}
      {catalogue ? (
        <>
          <table className="available">
            <thead>
              <tr>
                <th>Model</th>
                <th className="num">Size</th>
                <th className="num">Memory</th>
                <th className="num">Speed (prompt / answer)</th>
                <th>Licence</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {catalogue.models.map((m) => (
                <CatalogueRow key={m.name} model={m} inUse={m.path === chatPath} busy={pull !== null} />
              ))}
            </tbody>
          </table>
          <SpeedMethod catalogue={catalogue} />
        </>
      ) : (
        state.loading && <p className="muted">Measuring this machine…</p>
      )}
      <PullFromRepo busy={pull !== null} />
    </div>
  );
}

function CatalogueRow({ model: m, inUse, busy }: { model: CatalogueModel; inUse: boolean; busy: boolean }) {
  const { downloads } = useApp();
  return (
    <tr data-testid="catalogue-row" data-name={m.name} data-downloaded={m.downloaded ? 'true' : 'false'}>
      <td>
        <div>
          {m.title} <span className="muted small">{m.quantisation}</span>
        </div>
        <div className="muted small path">
          {m.repo} · context {m.context_length.toLocaleString()} tokens
        </div>
      </td>
      <td className="num">{size(m.size_bytes)}</td>
      <td className="num" data-testid="verdict" data-verdict={m.verdict}>
        {size(m.memory_bytes)}
        <div className={`small ${m.verdict === 'too_large' ? 'answer-error' : 'muted'}`}>{VERDICT[m.verdict]}</div>
      </td>
      <td className="num" data-testid="speed">
        {m.speed
          ? `~${rate(m.speed.prefill_tokens_per_second)} / ~${rate(m.speed.decode_tokens_per_second)} tokens/s`
          : '—'}
      </td>
      <td className="small">{m.licence}</td>
      <td>
        {m.downloaded ? (
          inUse ? (
            <span className="muted small">in use</span>
          ) : (
            <>
              <button type="button" className="small" data-testid="use-model" onClick={() => void downloads.use(m.path)}>
                Use for chat
              </button>{' '}
              <button type="button" className="ghost small" data-testid="remove-model" onClick={() => void downloads.remove(m.name)}>
                Remove
              </button>
            </>
          )
        ) : (
          <button
            type="button"
            className="small"
            data-testid="download-model"
            disabled={busy}
            title={m.verdict === 'too_large' ? 'It would not fit in the memory free now' : undefined}
            onClick={() => void downloads.pull({ name: m.name })}
          >
            {m.partial_bytes > 0 ? 'Resume download' : 'Download'}
          </button>
        )}
      </td>
    </tr>
  );
}

function PullProgress({ pull, onCancel }: { pull: Pull; onCancel: () => void }) {
  const share = pull.total > 0 ? pull.downloaded / pull.total : 0;
  return (
    <div className="pull-progress" data-testid="pull-progress" role="status">
      <div>
        Downloading <strong>{pull.file}</strong>
        {pull.resumedFrom > 0 && <span className="muted small"> (resumed at {size(pull.resumedFrom)})</span>}
      </div>
      <progress max={1} value={share} aria-label={`download of ${pull.file}`} />
      <div className="muted small" data-testid="pull-figures">
        {size(pull.downloaded)} of {pull.total > 0 ? size(pull.total) : '…'}
        {pull.bytesPerSecond > 0 && ` · ${size(pull.bytesPerSecond)}/s`}
        {pull.secondsLeft !== null && ` · ${duration(pull.secondsLeft)} left`}
      </div>
      <button type="button" className="ghost small" data-testid="cancel-pull" disabled={!pull.pullId || pull.cancelling} onClick={onCancel}>
        {pull.cancelling ? 'Cancelling…' : 'Cancel'}
      </button>
    </div>
  );
}

/** How the memory and speed figures are made, in the view itself. */
function SpeedMethod({ catalogue }: { catalogue: Catalogue }) {
  const m = catalogue.measured;
  return (
    <p className="muted small" data-testid="speed-method">
      Memory: the weights plus the key/value cache at a {catalogue.context_length.toLocaleString()}-token context
      {catalogue.available_memory_bytes !== null && `; ${size(catalogue.available_memory_bytes)} free now`}.{' '}
      {m
        ? `Speeds are estimates: measured ${rate(m.prefill_tokens_per_second)} prompt and ${rate(
            m.decode_tokens_per_second,
          )} answer tokens/s on ${baseName(m.model)} here, scaled by parameter count for the prompt and by the weights' size for the answer.`
        : 'No speed estimate: the chat model could not be loaded to measure this machine.'}
    </p>
  );
}

/** Any GGUF file of a Hugging Face repository. */
function PullFromRepo({ busy }: { busy: boolean }) {
  const { downloads } = useApp();
  const [repo, setRepo] = useState('');
  const [file, setFile] = useState('');
  return (
    <form
      className="pull-repo"
      onSubmit={(e) => {
        e.preventDefault();
        if (repo.trim() && file.trim()) void downloads.pull({ repo: repo.trim(), file: file.trim() });
      }}
    >
      <label>
        Repository <input data-testid="pull-repo" value={repo} placeholder="owner/name" onChange={(e) => setRepo(e.target.value)} />
      </label>{' '}
      <label>
        File <input data-testid="pull-file" value={file} placeholder="model-Q4_K_M.gguf" onChange={(e) => setFile(e.target.value)} />
      </label>{' '}
      <button type="submit" className="small" data-testid="pull-submit" disabled={busy || !repo.trim() || !file.trim()}>
        Download
      </button>
    </form>
  );
}

function baseName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}

function rate(n: number): string {
  return n >= 10 ? n.toFixed(0) : n.toFixed(1);
}

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.ceil(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function size(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`;
  return `${Math.ceil(bytes / 1e3)} kB`;
}
