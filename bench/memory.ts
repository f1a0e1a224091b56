// Peak resident memory of this process. On Linux the kernel tracks the high-water mark (VmHWM) and lets
// a process reset it (clear_refs 5), which gives a clean per-run peak; elsewhere only the lifetime
// maximum (resourceUsage().maxRSS) exists. Sampling memoryUsage().rss is a cross-check, but timers only
// fire when the engine yields (between layers), so it can miss a peak inside a layer.
import fs from 'node:fs';

const MB = 1024 * 1024;

/** Peaks seen before each reset: a reset also clears getrusage's maxRSS, so the process peak is kept here. */
let peakBeforeResets = 0;

/** Resets the kernel's peak-RSS counter; false where unsupported (non-Linux, restricted /proc). */
export function resetPeakRss(): boolean {
  peakBeforeResets = Math.max(peakBeforeResets, peakRssMB());
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak RSS since the last reset (Linux) or since process start, in MB. */
export function peakRssMB(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // fall through
  }
  return process.resourceUsage().maxRSS / 1024; // kilobytes
}

/** Peak RSS over the whole life of the process, across resets, MB. */
export function processPeakRssMB(): number {
  return Math.max(peakBeforeResets, peakRssMB());
}

/** Frees what can be freed before a measurement (needs node --expose-gc; a no-op otherwise). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Samples process.memoryUsage().rss every `intervalMs` until stop(), which returns the max in MB. */
export function sampleRss(intervalMs = 20): { stop(): number } {
  let max = process.memoryUsage().rss;
  const timer = setInterval(() => {
    max = Math.max(max, process.memoryUsage().rss);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(max, process.memoryUsage().rss) / MB;
    },
  };
}

/**
 * Measures one async step: wall time, peak RSS (null where the peak cannot be reset, because a
 * lifetime maximum would credit this step with an earlier one's peak) and the sampled RSS maximum.
 */
export async function measure<T>(step: () => Promise<T>): Promise<{ value: T; wallMs: number; peakRssMB: number | null; sampledPeakRssMB: number }> {
  collectGarbage();
  const resettable = resetPeakRss();
  const sampler = sampleRss();
  const t0 = performance.now();
  const value = await step();
  const wallMs = performance.now() - t0;
  const sampledPeakRssMB = sampler.stop();
  return { value, wallMs, peakRssMB: resettable ? peakRssMB() : null, sampledPeakRssMB };
}
