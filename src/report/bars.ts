// Compact terminal bars (unicode eighth blocks) for reading a column of bounds at a glance.
// Presentation only: positions on a log scale, from numbers the engine computed.

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const FULL = '█';

/** Bar width in character cells. */
export const BAR_WIDTH = 10;

/** A log scale ending at the largest value and spanning at least one decade below it. */
export interface LogScale {
  max: number;
  decades: number;
}

/** The scale for a set of values (non-positive and null ones ignored); null when none is positive. */
export function logScale(values: readonly (number | null)[]): LogScale | null {
  const positive = values.filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  if (positive.length === 0) return null;
  const max = Math.max(...positive);
  const min = Math.min(...positive);
  // At least one decade, so near-equal values do not look wildly different.
  return { max, decades: Math.max(1, Math.log10(max / min)) };
}

/** Where a value sits on the scale: 1 at the max, 0 at the bottom decade; null for no/zero value. */
export function logFraction(value: number | null, scale: LogScale): number | null {
  if (value === null || !Number.isFinite(value) || value <= 0) return null;
  const f = 1 - Math.log10(scale.max / value) / scale.decades;
  return Math.min(1, Math.max(0, f));
}

/**
 * A bar of `width` cells for a fraction in [0, 1], in eighths of a cell; every value gets at least
 * one eighth so a present-but-small value never looks absent. Padded to `width` for alignment.
 */
export function renderBar(fraction: number, width = BAR_WIDTH): string {
  const eighths = Math.max(1, Math.round(Math.min(1, Math.max(0, fraction)) * width * 8));
  const bar = FULL.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
  return bar.padEnd(width, ' ');
}
