// Typed access to a node's attributes, with the defaults the ONNX spec gives.
import { InputError } from '../errors.js';
import { AttributeType, toNumber, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './schema.js';

export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();

  constructor(private readonly node: NodeProto) {
    for (const a of node.attribute ?? []) if (a.name) this.byName.set(a.name, a);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  int(name: string, fallback: number): number {
    const a = this.byName.get(name);
    return a && a.i !== undefined && a.i !== null ? toNumber(a.i) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.byName.get(name);
    return a && a.f !== undefined && a.f !== null ? a.f : fallback;
  }

  ints(name: string): number[] | null {
    const a = this.byName.get(name);
    if (!a) return null;
    return (a.ints ?? []).map((v) => toNumber(v));
  }

  floats(name: string): number[] | null {
    const a = this.byName.get(name);
    return a ? [...(a.floats ?? [])] : null;
  }

  string(name: string, fallback: string): string {
    const a = this.byName.get(name);
    return a?.s && a.s.length > 0 ? text(a.s) : fallback;
  }

  tensor(name: string): TensorProto | null {
    return this.byName.get(name)?.t ?? null;
  }

  /** Every subgraph held by this node's attributes (If branches, Loop/Scan bodies), with the attribute name. */
  graphs(): { attr: string; graph: GraphProto }[] {
    const out: { attr: string; graph: GraphProto }[] = [];
    for (const [name, a] of this.byName) {
      if (a.g) out.push({ attr: name, graph: a.g });
      for (const g of a.graphs ?? []) out.push({ attr: name, graph: g });
    }
    return out;
  }

  /** Scalars and lists for the graph summary; tensors and graphs omitted. */
  scalars(): Record<string, number | string | number[] | string[] | null> {
    const out: Record<string, number | string | number[] | string[] | null> = {};
    for (const [name, a] of this.byName) {
      switch (a.type) {
        case AttributeType.INT: out[name] = toNumber(a.i); break;
        case AttributeType.FLOAT: out[name] = a.f ?? 0; break;
        case AttributeType.STRING: out[name] = text(a.s); break;
        case AttributeType.INTS: out[name] = (a.ints ?? []).map((v) => toNumber(v)); break;
        case AttributeType.FLOATS: out[name] = [...(a.floats ?? [])]; break;
        case AttributeType.STRINGS: out[name] = (a.strings ?? []).map(text); break;
        default: break;
      }
    }
    return out;
  }
}

/** UTF-8 text of a bytes field. An unset bytes field decodes as a plain empty array (protobufjs's default), not a Uint8Array. */
function text(b: Uint8Array | undefined): string {
  return b && b.length > 0 ? new TextDecoder().decode(b) : '';
}

/** A list attribute of a conv/pool op with one value per spatial axis, checked. */
export function perAxis(attrs: Attributes, name: string, spatial: number, fallback: number, nodeName: string): number[] {
  const v = attrs.ints(name);
  if (v === null || v.length === 0) return new Array<number>(spatial).fill(fallback);
  if (v.length !== spatial) {
    throw new InputError(`node '${nodeName}': attribute ${name} has ${v.length} values, expected ${spatial}`);
  }
  return v;
}
