// lipcheck in CI, end-to-end through the real executable: baselines (--write-baseline, --baseline
// --max-growth), GitHub Actions annotations and step summary, JUnit XML read back with a real XML
// parser, quiet EPIPE when the reader closes the pipe, and the README's workflow commands run locally.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { beforeAll, describe, expect, it } from 'vitest';
import { chainCheckpoint } from './helpers/checkpoints.js';
import { chainModel, ensureBuilt, expectOneLineError, parseReport, ROOT, runCli, type CliRun } from './helpers/cli-models.js';
import { tempDir } from './helpers/tmp.js';

// A layer name with XML markup, a workflow-command escape character and a newline.
const HOSTILE = 'conv<1>&"q"%\nnext';

let dir: string;
// GITHUB_ACTIONS cleared unless a test sets it: the suite itself may run on GitHub.
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: dir, env: { GITHUB_ACTIONS: '', GITHUB_STEP_SUMMARY: '', ...env } });



const relErr = (x: number | null | undefined, want: number) => Math.abs((x ?? Number.NaN) / want - 1);

beforeAll(async () => {
  ensureBuilt();
  dir = tempDir('lipcheck-ci');
  await writeFile(path.join(dir, 'a.onnx'), chainCheckpoint());
  await writeFile(path.join(dir, 'scaled.onnx'), chainCheckpoint({ scale: { conv2: 1.5 } }));
  await writeFile(path.join(dir, 'hostile.onnx'), chainCheckpoint({ scale: { conv1: 1.5 }, names: { conv1: HOSTILE } }));
  await writeFile(path.join(dir, 'symbolic.onnx'), chainModel(['N', 2, 'H', 'W']));
  const written = await Promise.all([cli(['a.onnx', '--write-baseline', 'base.json']), cli(['symbolic.onnx', '--input-shape', '1x2x4x4', '--write-baseline', 'sym.json'])]);
  expect(written.map((w) => w.code)).toEqual([0, 0]);
});

