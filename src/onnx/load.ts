// loadModel: file -> LoadedModel. The only part of the loader that touches the file system
// (besides external data); every user-facing failure becomes one InputError line.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { printable } from '../util/printable.js';
import type { InputShapeSource, LoadedModel, ModelInfo } from '../model/layer.js';
import { ConstantResolver } from './constants.js';
import { extractLayers } from './extract.js';
import { GraphIndex, topologicalOrder } from './graph-index.js';
import { decodeModel, toNumber, type GraphProto, type ModelProto, type ValueInfoProto } from './schema.js';
import { declaredDims, propagateShapes, ShapeMap } from './shapes.js';
import { summarizeGraph } from './summary.js';
import type { Shape } from './shapeops.js';

export interface LoadOptions {
  /** Model input shape, e.g. [1, 3, 224, 224] (the batch entry may be left off); fills symbolic dims. */
  inputShape?: number[];
  /** Largest tensor the loader will allocate (default 2 GiB); larger declared shapes are refused. */
  maxTensorBytes?: number;
  /** Leave the file's sha256 empty (the layer child, which reports no model: ~0.2 s on a 100 MB file). */
  skipHash?: boolean;
}

/** Spatial size used for unknown (symbolic) image dims when no --input-shape is given. */
export const DEFAULT_SPATIAL_SIZE = 224;
/**
 * Second-run sizes for assumed axes (one per axis, so H and W stay distinguishable; multiples of 32
 * so strided and upsampling paths agree as they do at 224). A length that differs between the two
 * runs depends on the input size and is made symbolic.
 */
const PROBE_SIZES = [288, 320, 352];
const DEFAULT_MAX_TENSOR_BYTES = 2 ** 31;
/** An input with more elements than this is refused as absurd. */
const MAX_INPUT_ELEMENTS = 2 ** 31;

export async function loadModel(file: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  try {
    return await load(file, opts);
  } catch (e) {
    // Messages quote names from the file: keep them to one printable line.
    if (e instanceof InputError) throw new InputError(printable(e.message), e.file ?? file);
    throw e;
  }
}

async function load(file: string, opts: LoadOptions): Promise<LoadedModel> {
  const bytes = await readModelFile(file);
  // Hashed first: decoding realigns misaligned float tensors inside this buffer (see tensor.ts).
  const sha256 = opts.skipHash ? '' : createHash('sha256').update(bytes).digest('hex');
  const model = decode(bytes);
  const graph = model.graph!;
  const warnings: string[] = [];
  const modelDir = path.dirname(path.resolve(file));

  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const runtimeInputs = (graph.input ?? []).filter((i) => !initializerNames.has(i.name ?? ''));
  const available = new Set([...initializerNames, ...runtimeInputs.map((i) => i.name ?? '')]);
  const sorted: GraphProto = { ...graph, node: topologicalOrder(graph, available) };
  const index = new GraphIndex(sorted);
  const resolver = new ConstantResolver(index, { modelDir, maxTensorBytes: opts.maxTensorBytes ?? DEFAULT_MAX_TENSOR_BYTES });

  const seeds = new Map<string, Shape | null>();
  let primary: PrimaryInputShape = { shape: null, source: 'unknown', assumedAxes: [] };
  runtimeInputs.forEach((input, i) => {
    if (i === 0) primary = primaryInputShape(input, sorted, opts.inputShape, warnings);
    seeds.set(input.name ?? '', i === 0 ? primary.shape : otherInputShape(input));
  });
  if (runtimeInputs.length === 0 && opts.inputShape) throw new InputError('--input-shape given but the model has no runtime input');
  for (const t of graph.initializer ?? []) seeds.set(t.name ?? '', (t.dims ?? []).map((d) => toNumber(d)));

  const declared = declaredShapes(graph);
  const shapes = propagateShapes(sorted.node, resolver, seeds, declared);
  const extraction = extractLayers(sorted.node, index, resolver, shapes);
  if (extraction.layers.length === 0) throw new InputError('no conv or dense layer found in the graph');
  // With an assumed input size, a second propagation at other sizes tells which lengths depend on it:
  // those become symbolic in the graph summary and mark the layers whose input size was assumed.
  let summaryShapes = shapes;
  if (primary.assumedAxes.length > 0 && primary.shape) {
    const probe = [...primary.shape];
    primary.assumedAxes.forEach((axis, k) => (probe[axis] = PROBE_SIZES[k % PROBE_SIZES.length]));
    seeds.set(runtimeInputs[0].name ?? '', probe);
    const probed = propagateShapes(sorted.node, resolver, seeds, declared);
    summaryShapes = symbolicShapes(shapes, probed);
    for (const layer of extraction.layers) {
      if (layer.kind === 'unsupported') continue;
      const input = sorted.node[layer.nodeIndex]?.input?.[0] ?? null;
      const s = summaryShapes.get(input);
      layer.inputSizeAssumed = s === null || s.some((d) => d < 0);
    }
  }

  const info: ModelInfo = {
    path: file,
    sha256,
    opset: defaultOpset(model),
    producer: [model.producer_name, model.producer_version].filter(Boolean).join(' '),
    irVersion: toNumber(model.ir_version),
    inputShape: primary.shape,
    inputShapeSource: primary.source,
  };
  const summary = summarizeGraph(graph, sorted.node, runtimeInputs.map((i) => i.name ?? ''), resolver, summaryShapes, extraction);
  summary.inputSizeAssumed = primary.assumedAxes.length > 0;
  return { info, layers: extraction.layers, graph: summary, warnings: [...warnings, ...extraction.warnings] };
}

