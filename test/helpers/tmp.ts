// A fresh directory under the run's temporary root (test/global-tmp.ts removes it at the end).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(process.env.LIPCHECK_TEST_TMP ?? tmpdir(), `${prefix}-`));
}
