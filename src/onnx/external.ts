// Reads tensor bytes stored outside the .onnx file (TensorProto.data_location = EXTERNAL).
// The location comes from an untrusted file, so it must stay inside the model's folder.
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { StringStringEntry } from './schema.js';

export interface ExternalRef {
  location: string;
  offset: number;
  /** null: the tensor runs to the end of the file. */
  length: number | null;
}

export function parseExternalRef(entries: StringStringEntry[], tensorName: string): ExternalRef {
  const get = (key: string) => entries.find((e) => e.key === key)?.value;
  const location = get('location');
  if (!location) throw new InputError(`tensor '${tensorName}': external data without a location`);
  const offset = parseNonNegative(get('offset') ?? '0', 'offset', tensorName);
  const lengthText = get('length');
  const length = lengthText === undefined ? null : parseNonNegative(lengthText, 'length', tensorName);
  return { location, offset, length };
}

function parseNonNegative(text: string, key: string, tensorName: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw new InputError(`tensor '${tensorName}': external data ${key} '${text}' is not a non-negative integer`);
  }
  return n;
}

/**
 * The file an external location names, refused when it leaves `modelDir`: absolute paths,
 * '..' components and symlinks resolving elsewhere are all refused.
 */
export function resolveExternalPath(location: string, modelDir: string, tensorName: string): string {
  const refuse = (why: string) =>
    new InputError(`tensor '${tensorName}': external data location '${location}' ${why}; refused`);
  if (location.includes('\0')) throw refuse('contains a NUL byte');
  if (path.isAbsolute(location) || path.win32.isAbsolute(location)) throw refuse('is an absolute path');
  const parts = location.split(/[\\/]+/);
  if (parts.includes('..')) throw refuse('leaves the model folder');
  const target = path.resolve(modelDir, location);
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch {
    throw new InputError(`tensor '${tensorName}': external data file '${location}' not found`);
  }
  const realDir = fs.realpathSync(modelDir);
  const rel = path.relative(realDir, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw refuse('resolves outside the model folder');
  return real;
}

/** Exactly `nbytes` bytes of the tensor, in a fresh (aligned) buffer. */
export function readExternalBytes(ref: ExternalRef, modelDir: string, nbytes: number, tensorName: string): Uint8Array {
  const file = resolveExternalPath(ref.location, modelDir, tensorName);
  const stat = fs.statSync(file);
  if (!stat.isFile()) throw new InputError(`tensor '${tensorName}': external data '${ref.location}' is not a file`);
  if (ref.length !== null && ref.length !== nbytes) {
    throw new InputError(
      `tensor '${tensorName}': external data length ${ref.length} does not match the ${nbytes} bytes its shape needs`,
    );
  }
  if (ref.offset + nbytes > stat.size) {
    throw new InputError(
      `tensor '${tensorName}': external data file '${ref.location}' is too short ` +
        `(needs ${nbytes} bytes at offset ${ref.offset}, file has ${stat.size})`,
    );
  }
  const out = new Uint8Array(nbytes);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < nbytes) {
      const n = fs.readSync(fd, out, done, nbytes - done, ref.offset + done);
      if (n === 0) throw new InputError(`tensor '${tensorName}': external data file '${ref.location}' ended early`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}
