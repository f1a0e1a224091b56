// Generated benchmark models with realistic shapes and seeded He-initialised weights:
// ResNet-50 and VGG-16 (ImageNet, 224x224), MobileNetV2 (depthwise), a CIFAR ResNet-18, and the late
// stages of MobileNetV3, EfficientNet-B0 and ConvNeXt (large depthwise kernels on small maps).
// Written at bench time into bench/models/ (git-ignored), never committed.
import { attr, buildModel, floatTensor, node, valueInfo, type NodeObj, type TensorObj } from '../src/onnx/build.js';
import { seededNormal } from '../src/util/random.js';

/** A tiny graph builder: each call appends nodes and returns the output tensor name. */
class Net {
  nodes: NodeObj[] = [];
  inits: TensorObj[] = [];
  private n = 0;
  private readonly gauss: () => number;
  constructor(seed: number) {
    this.gauss = seededNormal(seed);
  }
  private id(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }
  private he(count: number, fanIn: number): Float32Array {
    const s = Math.sqrt(2 / fanIn);
    const w = new Float32Array(count);
    for (let i = 0; i < count; i++) w[i] = this.gauss() * s;
    return w;
  }
  conv(x: string, cin: number, cout: number, k: number, stride = 1, group = 1, pad = Math.floor(k / 2)): string {
    const name = this.id('conv');
    const w = this.he(cout * (cin / group) * k * k, (cin / group) * k * k);
    this.inits.push(floatTensor(`${name}.weight`, [cout, cin / group, k, k], w));
    this.inits.push(floatTensor(`${name}.bias`, [cout], new Float32Array(cout)));
    const y = `${name}_out`;
    this.nodes.push(
      node('Conv', [x, `${name}.weight`, `${name}.bias`], [y], {
        kernel_shape: attr.ints([k, k]),
        strides: attr.ints([stride, stride]),
        pads: attr.ints([pad, pad, pad, pad]),
        group: attr.i(group),
      }, name),
    );
    return y;
  }
  op(op: string, inputs: string[], attrs: Parameters<typeof node>[3] = {}): string {
    const name = this.id(op.toLowerCase());
    const y = `${name}_out`;
    this.nodes.push(node(op, inputs, [y], attrs, name));
    return y;
  }
  relu(x: string): string {
    return this.op('Relu', [x]);
  }
  relu6(x: string): string {
    const lo = this.id('zero');
    const hi = this.id('six');
    this.inits.push(floatTensor(lo, [], [0]), floatTensor(hi, [], [6]));
    return this.op('Clip', [x, lo, hi]);
  }
  scalar(v: number): string {
    const n = this.id('k');
    this.inits.push(floatTensor(n, [], [v]));
    return n;
  }
  hardSwish(x: string): string {
    return this.op('HardSwish', [x]);
  }
  /** SiLU as PyTorch exports it below opset 14: x * sigmoid(x). */
  silu(x: string): string {
    return this.op('Mul', [x, this.op('Sigmoid', [x])]);
  }
  /** Squeeze-and-excitation: x * gate(W2 act(W1 GAP(x) + b1) + b2), the two FCs as 1x1 convs. */
  se(x: string, c: number, squeeze: number, act: (t: string) => string, gate: (t: string) => string): string {
    const s = act(this.conv(this.op('GlobalAveragePool', [x]), c, squeeze, 1));
    return this.op('Mul', [x, gate(this.conv(s, squeeze, c, 1))]);
  }
  /** LayerNorm over channels written out (ConvNeXt's channels-first LayerNorm): (x - mean) / sqrt(var + eps) * gamma + beta. */
  layerNorm(x: string, c: number): string {
    const u = this.op('Sub', [x, this.op('ReduceMean', [x], { axes: attr.ints([1]) })]);
    const v = this.op('ReduceMean', [this.op('Pow', [u, this.scalar(2)])], { axes: attr.ints([1]) });
    const z = this.op('Div', [u, this.op('Sqrt', [this.op('Add', [v, this.scalar(1e-6)])])]);
    const name = this.id('ln');
    this.inits.push(floatTensor(`${name}.gamma`, [1, c, 1, 1], Float32Array.from({ length: c }, () => 1 + 0.1 * this.gauss())));
    this.inits.push(floatTensor(`${name}.beta`, [1, c, 1, 1], Float32Array.from({ length: c }, () => 0.1 * this.gauss())));
    return this.op('Add', [this.op('Mul', [z, `${name}.gamma`]), `${name}.beta`]);
  }
  /** GELU as exported before opset 20: x * 0.5 * (1 + erf(x / sqrt 2)). */
  gelu(x: string): string {
    const e = this.op('Erf', [this.op('Div', [x, this.scalar(Math.SQRT2)])]);
    return this.op('Mul', [this.op('Mul', [x, this.op('Add', [e, this.scalar(1)])]), this.scalar(0.5)]);
  }
  maxpool(x: string, k: number, s: number, p: number): string {
    return this.op('MaxPool', [x], { kernel_shape: attr.ints([k, k]), strides: attr.ints([s, s]), pads: attr.ints([p, p, p, p]) });
  }
  gap(x: string): string {
    return this.op('Flatten', [this.op('GlobalAveragePool', [x])]);
  }
  dense(x: string, cin: number, cout: number): string {
    const name = this.id('fc');
    this.inits.push(floatTensor(`${name}.weight`, [cout, cin], this.he(cout * cin, cin)));
    this.inits.push(floatTensor(`${name}.bias`, [cout], new Float32Array(cout)));
    const y = `${name}_out`;
    this.nodes.push(node('Gemm', [x, `${name}.weight`, `${name}.bias`], [y], { transB: attr.i(1) }, name));
    return y;
  }
  build(inputShape: number[], out: string): Uint8Array {
    return buildModel({
      nodes: this.nodes,
      initializers: this.inits,
      inputs: [valueInfo('input', inputShape)],
      outputs: [valueInfo(out, null)],
      producer: 'lipcheck-bench',
    });
  }
}

