import { useEffect } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { AddDocuments } from './AddDocuments';
import { DocumentRow } from './DocumentRow';
import { IngestProgress } from './IngestProgress';

/** The document library: add (paths, native dialog, drag and drop), progress, remove, re-index. */
export function LibraryView() {
  const { library } = useApp();
  const { documents, loading, busy } = useStore(library);

  useEffect(() => {
    void library.load();
  }, [library]);
  // Files changed in the library's folders show while this view is open.
  useEffect(() => library.follow(), [library]);

  return (
    <section className="library" aria-label="Library">
      <AddDocuments />
      <IngestProgress />
      <table className="documents" data-testid="library-table">
        <thead>
          <tr>
            <th>Document</th>
            <th>Status</th>
            <th className="num">Chunks</th>
            <th>
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {documents.map((d) => (
            <DocumentRow key={d.path} document={d} busy={busy.includes(d.path)} />
          ))}
          {documents.length === 0 && !loading && (
            <tr>
              <td colSpan={4} className="empty">
                The library is empty. Add files or folders of .txt and .md documents.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
