// WebAssembly SIMD versions of the JS loops the spectral bound spends most of its time in: the complex
// Cholesky test (cholesky-complex.ts), the lag-matrix Gram former (layer/spectral.ts) and the Hermitian
// product from a lower triangle (linalg/gram.ts); and power's start, the symbol's M^H M product
// (layer/power-start.ts).
// A complex number is one f64x2 (re, im), so a + b conj(c) costs two vector products where JS needs
// four scalar ones, and no access is bounds-checked (so kernelsFor checks every array's length). Same IEEE float64 operations, no fused multiply-adds:
// the Gram former and the Hermitian product give bit-identical results, the Cholesky the same sums
// grouped otherwise (which the rounding margin allows: docs/derivations.md#webassembly-kernels), the
// symbol product (a start vector only) its row sums grouped by lane. The arrays must live in the
// kernels' own memory (withKernelArrays); anywhere else the callers keep their JS loops.

import { encodeModule, type FuncDef } from './encode.js';

/** Swaps the two f64 lanes of the operand pushed twice: (x, y) -> (y, x). */
const SWAP = 'i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7';
/** acc += x * y, lane by lane. */
const mac = (acc: string, x: string, y: string) => `local.get $${acc} local.get $${x} local.get $${y} f64x2.mul f64x2.add local.set $${acc}\n`;
/** With P = sum a*b and Q = sum a*swap(b) lane by lane: Re sum a conj(b) = P0 + P1, Im = Q1 - Q0. */
const re = (p: string) => `local.get $${p} f64x2.extract_lane 0 local.get $${p} f64x2.extract_lane 1 f64.add`;
const im = (q: string) => `local.get $${q} f64x2.extract_lane 1 local.get $${q} f64x2.extract_lane 0 f64.sub`;
const zero = (names: string[]) => `f64.const 0 f64x2.splat ${names.map((v, i) => `local.${i + 1 < names.length ? 'tee' : 'set'} $${v}`).join(' ')}\n`;
/** While $ptrs[0] < $end: body, then every pointer of ptrs steps 16 bytes (one f64x2). */
const sweep = (label: string, ptrs: string[], end: string, body: string) => `block $${label}Done loop $${label}
  local.get $${ptrs[0]} local.get $${end} i32.ge_u br_if $${label}Done
  ${body}
  ${ptrs.map((p) => `local.get $${p} i32.const 16 i32.add local.set $${p}`).join('\n')}
  br $${label}
end end`;
/** Zeroes the bytes from $p up to $end (advances $p). */
const zeroBytes = (p: string, end: string) => sweep('zero', [p], end, `local.get $${p} f64.const 0 f64x2.splat v128.store`);
const i32 = (names: string[]): [string, 'i32'][] => names.map((v) => [`$${v}`, 'i32']);
const f64 = (names: string[]): [string, 'f64'][] => names.map((v) => [`$${v}`, 'f64']);
const v128 = (names: string[]): [string, 'v128'][] => names.map((v) => [`$${v}`, 'v128']);

/** L[row][j] (row at byte offset ro, j below the diagonal, rows <= j of L done) of t I - G = L L^H. */
const entry: FuncDef = {
  name: 'entry',
  params: [...i32(['g', 'l', 'rs', 'ro', 'j'])],
  results: [],
  locals: [...i32(['pa', 'pb', 'jo', 'end']), ...f64(['d']), ...v128(['P', 'Q', 'A', 'B'])],
  exported: false,
  body: `
    local.get $l local.get $ro i32.add local.tee $pa
    local.get $j i32.const 4 i32.shl local.tee $jo i32.add local.set $end
    local.get $l local.get $j local.get $rs i32.mul i32.add local.tee $pb local.get $jo i32.add f64.load local.set $d
    ${zero(['P', 'Q'])}
    ${sweep('dot', ['pa', 'pb'], 'end', `
      local.get $pa v128.load local.set $A
      local.get $pb v128.load local.set $B
      ${mac('P', 'A', 'B')}
      local.get $Q local.get $A local.get $B local.get $B ${SWAP} f64x2.mul f64x2.add local.set $Q`)}
    local.get $g local.get $ro i32.add local.get $jo i32.add local.set $pb
    local.get $end local.get $pb f64.load f64.neg ${re('P')} f64.sub local.get $d f64.div f64.store
    local.get $end local.get $pb f64.load offset=8 f64.neg ${im('Q')} f64.sub local.get $d f64.div f64.store offset=8`,
};