function resnet50(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = g.maxpool(g.relu(g.conv('input', 3, 64, 7, 2, 1, 3)), 3, 2, 1);
  let cin = 64;
  const stages: [number, number, number][] = [[64, 3, 1], [128, 4, 2], [256, 6, 2], [512, 3, 2]];
  for (const [width, blocks, stride] of stages) {
    for (let b = 0; b < blocks; b++) {
      const s = b === 0 ? stride : 1;
      let y = g.relu(g.conv(x, cin, width, 1));
      y = g.relu(g.conv(y, width, width, 3, s));
      y = g.conv(y, width, width * 4, 1);
      const skip = b === 0 ? g.conv(x, cin, width * 4, 1, s, 1, 0) : x;
      x = g.relu(g.op('Add', [y, skip]));
      cin = width * 4;
    }
  }
  return g.build([1, 3, 224, 224], g.dense(g.gap(x), 2048, 1000));
}

function vgg16(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = 'input';
  let cin = 3;
  for (const v of [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'] as const) {
    if (v === 'M') x = g.maxpool(x, 2, 2, 0);
    else {
      x = g.relu(g.conv(x, cin, v, 3));
      cin = v;
    }
  }
  x = g.op('Flatten', [x]);
  x = g.relu(g.dense(x, 512 * 7 * 7, 4096));
  x = g.relu(g.dense(x, 4096, 4096));
  return g.build([1, 3, 224, 224], g.dense(x, 4096, 1000));
}

function mobilenetV2(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = g.relu6(g.conv('input', 3, 32, 3, 2));
  let cin = 32;
  const cfg: [number, number, number, number][] = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  for (const [t, c, n, s] of cfg) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = cin * t;
      let y = t === 1 ? x : g.relu6(g.conv(x, cin, hidden, 1));
      y = g.relu6(g.conv(y, hidden, hidden, 3, stride, hidden));
      y = g.conv(y, hidden, c, 1);
      x = stride === 1 && cin === c ? g.op('Add', [x, y]) : y;
      cin = c;
    }
  }
  x = g.relu6(g.conv(x, cin, 1280, 1));
  return g.build([1, 3, 224, 224], g.dense(g.gap(x), 1280, 1000));
}

