// The code map as rules that fail when broken: no import cycle in src/, onnxruntime-node loaded only
// by src/native/onnxruntime.ts (lazily), commander only under src/cli/, and an upper-bound-only run
// that never loads the native addon.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from './helpers/cli-models.js';

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

const FILES = sources(SRC);
const rel = (f: string) => path.relative(SRC, f);

interface Import {
  spec: string;
  typeOnly: boolean;
  dynamic: boolean;
}

/** Static and dynamic import specifiers of a file (import type / export type marked: they vanish at run time). */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?\sfrom\s+'([^']+)'/gms)) out.push({ spec: m[3], typeOnly: Boolean(m[2]), dynamic: false });
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push({ spec: m[1], typeOnly: false, dynamic: false });
  for (const m of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) out.push({ spec: m[1], typeOnly: false, dynamic: true });
  return out;
}

function resolveLocal(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  return path.resolve(path.dirname(from), spec.replace(/\.js$/, '.ts'));
}

describe('code map', () => {
  it('src/ has no import cycle (run-time imports, static or dynamic)', () => {
    const graph = new Map(FILES.map((f) => [f, importsOf(f).filter((i) => !i.typeOnly).map((i) => resolveLocal(f, i.spec)).filter((t): t is string => t !== null)]));
    for (const targets of graph.values()) for (const t of targets) expect(FILES, `import of a missing file ${t}`).toContain(t);
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, trail: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(f)), f].map(rel).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) visit(t, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of FILES) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('only src/native/onnxruntime.ts loads onnxruntime-node, and only lazily', () => {
    const loaders = FILES.filter((f) => importsOf(f).some((i) => i.spec === 'onnxruntime-node' && !i.typeOnly));
    expect(loaders.map(rel)).toEqual([path.join('native', 'onnxruntime.ts')]);
    expect(importsOf(loaders[0]).filter((i) => i.spec === 'onnxruntime-node' && !i.typeOnly).every((i) => i.dynamic)).toBe(true);
  });

  it('commander only under src/cli/; the library entry point does not pull in the command line', () => {
    const users = FILES.filter((f) => importsOf(f).some((i) => i.spec === 'commander')).map(rel);
    expect(users.length).toBeGreaterThan(0);
    for (const u of users) expect(u.startsWith(`cli${path.sep}`), u).toBe(true);
    expect(importsOf(path.join(SRC, 'index.ts')).some((i) => i.spec.startsWith('./cli/'))).toBe(false);
    // nothing outside src/cli/ imports src/cli/
    for (const f of FILES.filter((x) => !rel(x).startsWith(`cli${path.sep}`))) {
      const intoCli = importsOf(f).map((i) => resolveLocal(f, i.spec)).filter((t) => t && rel(t).startsWith(`cli${path.sep}`));
      expect(intoCli, rel(f)).toEqual([]);
    }
  });

  // A child process, so this file's own imports cannot load the addon first.
  const loadedAfter = (methods: string) => {
    const script = `
      import { createRequire } from 'node:module';
      const { main } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'cli', 'main.js'))});
      const io = { stdout: { write() {} }, stderr: { write() {} }, env: {}, cwd: ${JSON.stringify(ROOT)} };
      const code = await main(['node', 'lipcheck', 'fixtures/plain-cnn.onnx', '--methods', '${methods}'], io);
      const cache = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ code, onnxruntime: cache.some((k) => k.includes('onnxruntime')) }));`;
    return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' })) as { code: number; onnxruntime: boolean };
  };

  it('lipcheck m.onnx --methods toeplitz,frobenius does not load the native addon; power does', () => {
    ensureBuilt();
    expect(loadedAfter('toeplitz,frobenius')).toEqual({ code: 0, onnxruntime: false });
    expect(loadedAfter('toeplitz,power')).toEqual({ code: 0, onnxruntime: true }); // the probe can see a load
  });
});
