// Reduces any conv layer record to stride-1, undilated, single-group float64 kernel blocks (kernel.ts):
// for every variant returned, ||layer||_2 <= max over its blocks of sup_w ||F_block(w)||_2.
// Derivation: docs/derivations.md#kernel-variants-groups-dilation-polyphase-stride-transposition
import type { ConvLayer } from '../model/layer.js';
import type { Kernel2D, KernelVariant } from './kernel.js';
import { gcd } from '../util/numbers.js';


/** How one spatial axis maps original taps to polyphase (phase, offset) pairs. */
interface AxisPhases {
  k: number;
  /** reduced stride and dilation (divided by their gcd) */
  s: number;
  d: number;
  /** phases reached by some tap, in increasing order */
  phases: number[];
  /** for tap h: index into `phases`, and offset t(h) */
  phaseIndex: number[];
  offset: number[];
  /** polyphase kernel length along this axis */
  length: number;
}

function axisPhases(k: number, stride: number, dilation: number): AxisPhases {
  const e = gcd(stride, dilation);
  const s = stride / e;
  const d = s === 1 ? 1 : dilation / e; // s = 1: interleaved copies, dilation dropped
  const raw = Array.from({ length: k }, (_, h) => ({ a: (d * h) % s, t: Math.floor((d * h) / s) }));
  const phases = [...new Set(raw.map((x) => x.a))].sort((x, y) => x - y);
  return {
    k,
    s,
    d,
    phases,
    phaseIndex: raw.map((x) => phases.indexOf(x.a)),
    offset: raw.map((x) => x.t),
    length: Math.floor((d * (k - 1)) / s) + 1,
  };
}

function pair(a: number[]): string {
  return a.length === 1 ? `${a[0]}` : `(${a.join(',')})`;
}

/**
 * Every valid reduction of a conv layer to stride-1 blocks, and how the layer kind was handled.
 * Throws on malformed records (the loader should never produce them).
 */
export function kernelVariants(layer: ConvLayer): { variants: KernelVariant[]; handling: string[] } {
  const nd = layer.spatialDims;
  const shape = layer.weightShape;
  if (nd !== 1 && nd !== 2) throw new Error(`${nd}-D convolution is not supported`);
  if (shape.length !== 2 + nd) throw new Error(`weight shape [${shape}] does not match ${nd} spatial dims`);
  const [co, cig] = shape;
  const kh = shape[2];
  const kw = nd === 2 ? shape[3] : 1;
  const g = layer.group || 1;
  if (co % g !== 0) throw new Error(`weight dim 0 (${co}) not divisible by group ${g}`);
  const taps = kh * kw;
  if (layer.weight.length !== co * cig * taps) throw new Error('weight length does not match its shape');
  const strides = [layer.strides[0] ?? 1, nd === 2 ? (layer.strides[1] ?? 1) : 1];
  const dilations = [layer.dilations[0] ?? 1, nd === 2 ? (layer.dilations[1] ?? 1) : 1];
  const cog = co / g;

  const handling: string[] = [];
  const transpose = layer.op === 'ConvTranspose';
  if (transpose) handling.push('ConvTranspose: bounded as the adjoint Conv with the same weights (equal norm)');
  if (nd === 1) handling.push('Conv1d: 1-D symbol (kw = 1)');
  if (layer.foldedBatchNorm) handling.push('BatchNorm folded into the kernel');
  if (g > 1) {
    handling.push(
      cig === 1
        ? `depthwise: ${g} blocks of ${cog}x1, max over blocks`
        : `groups=${g}: block-diagonal, ${g} blocks of ${cog}x${cig}, max over blocks`,
    );
  }
  if (dilations.some((d) => d > 1)) {
    handling.push(`dilation ${pair(dilations.slice(0, nd))}: interleaved copies of the undilated conv, dilation dropped`);
  }
  handling.push('toeplitz, frobenius and the spectral grid route bound the infinite (Toeplitz) operator: padding and input size do not enter');

  const w = layer.weight;
  const blockOf = (grp: number): Kernel2D => {
    const size = cog * cig * taps;
    const data = Float64Array.from(w.subarray(grp * size, (grp + 1) * size));
    return { data, cout: cog, cin: cig, kh, kw };
  };
  const base = Array.from({ length: g }, (_, grp) => blockOf(grp));
  const variants: KernelVariant[] = [{ label: 'stride-1', blocks: base }];

  const strided = strides.some((s) => s > 1);
  if (strided) handling.push(`stride ${pair(strides.slice(0, nd))}: stride-1 bound (the strided conv is a row subset)`);
  const ax = [axisPhases(kh, strides[0], dilations[0]), axisPhases(kw, strides[1], dilations[1])];
  const trivial = ax.every((a) => a.phases.length === 1 && a.length === a.k);
  // A large dilation with a stride makes the polyphase kernel long (about d*k/s taps per axis): past a
  // size limit keep only the stride-1 variant, which is always valid, rather than allocate gigabytes.
  const polyphaseElements = cog * cig * ax[0].phases.length * ax[1].phases.length * ax[0].length * ax[1].length * g;
  const polyphaseTooBig = polyphaseElements > Math.max(16 * co * cig * taps, 1 << 22);
  if (strided && !trivial && polyphaseTooBig) {
    handling.push(`polyphase form skipped: its kernel would hold ${polyphaseElements} values (stride-1 bound used)`);
  }
  if (strided && !trivial && !polyphaseTooBig) {
    const [A, B] = ax;
    const p1 = A.phases.length;
    const p2 = B.phases.length;
    const l1 = A.length;
    const l2 = B.length;
    const cinP = cig * p1 * p2;
    const blocks = base.map((b): Kernel2D => {
      const data = new Float64Array(cog * cinP * l1 * l2);
      for (let i = 0; i < cog; i++) {
        for (let j = 0; j < cig; j++) {
          for (let h = 0; h < kh; h++) {
            for (let v = 0; v < kw; v++) {
              const jp = (j * p1 + A.phaseIndex[h]) * p2 + B.phaseIndex[v];
              data[((i * cinP + jp) * l1 + A.offset[h]) * l2 + B.offset[v]] = b.data[((i * cig + j) * kh + h) * kw + v];
            }
          }
        }
      }
      return { data, cout: cog, cin: cinP, kh: l1, kw: l2 };
    });
    const used = ax.slice(0, nd);
    const dil = used.some((a) => a.d > 1) ? ` d=${pair(used.map((a) => a.d))}` : '';
    const label = `polyphase s=${pair(used.map((a) => a.s))}${dil}`;
    variants.push({ label, blocks, exact: true });
    handling.push(
      `${label}: stride-1 conv on ${p1 * p2} phase(s) per input channel, kernel ${nd === 2 ? `${l1}x${l2}` : l1}; smaller bound used`,
    );
  } else if (!strided || trivial) {
    // no stride left after the gcd reduction, or 1-tap strided axes: the kernel is the exact operator
    variants[0].exact = true;
  }
  if (strided && trivial) {
    handling.push('polyphase form coincides with the stride-1 kernel (1-tap axes, or stride divides the dilation)');
  }
  return { variants, handling };
}