/** The pivot of row i (its entries left of the diagonal done): stores L_ii and returns 1 if positive, else 0. */
const diagonal: FuncDef = {
  name: 'diagonal',
  params: [...i32(['g', 'l', 'rs', 'i']), ...f64(['t'])],
  results: ['i32'],
  locals: [...i32(['ro', 'io', 'pa', 'end']), ...f64(['d']), ...v128(['P', 'A'])],
  exported: false,
  body: `
    local.get $i local.get $rs i32.mul local.set $ro
    local.get $l local.get $ro i32.add local.tee $pa
    local.get $i i32.const 4 i32.shl local.tee $io i32.add local.set $end
    ${zero(['P'])}
    ${sweep('dot', ['pa'], 'end', `local.get $pa v128.load local.set $A ${mac('P', 'A', 'A')}`)}
    local.get $t local.get $g local.get $ro i32.add local.get $io i32.add f64.load f64.sub ${re('P')} f64.sub local.set $d
    local.get $d f64.const 0 f64.gt i32.eqz if i32.const 0 return end
    local.get $end local.get $d f64.sqrt f64.store
    local.get $end f64.const 0 f64.store offset=8
    i32.const 1`,
};

/** Subtracted from the pre-sum on the stack: its product with conj(c) (c in $cr, $ci), real or imaginary part. */
const minusTimesConj = (xr: string, xi: string, part: 're' | 'im') =>
  part === 're'
    ? `local.get $${xr} local.get $cr f64.mul local.get $${xi} local.get $ci f64.mul f64.add f64.sub`
    : `local.get $${xi} local.get $cr f64.mul local.get $${xr} local.get $ci f64.mul f64.sub f64.sub`;

/**
 * The Cholesky test of t I - G (G Hermitian, n x n interleaved, lower triangle read) into l: returns -1 if
 * every pivot is positive, else the first row whose pivot is not (rows before it factored). The scheme of
 * choleskyTestHermitian: rows and columns in pairs, a 2 x 2 block of entries per sweep over p.
 */
