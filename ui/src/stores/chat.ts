import type { AnswerEvent, AskOptions, Message } from '../api/types';
import type { Transport } from '../transport/types';
import type { ConversationsStore } from './conversations';
import type { NoticesStore } from './notices';
import { Store } from './store';

export interface ChatMessage extends Message {
  /** The answer is streaming into this message now. */
  pending?: boolean;
}

export interface Run {
  runId: string | null;
  status: 'starting' | 'streaming' | 'stopping';
}

export interface ChatState {
  conversationId: string | null;
  messages: ChatMessage[];
  loading: boolean;
  run: Run | null;
  web: boolean;
}

let localIds = 0;
const localId = (role: string) => `local-${role}-${++localIds}`;

/** The open conversation: its messages, the answer streaming into it, Stop and Regenerate. */
export class ChatStore extends Store<ChatState> {
  private openSeq = 0;
  /** Identity of the run whose events may still change this view (null: none, or it was left). */
  private current: object | null = null;
  private stopRequested = false;

  constructor(
    private readonly transport: Transport,
    private readonly conversations: ConversationsStore,
    private readonly notices: NoticesStore,
  ) {
    super({ conversationId: null, messages: [], loading: false, run: null, web: false });
  }

  get busy(): boolean {
    return this.get().run !== null;
  }

  setWeb(web: boolean): void {
    this.set({ web });
  }

  newChat(): void {
    this.leaveRun();
    this.openSeq++;
    this.set({ conversationId: null, messages: [], loading: false });
  }

  async open(id: string): Promise<void> {
    if (id === this.get().conversationId && !this.get().loading) return;
    this.leaveRun();
    const seq = ++this.openSeq;
    this.set({ conversationId: id, messages: [], loading: true });
    try {
      const conversation = await this.transport.getConversation(id);
      if (seq === this.openSeq) this.set({ messages: conversation.messages, loading: false });
    } catch (e) {
      if (seq === this.openSeq) this.set({ loading: false });
      this.notices.error('Opening the conversation', e);
    }
  }

  /** Sends a question; false when there is nothing to send or an answer is still streaming. */
  send(text: string): boolean {
    const question = text.trim();
    if (question === '' || this.busy) return false;
    const options: AskOptions = this.get().web ? { web: true } : {};
    const user: ChatMessage = { id: localId('user'), role: 'user', text: question };
    this.startRun([user], (onEvent) =>
      this.transport.ask(this.get().conversationId, question, options, onEvent),
    );
    return true;
  }

  /** Asks again for the last answer (the backend replaces it). */
  regenerate(): boolean {
    const { conversationId, messages } = this.get();
    const last = messages[messages.length - 1];
    if (this.busy || conversationId === null || last?.role !== 'assistant') return false;
    this.set({ messages: messages.slice(0, -1) });
    this.startRun([], (onEvent) => this.transport.regenerate(conversationId, onEvent));
    return true;
  }

  /** Stops the streaming answer; if the backend has not named the run yet, stops it as soon as it does. */
  async stop(): Promise<void> {
    const run = this.get().run;
    if (!run || run.status === 'stopping') return;
    this.set({ run: { ...run, status: 'stopping' } });
    if (run.runId === null) {
      this.stopRequested = true;
      return;
    }
    await this.cancel(run.runId);
  }

  /** The conversation was deleted elsewhere: leave it if it is open. */
  forget(id: string): void {
    if (this.get().conversationId === id) this.newChat();
  }

  private startRun(before: ChatMessage[], start: (onEvent: (e: AnswerEvent) => void) => Promise<void>): void {
    const token = {};
    this.current = token;
    this.stopRequested = false;
    const answer: ChatMessage = { id: localId('assistant'), role: 'assistant', text: '', pending: true };
    let answerId = answer.id;
    this.set((s) => ({
      messages: [...s.messages, ...before, answer],
      run: { runId: null, status: 'starting' },
    }));
    const question = before[0]?.text;
    let conversationId = this.get().conversationId;

    const onEvent = (event: AnswerEvent) => {
      const mine = this.current === token;
      switch (event.event) {
        case 'started':
          conversationId = event.conversation_id;
          this.conversations.touch({
            id: event.conversation_id,
            title: question ? question.slice(0, 80) : '',
            updated_at: new Date().toISOString(),
          });
          if (!mine) return;
          this.set((s) => ({
            conversationId: event.conversation_id,
            run: s.run && { ...s.run, runId: event.run_id, status: s.run.status === 'stopping' ? 'stopping' : 'streaming' },
            messages: s.messages.map((m) =>
              m.id === answerId ? { ...m, id: event.message_id, ...(event.model !== undefined && { model: event.model }) } : m,
            ),
          }));
          answerId = event.message_id;
          if (this.stopRequested) void this.cancel(event.run_id);
          return;
        case 'sources':
          if (mine) this.patchAnswer(answerId, { retrieval: event.retrieval });
          return;
        case 'evidence':
          if (mine) this.patchAnswer(answerId, { evidence: event.evidence });
          return;
        case 'token':
          if (mine) this.appendToken(answerId, event.text);
          return;
        case 'done':
          if (mine) {
            this.patchAnswer(answerId, {
              ...(event.text !== undefined && { text: event.text }),
              pending: false,
              stop_reason: event.stop_reason,
              cited: event.cited,
              attributed: event.attributed ?? [],
              sentences: event.sentences ?? [],
              timings: event.timings,
            });
            this.endRun();
          }
          void this.conversations.load();
          return;
        case 'error': {
          const error = this.notices.error('Answering', event);
          if (mine) {
            this.patchAnswer(answerId, { pending: false, interrupted: true, error });
            this.endRun();
          }
          if (conversationId !== null) void this.conversations.load();
          return;
        }
      }
    };
    void start(onEvent);
  }

  private async cancel(runId: string): Promise<void> {
    try {
      await this.transport.cancel(runId);
    } catch (e) {
      this.notices.error('Stopping the answer', e);
      this.set((s) => ({ run: s.run && { ...s.run, status: 'streaming' } }));
    }
  }

  private appendToken(id: string, text: string): void {
    this.set((s) => ({
      messages: s.messages.map((m) => (m.id === id ? { ...m, text: m.text + text } : m)),
    }));
  }

  private patchAnswer(id: string, patch: Partial<ChatMessage>): void {
    this.set((s) => ({ messages: s.messages.map((m) => (m.id === id ? { ...m, ...patch } : m)) }));
  }

  private endRun(): void {
    this.current = null;
    this.stopRequested = false;
    this.set({ run: null });
  }

  /** Leaves the streaming run to the backend (which still stores it) and stops following it here. */
  private leaveRun(): void {
    this.current = null;
    this.stopRequested = false;
    if (this.get().run) this.set({ run: null });
  }
}
