// A seeded mutator over valid ONNX files, for the fuzz test and `npm run fuzz`.
// Structured mutations decode the model, edit it (huge dims, wrong data types, cycles, duplicate
// names, hostile external data, ...) and re-encode it; byte mutations then damage the wire format
// (bit flips, overwrites, truncation, corrupted length varints). Same seed, same mutant.
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { AttributeType, DataType, ModelProtoType, type AttributeProto, type GraphProto, type Int64, type ModelProto, type NodeProto, type TensorProto } from '../../src/onnx/schema.js';
import { seededRandom } from '../../src/util/random.js';

/** A valid model and the files that sit beside it (external data). */
export interface Fixture {
  name: string;
  bytes: Uint8Array;
  files: Record<string, Uint8Array>;
}

/** A file to place beside the mutated model: contents, or a symlink to `OUTSIDE_FILE` in a folder outside. */
export type MutantFile = { name: string; bytes: Uint8Array } | { name: string; symlinkOutside: true };

export interface Mutant {
  /** What was done, e.g. "plain-cnn.onnx#7: cycle conv1<->relu1 + bitflip x2". */
  label: string;
  /** The mutation kinds applied (keys of the structured and byte mutation tables). */
  kinds: string[];
  bytes: Uint8Array;
  files: MutantFile[];
}

/** The mutated model is always written under this name (external-data mutations may point at it). */
export const MODEL_FILE = 'model.onnx';
/** Name of the file in the "outside" folder that escaping external-data paths aim at. */
export const OUTSIDE_FILE = 'outside.bin';

export function loadFixtures(dir: string): Fixture[] {
  const names = fs.readdirSync(dir).sort();
  const files: Record<string, Uint8Array> = {};
  // Plain Uint8Arrays, not Buffers: Buffer#slice is a view, and a mutator must never write into its source.
  const read = (n: string) => new Uint8Array(fs.readFileSync(path.join(dir, n)));
  for (const n of names) if (!n.endsWith('.onnx')) files[n] = read(n);
  return names.filter((n) => n.endsWith('.onnx')).map((name) => ({ name, bytes: read(name), files }));
}

// ---------------------------------------------------------------- random source

export class Rng {
  private readonly u: () => number;
  constructor(seed: number) {
    // Scrambled: mulberry32's first outputs for neighbouring seeds are correlated.
    this.u = seededRandom(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ (seed >>> 16));
  }
  next(): number {
    return this.u();
  }
  int(n: number): number {
    return Math.floor(this.u() * n);
  }
  chance(p: number): boolean {
    return this.u() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
}

// ---------------------------------------------------------------- byte mutations

interface LengthField {
  /** Offset of the length varint. */
  at: number;
  /** Bytes the varint occupies. */
  size: number;
  length: number;
}

function readVarint(b: Uint8Array, pos: number): { value: number; next: number } | null {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= b.length) return null;
    const byte = b[pos + i];
    value += (byte & 0x7f) * mul;
    mul *= 128;
    if ((byte & 0x80) === 0) return { value, next: pos + i + 1 };
  }
  return null;
}

/**
 * Every length-delimited field of the wire format, found by walking it as a message and
 * recursing into payloads that parse as messages themselves (strings and packed arrays that
 * happen to parse add a few spurious fields: harmless for a mutator).
 */
export function findLengthFields(b: Uint8Array, start = 0, end = b.length, depth = 0, out: LengthField[] = []): LengthField[] {
  let pos = start;
  while (pos < end && out.length < 4096) {
    const tag = readVarint(b, pos);
    if (!tag || tag.value === 0) return out;
    pos = tag.next;
    switch (tag.value % 8) {
      case 0: { const v = readVarint(b, pos); if (!v) return out; pos = v.next; break; }
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const len = readVarint(b, pos);
        if (!len || len.next + len.value > end) return out;
        out.push({ at: pos, size: len.next - pos, length: len.value });
        if (depth < 16) findLengthFields(b, len.next, len.next + len.value, depth + 1, out);
        pos = len.next + len.value;
        break;
      }
      default: return out;
    }
  }
  return out;
}

