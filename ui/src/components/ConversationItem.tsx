import { useState } from 'react';
import type { ConversationSummary } from '../api/types';
import { useApp } from '../context';

interface Props {
  conversation: ConversationSummary;
  current: boolean;
  onOpen: () => void;
}

/** One conversation in the sidebar: open, rename in place, export, delete (after a confirmation). */
export function ConversationItem({ conversation, current, onOpen }: Props) {
  const { conversations, host } = useApp();
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(conversation.title);
  const [confirming, setConfirming] = useState(false);

  const commit = async () => {
    setEditing(false);
    await conversations.rename(conversation.id, title);
  };

  return (
    <li className={`conversation${current ? ' current' : ''}`} data-testid="conversation-item" data-id={conversation.id}>
      {editing ? (
        <input
          className="rename"
          aria-label="Conversation title"
          data-testid="rename-input"
          value={title}
          autoFocus
          onChange={(e) => setTitle(e.target.value)}
          onBlur={() => void commit()}
          onKeyDown={(e) => {
            if (e.key === 'Enter') void commit();
            if (e.key === 'Escape') {
              e.preventDefault();
              setTitle(conversation.title);
              setEditing(false);
            }
          }}
        />
      ) : (
        <button type="button" className="conversation-title" title={conversation.title} onClick={onOpen} data-testid="conversation-open">
          {conversation.title || 'Untitled'}
        </button>
      )}
      {confirming ? (
        <span className="row-actions">
          <button type="button" className="danger small" data-testid="confirm-delete" onClick={() => void conversations.remove(conversation.id)}>
            Delete
          </button>
          <button type="button" className="ghost small" onClick={() => setConfirming(false)}>
            Keep
          </button>
        </span>
      ) : (
        <span className="row-actions">
          <button
            type="button"
            className="ghost small"
            data-testid="rename"
            title="Rename"
            aria-label="Rename"
            onClick={() => {
              setTitle(conversation.title);
              setEditing(true);
            }}
          >
            ✎
          </button>
          <button type="button" className="ghost small" data-testid="export" title="Export as Markdown" aria-label="Export as Markdown" onClick={() => void conversations.exportMarkdown(conversation.id, host)}>
            ⤓
          </button>
          <button type="button" className="ghost small" data-testid="delete" title="Delete" aria-label="Delete" onClick={() => setConfirming(true)}>
            ×
          </button>
        </span>
      )}
    </li>
  );
}
