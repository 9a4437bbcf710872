// A Server-Sent Events reader for a POST response body (EventSource only does GET).
// Follows the WHATWG event-stream grammar: lines end with CRLF, LF or CR; `data:` lines of one
// event are joined with "\n"; a blank line dispatches; `:` lines are comments. Bytes are decoded
// as a UTF-8 stream, so a character split between chunks is decoded whole.

export interface SseMessage {
  /** The `event:` field, "message" when absent. */
  type: string;
  data: string;
  id?: string;
}

/** Incremental parser: feed decoded text in any pieces, get whole messages out. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private type = '';
  private id: string | undefined;
  /** A chunk ended with "\r": if the next starts with "\n", that "\n" belongs to the same line end. */
  private pendingCR = false;

  push(text: string): SseMessage[] {
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    this.buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== '\n' && ch !== '\r') continue;
      const line = this.buffer.slice(start, i);
      if (ch === '\r') {
        if (i + 1 === this.buffer.length) this.pendingCR = true;
        else if (this.buffer[i + 1] === '\n') i++;
      }
      start = i + 1;
      const message = this.line(line);
      if (message) out.push(message);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** End of stream: an event without its closing blank line is dropped, as the spec says. */
  end(): SseMessage[] {
    this.buffer = '';
    this.data = [];
    this.type = '';
    return [];
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.type = '';
        return null;
      }
      const message: SseMessage = { type: this.type || 'message', data: this.data.join('\n') };
      if (this.id !== undefined) message.id = this.id;
      this.data = [];
      this.type = '';
      return message;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}

/** Reads an event-stream body to its end, calling `onMessage` for each message. */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (message: SseMessage) => void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const m of parser.push(decoder.decode(value, { stream: true }))) onMessage(m);
    }
    for (const m of parser.push(decoder.decode())) onMessage(m);
    parser.end();
  } finally {
    reader.releaseLock();
  }
}
