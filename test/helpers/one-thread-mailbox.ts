/**
 * A thread agent's forward mailbox with both ends played by this thread, for tests that
 * drive the node's `MailboxServer` in-process: `publish` writes a request as the agent's
 * caller does (body, length, flags and ordering fence, then the STATE word, then the
 * doorbell if the server is parked), `answer` reads the answer in the mailbox now.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { MailboxArea, Phase, Slot, createMailboxMemory, phaseOf, seqOf, servedForwardMailbox, stateWord } from '../../src/blocking/mailbox.ts';
import { readAnswer, writeRequest } from '../../src/blocking/mailbox-body.ts';
import type { ServedMailbox } from '../../src/blocking/server.ts';

export interface OneThreadMailbox {
  /** The node's side of the mailbox, for a `MailboxServer`. */
  forward: ServedMailbox;
  header: Int32Array;
  /** The server's end of the side channel (bodies too large for the area). */
  serverPort: MessagePort;
  /** Publishes call `seq` of `command` with `payload` (its arguments) and ordering `fence`. */
  publish(seq: number, command: string, payload: unknown, fence?: number): void;
  /** The answer in the mailbox now, with the seq of its call; throws the error answered. */
  answer(): [seq: number, value: unknown];
  /** The mailbox's phase now (`Phase`). */
  phase(): number;
  close(): void;
}

export function oneThreadMailbox(): OneThreadMailbox {
  const memory = createMailboxMemory();
  const forward = servedForwardMailbox(memory);
  const { header } = forward;
  const callerArea = new MailboxArea(memory);
  const { port1, port2 } = new MessageChannel();
  let lastCommand = '';
  return {
    forward,
    header,
    serverPort: port2,
    publish(seq, command, payload, fence = 0) {
      lastCommand = command;
      const { end, flags } = writeRequest(callerArea, port1, seq, command, payload, 1 << 20);
      header[Slot.LENGTH] = end;
      header[Slot.FLAGS] = flags;
      header[Slot.FENCE] = fence;
      Atomics.store(header, Slot.STATE, stateWord(seq, Phase.REQUEST));
      if (Atomics.load(header, Slot.SERVER_PARKED) === 1) Atomics.notify(header, Slot.STATE);
    },
    answer() {
      const seq = seqOf(Atomics.load(header, Slot.STATE));
      return [seq, readAnswer(callerArea, port1, seq, header[Slot.FLAGS]!, header[Slot.LENGTH]!, lastCommand, 'the node')];
    },
    phase: () => phaseOf(Atomics.load(header, Slot.STATE)),
    close() {
      port1.close();
      port2.close();
    },
  };
}