const cholesky: FuncDef = {
  name: 'cholesky',
  params: [...i32(['g', 'l', 'n']), ...f64(['t'])],
  results: ['i32'],
  locals: [
    ...i32(['rs', 'i', 'j', 'ri', 'rk', 'rj', 'jo', 'pa', 'pe', 'pb', 'pc', 'end', 'addr']),
    ...f64(['d', 'dk', 'lr', 'li', 'mr', 'mi', 'ur', 'ui', 'wr', 'wi', 'cr', 'ci']),
    ...v128(['S1', 'S2', 'U1', 'U2', 'V1', 'V2', 'W1', 'W2', 'A', 'E', 'B', 'C', 'Bs', 'Cs']),
  ],
  exported: true,
  body: `
    local.get $n i32.const 4 i32.shl local.set $rs
    i32.const 0 local.set $i
    block $pairsDone loop $pairs
      local.get $i i32.const 1 i32.add local.get $n i32.ge_s br_if $pairsDone
      local.get $i local.get $rs i32.mul local.tee $ri local.get $rs i32.add local.set $rk
      ;; i and j are even, so the column pairs end exactly at j = i
      i32.const 0 local.set $j
      block $colsDone loop $cols
        local.get $j i32.const 1 i32.add local.get $i i32.ge_s br_if $colsDone
        local.get $j local.get $rs i32.mul local.set $rj
        local.get $j i32.const 4 i32.shl local.set $jo
        ${zero(['S1', 'S2', 'U1', 'U2', 'V1', 'V2', 'W1', 'W2'])}
        local.get $l local.get $ri i32.add local.tee $pa local.get $jo i32.add local.set $end
        local.get $l local.get $rk i32.add local.set $pe
        local.get $l local.get $rj i32.add local.tee $pb local.get $rs i32.add local.set $pc
        ${sweep('dot', ['pa', 'pe', 'pb', 'pc'], 'end', `
            local.get $pa v128.load local.set $A
            local.get $pe v128.load local.set $E
            local.get $pb v128.load local.tee $B local.get $B ${SWAP} local.set $Bs
            local.get $pc v128.load local.tee $C local.get $C ${SWAP} local.set $Cs
            ${mac('S1', 'A', 'B')}${mac('S2', 'A', 'Bs')}${mac('U1', 'A', 'C')}${mac('U2', 'A', 'Cs')}
            ${mac('V1', 'E', 'B')}${mac('V2', 'E', 'Bs')}${mac('W1', 'E', 'C')}${mac('W2', 'E', 'Cs')}`)}
        local.get $l local.get $rj i32.add local.get $jo i32.add f64.load local.set $d
        ;; row i: entry j done, entry j+1 before its p = j term
        local.get $g local.get $ri i32.add local.get $jo i32.add local.set $addr
        local.get $addr f64.load f64.neg ${re('S1')} f64.sub local.get $d f64.div local.set $lr
        local.get $addr f64.load offset=8 f64.neg ${im('S2')} f64.sub local.get $d f64.div local.set $li
        local.get $addr f64.load offset=16 f64.neg ${re('U1')} f64.sub local.set $ur
        local.get $addr f64.load offset=24 f64.neg ${im('U2')} f64.sub local.set $ui
        ;; row i + 1 likewise
        local.get $g local.get $rk i32.add local.get $jo i32.add local.set $addr
        local.get $addr f64.load f64.neg ${re('V1')} f64.sub local.get $d f64.div local.set $mr
        local.get $addr f64.load offset=8 f64.neg ${im('V2')} f64.sub local.get $d f64.div local.set $mi
        local.get $addr f64.load offset=16 f64.neg ${re('W1')} f64.sub local.set $wr
        local.get $addr f64.load offset=24 f64.neg ${im('W2')} f64.sub local.set $wi
        ;; c = L[j+1][j], then the p = j terms of column j + 1 and its divisor L[j+1][j+1]
        local.get $l local.get $rj i32.add local.get $rs i32.add local.get $jo i32.add local.tee $addr f64.load local.set $cr
        local.get $addr f64.load offset=8 local.set $ci
        local.get $addr f64.load offset=16 local.set $dk
        local.get $ur ${minusTimesConj('lr', 'li', 're')} local.set $ur
        local.get $ui ${minusTimesConj('lr', 'li', 'im')} local.set $ui
        local.get $wr ${minusTimesConj('mr', 'mi', 're')} local.set $wr
        local.get $wi ${minusTimesConj('mr', 'mi', 'im')} local.set $wi
        local.get $l local.get $ri i32.add local.get $jo i32.add local.set $addr
        local.get $addr local.get $lr f64.store
        local.get $addr local.get $li f64.store offset=8
        local.get $addr local.get $ur local.get $dk f64.div f64.store offset=16
        local.get $addr local.get $ui local.get $dk f64.div f64.store offset=24
        local.get $l local.get $rk i32.add local.get $jo i32.add local.set $addr
        local.get $addr local.get $mr f64.store
        local.get $addr local.get $mi f64.store offset=8
        local.get $addr local.get $wr local.get $dk f64.div f64.store offset=16
        local.get $addr local.get $wi local.get $dk f64.div f64.store offset=24
        local.get $j i32.const 2 i32.add local.set $j
        br $cols
      end end
      local.get $g local.get $l local.get $rs local.get $i local.get $t call $diagonal
      i32.eqz if local.get $i return end
      local.get $g local.get $l local.get $rs local.get $rk local.get $i call $entry
      local.get $g local.get $l local.get $rs local.get $i i32.const 1 i32.add local.tee $j local.get $t call $diagonal
      i32.eqz if local.get $j return end
      local.get $i i32.const 2 i32.add local.set $i
      br $pairs
    end end
    ;; odd n: the last row alone
    local.get $i local.get $n i32.lt_s if
      local.get $i local.get $rs i32.mul local.set $ri
      i32.const 0 local.set $j
      block $tailDone loop $tail
        local.get $j local.get $i i32.ge_s br_if $tailDone
        local.get $g local.get $l local.get $rs local.get $ri local.get $j call $entry
        local.get $j i32.const 1 i32.add local.set $j
        br $tail
      end end
      local.get $g local.get $l local.get $rs local.get $i local.get $t call $diagonal
      i32.eqz if local.get $i return end
    end
    i32.const -1`,
};