describe.concurrent('baseline gate', () => {
  it('--write-baseline: stable, sorted, no timings, trailing newline; the same run writes the same bytes', async () => {
    const again = await cli(['a.onnx', '--write-baseline', 'again.json', '--json']);
    expect(again.code).toBe(0);
    const [text, textAgain] = await Promise.all([readFile(path.join(dir, 'base.json'), 'utf8'), readFile(path.join(dir, 'again.json'), 'utf8')]);
    expect(textAgain).toBe(text);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).not.toMatch(/"ms"|Ms"|timing/);
    const b = JSON.parse(text);
    expect(Object.keys(b)).toEqual([...Object.keys(b)].sort());
    expect(Object.keys(b.settings)).toEqual([...Object.keys(b.settings)].sort());
    const r = parseReport(again);
    expect(b).toMatchObject({ schemaVersion: 1, kind: 'lipcheck-baseline', tool: { name: 'lipcheck', version: r.tool.version }, model: { sha256: r.model.sha256 } });
    expect(b.settings).toEqual({ methods: r.settings.methods, samples: 50, iterations: 200, tolerance: 1e-4, seed: 1, inputShape: [1, 2, 6, 6], inputShapeSource: 'model', networkMethod: 'averaging', networkEffort: 0.15, layers: null });
    expect(b.layers).toEqual(r.layers.map((l) => ({ name: l.name, op: l.op, weightShape: l.weightShape, bounds: l.bounds, best: l.best, bestMethod: l.bestMethod, unsupportedReason: null })));
    expect(b.network).toEqual({ bound: r.network.bound, certified: true, method: r.network.method, graphBound: r.network.graphBound, naiveProduct: r.network.naiveProduct });
    // shapes and method lists stay on one line: a changed layer is a one-line diff
    expect(text).toContain('"weightShape": [2, 3, 3, 3]');
  });

  it('the unchanged model passes with every ratio 1; conv2 scaled by 1.5 fails with ratio 1.5 (layer and network)', async () => {
    const [same, scaled] = await Promise.all([
      cli(['a.onnx', '--baseline', 'base.json', '--max-growth', '1.1', '--json']),
      cli(['scaled.onnx', '--baseline', 'base.json', '--max-growth', '1.1', '--json']),
    ]);
    expect(same.code).toBe(0);
    expect(same.stderr).toBe('');
    const s = parseReport(same).baseline!;
    expect(s).toMatchObject({ file: 'base.json', sameModel: true, maxGrowth: 1.1, unmatched: { baseline: [], current: [] }, gate: { passed: true, failures: [] } });
    for (const l of s.layers) expect(l.ratio).toBe(1);
    expect(s.network.ratio).toBe(1);

    expect(scaled.code).toBe(1);
    expect(scaled.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^lipcheck: growth exceeded: network: network bound grew 1\.500x > max growth 1\.100x$/),
      expect.stringMatching(/^lipcheck: growth exceeded: conv2: best bound grew 1\.500x > max growth 1\.100x$/),
    ]);
    const g = parseReport(scaled).baseline!;
    expect(g.sameModel).toBe(false);
    expect(g.layers.map((l) => [l.name, l.matchedBy])).toEqual([['conv1', 'name'], ['conv2', 'name'], ['fc', 'name']]);
    // scaling the weights by 1.5 scales the norm by exactly 1.5: every bound here is scale-equivariant
    const [c1, c2, fc] = g.layers;
    expect(relErr(c2.ratio, 1.5)).toBeLessThan(1e-6);
    expect(relErr(c1.ratio, 1)).toBeLessThan(1e-9);
    expect(relErr(fc.ratio, 1)).toBeLessThan(1e-9);
    expect(relErr(g.network.ratio, 1.5)).toBeLessThan(1e-6);
    expect(g.gate.failures.map((f) => f.name ?? 'network')).toEqual(['network', 'conv2']);
  });

  it('table and markdown show the comparison; without --max-growth nothing is gated', async () => {
    const [table, md] = await Promise.all([
      cli(['scaled.onnx', '--baseline', 'base.json'], { NO_COLOR: '1' }),
      cli(['scaled.onnx', '--baseline', 'base.json', '--max-growth', '1.2', '--format', 'markdown']),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/baseline base\.json \(lipcheck [^)]+\): 3 matched layers, network 1\.500x; grew most: conv2 1\.500x/);
    expect(md.code).toBe(1);
    expect(md.stdout.split('\n')[0]).toMatch(/^❌ \*\*lipcheck: growth over 1\.200x of the baseline\*\* \(2\): network, `conv2`/);
    expect(md.stdout).toContain('❌ growth over 1.200x of the baseline: 2 failures (network, conv2)');
  });

  it('settings that change the bounds are an input error; power-only ones a warning', async () => {
    const [samples, methods, shape, net, effort, seed] = await Promise.all([
      cli(['a.onnx', '--baseline', 'base.json', '--samples', '20']),
      cli(['a.onnx', '--baseline', 'base.json', '--methods', 'frobenius,power']),
      cli(['symbolic.onnx', '--baseline', 'sym.json', '--input-shape', '1x2x8x8']),
      cli(['a.onnx', '--baseline', 'base.json', '--network-method', 'graph']),
      cli(['a.onnx', '--baseline', 'base.json', '--network-effort', '2']),
      cli(['a.onnx', '--baseline', 'base.json', '--max-growth', '1.1', '--seed', '7', '--iterations', '50']),
    ]);
    expectOneLineError(samples, /^lipcheck: base\.json: settings differ from the baseline's: samples 50 in the baseline, 20 now \(they change the bounds/);
    expectOneLineError(methods, /methods toeplitz,spectral,power,frobenius in the baseline, power,frobenius now/);
    expectOneLineError(shape, /^lipcheck: sym\.json: settings differ from the baseline's: input shape 1x2x4x4 in the baseline, 1x2x8x8 now/);
    expectOneLineError(net, /network method averaging in the baseline, graph now/);
    expectOneLineError(effort, /network effort 0\.15 in the baseline, 2 now/);
    expect(seed.code).toBe(0);
    expect(seed.stderr).toMatch(/warning: settings differ from the baseline's: iterations 200 in the baseline, 50 now \(changes only power/);
    expect(seed.stderr).toMatch(/seed 1 in the baseline, 7 now/);
  });

  it('an older baseline (same schemaVersion, fewer keys, unknown keys) reads; newer, corrupt or not-a-baseline files exit 2 with one line', async () => {
    const b = JSON.parse(await readFile(path.join(dir, 'base.json'), 'utf8'));
    b.tool.version = '0.0.1';
    b.somethingNew = { x: 1 };
    delete b.settings.inputShapeSource;
    delete b.settings.networkEffort;
    delete b.network.graphBound;
    delete b.network.method;
    for (const l of b.layers) {
      delete l.bestMethod;
      delete l.unsupportedReason;
      delete l.bounds.power;
    }
    const files: Record<string, string> = {
      'older.json': JSON.stringify(b),
      'newer.json': JSON.stringify({ ...b, schemaVersion: 2 }),
      'corrupt.json': '{"kind": "lipcheck-baseline", "schemaVersion": 1, "layers": [',
      'wrong.json': JSON.stringify({ ...b, layers: [{ ...b.layers[0], best: 'big' }] }),
      'other.json': '{"hello": "world"}\n',
    };
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    const [older, ...bad] = await Promise.all(
      ['older.json', 'newer.json', 'corrupt.json', 'wrong.json', 'other.json', 'missing.json'].map((f) => cli(['a.onnx', '--baseline', f, '--max-growth', '1.1'])),
    );
    expect(older.code).toBe(0);
    expect(older.stderr).toMatch(/^lipcheck: warning: baseline written by lipcheck 0\.0\.1, this is /);
    const wants = [
      /^lipcheck: newer\.json: baseline schemaVersion 2 is newer than this lipcheck reads \(1\)/,
      /^lipcheck: corrupt\.json: not a lipcheck baseline: invalid JSON/,
      /^lipcheck: wrong\.json: not a lipcheck baseline: layers\[0\]\.best: expected a non-negative number or null/,
      /^lipcheck: other\.json: not a lipcheck baseline: kind: expected "lipcheck-baseline"/,
      /^lipcheck: missing\.json: baseline not found/,
    ];
    bad.forEach((run, i) => expectOneLineError(run, wants[i]));
    expectOneLineError(await cli(['a.onnx', '--max-growth', '1.1']), /^lipcheck: --max-growth needs --baseline/);
  });
});

describe.concurrent('CI-native output', () => {
  it('GITHUB_ACTIONS=true: every failed check is an ::error annotation (escaped), the markdown report is appended to the step summary', async () => {
    const summary = path.join(dir, 'summary.md');
    await writeFile(summary, 'earlier step\n');
    const run = await cli(['hostile.onnx', '--layer-budget', '3', '--baseline', 'base.json', '--max-growth', '1.1', '--json'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
    expect(run.code).toBe(1);
    const r = parseReport(run); // stdout is still only the JSON report
    const annotations = run.stderr.split('\n').filter((l) => l.startsWith('::'));
    const failures = [...r.budget.failures.map((f) => `budget exceeded: ${f.name ?? 'network'}: ${f.reason}`), ...r.baseline!.gate.failures.map((f) => `growth exceeded: ${f.name ?? 'network'}: ${f.reason}`)];
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(annotations).toEqual(failures.map((f) => `::error title=lipcheck::${f.replace(/%/g, '%25').replace(/\n/g, '%0A')}`));
    // the renamed layer is matched by order and shape, and its name survives the escaping
    expect(annotations.some((a) => a.includes('conv<1>&"q"%25%0Anext'))).toBe(true);
    const text = await readFile(summary, 'utf8');
    expect(text.startsWith('earlier step\n')).toBe(true);
    expect(text).toMatch(/\n❌ \*\*lipcheck: budget exceeded\*\*.*growth over 1\.100x of the baseline/);
    expect(text).toContain('| Layer | Op |');
  });

  it('a step summary that is not a writable file is a warning, never a failure; no annotations off GitHub', async () => {
    await mkdir(path.join(dir, 'a-directory'), { recursive: true });
    const [directory, missing, offGitHub] = await Promise.all([
      cli(['a.onnx', '--layer-budget', '100'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: path.join(dir, 'a-directory') }),
      cli(['a.onnx', '--layer-budget', '100'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: path.join(dir, 'no', 'such', 'file.md') }),
      cli(['scaled.onnx', '--baseline', 'base.json', '--max-growth', '1.1'], { GITHUB_STEP_SUMMARY: path.join(dir, 'never.md') }),
    ]);
    expect(directory.code).toBe(0);
    expect(directory.stderr).toMatch(/^lipcheck: warning: GITHUB_STEP_SUMMARY \(.*a-directory\): not written: not a regular file\n$/);
    expect(missing.code).toBe(0);
    expect(missing.stderr).toMatch(/not written: no such file/);
    expect(offGitHub.code).toBe(1);
    expect(offGitHub.stderr).not.toContain('::error');
    await expect(readFile(path.join(dir, 'never.md'))).rejects.toThrow();
  });

  it('--junit: valid XML with one testcase per gated layer and one for the network; counts match; failures carry the reason', async () => {
    const run = await cli(['hostile.onnx', '--layer-budget', '3', '--baseline', 'base.json', '--max-growth', '1.1', '--junit', 'junit.xml', '--json']);
    expect(run.code).toBe(1);
    const r = parseReport(run);
    const xml = await readFile(path.join(dir, 'junit.xml'), 'utf8');
    const problems: string[] = [];
    const doc = new DOMParser({ onError: (level, msg) => problems.push(`${level}: ${msg}`) }).parseFromString(xml, 'text/xml');
    expect(problems).toEqual([]);
    const root = doc.documentElement!;
    expect(root.tagName).toBe('testsuites');
    const children = (e: Element, tag: string) => Array.from(e.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).tagName === tag);
    const suites = children(root, 'testsuite');
    expect(suites).toHaveLength(1);
    const cases = children(suites[0], 'testcase');
    const failed = cases.filter((c) => children(c, 'failure').length > 0);
    for (const e of [root, suites[0]]) {
      expect(Number(e.getAttribute('tests'))).toBe(cases.length);
      expect(Number(e.getAttribute('failures'))).toBe(failed.length);
      expect(Number(e.getAttribute('errors'))).toBe(0);
    }
    // every layer is gated (a layer budget and the growth gate), plus the network
    const hostileShown = HOSTILE.replace('\n', '\\n');
    expect(cases.map((c) => [c.getAttribute('classname'), c.getAttribute('name')])).toEqual([
      ['lipcheck.layer', hostileShown], ['lipcheck.layer', 'conv2'], ['lipcheck.layer', 'fc'], ['lipcheck.network', 'network'],
    ]);
    const reasons = new Map(failed.map((c) => [c.getAttribute('name'), children(c, 'failure')[0].getAttribute('message')]));
    const expected = new Map<string, string[]>();
    const add = (name: string | null, reason: string) => {
      const key = name === null ? 'network' : name === HOSTILE ? hostileShown : name;
      expected.set(key, [...(expected.get(key) ?? []), reason]);
    };
    for (const f of r.budget.failures) add(f.name, `budget: ${f.reason}`);
    for (const f of r.baseline!.gate.failures) add(f.name, `growth: ${f.reason}`);
    expect(Object.fromEntries(reasons)).toEqual(Object.fromEntries([...expected].map(([k, v]) => [k, v.join('; ')])));
    expect(reasons.get(hostileShown)).toMatch(/^budget: best certified bound .* > budget 3\.000 \(--layer-budget\); growth: best bound grew 1\.500x > max growth 1\.100x$/);
    // the properties name what each hash is of
    const props = new Map(Array.from(doc.getElementsByTagName('property')).map((p) => [p.getAttribute('name'), p.getAttribute('value')]));
    expect(props.get('model.sha256')).toBe(r.model.sha256);
    expect(props.get('baseline.model.sha256')).toBe(r.baseline!.sha256);
    expect(props.has('baseline.sha256')).toBe(false);
  });
});

describe.concurrent('pipes', () => {
  // The reader's end is closed before the child writes: every write fails with EPIPE.
  function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'lipcheck'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GITHUB_ACTIONS: '' } });
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  it('--help and a report end quietly when the reader is gone, with the exit code of a consumed run', async () => {
    const [help, ok, over] = await Promise.all([
      runWithClosedStdout(['--help']),
      runWithClosedStdout(['a.onnx']),
      runWithClosedStdout(['a.onnx', '--layer-budget', '0.5']),
    ]);
    expect(help).toEqual({ code: 0, stderr: '' });
    expect(ok).toEqual({ code: 0, stderr: '' });
    expect(over.code).toBe(1);
    expect(over.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(over.stderr.trimEnd().split('\n').every((l) => l.startsWith('lipcheck: budget exceeded: '))).toBe(true);
  });

  // The user's command as typed. head may read the whole help before it exits (then there is no EPIPE
  // at all): the closed-reader test above is the deterministic one.
  it('a shell pipe into head: `lipcheck --help | head -5` prints 5 lines and nothing on stderr', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${path.join(ROOT, 'bin', 'lipcheck')}" --help | head -5; echo "status:$?"`], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^Usage: lipcheck/);
    expect(lines[5]).toBe('status:0');
  });
});

