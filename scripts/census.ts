// Prints the independent layer census (test/helpers/census.ts: protobufjs on the wire format, no
// src/onnx code) of ONNX files, or of every shipped real model when no file is given. The pinned
// counts in test/real-models.test.ts are this script's output.
//   npx tsx scripts/census.ts [model.onnx ...]
import fs from 'node:fs';
import { REAL_MODELS, modelPath } from './real-models.js';
import { censusOf } from '../test/helpers/census.js';

const files = process.argv.slice(2);
const targets = files.length > 0 ? files.map((f) => [f, f]) : REAL_MODELS.map((m) => [m.id, modelPath(m)]);
for (const [id, file] of targets) console.log(`  '${id}': ${JSON.stringify(censusOf(fs.readFileSync(file))).replace(/"(\w+)":/g, '$1: ').replace(/,/g, ', ').replace(/^\{/, '{ ').replace(/\}$/, ' }')},`);
