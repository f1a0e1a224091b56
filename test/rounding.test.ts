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
