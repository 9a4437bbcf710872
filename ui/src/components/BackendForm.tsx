import { useState } from 'react';
import type { Backend, BackendInfo, KeySource } from '../api/types';
import { useApp } from '../context';
import { useStore } from '../stores/store';

/** What the form edits: every field as typed. */
export interface BackendDraft {
  kind: 'local' | 'openai';
  base_url: string;
  model: string;
  context_length: string;
  timeout_s: string;
  api_key_from: KeySource;
  api_key_env: string;
}

const DEFAULTS = {
  model: 'default',
  context_length: 4096,
  timeout_s: 120,
  api_key_env: 'ALMANAC_BACKEND_KEY',
};

export function toBackendDraft(backend: Backend | undefined): BackendDraft {
  if (backend?.kind === 'openai') {
    return {
      kind: 'openai',
      base_url: backend.base_url,
      model: backend.model,
      context_length: String(backend.context_length),
      timeout_s: String(backend.timeout_s),
      api_key_from: backend.api_key_from ?? 'env',
      api_key_env: backend.api_key_env,
    };
  }
  return {
    kind: 'local',
    base_url: '',
    model: DEFAULTS.model,
    context_length: String(DEFAULTS.context_length),
    timeout_s: String(DEFAULTS.timeout_s),
    api_key_from: 'env',
    api_key_env: DEFAULTS.api_key_env,
  };
}

/** The same limits the backend checks (crates/core settings_input.rs), keyed by the field names it
 *  uses in its refusals, so a mistake shows before anything is sent. */
export function validateBackend(d: BackendDraft): Record<string, string> {
  const errors: Record<string, string> = {};
  if (d.kind === 'local') return errors;
  const url = d.base_url.trim();
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.hostname === '') {
    errors['backend.base_url'] = 'must be an http or https URL, e.g. http://gpu-box:8000/v1';
  }
  const model = d.model.trim();
  if (model === '' || [...model].length > 256) errors['backend.model'] = 'must be 1 to 256 characters';
  const whole = (raw: string, min: number, max: number) => {
    const n = Number(raw.trim());
    return raw.trim() !== '' && Number.isInteger(n) && n >= min && n <= max;
  };
  if (!whole(d.context_length, 256, 1_048_576)) {
    errors['backend.context_length'] = 'must be a whole number from 256 to 1048576';
  }
  if (!whole(d.timeout_s, 1, 3600)) errors['backend.timeout_s'] = 'must be a whole number from 1 to 3600';
  if (d.api_key_from === 'env' && !/^[A-Za-z0-9_]{1,128}$/.test(d.api_key_env)) {
    errors['backend.api_key_env'] = 'must be an environment variable name (letters, digits, _)';
  }
  return errors;
}

export function fromBackendDraft(d: BackendDraft): Backend {
  if (d.kind === 'local') return { kind: 'local' };
  return {
    kind: 'openai',
    base_url: d.base_url.trim().replace(/\/+$/, ''),
    model: d.model.trim(),
    context_length: Number(d.context_length.trim()),
    timeout_s: Number(d.timeout_s.trim()),
    api_key_from: d.api_key_from,
    api_key_env: d.api_key_env,
  };
}

/** Where answers are generated: the local GGUF, or an OpenAI-compatible endpoint (vLLM,
 *  llama-server, Ollama…) with its key in the OS keyring or an environment variable. */
