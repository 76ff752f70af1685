/**
 * Load conditions: the machine states a load suite measures its cases under. Blocking
 * calls that are fast only when a core sits idle for each spinning thread are slow on
 * a busy node, so every goal about them is judged under load as well as on a calm
 * machine. Each condition's cases run in a child process of their own (see
 * condition-runner.ts), which is what lets `taskset` pin a whole node with its agents.
 */

export type ConditionKey = 'calm' | 'pinned' | 'neighbour' | 'crowd';

export interface Condition {
  key: ConditionKey;
  /** The label, e.g. `(i)`. */
  label: string;
  /** One line for headings. */
  title: string;
  /** CPU list for `taskset -c` (the measuring child and everything it starts), if pinned. */
  pinCpus?: string;
  /** Run a CPU-bound neighbour process (`for(;;){}`) for the whole condition. */
  neighbour: boolean;
  /** Copies of each contender calling at once (1: a single caller). */
  callers: number;
}

export const CONDITIONS: Record<ConditionKey, Condition> = {
  calm: { key: 'calm', label: '(iv)', title: 'calm machine (nothing started beside the cases)', neighbour: false, callers: 1 },
  pinned: { key: 'pinned', label: '(i)', title: 'node and agents pinned to one core (`taskset -c 0`)', pinCpus: '0', neighbour: false, callers: 1 },
  neighbour: {
    key: 'neighbour',
    label: '(ii)',
    title: 'two cores with a CPU-bound neighbour process (`for(;;){}`) running the whole time',
    neighbour: true,
    callers: 1,
  },
  crowd: { key: 'crowd', label: '(iii)', title: '8 callers of each contender making blocking bursts at once', neighbour: false, callers: 8 },
};

/** What the child process gets: the condition and the gap calibration done before it. */
export interface ConditionContext {
  condition: Condition;
  /** Iterations of `cpuWork` per µs, measured on the calm parent before any load started. */
  workPerUs: number;
}

/** Child → parent facts about the condition as the child saw it. */
export interface ConditionFacts {
  /** `os.availableParallelism()` in the child: 1 when the pin took. */
  cpusSeen: number;
}
