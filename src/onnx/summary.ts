// The bound-free graph summary (src/model/graph.ts) the engine walks for the whole-network bound.
import type { GraphNode, GraphSummary } from '../model/graph.js';
import { Attributes } from './attributes.js';
import type { ConstantResolver } from './constants.js';
import type { Extraction } from './extract.js';
import type { GraphProto, NodeProto } from './schema.js';
import type { ShapeMap } from './shapes.js';

export function summarizeGraph(
  graph: GraphProto,
  sortedNodes: NodeProto[],
  runtimeInputs: string[],
  resolver: ConstantResolver,
  shapes: ShapeMap,
  extraction: Extraction,
): GraphSummary {
  // One float copy per constant, shared by all its consumers (not one per consumer node).
  const floats = new Map<string, Float32Array | null>();
  const asFloat = (name: string): Float32Array | null => {
    if (floats.has(name)) return floats.get(name)!;
    const t = resolver.get(name || null);
    const f = !t ? null : t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    floats.set(name, f);
    return f;
  };
  const nodes: GraphNode[] = sortedNodes.map((node, index) => {
    const inputs = [...(node.input ?? [])];
    const outputs = [...(node.output ?? [])];
    const constInputs = inputs.map(asFloat);
    return {
      index,
      name: node.name || `${node.op_type}_${index}`,
      op: node.op_type ?? '',
      domain: node.domain && node.domain !== 'ai.onnx' ? node.domain : '',
      inputs,
      outputs,
      attrs: new Attributes(node).scalars(),
      constInputs,
      constShapes: inputs.map((n) => (n ? resolver.dimsOf(n) : null)),
      inputShapes: inputs.map((n) => shapes.get(n || null)),
      outputShapes: outputs.map((n) => shapes.get(n || null)),
      layerIndex: extraction.layerOf.get(node) ?? null,
      absorbedInto: extraction.absorbed.get(node) ?? null,
      // A node computes only constants when its first output is one (Constant, weight Casts...).
      constant: outputs.length > 0 && resolver.get(outputs[0] || null) !== null,
    };
  });
  return { inputs: runtimeInputs, outputs: (graph.output ?? []).map((o) => o.name ?? ''), nodes, inputSizeAssumed: false };
}
