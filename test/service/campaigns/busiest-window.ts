// The most start times any window [t, t + windowMs) holds: how the limiter and pipeline tests check the cap.

export function maxInAnyWindow(times: readonly number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let left = 0;
  for (let right = 0; right < sorted.length; right++) {
    while ((sorted[right] as number) - (sorted[left] as number) >= windowMs) left++;
    max = Math.max(max, right - left + 1);
  }
  return max;
}
