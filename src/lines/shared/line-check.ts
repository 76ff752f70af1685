/**
 * Whether a line can go to the peer as sent: the one check of an outgoing line, made by
 * the agent's `sendLine` and again by the node for relayed lines (an agent can call the
 * node's reserved `send` method itself, so the node does not take the agent's word).
 * The peer frames lines as `line-receiver.ts` does: bytes up to the first delimiter.
 */
import { Buffer } from 'node:buffer';
import { MessageTooLargeError } from '../../errors.ts';
import { invalidArgument } from '../../invalid-option.ts';

/**
 * Why `line`, followed by `delimiter`, would not reach the peer as that one line of at
 * most `maxLineLength` UTF-8 bytes, or `undefined`: a `TypeError` if it holds the
 * delimiter (also one that straddles its end and the one appended: `'x\n'` with
 * `'\n\n'`), a `MessageTooLargeError` if it is too long. `sender` begins the message
 * ("sendLine got", "agent 'x' sent"). O(length), with no copy of the line: one search of
 * it, one of its last `delimiter.length - 1` units, and a byte count only for a line
 * whose length alone cannot settle it (UTF-8 takes 1 to 3 bytes per UTF-16 unit).
 */
export function lineRefusal(line: string, delimiter: string, maxLineLength: number, sender: string): Error | undefined {
  if (line.includes(delimiter) || (delimiter.length > 1 && straddles(line, delimiter))) {
    return invalidArgument(`${sender} a line that contains the delimiter; it would reach the peer as two lines`);
  }
  if (line.length * 3 > maxLineLength) {
    const bytes = line.length > maxLineLength ? line.length : Buffer.byteLength(line, 'utf8');
    if (bytes > maxLineLength) return new MessageTooLargeError('line', bytes, maxLineLength);
  }
  return undefined;
}

/** Whether a delimiter begins in the last `delimiter.length - 1` units of `line` and ends in the one appended. */
function straddles(line: string, delimiter: string): boolean {
  const tail = line.slice(-(delimiter.length - 1));
  return (tail + delimiter).indexOf(delimiter) !== tail.length;
}
