// Directed rounding against exact rational arithmetic (BigInt): each helper returns the smallest
// float >= the exact result (largest <= for the Down variants), and exact results unchanged.
import { describe, expect, it } from 'vitest';
import { addUp, divUp, mulUp, nextDown, nextUp, rssUp, sqrtDown, sqrtUp } from '../src/linalg/rounding.js';
import { seededRandom } from '../src/util/random.js';
import { add, cmp, exact, mul } from './helpers/rational.js';

describe('directed rounding vs BigInt', () => {
  const rnd = seededRandom(41);
  const sample = () => (rnd() + 0.01) * 2 ** Math.floor(rnd() * 40 - 20);

  it('mulUp, addUp, divUp: the smallest float >= the exact result', () => {
    for (let k = 0; k < 3000; k++) {
      const [a, b] = [sample(), sample()];
      const [A, B] = [exact(a), exact(b)];
      const p = mulUp(a, b);
      expect(cmp(exact(p), mul(A, B))).toBeGreaterThanOrEqual(0);
      expect(cmp(exact(nextDown(p)), mul(A, B))).toBeLessThan(0);
      const s = addUp(a, -b);
      const S = add(A, { m: -B.m, e: B.e });
      expect(cmp(exact(s), S)).toBeGreaterThanOrEqual(0);
      expect(cmp(exact(nextDown(s)), S)).toBeLessThan(0);
      const q = divUp(a, b); // q >= a/b  <=>  q*b >= a (b > 0)
      expect(cmp(mul(exact(q), B), A)).toBeGreaterThanOrEqual(0);
      expect(cmp(mul(exact(nextDown(q)), B), A)).toBeLessThan(0);
    }
  });

  it('sqrtUp / sqrtDown bracket the exact root tightly', () => {
    for (let k = 0; k < 3000; k++) {
      const x = sample();
      const X = exact(x);
      const [u, d] = [sqrtUp(x), sqrtDown(x)];
      expect(cmp(mul(exact(u), exact(u)), X)).toBeGreaterThanOrEqual(0);
      expect(cmp(mul(exact(nextDown(u)), exact(nextDown(u))), X)).toBeLessThan(0);
      expect(cmp(mul(exact(d), exact(d)), X)).toBeLessThanOrEqual(0);
      expect(cmp(mul(exact(nextUp(d)), exact(nextUp(d))), X)).toBeGreaterThan(0);
    }
  });

  it('exact results stay exact; extreme magnitudes still round up', () => {
    expect(mulUp(2.5, 1)).toBe(2.5);
    expect(sqrtUp(16)).toBe(4);
    expect(divUp(1, 8)).toBe(0.125);
    expect(rssUp([3, 4])).toBe(5);
    expect(sqrtUp(2)).toBe(Math.SQRT2); // Math.SQRT2 is above sqrt 2 ...
    expect(sqrtDown(2)).toBe(nextDown(Math.SQRT2)); // ... and the float below it under
    expect(mulUp(2 ** -1000, 2 ** -100)).toBe(Number.MIN_VALUE); // underflow: still >= the exact product
    // past the range of exact error terms: one float up (>= the correctly rounded product)
    expect(mulUp(2 ** 1000, 1.5)).toBe(nextUp(1.5 * 2 ** 1000));
  });
});

describe('nextUp / nextDown', () => {
  // reference: one step of the 64-bit pattern, in BigInt
  const step = (x: number, up: boolean) => {
    if (Number.isNaN(x) || x === (up ? Infinity : -Infinity)) return x;
    if (x === 0) return up ? Number.MIN_VALUE : -Number.MIN_VALUE;
    const v = new BigInt64Array(Float64Array.of(x).buffer);
    v[0] += (x > 0) === up ? 1n : -1n;
    return new Float64Array(v.buffer)[0];
  };
  it('equal the bit-pattern step across carries, borrows, signs, subnormals and infinities', () => {
    const carry = new Float64Array(new BigInt64Array([0x3ff00000ffffffffn, 0x3ff0000100000000n, -0x400fffff00000000n]).buffer);
    const xs = [1, -1, 0.1, -0.1, 2 ** -1074, -(2 ** -1074), 2 ** -1022, -(2 ** -1022), Number.MAX_VALUE, -Number.MAX_VALUE, -Infinity, Infinity, NaN, ...carry, -carry[0], -carry[1]];
    const rnd = seededRandom(5);
    for (let k = 0; k < 2000; k++) xs.push((rnd() - 0.5) * 2 ** Math.floor(rnd() * 200 - 100));
    for (const x of xs) {
      expect(Object.is(nextUp(x), step(x, true))).toBe(true);
      expect(Object.is(nextDown(x), step(x, false))).toBe(true);
      if (Number.isFinite(x) && x !== Number.MAX_VALUE) expect(nextUp(x)).toBeGreaterThan(x);
    }
  });
});
