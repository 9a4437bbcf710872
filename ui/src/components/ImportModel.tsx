import { useState } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';

/** Import a local GGUF file by path (the native file dialog in the desktop app). */
export function ImportModel() {
  const { settings, host, notices } = useApp();
  const importing = useStore(settings, (s) => s.importing);
  const [path, setPath] = useState('');

  const browse = async () => {
    try {
      const picked = await host.pickPaths?.(false);
      if (picked?.[0]) setPath(picked[0]);
    } catch (e) {
      notices.error('Choosing a model file', e);
    }
  };

  return (
    <form
      className="import-model"
      onSubmit={async (e) => {
        e.preventDefault();
        if (await settings.importModel(path)) setPath('');
      }}
    >
      <label htmlFor="import-path">Import a GGUF model</label>
      <div className="inline">
        <input id="import-path" value={path} placeholder="/path/to/model.gguf" data-testid="import-path" onChange={(e) => setPath(e.target.value)} />
        {host.pickPaths && (
          <button type="button" onClick={() => void browse()}>
            Browse…
          </button>
        )}
        <button type="submit" className="primary" data-testid="import-model" disabled={importing || path.trim() === ''}>
          {importing ? 'Importing…' : 'Import'}
        </button>
      </div>
    </form>
  );
}
