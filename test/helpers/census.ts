// An independent census of the layers lipcheck should find in an ONNX file: the wire format decoded
// here with protobufjs and the few onnx.proto fields it needs (field numbers from onnx/onnx.proto),
// sharing no code with src/onnx (schema, loader, shape inference). Top-level graph only (lipcheck lists
// layers inside If/Loop bodies as unsupported). `npx tsx scripts/census.ts <model.onnx>` prints it.
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto2";
message TensorProto { optional string name = 8; }
message SparseTensorProto { optional TensorProto values = 1; }
message AttributeProto {
  optional string name = 1;
  optional int64 i = 3;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string domain = 7;
}
message GraphProto {
  repeated NodeProto node = 1;
  repeated TensorProto initializer = 5;
  repeated SparseTensorProto sparse_initializer = 15;
}
message ModelProto { optional GraphProto graph = 7; }
`;

const Model = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('ModelProto');

interface Node {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  attribute?: { name?: string; i?: number | { toNumber(): number } }[];
  domain?: string;
}

export interface Census {
  Conv: number;
  /** Conv with group > 1 (depthwise or grouped). */
  depthwiseOrGrouped: number;
  ConvTranspose: number;
  Gemm: number;
  /** MatMul whose second input (the weight) is an initializer or a Constant node's output. */
  MatMulConst: number;
  /** MatMul with neither input constant (attention products): lipcheck cannot bound these. */
  MatMulDynamic: number;
  BatchNormalization: number;
}

export const CENSUS_KEYS: (keyof Census)[] = ['Conv', 'depthwiseOrGrouped', 'ConvTranspose', 'Gemm', 'MatMulConst', 'MatMulDynamic', 'BatchNormalization'];

const int = (v: number | { toNumber(): number } | undefined, dflt: number) => (v === undefined || v === null ? dflt : typeof v === 'number' ? v : v.toNumber());

/** Counts per op of the model's top-level graph (default-domain ops only). */
export function censusOf(bytes: Uint8Array): Census {
  const model = Model.toObject(Model.decode(bytes), { defaults: false }) as { graph?: { node?: Node[]; initializer?: { name?: string }[]; sparse_initializer?: { values?: { name?: string } }[] } };
  const g = model.graph ?? {};
  const nodes = (g.node ?? []).filter((n) => !n.domain || n.domain === 'ai.onnx');
  const constant = new Set<string>([...(g.initializer ?? []).map((t) => t.name ?? ''), ...(g.sparse_initializer ?? []).map((t) => t.values?.name ?? '')]);
  for (const n of nodes) if (n.op_type === 'Constant') for (const o of n.output ?? []) constant.add(o);
  const c: Census = { Conv: 0, depthwiseOrGrouped: 0, ConvTranspose: 0, Gemm: 0, MatMulConst: 0, MatMulDynamic: 0, BatchNormalization: 0 };
  for (const n of nodes) {
    const inputs = n.input ?? [];
    switch (n.op_type) {
      case 'Conv':
        c.Conv++;
        if (int((n.attribute ?? []).find((a) => a.name === 'group')?.i, 1) > 1) c.depthwiseOrGrouped++;
        break;
      case 'ConvTranspose':
        c.ConvTranspose++;
        break;
      case 'Gemm':
        c.Gemm++;
        break;
      case 'MatMul':
        if (constant.has(inputs[1])) c.MatMulConst++;
        else if (!constant.has(inputs[0])) c.MatMulDynamic++;
        break;
      case 'BatchNormalization':
        c.BatchNormalization++;
        break;
    }
  }
  return c;
}