/**
 * The lower triangle of G(w) = C_0 + sum_h (cos_h P_h - i sin_h M_h) from the packed lag matrices:
 * c0 (one real per entry j <= i, row by row), parts ((P_h, M_h) of entry e at 2 (e half + h)) and
 * cs = (cos_h, -sin_h) interleaved; the same sums in the same order as the JS former.
 */
const lagGram: FuncDef = {
  name: 'lagGram',
  params: [...i32(['c0', 'parts', 'cs', 'n', 'half', 'g'])],
  results: [],
  locals: [...i32(['rs', 'hb', 'i', 'j', 'ro', 'pc', 'end']), ...v128(['acc'])],
  exported: true,
  body: `
    local.get $n i32.const 4 i32.shl local.set $rs
    local.get $half i32.const 4 i32.shl local.set $hb
    i32.const 0 local.set $i
    block $rowsDone loop $rows
      local.get $i local.get $n i32.ge_s br_if $rowsDone
      local.get $g local.get $i local.get $rs i32.mul i32.add local.set $ro
      i32.const 0 local.set $j
      block $colsDone loop $cols
        local.get $j local.get $i i32.gt_s br_if $colsDone
        local.get $c0 f64.load f64x2.splat f64.const 0 f64x2.replace_lane 1 local.set $acc
        local.get $cs local.tee $pc local.get $hb i32.add local.set $end
        ${sweep('lags', ['pc', 'parts'], 'end', `
            local.get $acc local.get $pc v128.load local.get $parts v128.load f64x2.mul f64x2.add local.set $acc`)}
        local.get $ro local.get $j i32.const 4 i32.shl i32.add local.get $acc v128.store
        local.get $c0 i32.const 8 i32.add local.set $c0
        local.get $j i32.const 1 i32.add local.set $j
        br $cols
      end end
      local.get $i i32.const 1 i32.add local.set $i
      br $rows
    end end`,
};

/**
 * y = G x for a Hermitian G from its lower triangle (x, y complex n-vectors): row i gives G_ij x_j to y_i
 * and conj(G_ij) x_i to y_j (j < i). The sums and their order of hermitianLowerMatVec (linalg/gram.ts).
 */
const lowerMatVec: FuncDef = {
  name: 'lowerMatVec',
  params: [...i32(['g', 'x', 'y', 'n'])],
  results: [],
  locals: [...i32(['rs', 'i', 'pg', 'px', 'py', 'end']), ...v128(['S', 'XI', 'XA', 'XB', 'G', 'X', 'P', 'Q', 'PM', 'MP'])],
  exported: true,
  body: `
    local.get $n i32.const 4 i32.shl local.set $rs
    f64.const 1 f64x2.splat f64.const -1 f64x2.replace_lane 1 local.set $PM
    f64.const -1 f64x2.splat f64.const 1 f64x2.replace_lane 1 local.set $MP
    local.get $y local.tee $py local.get $rs i32.add local.set $end
    ${zeroBytes('py', 'end')}
    i32.const 0 local.set $i
    block $rowsDone loop $rows
      local.get $i local.get $n i32.ge_s br_if $rowsDone
      local.get $g local.get $i local.get $rs i32.mul i32.add local.tee $pg
      local.get $i i32.const 4 i32.shl i32.add local.set $end
      local.get $x local.set $px
      local.get $y local.set $py
      local.get $x local.get $i i32.const 4 i32.shl i32.add v128.load local.tee $XI
      f64x2.extract_lane 0 f64x2.splat local.get $PM f64x2.mul local.set $XA
      local.get $XI f64x2.extract_lane 1 f64x2.splat local.set $XB
      ${zero(['S'])}
      ${sweep('cols', ['pg', 'px', 'py'], 'end', `
          local.get $pg v128.load local.set $G
          local.get $px v128.load local.set $X
          ;; S += (gr xr - gi xi, gr xi + gi xr)
          local.get $G local.get $X f64x2.mul local.set $P
          local.get $G local.get $X local.get $X ${SWAP} f64x2.mul local.set $Q
          local.get $S
          local.get $P local.get $Q i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          local.get $MP local.get $P local.get $Q i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 f64x2.mul
          f64x2.add f64x2.add local.set $S
          ;; y_j += conj(G_ij) x_i = (gr xr_i + gi xi_i, gr xi_i - gi xr_i)
          local.get $py local.get $py v128.load
          local.get $G local.get $XA f64x2.mul local.get $G local.get $G ${SWAP} local.get $XB f64x2.mul f64x2.add
          f64x2.add v128.store`)}
      ;; y_i += S + G_ii x_i (py is at y_i, pg at G_ii)
      local.get $py local.get $py v128.load
      local.get $S local.get $pg f64.load f64x2.splat local.get $XI f64x2.mul f64x2.add
      f64x2.add v128.store
      local.get $i i32.const 1 i32.add local.set $i
      br $rows
    end end`,
};

