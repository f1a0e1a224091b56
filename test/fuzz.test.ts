// Hostile and broken input: thousands of seeded mutants of the fixtures (bit flips, truncation,
// corrupted length fields, huge dims, wrong data types, cycles, duplicate names, escaping external
// data, ...) must each end in a LoadedModel the engine can bound or in a one-line InputError:
// never another exception, a hang or an out-of-memory. `npm run fuzz` runs many more.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli } from './helpers/cli-models.js';
import { FuzzStats, errorClass, makeFuzzDirs, timeCase, writeMutant, type FuzzDirs } from './helpers/fuzz-case.js';
import { BYTE_KINDS, MODEL_FILE, STRUCTURED_KINDS, findLengthFields, loadFixtures, mutate, type Fixture } from './helpers/mutate.js';
import { tempDir } from './helpers/tmp.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');
const CASES = 3000;
/**
 * A case slower than this counts as a hang. Only a generous limit: the slowest case takes well under
 * 0.2 s alone, but wall-clock time on a loaded 2-core machine is no test of speed (`npm run fuzz`
 * prints timings; bench/ measures speed).
 */
const HANG_MS = 30_000;

let root: string;
let dirs: FuzzDirs;
let fixtures: Fixture[];
const stats = new FuzzStats();
/** Seeds of the cases to replay through the real executable: a few per outcome class. */
const cliSeeds: { seed: number; message: string | null }[] = [];

beforeAll(() => {
  root = tempDir('lipcheck-fuzz');
  dirs = makeFuzzDirs(root);
  fixtures = loadFixtures(FIXTURES);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const fixtureFor = (seed: number) => fixtures[seed % fixtures.length];

describe('the mutator', () => {
  it('is deterministic per seed and never writes into its fixture', () => {
    const fx = fixtureFor(11);
    const before = fx.bytes.slice();
    const a = mutate(fx, 11);
    const b = mutate(fx, 11);
    expect(a.label).toBe(b.label);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    for (let s = 0; s < 300; s++) mutate(fixtureFor(s), s);
    expect(Buffer.from(fx.bytes).equals(Buffer.from(before))).toBe(true);
  });

  it('finds the length-delimited fields of the wire format', () => {
    // ModelProto { producer_name (2) = "ab", graph (7) = { name (2) = "g" } }
    const bytes = Uint8Array.from([0x12, 2, 0x61, 0x62, 0x3a, 3, 0x12, 1, 0x67]);
    expect(findLengthFields(bytes)).toEqual([
      { at: 1, size: 1, length: 2 },
      { at: 5, size: 1, length: 3 },
      { at: 7, size: 1, length: 1 },
    ]);
  });
});

describe(`${CASES} seeded mutants through loadModel and the engine's cheap methods`, () => {
  it('end in a LoadedModel or a one-line InputError, none hanging', async () => {
    const seenClasses = new Set<string>();
    let loadedForCli = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const m = mutate(fixtureFor(seed), seed);
      const { outcome, ms } = await timeCase(writeMutant(dirs, m));
      stats.add({ label: m.label, kinds: m.kinds, outcome, ms });
      if (outcome.kind === 'input-error' && seenClasses.size < 6) {
        const cls = errorClass(outcome.message);
        if (!seenClasses.has(cls)) {
          seenClasses.add(cls);
          cliSeeds.push({ seed, message: outcome.message });
        }
      } else if (outcome.kind === 'loaded' && loadedForCli < 2) {
        loadedForCli++;
        cliSeeds.push({ seed, message: null });
      }
    }
    console.log(stats.summary());
    expect(stats.crashes.map((c) => `${c.label}: ${c.outcome.kind === 'crash' ? c.outcome.message : ''}`)).toEqual([]);
    expect(stats.slowest!.ms, stats.slowest!.label).toBeLessThan(HANG_MS);
    // The mutants reach deep: many load, many fail in many distinct ways, every mutation kind ran.
    expect(stats.loaded).toBeGreaterThan(CASES * 0.2);
    expect(stats.errorClasses.size).toBeGreaterThan(40);
    for (const k of [...STRUCTURED_KINDS, ...BYTE_KINDS]) expect(stats.kinds.get(k) ?? 0, k).toBeGreaterThan(20);
  });

  it('the executable says the same: exit 2 and one stderr line without a stack, or a report', async () => {
    ensureBuilt();
    expect(cliSeeds.filter((c) => c.message !== null).length).toBe(6);
    const runs = await Promise.all(
      cliSeeds.map(async ({ seed }, k) => {
        const caseDirs = makeFuzzDirs(path.join(root, `cli-${k}`));
        writeMutant(caseDirs, mutate(fixtureFor(seed), seed));
        return runCli([MODEL_FILE, '--methods', 'toeplitz,frobenius', '--json'], { cwd: caseDirs.cases });
      }),
    );
    runs.forEach((run, k) => {
      const { message } = cliSeeds[k];
      if (message === null) {
        expect(run.code, run.stderr).toBe(0);
        expect(() => JSON.parse(run.stdout)).not.toThrow();
      } else {
        expect(run.code).toBe(2);
        expect(run.stdout).toBe('');
        expect(run.stderr).toBe(`lipcheck: ${MODEL_FILE}: ${message}\n`);
      }
    });
  });
});
