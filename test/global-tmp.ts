// Vitest global setup: one temporary root for every test's files, removed when the run ends (tests
// make their directories under it with tempDir, so a run leaves nothing in the system's tmp).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(path.join(tmpdir(), 'lipcheck-test-'));
  // the forked test workers start after this and inherit the variable
  process.env.LIPCHECK_TEST_TMP = root;
  return () => rmSync(root, { recursive: true, force: true });
}
