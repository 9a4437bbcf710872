import { useEffect } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { ImportModel } from './ImportModel';
import { ModelList } from './ModelList';
import { SettingsForm } from './SettingsForm';

/** The local models (which chats, which embeds), importing a GGUF, and the answer settings. */
export function ModelsView() {
  const { settings } = useApp();
  const state = useStore(settings);

  useEffect(() => {
    void settings.load();
  }, [settings]);

  return (
    <section className="models" aria-label="Models and settings">
      <h2>Models</h2>
      {state.models ? <ModelList models={state.models} /> : state.loading && <p className="muted">Loading…</p>}
      <ImportModel />
      <h2>Settings</h2>
      {state.settings && <SettingsForm key={JSON.stringify(state.settings)} initial={state.settings} />}
    </section>
  );
}