function cifarResnet18(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = g.relu(g.conv('input', 3, 64, 3));
  let cin = 64;
  for (const [width, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
    for (let b = 0; b < 2; b++) {
      const s = b === 0 ? stride : 1;
      let y = g.relu(g.conv(x, cin, width, 3, s));
      y = g.conv(y, width, width, 3);
      const skip = s !== 1 || cin !== width ? g.conv(x, cin, width, 1, s, 1, 0) : x;
      x = g.relu(g.op('Add', [y, skip]));
      cin = width;
    }
  }
  return g.build([1, 3, 32, 32], g.dense(g.gap(x), 512, 10));
}

/** MobileNetV2 / V3 and EfficientNet inverted residual: 1x1 expand, depthwise k x k, 1x1 project. */
function invertedResidual(
  g: Net, x: string, cin: number, hidden: number, cout: number, k: number, stride: number,
  act: (t: string) => string = (t) => g.relu(t), se?: (t: string) => string,
): string {
  let y = hidden === cin ? x : act(g.conv(x, cin, hidden, 1));
  y = act(g.conv(y, hidden, hidden, k, stride, hidden));
  if (se) y = se(y);
  y = g.conv(y, hidden, cout, 1);
  return stride === 1 && cin === cout ? g.op('Add', [x, y]) : y;
}

/**
 * Late-stage stacks of modern CNNs (the layers whose per-layer tightness issue 19 is about: 3x3, 5x5 and
 * 7x7 depthwise convs on 14x14 and 7x7 maps), from a 28x28 feature map; squeeze-excitation, LayerNorm
 * and HardSwish / SiLU / GELU are left out (they do not change the conv layers' shapes).
 */
function stack(seed: number, cin: number, blocks: [number, number, number, number][]): Uint8Array {
  const g = new Net(seed);
  let x = 'input';
  let c = cin;
  for (const [hidden, cout, k, stride] of blocks) {
    x = invertedResidual(g, x, c, hidden, cout, k, stride);
    c = cout;
  }
  return g.build([1, cin, 28, 28], g.dense(g.gap(g.relu(g.conv(x, c, 1280, 1))), 1280, 1000));
}

/** MobileNetV3-Large from its 28x28 stage: [expansion, out, kernel, stride] as in the paper's table. */
const mobilenetV3Stack = (seed: number) =>
  stack(seed, 40, [[240, 80, 3, 2], [200, 80, 3, 1], [184, 80, 3, 1], [184, 80, 3, 1], [480, 112, 3, 1], [672, 112, 3, 1], [672, 160, 5, 2], [960, 160, 5, 1], [960, 160, 5, 1]]);

/** EfficientNet-B0 from its 28x28 stage (stages 4-7: MBConv6, 3x3 / 5x5). */
const efficientNetB0Stack = (seed: number) =>
  stack(seed, 40, [[240, 80, 3, 2], [480, 80, 3, 1], [480, 80, 3, 1], [480, 112, 5, 1], [672, 112, 5, 1], [672, 112, 5, 1], [672, 192, 5, 2], [1152, 192, 5, 1], [1152, 192, 5, 1], [1152, 192, 5, 1], [1152, 320, 3, 1]]);

/** ConvNeXt-T stages 3 and 4 (three blocks each): 2x2 stride-2 downsampling, 7x7 depthwise, 4x MLP as 1x1 convs. */
function convnextStack(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = 'input';
  let c = 192;
  for (const width of [384, 768]) {
    x = g.conv(x, c, width, 2, 2, 1, 0);
    c = width;
    for (let b = 0; b < 3; b++) {
      let y = g.conv(x, c, c, 7, 1, c);
      y = g.conv(g.relu(g.conv(y, c, 4 * c, 1)), 4 * c, c, 1);
      x = g.op('Add', [x, y]);
    }
  }
  return g.build([1, 192, 28, 28], g.dense(g.gap(x), c, 1000));
}

/** Channels rounded to a multiple of 8, as torchvision's _make_divisible. */
function divisible8(v: number): number {
  const d = Math.max(8, Math.floor((v + 4) / 8) * 8);
  return d < 0.9 * v ? d + 8 : d;
}

/**
 * MobileNetV3-Large as torchvision builds it (224x224, no BatchNorm: He-initialised convs with zero
 * bias): HardSwish and ReLU bottlenecks, squeeze-and-excitation with a ReLU and a HardSigmoid gate.
 * The gates make it not globally Lipschitz: the benchmark of the local bound over an input box.
 */
function mobilenetV3Large(seed: number): Uint8Array {
  const g = new Net(seed);
  const hsig = (t: string) => g.op('HardSigmoid', [t], { alpha: attr.f(1 / 6), beta: attr.f(0.5) });
  let x = g.hardSwish(g.conv('input', 3, 16, 3, 2));
  let cin = 16;
  // [kernel, expanded, out, squeeze-excite, hardswish, stride]
  const cfg: [number, number, number, boolean, boolean, number][] = [
    [3, 16, 16, false, false, 1], [3, 64, 24, false, false, 2], [3, 72, 24, false, false, 1],
    [5, 72, 40, true, false, 2], [5, 120, 40, true, false, 1], [5, 120, 40, true, false, 1],
    [3, 240, 80, false, true, 2], [3, 200, 80, false, true, 1], [3, 184, 80, false, true, 1], [3, 184, 80, false, true, 1],
    [3, 480, 112, true, true, 1], [3, 672, 112, true, true, 1], [5, 672, 160, true, true, 2], [5, 960, 160, true, true, 1], [5, 960, 160, true, true, 1],
  ];
  for (const [k, hidden, cout, se, hs, stride] of cfg) {
    const act = (t: string) => (hs ? g.hardSwish(t) : g.relu(t));
    x = invertedResidual(g, x, cin, hidden, cout, k, stride, act, se ? (t) => g.se(t, hidden, divisible8(hidden / 4), (u) => g.relu(u), hsig) : undefined);
    cin = cout;
  }
  x = g.hardSwish(g.conv(x, cin, 960, 1));
  x = g.hardSwish(g.dense(g.gap(x), 960, 1280));
  return g.build([1, 3, 224, 224], g.dense(x, 1280, 1000));
}

/** EfficientNet-B0 (224x224, no BatchNorm): MBConv blocks with SiLU written out and squeeze-and-excitation (SiLU, sigmoid gate). */
function efficientNetB0(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = g.silu(g.conv('input', 3, 32, 3, 2));
  let cin = 32;
  // [expansion, kernel, stride, out, repeats]
  const cfg: [number, number, number, number, number][] = [[1, 3, 1, 16, 1], [6, 3, 2, 24, 2], [6, 5, 2, 40, 2], [6, 3, 2, 80, 3], [6, 5, 1, 112, 3], [6, 5, 2, 192, 4], [6, 3, 1, 320, 1]];
  for (const [t, k, s, cout, n] of cfg) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = cin * t;
      const se = (y: string) => g.se(y, hidden, Math.max(1, Math.floor(cin / 4)), (u) => g.silu(u), (u) => g.op('Sigmoid', [u]));
      x = invertedResidual(g, x, cin, hidden, cout, k, stride, (u) => g.silu(u), se);
      cin = cout;
    }
  }
  x = g.silu(g.conv(x, cin, 1280, 1));
  return g.build([1, 3, 224, 224], g.dense(g.gap(x), 1280, 1000));
}

