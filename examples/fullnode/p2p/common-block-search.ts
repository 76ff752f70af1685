/**
 * The n-ary search for the best common block (sync-v2 asks for up to 10 heights per
 * round trip). Both chains agree up to some height and differ above it, so the heights
 * that match form a prefix of any ascending probe; each round narrows the range
 * `(lo, hi]` to between the last match and the first mismatch, a tenth of its size.
 * Pure functions: the protocol does the asking.
 */

export const SEARCH_FANOUT = 10;

/** Up to `fanout` heights in `(lo, hi]`, ascending, evenly spread, always ending at `hi`. */
export function probeHeights(lo: number, hi: number, fanout = SEARCH_FANOUT): number[] {
  if (hi <= lo) return [];
  const span = hi - lo;
  if (span <= fanout) return Array.from({ length: span }, (_, i) => lo + 1 + i);
  const heights: number[] = [];
  for (let i = 1; i <= fanout; i++) {
    const height = lo + Math.round((span * i) / fanout);
    if (height !== heights[heights.length - 1]) heights.push(height);
  }
  return heights;
}

/**
 * The range left after a probe: `lo` is known common, `hi` the highest height that may
 * still be. `matches[i]` says whether both chains have the same block at `heights[i]`.
 */
export function narrowRange(lo: number, heights: readonly number[], matches: readonly boolean[]): { lo: number; hi: number } {
  const firstMismatch = matches.indexOf(false);
  if (firstMismatch < 0) {
    const top = heights[heights.length - 1] ?? lo;
    return { lo: top, hi: top };
  }
  return { lo: firstMismatch > 0 ? heights[firstMismatch - 1] : lo, hi: heights[firstMismatch] - 1 };
}
