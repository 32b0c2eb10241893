// Reproducible pseudo-random draws for outcomes and faults, so a seeded run repeats exactly.
// Not cryptographic.

/** Uniform draws in [0, 1) derived from `key`: FNV-1a hashes the key into the state of a mulberry32 stream. */
export function drawsFor(key: string): () => number {
  let state = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) state = Math.imul(state ^ key.charCodeAt(i), 0x01000193);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
