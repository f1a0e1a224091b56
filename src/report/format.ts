// Text formatting shared by the table and markdown renderers (never by the JSON one:
// JSON carries full-precision numbers).

export const SIGNIFICANT_DIGITS = 4;
/** Shown for a number that is absent (method not run, unsupported layer, null with a note). */
export const MISSING = '—';

/**
 * A number with 4 significant digits. Trailing zeros are kept so a column of values
 * right-aligns on the decimal point; exponent form (`1.235e4`) outside [1e-3, 1e4).
 */
export function formatNumber(x: number | null | undefined, digits = SIGNIFICANT_DIGITS): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return MISSING;
  if (x === 0) return '0';
  const abs = Math.abs(x);
  // 9999.5 would round up to 1.000e4 in toPrecision's exponent form: let toExponential handle it.
  if (abs >= 1e-3 && Number(abs.toPrecision(digits)) < 10 ** digits) return x.toPrecision(digits);
  const [mantissa, exponent] = x.toExponential(digits - 1).split('e');
  return `${mantissa}e${Number(exponent)}`;
}

/** `[64, 3, 3, 3]` -> `64x3x3x3`; null -> `?`. */
export function formatShape(shape: readonly (number | null)[] | null | undefined): string {
  if (!shape || shape.length === 0) return '?';
  return shape.map((d) => (d === null || d < 0 ? '?' : String(d))).join('x');
}

/** A per-axis attribute: all axes equal -> one number (`2`), otherwise `2x1`. */
export function formatAxes(values: readonly number[] | null): string {
  if (!values || values.length === 0) return MISSING;
  return values.every((v) => v === values[0]) ? String(values[0]) : values.join('x');
}

/** stride/dilation/group of a conv as `s/d/g`, e.g. `2/1/1`; `—` for dense layers. */
export function formatStrideDilationGroup(strides: number[] | null, dilations: number[] | null, group: number | null): string {
  if (!strides && !dilations && group === null) return MISSING;
  return `${formatAxes(strides)}/${formatAxes(dilations)}/${group ?? MISSING}`;
}

/** Milliseconds for humans: `850 ms`, `1.23 s`, `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toPrecision(3)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms - minutes * 60_000) / 1000)} s`;
}

/** The reports' one line on an assumed input size, or null when the size was given or declared. */
export function assumedInputNote(report: { settings: { inputShape: number[] | null; inputShapeSource: string } }): string | null {
  if (report.settings.inputShapeSource !== 'assumed') return null;
  return `input size assumed (${formatShape(report.settings.inputShape)}): certified bounds hold for every input size; power ran at the assumed size (pass --input-shape for size-specific bounds)`;
}

/** How the network bound was obtained, for the reports: the rule and, when it beat the walk, the plain walk's value. */
export function networkMethodNote(network: { method: string; bound: number | null; graphBound: number | null; blocks: unknown[] }): string {
  if (network.method === 'graph' || network.bound === null) return 'graph walk';
  const plain = network.graphBound === null ? 'none' : formatNumber(network.graphBound);
  return `${network.method}, ${network.blocks.length} block${network.blocks.length === 1 ? '' : 's'}; plain graph walk ${plain}`;
}
