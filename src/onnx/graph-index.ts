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
 * sorted (as ONNX requires); a few exporters emit nodes out of order. Kahn's algorithm taking
 * the lowest-index ready node first: O(n log n), so a hostile reversed graph cannot stall it.
 */
export function topologicalOrder(graph: GraphProto, available: Set<string>): NodeProto[] {
  const nodes = graph.node ?? [];
  const missing = new Array<number>(nodes.length).fill(0);
  const waiting = new Map<string, number[]>(); // tensor name -> nodes still waiting for it
  const ready = new MinHeap();
  nodes.forEach((n, i) => {
    const need = new Set((n.input ?? []).filter((x) => x && !available.has(x)));
    missing[i] = need.size;
    for (const x of need) {
      const list = waiting.get(x);
      if (list) list.push(i);
      else waiting.set(x, [i]);
    }
    if (need.size === 0) ready.push(i);
  });
  const produced = new Set(available);
  const done = new Array<boolean>(nodes.length).fill(false);
  const order: NodeProto[] = [];
  for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
    done[i] = true;
    order.push(nodes[i]);
    for (const o of nodes[i].output ?? []) {
      if (!o || produced.has(o)) continue;
      produced.add(o);
      for (const j of waiting.get(o) ?? []) if (--missing[j] === 0) ready.push(j);
    }
  }
  // Anything left has an input nobody produces (or a cycle): keep it, in file order, at the end.
  nodes.forEach((n, i) => { if (!done[i]) order.push(n); });
  return order;
}

/** A binary min-heap of node indices. */
class MinHeap {
  private readonly a: number[] = [];

  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }

  pop(): number | undefined {
    const a = this.a;
    if (a.length <= 1) return a.pop();
    const top = a[0];
    a[0] = a.pop()!;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l] < a[m]) m = l;
      if (r < a.length && a[r] < a[m]) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i], a[m]];
      i = m;
    }
    return top;
  }
}