/** Varint bytes of `value`, padded with continuation bytes to at least `minSize` (still valid protobuf). */
function encodeVarint(value: number, minSize = 1): number[] {
  const out: number[] = [];
  let v = value;
  do {
    out.push(v % 128);
    v = Math.floor(v / 128);
  } while (v > 0 || out.length < minSize);
  for (let i = 0; i < out.length - 1; i++) out[i] |= 0x80;
  return out;
}

function splice(b: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at), 0);
  out.set(Array.from(insert), at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

const SPECIAL_BYTES = [0x00, 0xff, 0x80, 0x7f, 0x01, 0x08, 0x0a, 0x12];

const BYTE_MUTATIONS: Record<string, (b: Uint8Array, r: Rng) => { bytes: Uint8Array; note: string }> = {
  bitflip(b, r) {
    const out = b.slice();
    const n = 1 + r.int(8);
    for (let i = 0; i < n; i++) out[r.int(out.length)] ^= 1 << r.int(8);
    return { bytes: out, note: `bitflip x${n}` };
  },
  overwrite(b, r) {
    const out = b.slice();
    const at = r.int(out.length);
    const n = 1 + r.int(16);
    for (let i = at; i < Math.min(out.length, at + n); i++) out[i] = r.chance(0.5) ? r.pick(SPECIAL_BYTES) : r.int(256);
    return { bytes: out, note: `overwrite ${n}@${at}` };
  },
  truncate(b, r) {
    const cut = r.int(b.length);
    return { bytes: b.slice(0, cut), note: `truncate@${cut}` };
  },
  insertOrDelete(b, r) {
    const at = r.int(b.length);
    if (r.chance(0.5)) return { bytes: splice(b, at, Math.min(b.length - at, 1 + r.int(32)), []), note: `delete@${at}` };
    const src = r.int(b.length);
    return { bytes: splice(b, at, 0, b.subarray(src, src + 1 + r.int(64))), note: `duplicate-chunk@${at}` };
  },
  lengthField(b, r) {
    const fields = findLengthFields(b);
    if (fields.length === 0) return BYTE_MUTATIONS.bitflip(b, r);
    const f = r.pick(fields);
    const choices = [0, Math.max(0, f.length - 1), f.length + 1, f.length + 1 + r.int(64), f.length * 2 + 7, 2 ** 31 - 1, 2 ** 32 + 5, 2 ** 35, Math.max(0, f.length - 1 - r.int(16))];
    const value = r.pick(choices);
    // Keep the varint's width when the new value fits, so only this one length is wrong.
    const keepWidth = r.chance(0.7);
    const bytes = keepWidth ? encodeVarint(value, f.size) : encodeVarint(value);
    return { bytes: splice(b, f.at, f.size, bytes), note: `length@${f.at} ${f.length}->${value}` };
  },
};

// ---------------------------------------------------------------- structured mutations

// protobufjs's bundled long.js (its typings only declare the constructor)
const Long = protobuf.util.Long as unknown as { fromString(s: string): Int64 };
const INT64_MAX = Long.fromString('9223372036854775807');
const INT64_MIN = Long.fromString('-9223372036854775808');
const HUGE_DIMS: Int64[] = [1e12, -1, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, INT64_MAX, INT64_MIN, 2 ** 32 + 1, 0, 65536, 2 ** 31];
const EXTREME_INTS: Int64[] = [0, -1, -7, 1, 2, 3, 2 ** 31 - 1, 2 ** 31, 1e12, 2 ** 53, INT64_MAX, INT64_MIN, 1000, 100000];
const BAD_TYPES = [DataType.STRING, DataType.COMPLEX64, DataType.COMPLEX128, DataType.UNDEFINED, 999, -3, 17, 23, DataType.INT64, DataType.DOUBLE, DataType.FLOAT16, DataType.BOOL, DataType.UINT64, DataType.INT8, DataType.BFLOAT16, DataType.INT32];
const OPS = [
  'Conv', 'ConvTranspose', 'QLinearConv', 'ConvInteger', 'Gemm', 'MatMul', 'QLinearMatMul', 'MatMulInteger', 'Reshape', 'Transpose', 'Flatten',
  'Squeeze', 'Unsqueeze', 'Cast', 'Identity', 'Dropout', 'DequantizeLinear', 'Pad', 'BatchNormalization', 'Add', 'Mul', 'Concat', 'Split',
  'Slice', 'Gather', 'Shape', 'Constant', 'ConstantOfShape', 'Resize', 'Upsample', 'Tile', 'Expand', 'MaxPool', 'AveragePool', 'If', 'Loop',
  'GlobalAveragePool', 'Relu', 'Sum', 'DepthToSpace', 'SpaceToDepth', 'ReduceMean', 'Softmax', 'FusedConv', 'Mystery', '',
];
const EXTERNAL_LOCATIONS = [
  '../outside.bin', 'sub/../../outside.bin', '..\\outside.bin', '/etc/passwd', 'C:\\Windows\\win.ini', 'link-out.bin', '.', '',
  'no-such.bin', 'sub', 'a\0b', MODEL_FILE, 'external-data.bin', './external-data.bin', '%2e%2e/outside.bin', '~/.ssh/id_rsa',
];
const EXTERNAL_NUMBERS = ['0', '1', '7', '4096', '4144', '4145', '99999999999', '99999999999999999999999', '-1', '1e3', 'abc', ' 8', '0x10', '9007199254740993'];

export interface MutateOptions {
  /** Allow graphs of 20000 added nodes (slow cases: for the long run, not the test suite). */
  big?: boolean;
}

type Mutation = (m: ModelProto, r: Rng, files: MutantFile[], opts: MutateOptions) => string | null;

/** Every TensorProto of the model: initializers, Constant values, and those in subgraphs. */
function allTensors(g: GraphProto | undefined, out: TensorProto[] = []): TensorProto[] {
  if (!g) return out;
  out.push(...(g.initializer ?? []));
  for (const n of g.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.t) out.push(a.t);
      out.push(...(a.tensors ?? []));
      if (a.g) allTensors(a.g, out);
      for (const sg of a.graphs ?? []) allTensors(sg, out);
    }
  }
  return out;
}