/**
 * y = M^H (M x) for M = mr + i mi (rows x cols, row-major, cols even) and x, y laid out [re (cols); im (cols)]:
 * row o gives u_o = M_o x, then y += conj(M_o) u_o (the loop of power-start.ts's symbol product).
 */
const symbolNormal: FuncDef = {
  name: 'symbolNormal',
  params: [...i32(['mr', 'mi', 'x', 'y', 'rows', 'cols'])],
  results: [],
  locals: [...i32(['cb', 'o', 'a', 'b', 'p', 'q', 'end']), ...v128(['R', 'I', 'MR', 'MI', 'VR', 'VI', 'UR', 'UI'])],
  exported: true,
  body: `
    local.get $cols i32.const 3 i32.shl local.set $cb
    local.get $y local.tee $p local.get $cb i32.const 1 i32.shl i32.add local.set $end
    ${zeroBytes('p', 'end')}
    i32.const 0 local.set $o
    block $rowsDone loop $rows
      local.get $o local.get $rows i32.ge_s br_if $rowsDone
      ${zero(['R', 'I'])}
      local.get $mr local.tee $a local.get $cb i32.add local.set $end
      local.get $mi local.set $b
      local.get $x local.set $p
      ${sweep('dot', ['a', 'b', 'p'], 'end', `
          local.get $a v128.load local.set $MR
          local.get $b v128.load local.set $MI
          local.get $p v128.load local.set $VR
          local.get $p local.get $cb i32.add v128.load local.set $VI
          local.get $R local.get $MR local.get $VR f64x2.mul local.get $MI local.get $VI f64x2.mul f64x2.sub f64x2.add local.set $R
          local.get $I local.get $MR local.get $VI f64x2.mul local.get $MI local.get $VR f64x2.mul f64x2.add f64x2.add local.set $I`)}
      ${re('R')} f64x2.splat local.set $UR
      local.get $I f64x2.extract_lane 0 local.get $I f64x2.extract_lane 1 f64.add f64x2.splat local.set $UI
      local.get $mr local.set $a
      local.get $mi local.set $b
      local.get $y local.set $p
      ${sweep('axpy', ['a', 'b', 'p'], 'end', `
          local.get $a v128.load local.set $MR
          local.get $b v128.load local.set $MI
          local.get $p local.get $p v128.load
          local.get $MR local.get $UR f64x2.mul local.get $MI local.get $UI f64x2.mul f64x2.add f64x2.add v128.store
          local.get $p local.get $cb i32.add local.tee $q local.get $q v128.load
          local.get $MR local.get $UI f64x2.mul local.get $MI local.get $UR f64x2.mul f64x2.sub f64x2.add v128.store`)}
      local.get $mr local.get $cb i32.add local.set $mr
      local.get $mi local.get $cb i32.add local.set $mi
      local.get $o i32.const 1 i32.add local.set $o
      br $rows
    end end`,
};

