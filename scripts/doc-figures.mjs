#!/usr/bin/env node
/**
 * The size figures quoted by README.md and FALLBACK.md, measured on the current build (run
 * scripts/build.sh first): the page and worker wasm and scripts, raw and gzipped (level 9), and
 * the packed tarball. kB = 1000 bytes; gzip is the `gzip -9` CLI, as scripts/size-budget.sh uses.
 *
 *   node scripts/doc-figures.mjs            print the figures (a Markdown table)
 *   node scripts/doc-figures.mjs --write    put the table between the doc-figures markers of both docs
 *   node scripts/doc-figures.mjs --check    exit 1 when a figure in the docs is more than 5 % (and
 *                                           more than 1 kB) away from the build, or a block is empty
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOCS = ['README.md', 'FALLBACK.md'];
const BEGIN = '<!-- doc-figures:begin -->';
const END = '<!-- doc-figures:end -->';
const TOLERANCE = 0.05;
const SLACK_KB = 1;

const ROWS = [
  { label: 'page wasm (`npm/dist/authmedia_web_bg.wasm`, after `wasm-opt -Oz`)', file: 'npm/dist/authmedia_web_bg.wasm' },
  { label: 'page glue (`npm/dist/authmedia_web.js`, wasm-bindgen)', file: 'npm/dist/authmedia_web.js' },
  { label: 'decryption wasm (`npm/dist/authmedia_crypto_bg.wasm`, fetched only when the fallback decrypts an attachment)', file: 'npm/dist/authmedia_crypto_bg.wasm' },
  { label: 'worker wasm (`sw/authmedia_sw_bg.wasm`)', file: 'npm/sw/authmedia_sw_bg.wasm' },
  { label: 'worker script (`sw/authmedia-sw.js`, glue embedded)', file: 'npm/sw/authmedia-sw.js' },
  { label: 'worker decryption wasm (`sw/authmedia_sw_crypto_bg.wasm`, fetched only when the worker serves an encrypted attachment)', file: 'npm/sw/authmedia_sw_crypto_bg.wasm' },
  { label: 'package tarball (`npm pack`: loader, types, plugins, the four wasm, worker script)', file: 'target/npm/matrix-authmedia.tgz', packed: true },
];

const kB = (bytes) => Math.round(bytes / 1000);

function measure() {
  return ROWS.map((row) => {
    const file = path.join(ROOT, row.file);
    if (!existsSync(file)) throw new Error(`${row.file} is missing: run scripts/build.sh first`);
    const raw = statSync(file).size;
    // The gzip CLI, as scripts/build.sh and scripts/size-budget.sh measure.
    const gz = row.packed ? null : execFileSync('gzip', ['-9', '-c', file], { maxBuffer: 1 << 28 }).length;
    return { ...row, raw, gz };
  });
}

function table(rows) {
  const lines = ['| file | raw | gzipped |', '|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.label} | ${kB(r.raw)} kB | ${r.gz === null ? '(is gzip)' : `${kB(r.gz)} kB`} |`);
  return lines.join('\n');
}

function blockOf(text, doc) {
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${doc}: no ${BEGIN} … ${END} block`);
  return { a, b, body: text.slice(a + BEGIN.length, b) };
}

/** The figures a doc's block states: label → [raw kB, gz kB | null]. */
function parseBlock(body) {
  const out = new Map();
  for (const line of body.split('\n')) {
    const m = /^\| (.+?) \| (\d+) kB \| (?:(\d+) kB|\(is gzip\)) \|$/.exec(line.trim());
    if (m) out.set(m[1], [Number(m[2]), m[3] === undefined ? null : Number(m[3])]);
  }
  return out;
}

function near(stated, actual) {
  return Math.abs(stated - actual) <= Math.max(SLACK_KB, actual * TOLERANCE);
}

const mode = process.argv[2] ?? '--print';
try {
  const rows = measure();
  const text = table(rows);
  if (mode === '--print') {
    console.log(text);
  } else if (mode === '--write') {
    for (const doc of DOCS) {
      const file = path.join(ROOT, doc);
      const src = readFileSync(file, 'utf8');
      const { a, b } = blockOf(src, doc);
      writeFileSync(file, `${src.slice(0, a + BEGIN.length)}\n${text}\n${src.slice(b)}`);
      console.log(`${doc}: figures written`);
    }
    console.log(text);
  } else if (mode === '--check') {
    const problems = [];
    for (const doc of DOCS) {
      const stated = parseBlock(blockOf(readFileSync(path.join(ROOT, doc), 'utf8'), doc).body);
      for (const r of rows) {
        const s = stated.get(r.label);
        if (!s) {
          problems.push(`${doc}: no figure for "${r.label}"`);
          continue;
        }
        const actual = [kB(r.raw), r.gz === null ? null : kB(r.gz)];
        const ok = near(s[0], actual[0]) && (actual[1] === null ? s[1] === null : s[1] !== null && near(s[1], actual[1]));
        if (!ok) problems.push(`${doc}: "${r.label}" says ${s[0]} kB / ${s[1] ?? '-'} kB gz, the build has ${actual[0]} kB / ${actual[1] ?? '-'} kB gz`);
      }
    }
    if (problems.length) {
      console.error(`${problems.join('\n')}\nrun scripts/doc-figures.sh --write after scripts/build.sh`);
      process.exit(1);
    }
    console.log(`doc figures agree with the build (within ${TOLERANCE * 100} %)`);
  } else {
    console.error('usage: doc-figures.mjs [--print | --write | --check]');
    process.exit(2);
  }
} catch (e) {
  console.error(`doc-figures: ${e.message}`);
  process.exit(1);
}
