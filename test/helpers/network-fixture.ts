// A small-model fixture for the whole-network walk: builds an ONNX model in memory and,
// independently of the loader, the GraphSummary the loader would produce (shapes from onnxruntime
// runs, optionally with symbolic dims), plus the exact norms of its conv/dense layers.
import { attr, type AttrValue, buildModel, floatTensor, intTensor, node, valueInfo, type NodeObj, type TensorObj } from '../../src/onnx/build.js';
import { AttributeType, DataType } from '../../src/onnx/schema.js';
import type { AttrScalar, GraphNode, GraphSummary } from '../../src/model/graph.js';
import type { ConvLayer, DenseLayer } from '../../src/model/layer.js';
import { exactNorm, makeConv, makeDense, type ConvSpec } from './exact.js';
import { tensorShapes } from './empirical.js';

function attrsOf(n: NodeObj): Record<string, AttrScalar> {
  const out: Record<string, AttrScalar> = {};
  for (const a of (n.attribute as Record<string, unknown>[]) ?? []) {
    const name = a.name as string;
    switch (a.type) {
      case AttributeType.INT: out[name] = a.i as number; break;
      case AttributeType.FLOAT: out[name] = a.f as number; break;
      case AttributeType.STRING: out[name] = new TextDecoder().decode(a.s as Uint8Array); break;
      case AttributeType.INTS: out[name] = a.ints as number[]; break;
      case AttributeType.FLOATS: out[name] = a.floats as number[]; break;
    }
  }
  return out;
}

/** Builds a model and, independently of the loader, the GraphSummary the loader would produce. */
export class Fixture {
  nodes: NodeObj[] = [];
  inits: TensorObj[] = [];
  consts = new Map<string, { dims: number[]; data: Float32Array }>();
  layers: (ConvLayer | DenseLayer)[] = [];
  layerOfNode = new Map<string, number>();
  private k = 0;
  constructor(public inputShape: number[]) {}

  constant(name: string, dims: number[], data: ArrayLike<number>): string {
    const f = Float32Array.from(data);
    this.consts.set(name, { dims, data: f });
    this.inits.push(floatTensor(name, dims, f));
    return name;
  }
  intConstant(name: string, dims: number[], data: number[]): string {
    this.consts.set(name, { dims, data: Float32Array.from(data) }); // the loader hands int constants over as floats
    this.inits.push(intTensor(name, dims, data, DataType.INT64));
    return name;
  }
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    const nm = name ?? `${op.toLowerCase()}${this.k++}`;
    this.nodes.push(node(op, inputs, [nm], attrs, nm));
    return nm;
  }
  /** A conv layer with He weights times `scale`; its record is what the engine would bound. */
  conv(x: string, spec: ConvSpec & { scale?: number }): string {
    const base = makeConv(spec);
    const layer: ConvLayer = { ...base, weight: base.weight.map((v) => v * (spec.scale ?? 1)) };
    const w = this.constant(`w${this.k}`, layer.weightShape, layer.weight);
    const out = this.op('Conv', [x, w], {
      kernel_shape: attr.ints(spec.kernel),
      strides: attr.ints(layer.strides),
      pads: attr.ints(layer.pads),
      dilations: attr.ints(layer.dilations),
      group: attr.i(layer.group),
    });
    this.layerOfNode.set(out, this.layers.push(layer) - 1);
    return out;
  }
  dense(x: string, rows: number, cols: number, seed: number): string {
    const layer = makeDense(rows, cols, seed);
    const w = this.constant(`w${this.k}`, [rows, cols], layer.weight);
    const out = this.op('Gemm', [x, w], { transB: attr.i(1) });
    this.layerOfNode.set(out, this.layers.push(layer) - 1);
    return out;
  }
  /**
   * With `alsoAt` (more input shapes, same rank), the input axes whose length differs between the
   * shapes are declared symbolic in the model, and every tensor dim that differs between the runs
   * at those sizes becomes a symbol (< 0) in the summary: equal symbols where the lengths agree at
   * every size, as GraphNode.inputShapes documents.
   */
  async build(outputs: string[], opset = 17, alsoAt: number[][] = []): Promise<{ bytes: Uint8Array; summary: GraphSummary; layerBounds: number[] }> {
    const varies = this.inputShape.map((d, a) => alsoAt.some((s) => s[a] !== d));
    const spec = {
      opset,
      nodes: this.nodes,
      initializers: this.inits,
      inputs: [valueInfo('x', ['N', ...this.inputShape.slice(1).map((d, a) => (varies[a + 1] ? `s${a + 1}` : d))])],
      outputs: outputs.map((t) => valueInfo(t, null)),
    };
    const shapes = await tensorShapes(spec, this.inputShape);
    const others = await Promise.all(alsoAt.map((s) => tensorShapes(spec, s)));
    const symbols = new Map<string, number>();
    for (const [t, dims] of shapes) {
      const sym = dims.map((d, a) => {
        const key = [d, ...others.map((o) => o.get(t)![a])];
        if (key.every((v) => v === d)) return d;
        if (!symbols.has(key.join())) symbols.set(key.join(), -(symbols.size + 1));
        return symbols.get(key.join())!;
      });
      shapes.set(t, sym);
    }
    const gnodes: GraphNode[] = this.nodes.map((n, index) => {
      const inputs = n.input as string[];
      const outs = n.output as string[];
      return {
        index,
        name: n.name as string,
        op: n.op_type as string,
        domain: '',
        inputs,
        outputs: outs,
        attrs: attrsOf(n),
        constInputs: inputs.map((t) => this.consts.get(t)?.data ?? null),
        constShapes: inputs.map((t) => this.consts.get(t)?.dims ?? null),
        inputShapes: inputs.map((t) => shapes.get(t) ?? null),
        outputShapes: outs.map((t) => shapes.get(t) ?? null),
        layerIndex: this.layerOfNode.get(n.name as string) ?? null,
        absorbedInto: null,
        constant: false,
      };
    });
    return {
      bytes: buildModel(spec),
      summary: { inputs: ['x'], outputs, nodes: gnodes, ...(alsoAt.length > 0 ? { inputSizeAssumed: true } : {}) },
      layerBounds: this.layers.map((l) => exactNorm(l)),
    };
  }
}
