/**
 * Order statistics over the per-round samples. Medians and quartiles rather than means:
 * on a shared 2-core machine a round can be 3–5× off because of a neighbour, and one
 * such round must not move the reported figure.
 */

export interface Summary {
  median: number;
  /** First and third quartile: the spread of the middle half of the rounds. */
  q1: number;
  q3: number;
  min: number;
  max: number;
  /** Number of samples summarised. */
  n: number;
}

/** Quantile with linear interpolation between closest ranks (R's "type 7"). */
function quantile(sorted: readonly number[], p: number): number {
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    n: sorted.length,
  };
}
