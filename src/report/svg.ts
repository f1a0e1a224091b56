// Small helpers for hand-written inline SVG/HTML: escaping, a log axis, a colour ramp.
// Presentation only (pixel positions and colours from numbers the engine computed).

/** Escape text for HTML/SVG text nodes and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type AttrValue = string | number | null | undefined;

/** `<tag a="1">children</tag>` with every attribute value escaped; null/undefined attributes dropped. */
export function el(tag: string, attrs: Record<string, AttrValue>, children: string | string[] = ''): string {
  const a = Object.entries(attrs)
    .filter((e): e is [string, string | number] => e[1] !== null && e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeHtml(typeof v === 'number' ? px(v) : v)}"`)
    .join('');
  const body = Array.isArray(children) ? children.join('') : children;
  return body === '' && SELF_CLOSING.has(tag) ? `<${tag}${a}/>` : `<${tag}${a}>${body}</${tag}>`;
}

const SELF_CLOSING = new Set(['rect', 'line', 'circle', 'path', 'polygon', 'polyline']);

/** A coordinate with at most 2 decimals: keeps the file small. */
export function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A log10 axis mapping [lo, hi] (decade-aligned) onto [0, length] pixels. */
export interface LogAxis {
  lo: number;
  hi: number;
  toPx(value: number): number;
  /** Tick values: every decade, plus 2 and 5 multiples when the axis spans few decades. */
  ticks: number[];
}

/** An axis covering every positive value given, widened to whole decades. */
export function logAxis(values: readonly (number | null)[], length: number): LogAxis {
  const positive = values.filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  const min = positive.length > 0 ? Math.min(...positive) : 1;
  const max = positive.length > 0 ? Math.max(...positive) : 10;
  let loExp = Math.floor(Math.log10(min));
  let hiExp = Math.ceil(Math.log10(max));
  if (hiExp <= loExp) hiExp = loExp + 1;
  // Keep values off the very edge so markers at the extremes stay visible.
  if (Math.log10(min) - loExp < 0.02) loExp -= 1;
  const lo = 10 ** loExp;
  const hi = 10 ** hiExp;
  const span = hiExp - loExp;
  const toPx = (value: number) => ((Math.log10(Math.min(hi, Math.max(lo, value))) - loExp) / span) * length;
  const ticks: number[] = [];
  for (let e = loExp; e <= hiExp; e++) {
    ticks.push(10 ** e);
    if (span <= 3 && e < hiExp) ticks.push(2 * 10 ** e, 5 * 10 ** e);
  }
  return { lo, hi, toPx, ticks };
}

// Viridis at 9 stops: perceptually uniform, readable in grey and by colour-blind readers.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

/** Colour for t in [0, 1] (clamped), linear between the ramp's stops. */
export function rampColor(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = hexRgb(VIRIDIS[i]);
  const b = hexRgb(VIRIDIS[i + 1]);
  return `#${a.map((c, k) => Math.round(c + (b[k] - c) * f).toString(16).padStart(2, '0')).join('')}`;
}

/** The ramp's stops, for a CSS/SVG legend gradient. */
export const RAMP_STOPS: readonly string[] = VIRIDIS;

function hexRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
