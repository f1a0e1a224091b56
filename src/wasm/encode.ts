// A minimal WebAssembly encoder, so the SIMD kernels (kernels.ts) are written as flat WAT-style text in
// TypeScript: the repository holds their source only, with no toolchain and no generated binary.
// It knows the instructions those kernels use and nothing more; an unknown token throws.

export type ValType = 'i32' | 'f64' | 'v128';

export interface FuncDef {
  name: string;
  params: [string, ValType][];
  results: ValType[];
  locals: [string, ValType][];
  /** Flat instruction text: `local.get $x`, `block $name` ... `end`, `br_if $name`, `call $f`, `f64.load offset=8`. */
  body: string;
  exported: boolean;
}

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f64: 0x7c, v128: 0x7b };

const PLAIN: Record<string, number> = {
  end: 0x0b, return: 0x0f, drop: 0x1a,
  'i32.eqz': 0x45, 'i32.lt_s': 0x48, 'i32.gt_s': 0x4a, 'i32.ge_s': 0x4e, 'i32.ge_u': 0x4f,
  'f64.gt': 0x64,
  'i32.add': 0x6a, 'i32.mul': 0x6c, 'i32.shl': 0x74,
  'f64.neg': 0x9a, 'f64.sqrt': 0x9f, 'f64.add': 0xa0, 'f64.sub': 0xa1, 'f64.mul': 0xa2, 'f64.div': 0xa3,
};
/** 0xfd-prefixed SIMD instructions without immediates. */
const SIMD: Record<string, number> = { 'f64x2.splat': 0x14, 'f64x2.neg': 0xed, 'f64x2.add': 0xf0, 'f64x2.sub': 0xf1, 'f64x2.mul': 0xf2, 'f64x2.div': 0xf3 };
/** Memory instructions: opcode, SIMD ones prefixed. */
const MEMORY: Record<string, { op: number; simd: boolean }> = {
  'f64.load': { op: 0x2b, simd: false },
  'f64.store': { op: 0x39, simd: false },
  'v128.load': { op: 0x00, simd: true },
  'v128.store': { op: 0x0b, simd: true },
};
const LANE: Record<string, number> = { 'f64x2.extract_lane': 0x21, 'f64x2.replace_lane': 0x22 };

function unsigned(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function signed(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

function f64Bytes(x: number): number[] {
  return [...new Uint8Array(new Float64Array([x]).buffer)];
}

function utf8(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...unsigned(b.length), ...b];
}

function vector(items: number[][]): number[] {
  return [...unsigned(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsigned(body.length), ...body];
}

function encodeBody(f: FuncDef, funcIndex: Map<string, number>): number[] {
  const names = new Map<string, number>();
  for (const [name] of [...f.params, ...f.locals]) {
    if (names.has(name)) throw new Error(`${f.name}: local ${name} declared twice`);
    names.set(name, names.size);
  }
  const tokens = f.body.replace(/;;[^\n]*/g, '').split(/\s+/).filter(Boolean);
  const out: number[] = [];
  const labels: string[] = [];
  let k = 0;
  const next = (): string => {
    if (k >= tokens.length) throw new Error(`${f.name}: instruction text ends early`);
    return tokens[k++];
  };
  const local = (): number => {
    const t = next();
    const i = names.get(t);
    if (i === undefined) throw new Error(`${f.name}: unknown local ${t}`);
    return i;
  };
  const depth = (): number => {
    const t = next();
    const i = labels.lastIndexOf(t);
    if (i < 0) throw new Error(`${f.name}: no enclosing label ${t}`);
    return labels.length - 1 - i;
  };
  while (k < tokens.length) {
    const op = next();
    if (op in PLAIN) {
      if (op === 'end' && labels.pop() === undefined) throw new Error(`${f.name}: end without a block (the function's own end is implicit)`);
      out.push(PLAIN[op]);
    } else if (op === 'block' || op === 'loop' || op === 'if') {
      const label = tokens[k]?.startsWith('$') ? next() : '';
      labels.push(label);
      out.push({ block: 0x02, loop: 0x03, if: 0x04 }[op], 0x40);
    } else if (op === 'br' || op === 'br_if') {
      out.push(op === 'br' ? 0x0c : 0x0d, ...unsigned(depth()));
    } else if (op === 'local.get' || op === 'local.set' || op === 'local.tee') {
      out.push({ 'local.get': 0x20, 'local.set': 0x21, 'local.tee': 0x22 }[op], ...unsigned(local()));
    } else if (op === 'call') {
      const t = next();
      const i = funcIndex.get(t);
      if (i === undefined) throw new Error(`${f.name}: unknown function ${t}`);
      out.push(0x10, ...unsigned(i));
    } else if (op === 'i32.const') {
      out.push(0x41, ...signed(Number(next())));
    } else if (op === 'f64.const') {
      out.push(0x44, ...f64Bytes(Number(next())));
    } else if (op in MEMORY) {
      const m = MEMORY[op];
      const offset = tokens[k]?.startsWith('offset=') ? Number(next().slice(7)) : 0;
      // alignment hint 2^3 for every access: float64 arrays are only 8-byte aligned in general
      out.push(...(m.simd ? [0xfd, ...unsigned(m.op)] : [m.op]), 3, ...unsigned(offset));
    } else if (op in SIMD) {
      out.push(0xfd, ...unsigned(SIMD[op]));
    } else if (op in LANE) {
      out.push(0xfd, ...unsigned(LANE[op]), Number(next()));
    } else if (op === 'i8x16.shuffle') {
      out.push(0xfd, ...unsigned(0x0d));
      for (let i = 0; i < 16; i++) out.push(Number(next()));
    } else {
      throw new Error(`${f.name}: unknown instruction ${op}`);
    }
  }
  if (labels.length > 0) throw new Error(`${f.name}: ${labels.length} block(s) not closed`);
  const locals = f.locals.map(([, t]) => [1, VALTYPE[t]]);
  const code = [...vector(locals), ...out, 0x0b];
  return [...unsigned(code.length), ...code];
}

/** A module importing its memory as env.memory (so the caller can grow it) and exporting the exported functions. */
export function encodeModule(funcs: FuncDef[]): Uint8Array<ArrayBuffer> {
  const funcIndex = new Map(funcs.map((f, i) => [`$${f.name}`, i]));
  const types = funcs.map((f) => [0x60, ...vector(f.params.map(([, t]) => [VALTYPE[t]])), ...vector(f.results.map((t) => [VALTYPE[t]]))]);
  const imports = [[...utf8('env'), ...utf8('memory'), 0x02, 0x00, 0x01]];
  const exports = funcs.flatMap((f, i) => (f.exported ? [[...utf8(f.name), 0x00, ...unsigned(i)]] : []));
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector(imports)),
    ...section(3, vector(funcs.map((_, i) => unsigned(i)))),
    ...section(7, vector(exports)),
    ...section(10, vector(funcs.map((f) => encodeBody(f, funcIndex)))),
  ]);
}
