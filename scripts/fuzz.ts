// The long fuzz run behind `npm run fuzz`: the test suite's seeded mutator over fixtures/, many
// more cases, and large graphs too. Cases run in a worker thread watched by a timer, so a hang or
// an out-of-memory is caught, recorded and the run goes on. Exit 1 on any crash; each failing
// input is written to scratch/fuzz-failures/<fixture>#<seed>/ (model.onnx plus its files).
//
//   npx tsx scripts/fuzz.ts [--cases 50000] [--seconds S] [--seed 1] [--timeout-ms 10000] [--no-big]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { FuzzStats, makeFuzzDirs, timeCase, writeMutant, type CaseRecord } from '../test/helpers/fuzz-case.js';
import { loadFixtures, mutate, type MutateOptions } from '../test/helpers/mutate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = path.join(ROOT, 'fixtures');
const FAILURES = path.join(ROOT, 'scratch', 'fuzz-failures');

interface Settings {
  cases: number;
  seconds: number | null;
  seed: number;
  timeoutMs: number;
  big: boolean;
}

/**
 * The worker runs this same .ts file; Node 20 does not pass tsx's loader on to worker threads,
 * so the worker imports it through tsx's API.
 */
const WORKER_BOOT = `import(${JSON.stringify(pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href)})
  .then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;

interface WorkerInit {
  root: string;
  opts: MutateOptions;
}

/** The mutant of case `seed`: fixture chosen by the seed, so a case is reproducible from its number alone. */
function mutantFor(fixtures: ReturnType<typeof loadFixtures>, seed: number, opts: MutateOptions) {
  return mutate(fixtures[seed % fixtures.length], seed, opts);
}

function parseSettings(argv: string[]): Settings {
  const s: Settings = { cases: 50_000, seconds: null, seed: 1, timeoutMs: 10_000, big: true };
  for (let i = 0; i < argv.length; i++) {
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${argv[i - 1]} needs a positive number`);
      return v;
    };
    switch (argv[i]) {
      case '--cases': s.cases = Math.floor(num()); break;
      case '--seconds': s.seconds = num(); break;
      case '--seed': s.seed = Math.floor(num()); break;
      case '--timeout-ms': s.timeoutMs = num(); break;
      case '--no-big': s.big = false; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return s;
}

// ---------------------------------------------------------------- worker: runs the cases it is sent

async function workerMain(init: WorkerInit): Promise<void> {
  const fixtures = loadFixtures(FIXTURES);
  const dirs = makeFuzzDirs(init.root);
  parentPort!.postMessage('ready');
  parentPort!.on('message', async (seed: number) => {
    const m = mutantFor(fixtures, seed, init.opts);
    const { outcome, ms } = await timeCase(writeMutant(dirs, m));
    const rec: CaseRecord = { label: m.label, kinds: m.kinds, outcome, ms };
    parentPort!.postMessage({ seed, rec });
  });
}

// ---------------------------------------------------------------- main: hands out cases, watches the clock

function saveFailure(fixtures: ReturnType<typeof loadFixtures>, seed: number, opts: MutateOptions, rec: CaseRecord): string {
  const m = mutantFor(fixtures, seed, opts);
  const dir = path.join(FAILURES, `${fixtures[seed % fixtures.length].name}#${seed}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const file = writeMutant(makeFuzzDirs(dir), m);
  const o = rec.outcome;
  fs.writeFileSync(path.join(dir, 'failure.txt'), `${rec.label}\n${o.kind === 'crash' ? `${o.message}\n${o.stack ?? ''}` : ''}\n`);
  return file;
}

async function main(): Promise<number> {
  const settings = parseSettings(process.argv.slice(2));
  const opts: MutateOptions = { big: settings.big };
  const fixtures = loadFixtures(FIXTURES);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lipcheck-fuzz-'));
  const stats = new FuzzStats();
  const started = Date.now();
  const deadline = settings.seconds === null ? Infinity : started + settings.seconds * 1000;
  const last = settings.seed + settings.cases;
  let next = settings.seed;
  let lastReport = started;

  const crash = (seed: number, rec: CaseRecord) => {
    const file = saveFailure(fixtures, seed, opts, rec);
    process.stderr.write(`CRASH ${rec.label}\n  ${rec.outcome.kind === 'crash' ? rec.outcome.message : ''}\n  saved: ${file}\n`);
  };

  // One worker at a time; replaced after a hang or a worker crash (out of memory).
  while (next < last && Date.now() < deadline) {
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(WORKER_BOOT, {
        eval: true,
        workerData: { root: path.join(root, `w${next}`), opts } satisfies WorkerInit,
        resourceLimits: { maxOldGenerationSizeMb: 2048 },
      });
      let current = -1;
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        void worker.terminate().then(() => resolve());
      };
      const send = () => {
        if (next >= last || Date.now() >= deadline) return finish();
        current = next++;
        timer = setTimeout(() => {
          const m = mutantFor(fixtures, current, opts);
          const rec: CaseRecord = { label: m.label, kinds: m.kinds, outcome: { kind: 'crash', message: `hang: no result within ${settings.timeoutMs} ms` }, ms: settings.timeoutMs };
          stats.add(rec);
          crash(current, rec);
          finish();
        }, settings.timeoutMs);
        worker.postMessage(current);
      };
      worker.on('message', (msg: 'ready' | { seed: number; rec: CaseRecord }) => {
        if (msg === 'ready') return send();
        const { seed, rec } = msg;
        clearTimeout(timer);
        stats.add(rec);
        if (rec.outcome.kind === 'crash') crash(seed, rec);
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now();
          process.stderr.write(`fuzz: ${stats.cases} cases, ${stats.crashes.length} crashes, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
        }
        send();
      });
      worker.on('error', (err) => {
        if (current < 0) return reject(err); // the worker could not start: not a fuzz finding
        const rec: CaseRecord = { label: mutantFor(fixtures, current, opts).label, kinds: [], outcome: { kind: 'crash', message: `worker died: ${err.message}`, stack: err.stack }, ms: 0 };
        stats.add(rec);
        crash(current, rec);
        finish();
      });
    });
  }
  fs.rmSync(root, { recursive: true, force: true });
  process.stdout.write(`${stats.summary()}\nelapsed: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return stats.crashes.length > 0 ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => { process.exitCode = code; },
    (err: unknown) => { process.stderr.write(`fuzz: ${err instanceof Error ? err.stack : String(err)}\n`); process.exitCode = 2; },
  );
} else {
  void workerMain(workerData as WorkerInit);
}
