// End-to-end: spawn the real executable on models whose norms are known exactly, and check exit
// codes, stdout/stderr separation, the JSON contract, colour, and every budget path.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { autoJobs, layerHash } from '../src/parallel-layers.js';
import { earlyForks } from '../src/audit.js';
import { attr, buildModel, floatTensor, node, valueInfo } from '../src/onnx/build.js';
import { normalArray } from '../src/util/random.js';
import { loadModel } from '../src/onnx/load.js';
import type { ConvLayer, Layer } from '../src/model/layer.js';
import type { LayerBounds } from '../src/layer/types.js';
import { CHAIN, ensureBuilt, expectOneLineError, parseReport, ROOT, runCli, runInProcess, STACK, writeModels, type CliRun } from './helpers/cli-models.js';
import { tempDir } from './helpers/tmp.js';

const ANSI = /\x1b\[/;
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
// Certified values may exceed the exact norm by the spectral certificate's tolerance (1e-4 relative).
const UPPER_SLACK = 1e-3;

let dir: string;
// `cli` spawns node bin/lipcheck; `inproc` calls main() here (same code, ~10x faster) for the many variants.
const cli = (args: string[], env?: Record<string, string>, cwd = dir) => runCli(args, { cwd, env });
const inproc = (args: string[], env?: Record<string, string>, cwd = dir) => runInProcess(args, { cwd, env });



beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('lipcheck-cli');
  await writeModels(dir);
});