const nodesOf = (m: ModelProto): NodeProto[] => m.graph?.node ?? [];
const pickNode = (m: ModelProto, r: Rng): NodeProto | null => (nodesOf(m).length ? r.pick(nodesOf(m)) : null);

function tensorOf(m: ModelProto, r: Rng): TensorProto | null {
  const ts = allTensors(m.graph);
  return ts.length ? r.pick(ts) : null;
}

function intsAttr(name: string, ints: Int64[]): AttributeProto {
  return { name, type: AttributeType.INTS, ints, floats: [], strings: [], tensors: [], graphs: [] };
}

function graphAttr(name: string, g: GraphProto): AttributeProto {
  return { name, type: AttributeType.GRAPH, g, ints: [], floats: [], strings: [], tensors: [], graphs: [] };
}

// (each level holds its subgraph once: a shared subtree would be serialized 2^depth times)
const emptyGraph = (): GraphProto => ({ node: [], initializer: [], input: [], output: [], value_info: [] });

function emptyNode(op: string, input: string[], output: string[], name = ''): NodeProto {
  return { op_type: op, input, output, name, attribute: [] };
}

const STRUCTURED: Record<string, Mutation> = {
  hugeDim(m, r) {
    const t = tensorOf(m, r);
    if (!t) return null;
    const dims = [...(t.dims ?? [])];
    const i = dims.length && r.chance(0.85) ? r.int(dims.length) : dims.length;
    const v = r.pick(HUGE_DIMS);
    dims[i] = v;
    t.dims = dims;
    return `dim ${t.name}[${i}]=${String(v)}`;
  },
  dataType(m, r) {
    const t = tensorOf(m, r);
    if (!t) return null;
    t.data_type = r.pick(BAD_TYPES);
    return `data_type ${t.name}=${t.data_type}`;
  },
  rawData(m, r) {
    const t = tensorOf(m, r);
    if (!t) return null;
    const raw = t.raw_data ?? new Uint8Array();
    const n = r.pick([0, 1, 3, raw.length - 1, raw.length + 1, raw.length * 2, 1 + r.int(64)]);
    const out = new Uint8Array(Math.max(0, n));
    out.set(raw.subarray(0, out.length));
    if (r.chance(0.3)) out.fill(0xff); // NaNs
    t.raw_data = out;
    if (r.chance(0.3)) t.float_data = Array.from({ length: r.int(8) }, () => r.pick([NaN, Infinity, -Infinity, 0, 1e38, -1e-45]));
    return `raw_data ${t.name} ${raw.length}->${out.length}`;
  },
  nonFinite(m, r) {
    const t = tensorOf(m, r);
    if (!t) return null;
    const v = r.pick([NaN, Infinity, -Infinity, 3.4e38, 0]);
    if (t.raw_data && t.raw_data.length >= 4 && (t.data_type ?? 1) === DataType.FLOAT) {
      const raw = new Uint8Array(t.raw_data);
      const all = r.chance(0.3);
      const dv = new DataView(raw.buffer);
      for (let i = 0; i + 4 <= raw.length; i += 4) if (all || i === 4 * r.int(raw.length >> 2)) dv.setFloat32(i, v, true);
      t.raw_data = raw;
    } else if (t.float_data?.length) {
      t.float_data = t.float_data.map((x, i) => (i === 0 || r.chance(0.2) ? v : x));
    } else return null;
    return `value ${t.name}=${v}`;
  },
  cycle(m, r) {
    const ns = nodesOf(m);
    if (ns.length === 0) return null;
    const a = r.pick(ns);
    const b = r.chance(0.2) ? a : r.pick(ns);
    if (!a.output?.length || !b.output?.length) return null;
    a.input = [b.output[0], ...(a.input ?? []).slice(1)];
    b.input = [a.output[0], ...(b.input ?? []).slice(1)];
    return `cycle ${a.name || a.op_type}<->${b.name || b.op_type}`;
  },
  duplicateOutput(m, r) {
    const ns = nodesOf(m);
    if (ns.length < 2) return null;
    const a = r.pick(ns);
    const b = r.pick(ns);
    if (!a.output?.length) return null;
    b.output = [a.output[0], ...(b.output ?? []).slice(1)];
    return `duplicate output ${a.output[0]}`;
  },
  duplicateInitializer(m, r) {
    const inits = m.graph?.initializer ?? [];
    if (!m.graph || inits.length === 0) return null;
    const t = r.pick(inits);
    const copy: TensorProto = { ...t, dims: r.chance(0.5) ? [...(t.dims ?? [])].reverse() : [1], raw_data: r.chance(0.5) ? t.raw_data : new Uint8Array(4) };
    m.graph.initializer = r.chance(0.5) ? [...inits, copy] : [copy, ...inits];
    return `duplicate initializer ${t.name}`;
  },
  duplicateNodeName(m, r) {
    const a = pickNode(m, r);
    const b = pickNode(m, r);
    if (!a || !b) return null;
    b.name = a.name;
    return `duplicate node name ${a.name}`;
  },
  externalData(m, r, files) {
    const inits = m.graph?.initializer ?? [];
    if (inits.length === 0) return null;
    const t = r.pick(inits);
    const location = r.pick(EXTERNAL_LOCATIONS);
    if (location === 'link-out.bin') files.push({ name: location, symlinkOutside: true });
    if (location === 'sub') files.push({ name: 'sub/x.bin', bytes: new Uint8Array(8) });
    const entries = [{ key: 'location', value: location }];
    if (r.chance(0.7)) entries.push({ key: 'offset', value: r.pick(EXTERNAL_NUMBERS) });
    if (r.chance(0.6)) entries.push({ key: 'length', value: r.pick(EXTERNAL_NUMBERS) });
    if (r.chance(0.1)) entries.push({ key: 'location', value: '../second.bin' });
    t.data_location = 1;
    t.external_data = entries;
    if (r.chance(0.8)) t.raw_data = new Uint8Array();
    return `external ${t.name} -> ${JSON.stringify(entries.map((e) => e.value))}`;
  },
  emptyGraph(m, r) {
    const g = m.graph;
    if (!g) return null;
    const what = r.pick(['nodes', 'graph', 'initializers', 'inputs', 'outputs', 'all-but-first-node']);
    if (what === 'nodes') g.node = [];
    else if (what === 'graph') delete m.graph;
    else if (what === 'initializers') g.initializer = [];
    else if (what === 'inputs') g.input = [];
    else if (what === 'outputs') g.output = [];
    else g.node = g.node.slice(0, 1);
    return `empty ${what}`;
  },
  missingInput(m, r) {
    const g = m.graph;
    const n = pickNode(m, r);
    if (!g || !n) return null;
    const what = r.pick(['rename', 'drop-initializer', 'drop-graph-input', 'truncate-inputs', 'empty-name']);
    if (what === 'rename' && n.input?.length) n.input = n.input.map((x, i) => (i === r.int(n.input.length) ? 'missing_tensor' : x));
    else if (what === 'drop-initializer' && g.initializer.length) g.initializer = g.initializer.filter((_, i) => i !== r.int(g.initializer.length));
    else if (what === 'drop-graph-input') g.input = (g.input ?? []).slice(1);
    else if (what === 'truncate-inputs') n.input = (n.input ?? []).slice(0, r.int(n.input?.length ?? 1));
    else n.input = (n.input ?? []).map((x, i) => (i === 1 ? '' : x));
    return `missing input (${what}) at ${n.name || n.op_type}`;
  },
  attribute(m, r) {
    const nodes = nodesOf(m).filter((n) => n.attribute?.length);
    const n = nodes.length && r.chance(0.8) ? r.pick(nodes) : pickNode(m, r);
    if (!n) return null;
    const attrs = [...(n.attribute ?? [])];
    const a = attrs.length && r.chance(0.7) ? { ...r.pick(attrs) } : intsAttr(r.pick(['strides', 'pads', 'dilations', 'kernel_shape', 'group', 'perm', 'axes', 'shape', 'axis', 'output_padding', 'output_shape', 'transB', 'alpha']), [1]);
    const kind = r.int(6);
    if (kind === 0) a.ints = Array.from({ length: r.pick([0, 1, 2, 3, 4, 5, 8]) }, () => r.pick(EXTREME_INTS));
    else if (kind === 1) { a.i = r.pick(EXTREME_INTS); a.type = AttributeType.INT; }
    else if (kind === 2) { a.f = r.pick([NaN, Infinity, -Infinity, 0, -1, 1e30]); a.type = AttributeType.FLOAT; }
    else if (kind === 3) { a.s = new TextEncoder().encode(r.pick(['BOGUS', 'SAME_UPPER', 'VALID', 'reflect', '', 'edge'])); a.type = AttributeType.STRING; }
    else if (kind === 4) { a.ints = (a.ints ?? []).map((v) => (r.chance(0.5) ? r.pick(EXTREME_INTS) : v)); }
    else { n.attribute = attrs.filter((x) => x.name !== a.name); return `drop attribute ${a.name} of ${n.name || n.op_type}`; }
    n.attribute = [...attrs.filter((x) => x.name !== a.name), a];
    return `attribute ${a.name} of ${n.name || n.op_type}`;
  },
  opType(m, r) {
    const n = pickNode(m, r);
    if (!n) return null;
    const from = n.op_type;
    n.op_type = r.pick(OPS);
    if (r.chance(0.15)) n.domain = r.pick(['com.microsoft', 'ai.onnx', '']);
    return `op ${from}->${n.op_type}`;
  },
  reorder(m, r) {
    const g = m.graph;
    if (!g || g.node.length < 2) return null;
    if (r.chance(0.5)) { g.node = [...g.node].reverse(); return 'reverse nodes'; }
    const ns = [...g.node];
    for (let i = ns.length - 1; i > 0; i--) { const j = r.int(i + 1); [ns[i], ns[j]] = [ns[j], ns[i]]; }
    g.node = ns;
    return 'shuffle nodes';
  },
  inputShape(m, r) {
    const inp = m.graph?.input?.[0];
    const dims = inp?.type?.tensor_type?.shape?.dim;
    if (!inp || !dims) return null;
    const what = r.int(4);
    if (what === 0) inp.type = {};
    else if (what === 1) dims.splice(r.int(dims.length + 1), r.int(2));
    else if (what === 2) dims[r.int(dims.length)] = { dim_param: r.pick(['N', 'H', '']) };
    else dims[r.int(dims.length)] = { dim_value: r.pick(HUGE_DIMS) };
    return `input shape (${what})`;
  },
  deepNesting(m, r) {
    const g = m.graph;
    if (!g) return null;
    const depth = r.pick([2, 10, 60, 200]);
    let inner: GraphProto = { ...emptyGraph(), node: [emptyNode('Conv', ['x', 'w'], ['y'], 'deep_conv')] };
    for (let d = 0; d < depth; d++) {
      const ifNode: NodeProto = { ...emptyNode('If', ['cond'], [`o${d}`]), attribute: [graphAttr('then_branch', inner), graphAttr('else_branch', emptyGraph())] };
      inner = { ...emptyGraph(), node: [ifNode] };
    }
    g.node = [...g.node, inner.node[0]];
    return `nested If depth ${depth}`;
  },
  longChain(m, r, _files, opts) {
    // A chain of constant ops between a weight and its layer: stresses recursion in constant resolution.
    const g = m.graph;
    const layer = nodesOf(m).find((n) => ['Conv', 'Gemm', 'MatMul', 'ConvTranspose'].includes(n.op_type ?? '') && n.input?.[1]);
    if (!g || !layer) return null;
    const n = r.pick(opts.big ? [50, 500, 3000, 20000] : [50, 500, 3000]);
    const op = r.pick(['Identity', 'Cast', 'Transpose']);
    let prev = layer.input[1];
    const chain: NodeProto[] = [];
    for (let i = 0; i < n; i++) {
      const out = `chain_${i}`;
      const node = emptyNode(op, [prev], [out]);
      if (op === 'Cast') node.attribute = [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT, ints: [], floats: [], strings: [], tensors: [], graphs: [] }];
      // pairs of 2-D/4-D reversals leave the weight as it was
      chain.push(node);
      prev = out;
    }
    layer.input = [layer.input[0], prev, ...layer.input.slice(2)];
    g.node = r.chance(0.5) ? [...chain, ...g.node] : [...g.node, ...chain.reverse()];
    return `chain of ${n} ${op}`;
  },
  manyConsumers(m, r, _files, opts) {
    const g = m.graph;
    if (!g || g.initializer.length === 0) return null;
    const t = r.pick(g.initializer);
    const k = r.pick(opts.big ? [100, 2000, 20000] : [100, 2000]);
    const op = r.pick(['Add', 'Cast', 'Shape', 'Reshape']);
    const extra = Array.from({ length: k }, (_, i) => emptyNode(op, [t.name ?? '', t.name ?? ''], [`many_${i}`]));
    g.node = [...g.node, ...extra];
    return `${k} ${op} consumers of ${t.name}`;
  },
  header(m, r) {
    if (r.chance(0.5)) m.ir_version = r.pick([0, -1, 1e12, 101, 3, INT64_MAX]);
    else m.opset_import = r.chance(0.3) ? [] : [{ domain: '', version: r.pick([0, -1, 1, 7, 99, INT64_MAX]) }];
    return 'header';
  },
  constantNode(m, r) {
    // Move an initializer into a Constant node (value tensor, or a value_floats/ints list).
    const g = m.graph;
    if (!g || g.initializer.length === 0) return null;
    const t = r.pick(g.initializer);
    const name = t.name ?? '';
    const a: AttributeProto = r.chance(0.7)
      ? { name: 'value', type: AttributeType.TENSOR, t: { ...t, name: r.chance(0.5) ? name : '' }, ints: [], floats: [], strings: [], tensors: [], graphs: [] }
      : { name: r.pick(['value_floats', 'value_ints', 'sparse_value', 'value_string']), type: AttributeType.INTS, ints: [1, 2, 3], floats: [0.5, NaN], strings: [], tensors: [], graphs: [] };
    g.initializer = g.initializer.filter((x) => x !== t);
    g.node = [{ ...emptyNode('Constant', [], [name]), attribute: [a] }, ...g.node];
    return `initializer ${name} -> Constant(${a.name})`;
  },
  nodeArity(m, r) {
    const n = pickNode(m, r);
    if (!n) return null;
    if (r.chance(0.5)) n.output = r.chance(0.5) ? [] : [...(n.output ?? []), '', 'extra_out'];
    else n.input = [...(n.input ?? []), ...Array.from({ length: 1 + r.int(5) }, () => r.pick(['', 'x', n.output?.[0] ?? 'y', 'missing']))];
    return `arity of ${n.name || n.op_type}`;
  },
};

