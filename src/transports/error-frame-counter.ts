/**
 * Counts ERROR frames crossing a transport, both ways: the cheapest way to know how
 * many calls failed (one comparison per frame, no promise hooks), for metrics.
 */
import { FrameKind, frameEnd, type Batch } from '../wire.ts';
import type { Transport } from './transport.ts';

function errorFrames(batch: Batch): number {
  let errors = 0;
  if (!Array.isArray(batch)) return 0;
  // A malformed batch stops the count; the connection closes on it anyway.
  for (let i = 0; i >= 0 && i < batch.length; i = frameEnd(batch, i)) if (batch[i] === FrameKind.ERROR) errors++;
  return errors;
}

/** `transport`, calling `onErrors(n)` for the ERROR frames of every batch sent or received. */
export function countingErrorFrames(transport: Transport, onErrors: (count: number) => void): Transport {
  return {
    attach(sink) {
      transport.attach({
        onBatch(batch) {
          const errors = errorFrames(batch);
          if (errors > 0) onErrors(errors);
          sink.onBatch(batch);
        },
        onClose: (error) => sink.onClose(error),
      });
    },
    send(batch) {
      transport.send(batch);
      const errors = errorFrames(batch);
      if (errors > 0) onErrors(errors);
    },
    close: () => transport.close(),
  };
}
