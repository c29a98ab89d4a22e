/** Attempts counted under one key in the current window, and when that window ends. */
export interface AttemptCount {
  count: number;
  resetInSeconds: number;
}

/**
 * Fixed-window counters for the login throttle. add() counts before anyone checks, in one
 * atomic step, so N concurrent requests see N different counts: none can slip in between
 * a "how many so far?" and a "one more".
 */
export interface AttemptCounter {
  /** One more attempt under each key (a key's window opens at its first attempt); the counts after it. */
  add(keys: readonly string[], windowSeconds: number): Promise<AttemptCount[]>;
  /** Takes one attempt back (it turned out not to be a failure); a key whose window ended stays gone. */
  undo(key: string): Promise<void>;
  /** Forgets a key's attempts. */
  clear(key: string): Promise<void>;
}