// ---------------------------------------------------------------- the mutator

export const STRUCTURED_KINDS = Object.keys(STRUCTURED);
export const BYTE_KINDS = Object.keys(BYTE_MUTATIONS);

/** The model as a plain, editable object (repeated fields always arrays, int64 as Long). */
function decodePlain(bytes: Uint8Array): ModelProto | null {
  try {
    // Decoded from a copy: bytes fields of the result are views into what was decoded.
    return ModelProtoType.toObject(ModelProtoType.decode(new Uint8Array(bytes)), { arrays: true }) as unknown as ModelProto;
  } catch {
    return null;
  }
}

function encodePlain(m: ModelProto): Uint8Array {
  return new Uint8Array(ModelProtoType.encode(ModelProtoType.fromObject(m as unknown as Record<string, unknown>)).finish());
}

/**
 * One mutant of `fixture` for `seed`: 0-2 structured edits, then 0-2 byte-level edits (at least
 * one edit in all). Deterministic in (fixture, seed).
 */
export function mutate(fixture: Fixture, seed: number, opts: MutateOptions = {}): Mutant {
  const r = new Rng(seed);
  const files: MutantFile[] = Object.entries(fixture.files).map(([name, bytes]) => ({ name, bytes }));
  const notes: string[] = [];
  const kinds: string[] = [];
  let bytes = fixture.bytes;
  // Byte damage mostly ends in a decode error: keep most cases structurally valid to reach deeper code.
  const nStructured = r.pick([0, 1, 1, 1, 2, 2, 2]);
  const nBytes = nStructured === 0 ? 1 + r.int(2) : r.pick([0, 0, 0, 0, 1]);
  if (nStructured > 0) {
    const m = decodePlain(bytes);
    if (m) {
      for (let k = 0; k < nStructured; k++) {
        const kind = r.pick(STRUCTURED_KINDS);
        const note = STRUCTURED[kind](m, r, files, opts);
        if (note) {
          notes.push(note);
          kinds.push(kind);
        }
      }
      bytes = encodePlain(m);
    }
  }
  for (let k = 0; k < nBytes; k++) {
    if (bytes.length === 0) break;
    const kind = r.pick(BYTE_KINDS);
    const out = BYTE_MUTATIONS[kind](bytes, r);
    bytes = out.bytes;
    notes.push(out.note);
    kinds.push(kind);
  }
  return { label: `${fixture.name}#${seed}: ${notes.join(' + ') || 'unchanged'}`, kinds, bytes, files };
}
