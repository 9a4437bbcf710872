import { useLayoutEffect, useRef } from 'react';

interface Props {
  /** The document's text: shown as plain text, never as markup. */
  text: string;
  /** 1-based, inclusive: the passage's lines. */
  start: number;
  end: number;
  /** Lines of context shown around the passage; a large document is not rendered whole. */
  context?: number;
}

/** A document with line numbers, the passage's lines highlighted and scrolled into view. */
export function DocumentLines({ text, start, end, context = 400 }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const lines = text.split(/\r\n|\n|\r/);
  const from = Math.max(1, start - context);
  const to = Math.min(lines.length, end + context);

  useLayoutEffect(() => {
    ref.current?.querySelector('.line.hit')?.scrollIntoView?.({ block: 'center' });
  }, [text, start, end]);

  const row = (n: number) => (
    <div key={n} className={`line${n >= start && n <= end ? ' hit' : ''}`}>
      <span className="line-n" aria-hidden="true">
        {n}
      </span>
      <span className="line-text">{lines[n - 1] || '\u00a0'}</span>
    </div>
  );
  const range = (a: number, b: number) => Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => row(a + i));

  return (
    <div ref={ref} className="document" data-testid="document-text">
      {from > 1 && <p className="muted small elided">… {from - 1} lines above</p>}
      {range(from, start - 1)}
      <div className="highlight" data-testid="passage-highlight">
        {range(Math.max(start, 1), Math.min(end, lines.length))}
      </div>
      {range(end + 1, to)}
      {to < lines.length && <p className="muted small elided">… {lines.length - to} lines below</p>}
      {start > lines.length && <p className="answer-error">Lines {start}–{end} are not in this document; it may have changed since it was indexed.</p>}
    </div>
  );
}