export function BackendForm({ initial, info }: { initial: Backend | undefined; info: BackendInfo | undefined }) {
  const { settings } = useApp();
  const saving = useStore(settings, (s) => s.saving);
  const keySaving = useStore(settings, (s) => s.keySaving);
  const serverErrors = useStore(settings, (s) => s.fieldErrors);
  const [draft, setDraft] = useState<BackendDraft>(() => toBackendDraft(initial));
  const [checked, setChecked] = useState<Record<string, string> | null>(null);
  const [key, setKey] = useState('');

  const errors = { ...serverErrors, ...(checked ?? {}) };
  const change = (patch: Partial<BackendDraft>) => {
    const next = { ...draft, ...patch };
    setDraft(next);
    // Once the user has tried to save, errors follow the typing.
    if (checked) setChecked(validateBackend(next));
  };
  const error = (field: string) =>
    errors[field] ? (
      <small className="field-error" data-testid="field-error" data-field={field} role="alert">
        {errors[field]}
      </small>
    ) : null;
  const input = (name: 'base_url' | 'model' | 'context_length' | 'timeout_s' | 'api_key_env', label: string, props = {}) => (
    <label className="field" key={name}>
      <span>{label}</span>
      <input
        value={draft[name]}
        aria-invalid={errors[`backend.${name}`] ? true : undefined}
        data-testid={`backend-${name}`}
        onChange={(e) => change({ [name]: e.target.value })}
        {...props}
      />
      {error(`backend.${name}`)}
    </label>
  );

  // The key can be stored once the endpoint it belongs to is saved with the keyring as its source.
  const saved = initial?.kind === 'openai' ? initial : null;
  const edited = fromBackendDraft(draft);
  const keyringSaved =
    saved?.api_key_from === 'keyring' &&
    edited.kind === 'openai' &&
    edited.api_key_from === 'keyring' &&
    edited.base_url === saved.base_url;
  const keyStatus = info?.kind === 'openai' ? info.key : null;

  return (
    <form
      className="settings backend"
      data-testid="backend-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        const found = validateBackend(draft);
        setChecked(found);
        if (Object.keys(found).length === 0) void settings.saveBackend(fromBackendDraft(draft));
      }}
    >
      <fieldset className="inline" aria-label="Where answers are generated">
        <label>
          <input
            type="radio"
            name="backend-kind"
            checked={draft.kind === 'local'}
            data-testid="backend-kind-local"
            onChange={() => change({ kind: 'local' })}
          />{' '}
          This computer (the local model)
        </label>
        <label>
          <input
            type="radio"
            name="backend-kind"
            checked={draft.kind === 'openai'}
            data-testid="backend-kind-openai"
            onChange={() => change({ kind: 'openai' })}
          />{' '}
          An OpenAI-compatible server (vLLM, llama-server, Ollama…)
        </label>
      </fieldset>
      {error('backend.kind')}
      {error('backend')}
      {draft.kind === 'openai' && (
        <>
          <div className="fields">
            {input('base_url', 'Base URL', { placeholder: 'http://gpu-box:8000/v1', type: 'url' })}
            {input('model', 'Model name')}
            {input('context_length', 'Context size (tokens)', { type: 'number', min: 256, step: 1 })}
            {input('timeout_s', 'Timeout (seconds)', { type: 'number', min: 1, max: 3600, step: 1 })}
            <label className="field">
              <span>API key from</span>
              <select
                value={draft.api_key_from}
                data-testid="backend-api_key_from"
                onChange={(e) => change({ api_key_from: e.target.value as KeySource })}
              >
                <option value="keyring">the OS keyring</option>
                <option value="env">an environment variable</option>
              </select>
              {error('backend.api_key_from')}
            </label>
            {draft.api_key_from === 'env' && input('api_key_env', 'Variable name')}
          </div>
          <p className="muted small">
            Retrieval, sources and citations stay on this computer; only the question, the chosen passages and the
            conversation go to this server. The key is never written into the settings.
          </p>
        </>
      )}
      <div className="inline">
        <button type="submit" className="primary" data-testid="save-backend" disabled={saving}>
          {saving ? 'Saving…' : 'Save backend'}
        </button>
        <button
          type="button"
          className="ghost"
          onClick={() => {
            setDraft(toBackendDraft(initial));
            setChecked(null);
          }}
        >
          Undo changes
        </button>
      </div>
      {draft.kind === 'openai' && draft.api_key_from === 'keyring' && (
        <div className="key" data-testid="backend-key-section">
          {keyringSaved ? (
            <>
              <p className="small" data-testid="backend-key-status">
                {keyStatus?.error
                  ? keyStatus.error
                  : keyStatus?.present
                    ? 'A key for this server is stored in the OS keyring.'
                    : 'No key for this server in the OS keyring yet.'}
              </p>
              <label className="field">
                <span>API key</span>
                <input
                  type="password"
                  autoComplete="off"
                  value={key}
                  data-testid="backend-key"
                  onChange={(e) => setKey(e.target.value)}
                />
                {error('key')}
              </label>
              <div className="inline">
                <button
                  type="button"
                  data-testid="backend-store-key"
                  disabled={keySaving || key.trim() === ''}
                  onClick={() => {
                    void settings.setBackendKey(key.trim()).then((ok) => ok && setKey(''));
                  }}
                >
                  Store key in the keyring
                </button>
                {keyStatus?.present && (
                  <button
                    type="button"
                    className="ghost"
                    data-testid="backend-delete-key"
                    disabled={keySaving}
                    onClick={() => void settings.deleteBackendKey()}
                  >
                    Remove key
                  </button>
                )}
              </div>
            </>
          ) : (
            <p className="muted small" data-testid="backend-key-status">
              Save the backend first; then its key can be stored in the OS keyring.
            </p>
          )}
        </div>
      )}
      {draft.kind === 'openai' && draft.api_key_from === 'env' && keyStatus?.env === draft.api_key_env && (
        <p className="muted small" data-testid="backend-key-status">
          {keyStatus.present
            ? `${keyStatus.env} is set where Almanac runs.`
            : `${keyStatus.env} is not set where Almanac runs: no key is sent.`}
        </p>
      )}
    </form>
  );
}
