/**
 * One message per line: `COMMAND payload`, the command in capitals and dashes, the
 * payload (JSON, base64 or a bare word) after one space. The line server adds and
 * strips the `\r\n` delimiter and enforces the 65,536-byte limit.
 */
import { ProtocolViolation } from './protocol-violation.ts';

export interface Message {
  command: string;
  payload: string;
}

const COMMAND = /^[A-Z][A-Z-]{0,31}$/;

export function parseLine(line: string): Message {
  const space = line.indexOf(' ');
  const command = space < 0 ? line : line.slice(0, space);
  if (!COMMAND.test(command)) throw new ProtocolViolation(`not a command: ${JSON.stringify(command.slice(0, 40))}`);
  return { command, payload: space < 0 ? '' : line.slice(space + 1) };
}

export function formatLine(command: string, payload = ''): string {
  return payload === '' ? command : `${command} ${payload}`;
}
