import { useEffect, useState, type DragEvent } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';

/** Add files and folders: a path field, the native dialog (in the desktop app), or drag and drop. */
export function AddDocuments() {
  const { library, host, notices } = useApp();
  const running = useStore(library, (s) => s.ingest?.running ?? false);
  const [paths, setPaths] = useState('');
  const [dragging, setDragging] = useState(false);

  // The desktop window reports dropped files with their paths.
  useEffect(() => {
    if (!host.onFileDrop) return;
    let unlisten: (() => void) | undefined;
    let gone = false;
    host
      .onFileDrop((dropped) => void library.add(dropped))
      .then((u) => (gone ? u() : (unlisten = u)))
      .catch((e: unknown) => notices.error('Listening for dropped files', e));
    return () => {
      gone = true;
      unlisten?.();
    };
  }, [host, library, notices]);

  const add = (list: string[]) => void library.add(list);

  const pick = async (directory: boolean) => {
    try {
      const picked = await host.pickPaths?.(directory);
      if (picked && picked.length > 0) add(picked);
    } catch (e) {
      notices.error('Choosing files', e);
    }
  };

  // In a browser, a drop from a file manager carries file:// URIs; File objects carry no path.
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const dropped = pathsFromDrop(e.dataTransfer);
    if (dropped.length > 0) add(dropped);
    else if (e.dataTransfer.files.length > 0) {
      notices.error('Adding dropped files', {
        code: 'no_paths',
        message: 'the browser does not tell the app where dropped files are; type or paste their paths instead',
      });
    }
  };

  return (
    <div
      className={`add-documents${dragging ? ' dragging' : ''}`}
      data-testid="drop-zone"
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={onDrop}
    >
      <form
        className="add-form"
        onSubmit={(e) => {
          e.preventDefault();
          add(paths.split('\n'));
          setPaths('');
        }}
      >
        <textarea
          rows={2}
          value={paths}
          placeholder="Paths of files or folders on this computer, one a line"
          aria-label="Paths to add"
          data-testid="library-paths"
          onChange={(e) => setPaths(e.target.value)}
        />
        <div className="add-buttons">
          <button type="submit" className="primary" data-testid="library-add" disabled={running || paths.trim() === ''}>
            Add
          </button>
          {host.pickPaths && (
            <>
              <button type="button" disabled={running} onClick={() => void pick(false)}>
                Add files…
              </button>
              <button type="button" disabled={running} onClick={() => void pick(true)}>
                Add folder…
              </button>
            </>
          )}
        </div>
      </form>
      <p className="muted small">Or drop files and folders here.</p>
    </div>
  );
}

/** Local paths from a drop's text/uri-list (file:// URIs, as file managers send them). */
export function pathsFromDrop(data: DataTransfer): string[] {
  const list = data.getData('text/uri-list') || data.getData('text/plain');
  return list
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('file://'))
    .map((uri) => {
      try {
        return decodeURIComponent(new URL(uri).pathname);
      } catch {
        return '';
      }
    })
    .filter((p) => p !== '');
}
