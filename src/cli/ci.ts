// CI-native output: GitHub Actions annotations and job summary (when GITHUB_ACTIONS=true), and the
// JUnit file. Annotations go to stderr (the runner reads workflow commands there too), so stdout
// stays only the report (`--json > report.json` keeps working on GitHub).
import { appendFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { CliIO } from './shared.js';

export function onGitHubActions(env: CliIO['env']): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/** A workflow command's message: %, CR and LF escaped as the runner expects (it unescapes them). */
export function escapeCommandData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value (title=...): also ':' and ','. */
export function escapeCommandProperty(text: string): string {
  return escapeCommandData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error title=lipcheck::<message>` lines for the failed checks, on stderr. */
export function annotate(io: CliIO, messages: readonly string[]): void {
  for (const m of messages) io.stderr.write(`::error title=${escapeCommandProperty('lipcheck')}::${escapeCommandData(m)}\n`);
}

/**
 * Append markdown to $GITHUB_STEP_SUMMARY when it names a writable file. Anything else (unset, a
 * directory, a missing or read-only file) is a warning: a summary must never fail the run.
 */
export function appendStepSummary(io: CliIO, markdown: string, warn: (message: string) => void): void {
  const file = io.env.GITHUB_STEP_SUMMARY;
  if (file === undefined || file === '') return;
  const abs = path.resolve(io.cwd, file);
  try {
    if (!statSync(abs).isFile()) throw new Error('not a regular file');
    appendFileSync(abs, `${markdown.endsWith('\n') ? markdown : `${markdown}\n`}\n`);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    warn(`GITHUB_STEP_SUMMARY (${file}): not written: ${e.code === 'ENOENT' ? 'no such file' : e.code ?? e.message}`);
  }
}

/** Write a report file (--html, --junit, --write-baseline): a failure is an input error naming the file. */
export function writeReportFile(io: CliIO, shown: string, text: string): void {
  try {
    writeFileSync(path.resolve(io.cwd, shown), text);
  } catch (err) {
    throw new InputError(`cannot write: ${(err as Error).message}`, shown);
  }
}
