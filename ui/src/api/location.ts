import type { Passage } from './types';

/** Where a passage is in its document, as a person reads it: the backend's `location`, or for answers
 *  stored before it existed, the heading and lines. */
export function passageLocation(p: Passage): string {
  if (p.location) return p.location;
  const lines = p.line_start === p.line_end ? `line ${p.line_start}` : `lines ${p.line_start}–${p.line_end}`;
  return p.heading ? `${p.heading} (${lines})` : lines;
}