describe('README: the CI workflows', () => {
  /** The README's "lipcheck in CI" section: its code blocks, with their info strings. */
  async function ciBlocks(): Promise<{ lang: string; body: string }[]> {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## lipcheck in CI'), readme.indexOf('\n## ', readme.indexOf('## lipcheck in CI') + 3));
    return [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], body: m[2] }));
  }
  /** `lipcheck ...` argument lists from a block's command lines (`npx` and comments dropped). */
  const commands = (body: string) =>
    [...body.matchAll(/(?:^|\s)(?:npx )?lipcheck (.+)$/gm)].map((m) => m[1].replace(/\s+#.*$/, '').trim().split(/\s+/));

  it('runs the workflow blocks\' lipcheck commands in a temp dir: exit 0, the uploaded files exist, the JUnit file parses', async () => {
    const blocks = await ciBlocks();
    const yaml = blocks.filter((b) => b.lang === 'yaml');
    expect(yaml).toHaveLength(2); // GitHub Actions, GitLab CI
    const work = tempDir('lipcheck-readme');
    await writeFile(path.join(work, 'model.onnx'), chainModel()); // norms 2 and 3: within the README's budgets
    // the baseline the workflows expect committed: written by the section's first command
    const setup = commands(blocks[0].body);
    expect(setup[0]).toEqual(['model.onnx', '--write-baseline', 'lipcheck-baseline.json']);
    expect((await runCli(setup[0], { cwd: work, env: { GITHUB_ACTIONS: '' } })).code).toBe(0);
    const summary = path.join(work, 'summary.md');
    await writeFile(summary, '');
    for (const [i, block] of yaml.entries()) {
      const lines = commands(block.body);
      expect(lines).toHaveLength(1);
      const env: Record<string, string> = i === 0 ? { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } : { GITHUB_ACTIONS: '' };
      const run = await runCli(lines[0], { cwd: work, env });
      expect(run.code, run.stderr).toBe(0);
      const uploaded = [...new Set([...block.body.matchAll(/lipcheck-[\w-]+\.(?:html|xml)/g)].map((m) => m[0]))];
      expect(uploaded.sort()).toEqual(['lipcheck-junit.xml', 'lipcheck-report.html']);
      for (const f of uploaded) expect((await readFile(path.join(work, f), 'utf8')).length).toBeGreaterThan(100);
      const problems: string[] = [];
      const doc = new DOMParser({ onError: (level, msg) => problems.push(`${level}: ${msg}`) }).parseFromString(await readFile(path.join(work, 'lipcheck-junit.xml'), 'utf8'), 'text/xml');
      expect(problems).toEqual([]);
      expect(doc.documentElement!.getAttribute('failures')).toBe('0');
      expect(Number(doc.documentElement!.getAttribute('tests'))).toBe(3); // 2 layers + the network
    }
    expect(await readFile(summary, 'utf8')).toMatch(/^✅ \*\*lipcheck: within budget and growth limit\*\*/);
  });
});