/** ConvNeXt-style blocks with their LayerNorm (written out over channels) and erf-GELU, from a 56x56 stage-1 map: 7x7 depthwise, LN, 4x MLP, residual. */
function convnextLnStack(seed: number): Uint8Array {
  const g = new Net(seed);
  let x = 'input';
  let c = 96;
  for (const [width, blocks] of [[96, 3], [192, 3]] as const) {
    if (width !== c) {
      x = g.conv(g.layerNorm(x, c), c, width, 2, 2, 1, 0);
      c = width;
    }
    for (let b = 0; b < blocks; b++) {
      const y = g.layerNorm(g.conv(x, c, c, 7, 1, c), c);
      x = g.op('Add', [x, g.conv(g.gelu(g.conv(y, c, 4 * c, 1)), 4 * c, c, 1)]);
    }
  }
  return g.build([1, 96, 56, 56], g.dense(g.gap(g.layerNorm(x, c)), c, 1000));
}

export const BENCH_MODELS: Record<string, (seed: number) => Uint8Array> = {
  'cifar-resnet18': cifarResnet18,
  mobilenetv2: mobilenetV2,
  resnet50: resnet50,
  vgg16: vgg16,
  'mobilenetv3-stack': mobilenetV3Stack,
  'efficientnet-b0-stack': efficientNetB0Stack,
  'convnext-stack': convnextStack,
  'mobilenetv3-large': mobilenetV3Large,
  'efficientnet-b0': efficientNetB0,
  'convnext-ln-stack': convnextLnStack,
};
