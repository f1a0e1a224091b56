// The bound chain power <= spectral <= toeplitz <= frobenius, checked on each method's OWN certified
// value. The engine reports the min over the chain (a looser method's smaller value also certifies a
// tighter one), so a chain check on reported values is true by construction; details.ownValue keeps
// what each method computed. Each own value may exceed the next looser one only by its stated slack:
//  - spectral: its per-frequency certificate is within (1+tol)^2 of the true grid maximum, and on the
//    sup route it is multiplied by its grid factor, which the paper bound's triangle cap may avoid
//    (a one-row block: exact at the cap) -- so spectral <= toeplitz * factor * (1+tol)^2;
//  - toeplitz: on a conv, the paper bound <= frobenius up to rounding; on a dense layer toeplitz is the
//    certified spectral norm (same tolerance as spectral) and frobenius is ||W||_F;
//  - power: a float32 measurement ||Av||/||v||, so a lower estimate up to float32 rounding.
import type { MethodName, MethodResult } from '../../src/layer/types.js';

/** Relative rounding between certified bounds that coincide mathematically but are computed by different sums. */
export const ROUNDING = 1e-9;
/** float32 rounding of power's measured ||Av|| / ||v|| (onnxruntime runs the layer in float32). */
export const POWER_SLACK = 1e-6;

/** A method's own certified value: details.ownValue when the engine took a min, else its value. */
export function ownValue(r: Pick<MethodResult, 'value' | 'details'> | undefined | null): number | null {
  if (!r) return null;
  const own = r.details.ownValue;
  return typeof own === 'number' ? own : r.value;
}

export interface ChainInput {
  kind: 'conv' | 'dense';
  values: Partial<Record<MethodName, number | null>>;
  /** The spectral certificate's --tolerance (the engine clamps it to >= 1e-9). */
  tolerance: number;
  /** spectral's grid correction factor (details.factor; 1 on the torus route and for dense layers). */
  spectralFactor: number;
}

/** Every broken link of the chain, as "lo <= hi fails: a > b" strings; [] when it holds. */
export function chainViolations(c: ChainInput): string[] {
  const tol = Math.max(c.tolerance, 1e-9);
  const certSlack = (1 + tol) ** 2 * (1 + ROUNDING);
  const { power, spectral, toeplitz, frobenius } = c.values;
  const links: [string, number | null | undefined, number | null | undefined, number][] = [
    ['power <= spectral', power, spectral, 1 + POWER_SLACK],
    ['power <= toeplitz', power, toeplitz, 1 + POWER_SLACK],
    ['power <= frobenius', power, frobenius, 1 + POWER_SLACK],
    ['spectral <= toeplitz', spectral, toeplitz, c.kind === 'dense' ? 1 + ROUNDING : certSlack * Math.max(1, c.spectralFactor)],
    ['toeplitz <= frobenius', toeplitz, frobenius, c.kind === 'dense' ? certSlack : 1 + ROUNDING],
  ];
  const out: string[] = [];
  for (const [what, lo, hi, slack] of links) {
    if (lo === null || lo === undefined || hi === null || hi === undefined) continue;
    if (!(lo <= hi * slack)) out.push(`${what} fails: ${lo} > ${hi}`);
  }
  return out;
}
