import { useState } from 'react';
import type { Settings } from '../api/types';
import { useApp } from '../context';
import { useStore } from '../stores/store';

interface NumberField {
  key: keyof Settings & string;
  label: string;
  /** 'any' for real numbers: a step would reject values such as 0.73. */
  step: number | 'any';
  min?: number;
  max?: number;
  /** May be empty (null: the backend's default). */
  optional?: boolean;
  help?: string;
}

const FIELDS: NumberField[] = [
  { key: 'context_length', label: 'Context size (tokens)', step: 1, min: 256 },
  { key: 'max_answer_tokens', label: 'Answer length (tokens)', step: 1, min: 1 },
  { key: 'temperature', label: 'Temperature', step: 'any', min: 0, max: 2, help: '0 = always the likeliest token' },
  { key: 'top_p', label: 'Top p', step: 'any', min: 0, max: 1, optional: true },
  { key: 'top_k', label: 'Top k', step: 1, min: 1, optional: true },
  { key: 'repeat_penalty', label: 'Repeat penalty', step: 'any', min: 0 },
  { key: 'seed', label: 'Seed', step: 1, min: 0 },
  { key: 'sources', label: 'Sources per answer', step: 1, min: 0, max: 20 },
  { key: 'min_similarity', label: 'Minimum similarity', step: 'any', min: -1, max: 1 },
];

/** Context size, sampling, retrieval and the system prompt; the backend validates what is saved. */
export function SettingsForm({ initial }: { initial: Settings }) {
  const { settings } = useApp();
  const saving = useStore(settings, (s) => s.saving);
  const [draft, setDraft] = useState<Record<string, string>>(() => toDraft(initial));

  const field = (f: NumberField) => (
    <label key={f.key} className="field">
      <span>{f.label}</span>
      <input
        type="number"
        step={f.step}
        min={f.min}
        max={f.max}
        value={draft[f.key] ?? ''}
        placeholder={f.optional ? 'default' : undefined}
        required={!f.optional}
        data-testid={`setting-${f.key}`}
        onChange={(e) => setDraft({ ...draft, [f.key]: e.target.value })}
      />
      {f.help && <small className="muted">{f.help}</small>}
    </label>
  );

  return (
    <form
      className="settings"
      onSubmit={(e) => {
        e.preventDefault();
        void settings.save(fromDraft(initial, draft));
      }}
    >
      <div className="fields">{FIELDS.map(field)}</div>
      <label className="field wide">
        <span>System prompt</span>
        <textarea
          rows={5}
          value={draft.system_prompt ?? ''}
          placeholder="The built-in instructions"
          data-testid="setting-system_prompt"
          onChange={(e) => setDraft({ ...draft, system_prompt: e.target.value })}
        />
      </label>
      <div className="inline">
        <button type="submit" className="primary" data-testid="save-settings" disabled={saving}>
          {saving ? 'Saving…' : 'Save settings'}
        </button>
        <button type="button" className="ghost" onClick={() => setDraft(toDraft(initial))}>
          Undo changes
        </button>
      </div>
    </form>
  );
}

function toDraft(s: Settings): Record<string, string> {
  const draft: Record<string, string> = { system_prompt: s.system_prompt ?? '' };
  for (const f of FIELDS) {
    const v = s[f.key];
    draft[f.key] = v === null || v === undefined ? '' : String(v);
  }
  return draft;
}

export function fromDraft(base: Settings, draft: Record<string, string>): Settings {
  const out: Settings = { ...base };
  for (const f of FIELDS) {
    const raw = (draft[f.key] ?? '').trim();
    (out as Record<string, unknown>)[f.key] = raw === '' && f.optional ? null : Number(raw);
  }
  const prompt = draft.system_prompt ?? '';
  out.system_prompt = prompt.trim() === '' ? null : prompt;
  return out;
}
