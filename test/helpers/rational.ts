// Exact rational arithmetic on floats (m * 2^e with m a BigInt), for checking directed rounding.
export type Rational = { m: bigint; e: number };

/** A finite float as an exact rational m * 2^e (m a BigInt). */
export function exact(x: number): Rational {
  if (x === 0) return { m: 0n, e: 0 };
  const bits = new BigInt64Array(new Float64Array([x]).buffer)[0];
  const be = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const m = be === 0 ? frac : frac | (1n << 52n);
  return { m: x < 0 ? -m : m, e: (be === 0 ? 1 : be) - 1075 };
}
export const mul = (a: Rational, b: Rational) => ({ m: a.m * b.m, e: a.e + b.e });
export const add = (a: Rational, b: Rational) => {
  const e = Math.min(a.e, b.e);
  return { m: (a.m << BigInt(a.e - e)) + (b.m << BigInt(b.e - e)), e };
};
/** Sign of a - b. */
export function cmp(a: Rational, b: Rational): number {
  const d = add(a, { m: -b.m, e: b.e });
  return d.m > 0n ? 1 : d.m < 0n ? -1 : 0;
}
