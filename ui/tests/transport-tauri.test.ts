import { describe, expect, it } from 'vitest';
import type { AnswerEvent, IngestEvent } from '../src/api/types';
import { pickTransport } from '../src/transport';
import { TauriTransport } from '../src/transport/tauri';

/** A fake IPC: records commands; streaming commands get a channel the test writes to. */
function fakeIpc(handle: (cmd: string, args: Record<string, unknown>, send: (m: unknown) => void) => unknown) {
  const calls: { cmd: string; args: Record<string, unknown> }[] = [];
  type Chan = { onMessage: (m: unknown) => void };
  const makeChannel = (<E>(onMessage: (e: E) => void) => ({ onMessage }) as unknown) as ConstructorParameters<typeof TauriTransport>[1];
  const invoke = (async (cmd: string, args: Record<string, unknown> = {}) => {
    calls.push({ cmd, args });
    const channel = args.onEvent as Chan | undefined;
    return handle(cmd, args, (m) => channel?.onMessage(m));
  }) as ConstructorParameters<typeof TauriTransport>[0];
  return { calls, transport: new TauriTransport(invoke, makeChannel) };
}

describe('TauriTransport', () => {
  it('streams ask events from its channel and resolves after the terminal one', async () => {
    const { calls, transport } = fakeIpc((cmd, _args, send) => {
      if (cmd !== 'ask') return null;
      // The command returns at once; events follow on the channel.
      setTimeout(() => {
        send({ event: 'started', run_id: 'r', conversation_id: 'c', message_id: 'm' });
        send({ event: 'token', text: 'hi' });
        send({ event: 'done', stop_reason: 'end_of_turn', cited: [], timings: {} });
        send({ event: 'token', text: 'ignored' });
      }, 0);
      return null;
    });
    const events: AnswerEvent[] = [];
    await transport.ask(null, 'q', { web: false }, (e) => events.push(e));
    expect(events.map((e) => e.event)).toEqual(['started', 'token', 'done']);
    expect(calls[0]?.cmd).toBe('ask');
    expect(calls[0]?.args).toMatchObject({ conversationId: null, text: 'q', options: { web: false } });
    expect(calls[0]?.args.onEvent).toBeDefined();
  });

  it('turns a refused command into one error event', async () => {
    const { transport } = fakeIpc(() => {
      throw { code: 'busy', message: 'another answer is running' };
    });
    const events: IngestEvent[] = [];
    await transport.addDocuments(['/x'], (e) => events.push(e));
    expect(events).toEqual([{ event: 'error', code: 'busy', message: 'another answer is running' }]);
  });

  it('rejects plain commands with {code, message}, from an object or a string', async () => {
    const { transport } = fakeIpc((cmd) => {
      if (cmd === 'get_conversation') throw { code: 'not_found', message: 'no conversation 4' };
      throw 'the database is locked';
    });
    await expect(transport.getConversation('4')).rejects.toMatchObject({ code: 'not_found', message: 'no conversation 4' });
    await expect(transport.listDocuments()).rejects.toMatchObject({ code: 'error', message: 'the database is locked' });
  });

  it('names each command and its arguments as the contract says', async () => {
    const { calls, transport } = fakeIpc((cmd, _a, send) => {
      if (cmd === 'tokenize') return { tokens: [] };
      if (cmd === 'regenerate') send({ event: 'error', code: 'x', message: 'y' });
      return null;
    });
    await transport.cancel('r1');
    await transport.listConversations('q');
    await transport.renameConversation('c', 't');
    await transport.deleteConversation('c');
    await transport.exportConversation('c', '/tmp/c.md');
    await transport.removeDocument('/a');
    await transport.reindexDocument('/a');
    await transport.getDocument('/a', 1, 2);
    await transport.getModels();
    await transport.getSettings();
    await transport.importModel('/m.gguf');
    await transport.setBackendKey('sk-1');
    await transport.deleteBackendKey();
    await transport.tokenize('x');
    await transport.regenerate('c', () => {});
    expect(calls.map((c) => [c.cmd, Object.keys(c.args).sort().join(',')])).toEqual([
      ['cancel_run', 'runId'],
      ['list_conversations', 'q'],
      ['rename_conversation', 'id,title'],
      ['delete_conversation', 'id'],
      ['export_conversation', 'id,path'],
      ['remove_document', 'path'],
      ['reindex_document', 'path'],
      ['get_document', 'lineEnd,lineStart,path'],
      ['get_models', ''],
      ['get_settings', ''],
      ['import_model', 'path'],
      ['set_backend_key', 'key'],
      ['delete_backend_key', ''],
      ['tokenize', 'text'],
      ['regenerate', 'conversationId,onEvent'],
    ]);
  });

  it('is picked only when the Tauri bridge is present', async () => {
    expect((await pickTransport({} as Window)).kind).toBe('http');
    expect((await pickTransport({ __TAURI_INTERNALS__: {} } as unknown as Window)).kind).toBe('tauri');
  });
});
