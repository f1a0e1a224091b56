// Directed (upward) rounding for certified numbers: every helper returns a float >= the exact
// real result of the operation on its (float) arguments. Exact results are returned unchanged
// (a product of 1 and 2.5 stays 2.5): the rounding error of +, * , / and sqrt is computed
// exactly with error-free transformations (TwoSum; Dekker's TwoProduct with Veltkamp splitting)
// and the result is moved one float up only when the exact value lies above it. Where those
// transformations could overflow or underflow, the helpers fall back to the next float up, which
// is always >= the exact value because the operations themselves are correctly rounded.

/** Unit roundoff of float64. */
export const UNIT_ROUNDOFF = 2 ** -53;

/** gamma_n = n u / (1 - n u) (Higham), with 1% to spare: the relative error bound of an n-term float64 sum or dot product. */
export const gamma = (n: number) => (1.01 * n * UNIT_ROUNDOFF) / (1 - n * UNIT_ROUNDOFF);

/** x * (1 + k ulp): rounds a computed upper bound up past the few roundings that produced it. */
export function roundUp(x: number, ulps = 4): number {
  return x * (1 + ulps * 2 * UNIT_ROUNDOFF);
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// index of the low 32 bits of a float64 (little-endian machines: 0)
const LOW = new Uint8Array(Float64Array.of(1).buffer)[7] === 0x3f ? 0 : 1;
const HIGH = 1 - LOW;

/**
 * The smallest float > x (x for +Infinity and NaN): one step of the bit pattern's magnitude, done on
 * 32-bit halves (a BigInt step allocates, and interval propagation calls this per element).
 */
export function nextUp(x: number): number {
  if (x !== x || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  f64[0] = x;
  if (x > 0) {
    if (u32[LOW] === 0xffffffff) u32[HIGH]++;
    u32[LOW]++; // wraps to 0 on the carry
  } else {
    if (u32[LOW] === 0) u32[HIGH]--;
    u32[LOW]--; // wraps to 0xffffffff on the borrow
  }
  return f64[0];
}

/** The largest float < x. */
export function nextDown(x: number): number {
  return -nextUp(-x);
}

/** Alias of nextUp: the next float above x. */
export const up = nextUp;

// Splitting (and the error terms) stay exact for magnitudes in this range.
const SAFE_HI = 2 ** 995;
const SAFE_LO = 2 ** -900;
const safe = (x: number) => x === 0 || (Math.abs(x) < SAFE_HI && Math.abs(x) > SAFE_LO);

function split(a: number): [number, number] {
  const c = 134217729 * a; // 2^27 + 1
  const hi = c - (c - a);
  return [hi, a - hi];
}

/** a*b - fl(a*b), exactly (for safe arguments and product). */
function productError(a: number, b: number, p: number): number {
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** Upper bound on a + b. */
export function addUp(a: number, b: number): number {
  const s = a + b;
  if (!Number.isFinite(s)) return s;
  const bb = s - a;
  const err = a - (s - bb) + (b - bb);
  return err > 0 ? nextUp(s) : s;
}

/** Lower bound on a + b. */
export function addDown(a: number, b: number): number {
  return -addUp(-a, -b);
}

/** Upper bound on a - b. */
export function subUp(a: number, b: number): number {
  return addUp(a, -b);
}

/** Upper bound on a * b. */
export function mulUp(a: number, b: number): number {
  const p = a * b;
  if (!Number.isFinite(p) || a === 0 || b === 0) return p;
  if (!safe(a) || !safe(b) || !safe(p)) return nextUp(p);
  return productError(a, b, p) > 0 ? nextUp(p) : p;
}

/** Sign of a - q*b, exactly (q = fl(a/b) or fl(sqrt(a)) with b = q, so a - fl(q*b) is exact by Sterbenz). */
function residualSign(a: number, q: number, b: number): number {
  const p = q * b;
  return Math.sign(a - p - productError(q, b, p));
}

/** Upper bound on a / b (b != 0). */
export function divUp(a: number, b: number): number {
  const q = a / b;
  if (!Number.isFinite(q) || a === 0) return q;
  if (!safe(a) || !safe(b) || !safe(q)) return nextUp(q);
  // a/b - q = (a - q b) / b
  return residualSign(a, q, b) * Math.sign(b) > 0 ? nextUp(q) : q;
}

/** Lower bound on a / b (b != 0). */
export function divDown(a: number, b: number): number {
  return -divUp(-a, b);
}

/** Upper bound on sqrt(x), x >= 0. */
export function sqrtUp(x: number): number {
  const s = Math.sqrt(x);
  if (!Number.isFinite(s) || x === 0) return s;
  if (!safe(x) || !safe(s)) return nextUp(s);
  return residualSign(x, s, s) > 0 ? nextUp(s) : s;
}

/** Lower bound on sqrt(x), x >= 0. */
export function sqrtDown(x: number): number {
  const s = Math.sqrt(x);
  if (!Number.isFinite(s) || x === 0) return s;
  if (!safe(x) || !safe(s)) return nextDown(s);
  return residualSign(x, s, s) < 0 ? nextDown(s) : s;
}

/** Upper bound on the sum of xs. */
export function sumUp(xs: number[]): number {
  return xs.reduce((a, b) => addUp(a, b), 0);
}

/** Upper bound on the product of xs. */
export function prodUp(xs: number[]): number {
  return xs.reduce((a, b) => mulUp(a, b), 1);
}

/** Upper bound on sqrt(sum of squares) of xs. */
export function rssUp(xs: number[]): number {
  return sqrtUp(sumUp(xs.map((x) => mulUp(x, x))));
}

/**
 * max |w_i| of a weight array, throwing a RangeError (`what` has non-finite entries) on NaN or
 * infinity, and the power of two nearest it: dividing by that scale is exact, and squares of the
 * scaled weights neither overflow nor underflow (1 for an all-zero array).
 */
export function weightScale(weight: ArrayLike<number>, what = 'weight'): { maxAbs: number; scale: number } {
  let maxAbs = 0;
  for (let i = 0; i < weight.length; i++) {
    const a = Math.abs(weight[i]);
    if (!(a <= maxAbs)) {
      // NaN fails every comparison: it must stop here, not be overwritten by a later entry
      if (!Number.isFinite(a)) throw new RangeError(`${what} has non-finite entries`);
      maxAbs = a;
    }
  }
  return { maxAbs, scale: maxAbs > 0 ? 2 ** Math.round(Math.log2(maxAbs)) : 1 };
}
