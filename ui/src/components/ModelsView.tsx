import { useEffect } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { BackendForm } from './BackendForm';
import { ImportModel } from './ImportModel';
import { ModelCatalogue } from './ModelCatalogue';
import { ModelList } from './ModelList';
import { SettingsForm } from './SettingsForm';

/** The models (which answers, which embeds), where answers are generated, importing a GGUF, the
 *  catalogue to download from, and the answer settings. */
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
      <h2>Get a model</h2>
      <ModelCatalogue />
      <h2>Backend</h2>
      {state.settings && (
        <BackendForm
          key={JSON.stringify(state.settings.backend ?? null)}
          initial={state.settings.backend}
          info={state.models?.backend}
        />
      )}
      <h2>Settings</h2>
      {state.settings && <SettingsForm key={JSON.stringify(state.settings)} initial={state.settings} />}
    </section>
  );
}