describe.concurrent('lipcheck CLI', () => {
  it('--json: stdout is only the report, it validates, and the numbers match the exact norms', async () => {
    const run = await cli(['chain.onnx', '--json']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const r = parseReport(run);
    expect(r.tool).toEqual({ name: 'lipcheck', version: VERSION });
    expect(r.model).toMatchObject({ path: 'chain.onnx', opset: 17 });
    expect(r.layers.map((l) => [l.name, l.op, l.kind])).toEqual([['conv1', 'Conv', 'conv'], ['fc', 'Gemm', 'dense']]);
    const [conv, fc] = r.layers;
    for (const [layer, exact] of [[conv, CHAIN.conv1], [fc, CHAIN.fc]] as const) {
      for (const m of ['toeplitz', 'spectral', 'frobenius'] as const) {
        expect(layer.bounds[m]).toBeGreaterThanOrEqual(exact);
      }
      expect(layer.best).toBeGreaterThanOrEqual(exact);
      expect(layer.best).toBeLessThanOrEqual(exact * (1 + UPPER_SLACK));
      // power: a lower estimate, converged on these tiny operators.
      expect(layer.bounds.power).toBeLessThanOrEqual(exact * (1 + 1e-6));
      expect(layer.bounds.power).toBeGreaterThanOrEqual(exact * (1 - 1e-3));
      expect(layer.tightness).toBeCloseTo(layer.best! / layer.bounds.power!, 12);
    }
    expect(conv).toMatchObject({ weightShape: [2, 2, 1, 1], inputShape: [2, 4, 4], strides: [1, 1], group: 1 });
    expect(fc).toMatchObject({ weightShape: [4, 32], strides: null });
    expect(r.network.method).toBe('graph');
    // conv -> Flatten -> Gemm is a plain chain: the graph walk gives the product.
    expect(r.network.naiveProduct).toBeCloseTo(conv.best! * fc.best!, 12);
    expect(r.network.certified).toBe(true);
    expect(r.network.bound).toBeCloseTo(conv.best! * fc.best!, 12);
    expect(r.network.bound).toBeGreaterThanOrEqual(CHAIN.product);
    expect(r.network.bound).toBeLessThanOrEqual(CHAIN.product * (1 + 2 * UPPER_SLACK));
    expect(r.budget).toEqual({ limit: null, passed: true, failures: [] });
  });

  it('table (default) with NO_COLOR: rows, footer, no colour; the over-budget layer on stderr', async () => {
    const [spawned, plain] = await Promise.all([cli(['chain.onnx', '--layer-budget', '2.5'], { NO_COLOR: '1' }), inproc(['chain.onnx', '--layer-budget', '2.5'])]);
    for (const run of [spawned, plain]) {
      expect(run.code).toBe(1);
      expect(run.stdout).not.toMatch(ANSI);
      expect(run.stdout).toMatch(/│ conv1 +│ Conv +│ 2x2x1x1 +│ 1\/1\/1 +│ 2x4x4 +│/);
      expect(run.stdout).toMatch(/│ fc +│ Gemm +│ 4x32 +│ — +│ 32 +│ .* over: 3\.00\d > 2\.500 +│/);
      expect(run.stdout).toMatch(/network bound \(graph walk\): 6\.00\d +naive product of layer bounds: 6\.00\d/);
      expect(run.stdout).toMatch(/2 layers in \d/);
      // Only fc (3 > 2.5) is listed; conv1 (2) is within budget.
      expect(run.stderr).toMatch(/^lipcheck: budget exceeded: fc: best certified bound 3\.00\d > budget 2\.500 \(--layer-budget\)\n$/);
    }
  });

  it('FORCE_COLOR=1 turns colour on without a TTY; --no-color beats it', async () => {
    const [forced, flagged] = await Promise.all([
      cli(['chain.onnx', '--layer-budget', '2.5'], { FORCE_COLOR: '1' }),
      cli(['chain.onnx', '--layer-budget', '2.5', '--no-color'], { FORCE_COLOR: '1' }),
    ]);
    expect(forced.code).toBe(1);
    expect(forced.stdout).toMatch(/\x1b\[31mfc/); // the over-budget row is red
    expect(forced.stderr).toMatch(/\x1b\[31mlipcheck: budget exceeded: fc/);
    expect(flagged.code).toBe(1);
    expect(flagged.stdout + flagged.stderr).not.toMatch(ANSI);
  });

  it('--format markdown: a verdict line and a GFM table', async () => {
    const run = await cli(['chain.onnx', '--format', 'markdown', '--budget', '7']);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^✅ \*\*lipcheck: within budget\*\* · network bound \*\*6\.00\d\*\* · 2 layers$/);
    expect(lines[2]).toBe('| Layer | Op | Kernel | s/d/g | Input | toeplitz | spectral | power | frobenius | Tightness |');
    expect(lines.filter((l) => l.startsWith('| `'))).toHaveLength(2);
  });

  it('--budget gates the network bound: exit 1 over, 0 under', async () => {
    const [over, under] = await Promise.all([cli(['chain.onnx', '--budget', '5', '--json']), cli(['chain.onnx', '--budget', '7', '--json'])]);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/^lipcheck: budget exceeded: network: network bound 6\.00\d > budget 5\.000 \(--budget\)\n$/);
    expect(parseReport(over).budget).toMatchObject({ limit: 5, passed: false, failures: [{ scope: 'network', name: null, limit: 5 }] });
    expect(under.code).toBe(0);
    expect(under.stderr).toBe('');
    expect(parseReport(under).budget).toEqual({ limit: 7, passed: true, failures: [] });
  });

  it('--layer-budget gates every layer and lists each offender (fc: 3 > 2.5; conv1: 2 passes)', async () => {
    const run = await inproc(['chain.onnx', '--layer-budget', '2.5', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^lipcheck: budget exceeded: fc: best certified bound 3\.00\d > budget 2\.500 \(--layer-budget\)$/)]);
    const r = parseReport(run);
    expect(r.layers.map((l) => l.budget?.passed)).toEqual([true, false]);
    expect(r.budget.failures.map((f) => f.name)).toEqual(['fc']);
    const both = await inproc(['chain.onnx', '--layer-budget', '1']);
    expect(both.code).toBe(1);
    expect(both.stderr.match(/budget exceeded: (\w+)/g)).toEqual(['budget exceeded: conv1', 'budget exceeded: fc']);
  });

  it('--budget-method gates that method: frobenius of fc is sqrt(14) = 3.742 > 3.5, of conv1 sqrt(4.25) = 2.062', async () => {
    const [frob, power] = await Promise.all([
      inproc(['chain.onnx', '--json', '--budget-method', 'frobenius', '--layer-budget', '3.5']),
      inproc(['chain.onnx', '--json', '--budget-method', 'power', '--layer-budget', '3.5']),
    ]);
    expect(frob.code).toBe(1);
    const r = parseReport(frob);
    expect(r.settings.budgetMethod).toBe('frobenius');
    expect(r.layers[0].budget!.value).toBeCloseTo(Math.sqrt(4.25), 6);
    expect(r.layers[1].budget!.value).toBeCloseTo(Math.sqrt(14), 6);
    expect(r.budget.failures.map((f) => f.name)).toEqual(['fc']);
    expect(frob.stderr).toMatch(/^lipcheck: budget exceeded: fc: frobenius 3\.742 > budget 3\.500 \(--layer-budget\)\n$/);
    // Gating on a lower estimate passes here (power of fc ~ 3) but is warned about.
    expect(power.code).toBe(0);
    expect(power.stderr).toMatch(/^lipcheck: warning: gating on power, a lower estimate/);
  });

  it('lipcheck.config.json: per-layer patterns win over layerBudget; --config names another file', async () => {
    const sub = path.join(dir, 'with-config');
    await mkdir(sub, { recursive: true });
    await writeFile(path.join(sub, 'lipcheck.config.json'), JSON.stringify({ layerBudget: 1, layers: { 'f?': 3.5 } }));
    await writeFile(path.join(sub, 'strict.json'), JSON.stringify({ layers: { '/^conv/': 1.5 } }));
    const [found, explicit] = await Promise.all([
      cli([path.join(dir, 'chain.onnx'), '--json'], {}, sub),
      inproc([path.join(dir, 'chain.onnx'), '--json', '--config', 'strict.json'], {}, sub),
    ]);
    expect(found.code).toBe(1);
    expect(found.stderr).toMatch(/^lipcheck: budget exceeded: conv1: best certified bound 2\.000 > budget 1\.000 \(lipcheck\.config\.json: layerBudget\)\n$/);
    expect(parseReport(found).layers[1].budget).toMatchObject({ limit: 3.5, passed: true, source: 'lipcheck.config.json: layers["f?"]' });
    expect(explicit.code).toBe(1);
    const r = parseReport(explicit);
    expect(r.layers.map((l) => l.budget?.limit ?? null)).toEqual([1.5, null]);
  });

  it('a "lipcheck" key in package.json sets budgets; flags override it', async () => {
    const sub = path.join(dir, 'with-package');
    await mkdir(sub, { recursive: true });
    await writeFile(path.join(sub, 'package.json'), JSON.stringify({ name: 'app', lipcheck: { budget: 5 } }));
    const [fromPkg, overridden] = await Promise.all([
      cli([path.join(dir, 'chain.onnx')], {}, sub),
      inproc([path.join(dir, 'chain.onnx'), '--budget', '10'], {}, sub),
    ]);
    expect(fromPkg.code).toBe(1);
    expect(fromPkg.stderr).toMatch(/network bound 6\.00\d > budget 5\.000 \(package\.json \("lipcheck"\): budget\)/);
    expect(overridden.code).toBe(0);
  });

  it('an unsupported layer: reported by name, no network bound, and a budget on it fails', async () => {
    const [plain, budgeted] = await Promise.all([inproc(['unsupported.onnx', '--json']), cli(['unsupported.onnx', '--json', '--layer-budget', '100'])]);
    expect(plain.code).toBe(0);
    const r = parseReport(plain);
    expect(r.layers.map((l) => [l.name, l.kind])).toEqual([['conv1', 'conv'], ['mix', 'unsupported']]);
    expect(r.layers[1].unsupportedReason).toMatch(/constant/);
    expect(r.network).toMatchObject({ bound: null, certified: false });
    expect(r.network.uncertifiedOps.join(' ')).toMatch(/\(mix\)/);
    expect(budgeted.code).toBe(1);
    expect(budgeted.stderr).toMatch(/^lipcheck: budget exceeded: mix: unsupported/);
  });

  it('warnings go to stderr, --quiet silences them, stdout unchanged', async () => {
    const [loud, quiet, given] = await Promise.all([
      cli(['symbolic.onnx', '--json', '--methods', 'spectral']),
      inproc(['symbolic.onnx', '--json', '--methods', 'spectral', '--quiet']),
      inproc(['symbolic.onnx', '--json', '--methods', 'spectral', '--input-shape', '1x2x4x4']),
    ]);
    expect(loud.code).toBe(0);
    expect(loud.stderr).toMatch(/^lipcheck: warning: /);
    expect(parseReport(loud).warnings.length).toBeGreaterThan(0);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(parseReport(given).layers[0].inputShape).toEqual([2, 4, 4]);
  });

  it('the network settings behind network.bound are in the report settings', async () => {
    const plain = parseReport(await inproc(['chain.onnx', '--json']));
    expect([plain.settings.networkMethod, plain.settings.networkEffort, plain.settings.inputRange]).toEqual(['averaging', 0.15, null]);
    const set = parseReport(await inproc(['chain.onnx', '--json', '--network-method', 'graph', '--network-effort', '2', '--input-range', '0:1']));
    expect([set.settings.networkMethod, set.settings.networkEffort, set.settings.inputRange]).toEqual(['graph', 2, '0:1']);
    expect(set.network.local?.range).toBe('0:1');
  });

  it('--methods and --layers select what runs', async () => {
    const run = await inproc(['chain.onnx', '--json', '--methods', 'frobenius,spectral', '--layers', 'f*']);
    expect(run.code).toBe(0);
    const r = parseReport(run);
    expect(r.settings.methods).toEqual(['spectral', 'frobenius']);
    expect(r.layers.map((l) => l.name)).toEqual(['fc']);
    expect(r.layers[0].bounds.toeplitz).toBeNull();
    expect(r.layers[0].bounds.power).toBeNull();
    expect(Object.keys(r.layers[0].details).sort()).toEqual(['frobenius', 'spectral']);
    expect(r.network.bound).toBeNull(); // a subset of layers has no network bound
  });

  it('bad flags: one line, exit 2, no stack', async () => {
    const cases: [string[], RegExp][] = [
      [['chain.onnx', '--samples', '-1'], /^lipcheck: option '-s, --samples <n>' argument '-1' is invalid\. expected a positive integer\n$/],
      [['chain.onnx', '--jsn'], /^lipcheck: unknown option '--jsn' \(Did you mean --json\?\)\n$/],
      [['chain.onnx', '--iterations', '0'], /--iterations <n>' argument '0' is invalid/],
      [['chain.onnx', '--tolerance', '2'], /--tolerance <x>' argument '2' is invalid/],
      [['chain.onnx', '--budget', 'NaN'], /--budget <x>' argument 'NaN' is invalid\. expected a positive number/],
      [['chain.onnx', '--layer-budget', '-3'], /--layer-budget <x>' argument '-3' is invalid/],
      [['chain.onnx', '--network-effort', 'lots'], /--network-effort <x>' argument 'lots' is invalid\. expected a number from 0 to 1000/],
      // numbers are decimal: Number() alone would read '0x10' as 16
      [['chain.onnx', '--network-effort', '0x10'], /--network-effort <x>' argument '0x10' is invalid/],
      [['chain.onnx', '--budget', 'Infinity'], /--budget <x>' argument 'Infinity' is invalid/],
      [['chain.onnx', '--input-range', '0x1:2'], /input range '0x1:2': expected LO:HI/],
      [[''], /^lipcheck: the model path is empty\n$/],
      [['chain.onnx', '--input-shape', '1x3xAx4'], /--input-shape <shape>' argument '1x3xAx4' is invalid/],
      [['chain.onnx', '--methods', 'svd'], /unknown method svd/],
      [['chain.onnx', '--format', 'xml'], /Allowed choices are table, json, markdown/],
      [['chain.onnx', '--json', '--format', 'table'], /^lipcheck: --json conflicts with --format table\n$/],
      [['chain.onnx', '--budget-method', 'power', '--methods', 'spectral'], /^lipcheck: budget method power is not among --methods spectral\n$/],
      [['chain.onnx', '--layers', 'zzz'], /^lipcheck: chain\.onnx: no layer matches --layers zzz \(layers: conv1, fc\)\n$/],
      [['chain.onnx', '--layers', 'conv*', '--budget', '3'], /^lipcheck: a network budget \(--budget\) needs every layer: drop --layers\n$/],
      [[], /^lipcheck: missing required argument 'model'\n$/],
      [['chain.onnx', '--jobs', '0'], /--jobs <n>' argument '0' is invalid\. expected a positive integer/],
    ];
    // Two spawned (the real process's exit code and stderr), the rest in-process.
    const runs = await Promise.all(cases.map(([args], i) => (i < 2 ? cli(args) : inproc(args))));
    runs.forEach((run, i) => expectOneLineError(run, cases[i][1]));
  });

  it('--jobs 2 bounds layers in a child process as well, with exactly the values of --jobs 1', async () => {
    // 24 convs 32 -> 32 on 32 x 32: seconds of work, so the child has loaded before the queue is empty
    const layersN = 24;
    const convs = Array.from({ length: layersN }, (_, i) => node('Conv', [i === 0 ? 'x' : `r${i - 1}`, `w${i}`], [`c${i}`], { pads: attr.ints([1, 1, 1, 1]) }));
    const relus = Array.from({ length: layersN }, (_, i) => node('Relu', [`c${i}`], [i === layersN - 1 ? 'y' : `r${i}`]));
    const file = path.join(dir, 'deep-chain.onnx');
    await writeFile(file, buildModel({
      nodes: convs.flatMap((c, i) => [c, relus[i]]),
      initializers: Array.from({ length: layersN }, (_, i) => floatTensor(`w${i}`, [32, 32, 3, 3], normalArray(32 * 32 * 9, 100 + i).map((v) => v / 17))),
      inputs: [valueInfo('x', [1, 32, 32, 32])],
      outputs: [valueInfo('y', null)],
    }));
    const one = await cli([file, '--json', '--jobs', '1']);
    const two = await cli([file, '--json', '--jobs', '2']);
    expect([one.code, two.code]).toEqual([0, 0]);
    const [a, b] = [parseReport(one), parseReport(two)];
    expect(a.timing.processes).toBe(1);
    // counted only when it bounded a layer
    expect(b.timing.processes).toBe(2);
    expect(a.layers.length).toBe(layersN);
    expect(b.layers.map((l) => [l.name, l.bounds, l.best])).toEqual(a.layers.map((l) => [l.name, l.bounds, l.best]));
    expect(b.network.bound).toBe(a.network.bound);
  });

  it('a child forked before the load (audit.ts, model files >= 4 MB) is the one that bounds layers, with the values of one process', async () => {
    // 24 convs 32 -> 32 on 32 x 32, and a 5 MB initializer no node reads (the file size the early fork looks at)
    const layersN = 24;
    const convs = Array.from({ length: layersN }, (_, i) => node('Conv', [i === 0 ? 'x' : `c${i - 1}`, `w${i}`], [i === layersN - 1 ? 'y' : `c${i}`], { pads: attr.ints([1, 1, 1, 1]) }));
    const file = path.join(dir, 'padded-chain.onnx');
    await writeFile(file, buildModel({
      nodes: convs,
      initializers: [
        ...Array.from({ length: layersN }, (_, i) => floatTensor(`w${i}`, [32, 32, 3, 3], normalArray(32 * 32 * 9, 200 + i).map((v) => v / 17))),
        floatTensor('unused', [5 * 2 ** 18], new Float32Array(5 * 2 ** 18)),
      ],
      inputs: [valueInfo('x', [1, 32, 32, 32])],
      outputs: [valueInfo('y', null)],
    }));
    // the compiled modules: a child runs dist/layer-child.js (none under vitest's loader)
    const dist = (m: string) => import(pathToFileURL(path.join(ROOT, 'dist', m)).href);
    const { EarlyChildren, boundLayersParallel } = (await dist('parallel-layers.js')) as typeof import('../src/parallel-layers.js');
    const { loadModel: load } = (await dist('onnx/load.js')) as typeof import('../src/onnx/load.js');
    const { boundLayers } = (await dist('layer/engine.js')) as typeof import('../src/layer/engine.js');
    const { DEFAULT_ENGINE_OPTIONS: opts } = (await dist('layer/types.js')) as typeof import('../src/layer/types.js');
    // the forked child, as EarlyChildren holds it, and what the run takes from it
    const held = (e: InstanceType<typeof EarlyChildren>) => (e as unknown as { waiting: { child: ChildProcess }[] }).waiting.map((w) => w.child);
    const early = new EarlyChildren(file, {}, 1);
    const [forked] = held(early);
    expect(forked).toBeDefined();
    const taken: (ChildProcess | undefined)[] = [];
    const take = early.take.bind(early);
    early.take = (f, l) => {
      const t = take(f, l);
      taken.push(t?.child);
      return t;
    };
    const layers = (await load(file)).layers;
    const source = { file, load: {}, indices: layers.map((_, i) => i) };
    const two = await boundLayersParallel(layers, opts, source, 2, undefined, early);
    // the child forked before the load did the work: taken once, and no other forked beside it
    expect(taken).toEqual([forked]);
    expect(two.processes).toBe(2);
    const one = await boundLayers(layers, opts);
    const values = (bs: LayerBounds[]) => bs.map((b) => [b.best, ...Object.values(b.methods).map((r) => r?.value)]);
    expect(values(two.bounds)).toEqual(values(one));
    // one not taken is stopped by the run that did not need it (one process here)
    const unused = new EarlyChildren(file, {}, 1);
    const [idle] = held(unused);
    await boundLayersParallel(layers, opts, source, 1, undefined, unused);
    expect(idle.killed).toBe(true);
  }, 60_000);

  it('earlyForks: a child before the load only with two cores, --jobs not 1, and a model file of 4 MB to 1 GiB', () => {
    const MB = 2 ** 20;
    expect(earlyForks(100 * MB, undefined, 2)).toBe(1);
    expect(earlyForks(100 * MB, 4, 8)).toBe(3);
    expect(earlyForks(100 * MB, 1, 2)).toBe(0);
    expect(earlyForks(100 * MB, undefined, 1)).toBe(0);
    expect(earlyForks(4 * MB - 1, undefined, 2)).toBe(0);
    expect(earlyForks(4 * MB, undefined, 2)).toBe(1);
    expect(earlyForks(1024 * MB, undefined, 2)).toBe(1);
    expect(earlyForks(1024 * MB + 1, undefined, 2)).toBe(0);
  });

  it('--jobs on a model too small for a child: one process does it all and says so; more jobs than cores are capped', async () => {
    const file = path.join(ROOT, 'fixtures', 'residual.onnx');
    const [auto, many] = await Promise.all([cli([file, '--json']), cli([file, '--json', '--jobs', '64'])]);
    expect([auto.code, many.code]).toEqual([0, 0]);
    expect(parseReport(auto).timing.processes).toBe(1);
    // residual.onnx is done before a child has loaded: the report does not count one that bounded nothing
    expect(parseReport(many).timing.processes).toBe(1);
    expect(parseReport(many).layers.map((l) => l.bounds)).toEqual(parseReport(auto).layers.map((l) => l.bounds));
  });

  it('layerHash (what a layer child checks before bounding): equal for the same layer, different for other weights or attributes', async () => {
    const model = await loadModel(path.join(ROOT, 'fixtures', 'residual.onnx'));
    const conv = model.layers.find((l): l is ConvLayer => l.kind === 'conv')!;
    const copy = { ...conv, weight: Float32Array.from(conv.weight) } as Layer;
    expect(layerHash(copy)).toBe(layerHash(conv));
    const changed = Float32Array.from(conv.weight);
    changed[changed.length - 1] = Math.fround(changed[changed.length - 1] * (1 + 2 ** -20));
    expect(layerHash({ ...conv, weight: changed } as Layer)).not.toBe(layerHash(conv));
    // the same weights with another input size (a file re-exported between the two loads) differ too
    expect(layerHash({ ...conv, inputShape: conv.inputShape!.map((d, i) => (i === 0 ? d : d / 2)) } as Layer)).not.toBe(layerHash(conv));
    expect(layerHash({ ...conv, pads: conv.pads.map(() => 0) } as Layer)).not.toBe(layerHash(conv));
    // a view into a larger buffer hashes its own bytes only
    const padded = new Float32Array(conv.weight.length + 3);
    padded.set(conv.weight, 2);
    expect(layerHash({ ...conv, weight: padded.subarray(2, 2 + conv.weight.length) } as Layer)).toBe(layerHash(conv));
  });

  it('autoJobs: two processes only for models with enough estimated work, and only with two cores', async () => {
    const model = await loadModel(path.join(ROOT, 'fixtures', 'residual.onnx'));
    expect(autoJobs(model.layers, 50, 2)).toBe(1);
    const conv = model.layers.find((l) => l.kind === 'conv')!;
    // ResNet-50's stage-3 3x3 conv on 14 x 14 (2.3e9 units, ~1 s): three of them pass the threshold
    const big = { ...conv, weightShape: [256, 256, 3, 3], group: 1, inputShape: [256, 14, 14], inputSizeAssumed: false } as Layer;
    const three = [big, big, big];
    expect(autoJobs([big, big], 50, 2)).toBe(1);
    expect(autoJobs(three, 50, 2)).toBe(2);
    expect(autoJobs(three, 50, 1)).toBe(1);
    expect(autoJobs(three, 50, 8)).toBe(2);
  });

  it('bad files: one line naming the file, exit 2, no stack (a stack only with --debug)', async () => {
    const [missing, notOnnx, directory, debug, badConfig] = await Promise.all([
      cli(['missing.onnx']),
      cli(['notonnx.onnx']),
      inproc(['.']),
      inproc(['notonnx.onnx', '--debug']),
      inproc(['chain.onnx', '--config', 'notonnx.onnx']),
    ]);
    expectOneLineError(missing, /^lipcheck: missing\.onnx: /);
    expectOneLineError(notOnnx, /^lipcheck: notonnx\.onnx: /);
    expectOneLineError(directory, /^lipcheck: \.: /);
    expectOneLineError(badConfig, /^lipcheck: notonnx\.onnx: invalid JSON/);
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(STACK);
  });

  it('--version and --help go to stdout with exit 0', async () => {
    const [version, help] = await Promise.all([cli(['--version']), cli(['--help'])]);
    expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/Usage: lipcheck \[options\] <model>/);
    expect(help.stdout).toMatch(/Methods \(default: all four, toeplitz,spectral,power,frobenius\)/);
    expect(help.stdout).toMatch(/Examples:\n {2}\$ lipcheck model\.onnx\n/);
    expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 budget exceeded, 2 usage or input error, 3 internal error/);
  });

  it.runIf(existsSync(path.join(ROOT, 'fixtures', 'plain-cnn.onnx')))('the README command runs on fixtures/plain-cnn.onnx', async () => {
    const run = await cli([path.join(ROOT, 'fixtures', 'plain-cnn.onnx'), '--json']);
    expect(run.code).toBe(0);
    const r = parseReport(run);
    expect(r.layers.length).toBeGreaterThan(1);
    for (const l of r.layers) {
      if (l.best !== null && l.bounds.power !== null) expect(l.best).toBeGreaterThanOrEqual(l.bounds.power * (1 - 1e-6)); // one-sided: float32 rounding of the measured ratio
    }
  });
});
