import { useEffect, useState } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { ChatView } from './ChatView';
import { EvaluationView } from './EvaluationView';
import { LibraryView } from './LibraryView';
import { ModelsView } from './ModelsView';
import { Notices } from './Notices';
import { PassageView } from './PassageView';
import { Sidebar } from './Sidebar';
import { ThemeToggle } from './ThemeToggle';
import { TokenInspector } from './TokenInspector';

export type View = 'chat' | 'library' | 'models' | 'tokens' | 'evaluation';

const VIEWS: { id: View; label: string }[] = [
  { id: 'chat', label: 'Chat' },
  { id: 'library', label: 'Library' },
  { id: 'models', label: 'Models' },
  { id: 'tokens', label: 'Tokens' },
  { id: 'evaluation', label: 'Evaluation' },
];

export function App() {
  const app = useApp();
  const [view, setView] = useState<View>('chat');
  const passageOpen = useStore(app.passage, (s) => s.passage !== null);

  useEffect(() => {
    void app.conversations.load();
  }, [app]);

  // Esc closes the passage view if it is open, else stops a streaming answer.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented) return;
      if (app.passage.get().passage) app.passage.close();
      else if (app.chat.busy) void app.chat.stop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [app]);

  return (
    <div className={`app${passageOpen ? ' with-passage' : ''}`}>
      <Sidebar onOpen={() => setView('chat')} />
      <div className="main">
        <header className="topbar">
          <nav className="tabs" aria-label="Views">
            {VIEWS.map((v) => (
              <button
                key={v.id}
                type="button"
                className="tab"
                aria-current={view === v.id ? 'page' : undefined}
                data-testid={`tab-${v.id}`}
                onClick={() => setView(v.id)}
              >
                {v.label}
              </button>
            ))}
          </nav>
          <ThemeToggle />
        </header>
        <Notices />
        <main className="view">
          {view === 'chat' && <ChatView />}
          {view === 'library' && <LibraryView />}
          {view === 'models' && <ModelsView />}
          {view === 'tokens' && <TokenInspector />}
          {view === 'evaluation' && <EvaluationView />}
        </main>
      </div>
      {passageOpen && <PassageView />}
    </div>
  );
}
