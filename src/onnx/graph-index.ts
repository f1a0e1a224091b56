// Who produces and who consumes each tensor of a graph.
import type { GraphProto, NodeProto } from './schema.js';

export class GraphIndex {
  readonly producer = new Map<string, { node: NodeProto; index: number }>();
  readonly consumers = new Map<string, { node: NodeProto; index: number }[]>();
  readonly initializerNames: Set<string>;
  readonly outputNames: Set<string>;

  constructor(readonly graph: GraphProto) {
    this.initializerNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
    this.outputNames = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    graph.node.forEach((node, index) => {
      for (const out of node.output ?? []) if (out) this.producer.set(out, { node, index });
      for (const inp of node.input ?? []) {
        if (!inp) continue;
        const list = this.consumers.get(inp) ?? [];
        list.push({ node, index });
        this.consumers.set(inp, list);
      }
    });
  }

  consumerCount(name: string): number {
    return (this.consumers.get(name)?.length ?? 0) + (this.outputNames.has(name) ? 1 : 0);
  }
}

/** Optional inputs are written as '' or left off the end. */
export function inputAt(node: NodeProto, i: number): string | null {
  const name = node.input?.[i];
  return name ? name : null;
}

export function nodeLabel(node: NodeProto): string {
  return node.name || `${node.op_type ?? '?'} -> ${node.output?.[0] ?? '?'}`;
}

/**
 * Nodes in a topological order that keeps the file's order whenever the file is already
 * sorted (as ONNX requires); a few exporters emit nodes out of order.
 */
export function topologicalOrder(graph: GraphProto, available: Set<string>): NodeProto[] {
  const nodes = graph.node ?? [];
  const ready = new Set(available);
  const done = new Array<boolean>(nodes.length).fill(false);
  const order: NodeProto[] = [];
  let progress = true;
  while (order.length < nodes.length && progress) {
    progress = false;
    for (let i = 0; i < nodes.length; i++) {
      if (done[i]) continue;
      const n = nodes[i];
      if ((n.input ?? []).every((x) => !x || ready.has(x))) {
        done[i] = true;
        order.push(n);
        for (const o of n.output ?? []) ready.add(o);
        progress = true;
      }
    }
  }
  // Anything left has an input nobody produces (or a cycle): keep it, in file order, at the end.
  nodes.forEach((n, i) => { if (!done[i]) order.push(n); });
  return order;
}
