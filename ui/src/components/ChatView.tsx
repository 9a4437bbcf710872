import { useApp } from '../context';
import { useStore } from '../stores/store';
import { Composer } from './Composer';
import { MessageList } from './MessageList';

export function ChatView() {
  const { chat } = useApp();
  const loading = useStore(chat, (s) => s.loading);
  return (
    <section className="chat" aria-label="Chat" aria-busy={loading}>
      <MessageList />
      <Composer />
    </section>
  );
}