async function readModelFile(file: string): Promise<Buffer> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'no such file' : `cannot read the file (${code ?? String(e)})`);
  }
  if (stat.isDirectory()) throw new InputError('is a directory, not an ONNX file');
  if (!stat.isFile()) throw new InputError('is not a regular file');
  if (stat.size === 0) throw new InputError('empty file, not an ONNX model');
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    throw new InputError(`cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

function decode(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    // protobufjs decodes nested messages recursively: absurd nesting overflows the stack.
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new InputError('not a valid ONNX file: messages nested too deeply to decode');
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new InputError(`not a valid ONNX file: truncated or corrupt protobuf (${why})`);
  }
  const g = model.graph;
  // Random bytes or text can decode "successfully" into a message with no graph: say what is wrong.
  if (!g || !g.node || g.node.length === 0) throw new InputError('not an ONNX model (no graph with nodes)');
  if (g.node.some((n) => !n.op_type)) throw new InputError('not a valid ONNX model (a node has no operator type)');
  const ir = toNumber(model.ir_version);
  if (!(ir >= 1 && ir <= 100)) throw new InputError(`not a valid ONNX model (IR version ${ir})`);
  return model;
}

function defaultOpset(model: ModelProto): number | null {
  const entry = (model.opset_import ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? toNumber(entry.version) : null;
}

function declaredShapes(graph: GraphProto): Map<string, Shape> {
  const out = new Map<string, Shape>();
  for (const vi of [...(graph.value_info ?? []), ...(graph.output ?? [])]) {
    const dims = vi.type?.tensor_type?.shape?.dim;
    if (!dims || !vi.name) continue;
    const d = declaredDims(dims);
    if (d.length > 0 && d[0] === null) d[0] = 1; // batch is irrelevant
    if (d.every((x) => x !== null)) out.set(vi.name, d as number[]);
  }
  return out;
}

function otherInputShape(input: ValueInfoProto): Shape | null {
  const dims = input.type?.tensor_type?.shape?.dim;
  if (!dims) return null;
  const d = declaredDims(dims);
  if (d.length > 0 && d[0] === null) d[0] = 1;
  return d.every((x) => x !== null) ? (d as number[]) : null;
}

/**
 * The shape used for the model's (first) input: --input-shape when given (checked against the
 * declared dims), else the declared dims with batch 1 and unknown spatial dims defaulted.
 */
export interface PrimaryInputShape {
  shape: Shape | null;
  source: InputShapeSource;
  /** Axes whose length was assumed (DEFAULT_SPATIAL_SIZE), not given by the model or the flag. */
  assumedAxes: number[];
}

export function primaryInputShape(input: ValueInfoProto, graph: GraphProto, given: number[] | undefined, warnings: string[]): PrimaryInputShape {
  const name = input.name ?? '';
  const dimProtos = input.type?.tensor_type?.shape?.dim;
  const declared = dimProtos ? declaredDims(dimProtos) : null;
  // protobufjs decodes an absent dim_param as '' (PP-OCRv3 exports have dims with neither value nor name)
  const show = (d: (number | null)[]) => `[${d.map((x, i) => x ?? (dimProtos?.[i]?.dim_param || '?')).join(', ')}]`;
  if (given) {
    if (given.length === 0 || given.some((v) => !Number.isSafeInteger(v) || v < 1)) {
      throw new InputError(`--input-shape [${given.join(', ')}] must be positive integers`);
    }
    let shape = [...given];
    if (declared) {
      if (shape.length === declared.length - 1) shape = [1, ...shape];
      if (shape.length !== declared.length) {
        throw new InputError(`--input-shape [${given.join(', ')}] has rank ${given.length}, the model input '${name}' ${show(declared)} has rank ${declared.length}`);
      }
      const readAs = shape.length === given.length ? '' : ` read as [${shape.join(', ')}] (batch added)`;
      declared.forEach((d, i) => {
        if (i > 0 && d !== null && d !== shape[i]) {
          throw new InputError(`--input-shape [${given.join(', ')}]${readAs} does not match the model input '${name}' ${show(declared)} (axis ${i} is ${d})`);
        }
      });
    }
    return { shape: checkSize(shape), source: 'flag', assumedAxes: [] };
  }
  const unknown: PrimaryInputShape = { shape: null, source: 'unknown', assumedAxes: [] };
  if (!declared) {
    warnings.push(`input '${name}' declares no shape; layer input sizes are unknown (pass --input-shape)`);
    return unknown;
  }
  const shape = [...declared];
  if (shape.length > 0 && shape[0] === null) shape[0] = 1;
  const channelAxis = isNhwc(name, graph, shape.length) ? shape.length - 1 : 1;
  const defaulted: number[] = [];
  for (let i = 1; i < shape.length; i++) {
    if (shape[i] !== null) continue;
    if (i === channelAxis || shape.length < 3) {
      warnings.push(`input '${name}' ${show(declared)} has an unknown channel count; layer input sizes are unknown (pass --input-shape)`);
      return unknown;
    }
    shape[i] = DEFAULT_SPATIAL_SIZE;
    defaulted.push(i);
  }
  if (defaulted.length) {
    warnings.push(
      `input '${name}' ${show(declared)} has symbolic spatial dims; assumed ${DEFAULT_SPATIAL_SIZE} for ${defaulted.map((i) => dimProtos?.[i]?.dim_param || `axis ${i}`).join(', ')} (power iteration runs at that size; certified bounds use only rules valid for every size; pass --input-shape to choose)`,
    );
  }
  return { shape: checkSize(shape as number[]), source: defaulted.length ? 'assumed' : 'model', assumedAxes: defaulted };
}

/**
 * The shapes of `base` with every dim that differs in `probed` replaced by a symbol (< 0): one symbol
 * per distinct (base, probed) pair of lengths, so the same function of the input size gets the same
 * symbol. A shape whose rank differs between the runs, or that one run lacks, becomes unknown.
 */
function symbolicShapes(base: ShapeMap, probed: ShapeMap): ShapeMap {
  const out = new ShapeMap();
  const symbols = new Map<string, number>();
  for (const [name, a] of base.shapes) {
    const b = probed.shapes.get(name) ?? null;
    if (!a || !b || a.length !== b.length) {
      out.shapes.set(name, a && a.every((d, i) => d === b?.[i]) ? a : null);
      continue;
    }
    out.shapes.set(
      name,
      a.map((d, i) => {
        if (d === b[i]) return d;
        const key = `${d}:${b[i]}`;
        if (!symbols.has(key)) symbols.set(key, -(symbols.size + 1));
        return symbols.get(key)!;
      }),
    );
  }
  return out;
}

function checkSize(shape: number[]): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_INPUT_ELEMENTS) throw new InputError(`input shape [${shape.join(', ')}] is absurdly large (${n} elements)`);
  return shape;
}

/** NHWC inputs (tf2onnx) go straight into a Transpose to NCHW. */
function isNhwc(name: string, graph: GraphProto, rank: number): boolean {
  if (rank < 3) return false;
  const first = graph.node.find((n) => (n.input ?? []).includes(name));
  if (!first || first.op_type !== 'Transpose') return false;
  const perm = first.attribute?.find((a) => a.name === 'perm')?.ints?.map((v) => toNumber(v));
  const nchw = [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, i) => i + 1)];
  return !!perm && perm.join(',') === nchw.join(',');
}
