// The Clock port: the domain's only source of time, so tests can drive it with a fake clock.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels the call. */
  setTimer(ms: number, fn: () => void): () => void;
}
