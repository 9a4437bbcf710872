import { useEffect, useState } from 'react';
import { useApp } from '../context';
import { useStore } from '../stores/store';
import { ConversationItem } from './ConversationItem';

/** New chat, search, and the conversation list. */
export function Sidebar({ onOpen }: { onOpen: () => void }) {
  const { conversations, chat } = useApp();
  const items = useStore(conversations, (s) => s.items);
  const loading = useStore(conversations, (s) => s.loading);
  const currentId = useStore(chat, (s) => s.conversationId);
  const [query, setQuery] = useState('');

  // Search as one types, once typing pauses.
  useEffect(() => {
    if (query === conversations.get().query) return;
    const timer = setTimeout(() => void conversations.search(query), 200);
    return () => clearTimeout(timer);
  }, [query, conversations]);

  return (
    <aside className="sidebar" aria-label="Conversations">
      <button
        type="button"
        className="primary new-chat"
        data-testid="new-chat"
        onClick={() => {
          chat.newChat();
          onOpen();
        }}
      >
        New chat
      </button>
      <input
        type="search"
        className="search"
        placeholder="Search conversations"
        aria-label="Search conversations"
        data-testid="conversation-search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      <ul className="conversations" data-testid="conversation-list" aria-busy={loading}>
        {items.map((c) => (
          <ConversationItem
            key={c.id}
            conversation={c}
            current={c.id === currentId}
            onOpen={() => {
              void chat.open(c.id);
              onOpen();
            }}
          />
        ))}
        {items.length === 0 && !loading && (
          <li className="empty">{query ? 'No conversation matches.' : 'No conversations yet.'}</li>
        )}
      </ul>
    </aside>
  );
}