interface Instance {
  memory: WebAssembly.Memory;
  cholesky: (g: number, l: number, n: number, t: number) => number;
  lagGram: (c0: number, parts: number, cs: number, n: number, half: number, g: number) => void;
  lowerMatVec: (g: number, x: number, y: number, n: number) => void;
  symbolNormal: (mr: number, mi: number, x: number, y: number, rows: number, cols: number) => void;
}

let instance: Instance | null | undefined;
let compiled: WebAssembly.Module | null | undefined;

/** Whether this runtime validates a one-instruction SIMD function. */
function simdSupported(): boolean {
  return WebAssembly.validate(encodeModule([{ name: 'probe', params: [], results: [], locals: [], body: 'f64.const 0 f64x2.splat f64x2.neg drop', exported: false }]));
}

/** The compiled kernels, or null where WebAssembly SIMD is unavailable or LIPCHECK_NO_WASM is set (the JS loops then run). */
export function wasmKernels(): Instance | null {
  if (instance !== undefined) return instance;
  instance = null;
  if (process.env.LIPCHECK_NO_WASM === '1') return instance;
  // a runtime without SIMD runs the JS loops; with SIMD, a module that does not compile is a bug here
  compiled ??= simdSupported() ? new WebAssembly.Module(encodeModule([entry, diagonal, cholesky, lagGram, lowerMatVec, symbolNormal])) : null;
  if (compiled === null) return instance;
  const module = compiled;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Omit<Instance, 'memory'>;
  instance = { memory, cholesky: timed(exports.cholesky), lagGram: timed(exports.lagGram), lowerMatVec: timed(exports.lowerMatVec), symbolNormal: timed(exports.symbolNormal) };
  return instance;
}

let kernelMs = 0;
let kernelCalls = 0;

/** Milliseconds and calls spent in the kernels since the process started (read twice and subtract), as nativeTime. */
export function wasmTime(): { ms: number; calls: number } {
  return { ms: kernelMs, calls: kernelCalls };
}

function timed<A extends number[], R>(f: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    const t0 = performance.now();
    try {
      return f(...args);
    } finally {
      kernelMs += performance.now() - t0;
      kernelCalls++;
    }
  };
}

const PAGE = 65536;
let lent = false;

/**
 * Runs f on Float64Arrays of the given lengths inside the kernels' memory (grown when too small), or on
 * plain arrays when the kernels are unavailable or already lent to a caller still running (growing the
 * memory would detach its views). Contents are arbitrary; the arrays must not be kept past f.
 */
export async function withKernelArrays<T>(lengths: number[], f: (arrays: Float64Array[]) => Promise<T>): Promise<T> {
  const k = wasmKernels();
  if (!k || lent) return f(lengths.map((n) => new Float64Array(n)));
  const offsets: number[] = [];
  let bytes = 0;
  for (const n of lengths) {
    offsets.push(bytes);
    bytes += Math.ceil(n / 2) * 16; // every array 16-byte aligned
  }
  const pages = Math.ceil(bytes / PAGE) - k.memory.buffer.byteLength / PAGE;
  if (pages > 0) {
    try {
      k.memory.grow(pages);
    } catch {
      return f(lengths.map((n) => new Float64Array(n)));
    }
  }
  lent = true;
  try {
    return await f(lengths.map((n, i) => new Float64Array(k.memory.buffer, offsets[i], n)));
  } finally {
    lent = false;
  }
}

/**
 * Drops the kernels' memory (a WebAssembly memory never shrinks: a 2048-channel layer leaves about half a
 * GB in it); the next use starts a fresh one. Not while an array is lent.
 */
export function releaseKernelMemory(): void {
  if (!lent) instance = undefined;
}

/**
 * The kernels if every array lives in their memory and holds at least the entries the kernel will touch,
 * else null. The length matters: a kernel addresses the whole memory, so a short array would have it
 * read and write its neighbours (a Cholesky test on the wrong numbers could pass), where the JS loops
 * read undefined, get NaN and fail safe.
 */
export function kernelsFor(...uses: [array: Float64Array, entries: number][]): Instance | null {
  const k = wasmKernels();
  return k && uses.every(([a, entries]) => a.buffer === k.memory.buffer && a.length >= entries) ? k : null;
}
