import type { Host } from '../host/types';
import type { Transport } from '../transport/types';
import { ChatStore } from './chat';
import { ConversationsStore } from './conversations';
import { DownloadsStore } from './downloads';
import { EvaluationStore } from './evaluation';
import { LibraryStore } from './library';
import { NoticesStore } from './notices';
import { PassageStore } from './passage';
import { SettingsStore } from './settings';
import { TokensStore } from './tokens';

export interface App {
  transport: Transport;
  host: Host;
  notices: NoticesStore;
  conversations: ConversationsStore;
  chat: ChatStore;
  library: LibraryStore;
  settings: SettingsStore;
  downloads: DownloadsStore;
  passage: PassageStore;
  tokens: TokensStore;
  evaluation: EvaluationStore;
}

/** Builds every store over one transport and host, wired together. */
export function createApp(transport: Transport, host: Host): App {
  const notices = new NoticesStore();
  const conversations = new ConversationsStore(transport, notices);
  const chat = new ChatStore(transport, conversations, notices);
  conversations.onDeleted = (id) => chat.forget(id);
  const settings = new SettingsStore(transport, notices);
  return {
    transport,
    host,
    notices,
    conversations,
    chat,
    library: new LibraryStore(transport, notices),
    settings,
    downloads: new DownloadsStore(transport, settings, notices),
    passage: new PassageStore(transport, notices),
    tokens: new TokensStore(transport),
    evaluation: new EvaluationStore(transport, notices),
  };
}
