#!/usr/bin/env node
/**
 * The demo runner behind `scripts/demo.sh` (which runs setup and build first, then this file).
 *
 *   node demo/run.mjs [--port 8088] [--homeserver URL] [--user NAME --password PW]
 *                     [--data-dir DIR] [--ready-file PATH]
 *
 * Without --homeserver: starts the local Synapse kept in DIR (default `.local/demo-synapse/`, git-ignored).
 * The first run creates and seeds it with the shared homeserver helpers (support/world.mjs: users, a room and one
 * message per media kind, with one item uploaded before the media freeze) and records the seed in
 * DIR/demo-seed.json; later runs only start it again. With --homeserver no Synapse is started and the
 * page's form points at that server.
 *
 * Serves on http://127.0.0.1:PORT: `demo/` at the root, the npm package under `/pkg/` (an import map
 * in index.html maps `matrix-authmedia` to its ESM entry), the service worker at `/authmedia-sw.js` (and its
 * wasm beside it) and `/demo-config.json` (homeserver, prefilled credentials, room). When everything is
 * up it prints the URL and the credentials and, with --ready-file, writes that file (JSON: url,
 * homeserver, user, password, roomId, pid). Ctrl-C / SIGTERM stop the Synapse it started (process
 * group, see support/procs.mjs) and the server; the ready file is removed.
 */
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { startSynapse, REPO_ROOT } from '../support/synapse.mjs';
import { startWorld } from '../support/world.mjs';
import { ensureFixtures, readFixture } from '../support/fixtures.mjs';
import * as mx from '../support/matrix.mjs';
import { startStaticServer, sendFile } from '../support/static-server.mjs';
import { freePort } from '../support/procs.mjs';

const SEED_FILE = 'demo-seed.json';
const SEED_VERSION = 1;
const DEMO_DIR = path.join(REPO_ROOT, 'demo');
const NPM_DIR = path.join(REPO_ROOT, 'npm');
/** The worker files as the npm package ships them (`matrix-authmedia/sw/*`): the demo uses the
 * package like any client, never the build's intermediate output. */
const WORKER_DIR = path.join(NPM_DIR, 'sw');
const WORKER_FILES = ['authmedia-sw.js', 'authmedia_sw_bg.wasm', 'authmedia_sw_crypto_bg.wasm'];

const USAGE = `usage: scripts/demo.sh [options]
  --port N            port of the demo page on 127.0.0.1 (default 8088)
  --homeserver URL    use this homeserver instead of starting the local Synapse
  --user NAME         prefill the login form (default: the seeded user)
  --password PW       prefill the password (default: the seeded user's)
  --data-dir DIR      where the local Synapse lives (default .local/demo-synapse)
  --ready-file PATH   write a JSON file there once everything is up (for scripts and tests)
  -h, --help          this text`;

function fail(message, code = 2) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(code);
}

function log(message) {
  process.stderr.write(`[demo] ${message}\n`);
}

function parseCli() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '8088' },
        homeserver: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        'data-dir': { type: 'string', default: path.join(REPO_ROOT, '.local', 'demo-synapse') },
        'ready-file': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    fail(`${err.message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${values.port}`);
  let homeserver = null;
  if (values.homeserver !== undefined) {
    try {
      const u = new URL(values.homeserver);
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
      homeserver = u.href.replace(/\/+$/, '');
    } catch {
      fail(`--homeserver must be an http(s) URL, got ${values.homeserver}`);
    }
  }
  return {
    port,
    homeserver,
    user: values.user,
    password: values.password,
    dataDir: path.resolve(values['data-dir']),
    readyFile: values['ready-file'] ? path.resolve(values['ready-file']) : null,
  };
}

/** Write JSON atomically (temp file + rename), so a reader never sees half a file. */
function writeJsonAtomic(file, value) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

function readSeed(dataDir) {
  try {
    const seed = JSON.parse(readFileSync(path.join(dataDir, SEED_FILE), 'utf8'));
    return seed && seed.version === SEED_VERSION ? seed : null;
  } catch {
    return null;
  }
}

/** Refuse to wipe a directory that is not a Synapse dir of ours (startWorld starts from an empty dir). */
function checkWipeable(dataDir) {
  if (!existsSync(dataDir)) return;
  const entries = readdirSync(dataDir);
  if (entries.length === 0) return;
  if (entries.includes('homeserver.yaml') || entries.includes('secrets.json')) return;
  fail(`${dataDir} is not empty and not a demo Synapse directory; choose another --data-dir`);
}

/** Is this TCP port free on 127.0.0.1? */
async function portIsFree(port) {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * First run: create and seed the local Synapse (harness world), then rename the room for the demo.
 * Returns { synapse handle, seed }.
 */
async function seedFresh(dataDir) {
  checkWipeable(dataDir);
  log(`first start: creating and seeding a Synapse in ${path.relative(REPO_ROOT, dataDir) || dataDir} (about a minute)`);
  const world = await startWorld({ dir: dataDir });
  const synapse = world.synapseHandle;
  try {
    const base = world.synapse.baseUrl;
    const alice = world.users.alice;
    await mx.request(base, `/_matrix/client/v3/rooms/${encodeURIComponent(world.room.roomId)}/state/m.room.name`, {
      method: 'PUT',
      token: alice.accessToken,
      json: { name: 'authmedia demo: media of every kind' },
    });
    await mx.request(base, `/_matrix/client/v3/rooms/${encodeURIComponent(world.room.roomId)}/state/m.room.topic`, {
      method: 'PUT',
      token: alice.accessToken,
      json: { topic: 'Seeded by scripts/demo.sh. "before-freeze.png" was uploaded before authenticated media was turned on.' },
    });
    // Tokens are not kept: the page logs in for real.
    const users = Object.fromEntries(
      Object.entries(world.users).map(([name, u]) => [name, { userId: u.userId, password: u.password }]),
    );
    const media = Object.fromEntries(
      Object.entries(world.media).map(([name, m]) => [name, { mxc: m.mxc, filename: m.filename, contentType: m.contentType }]),
    );
    const seed = {
      version: SEED_VERSION,
      seededAt: new Date().toISOString(),
      synapsePort: synapse.port,
      serverName: world.synapse.serverName,
      users,
      roomId: world.room.roomId,
      media,
    };
    writeJsonAtomic(path.join(dataDir, SEED_FILE), seed);
    return { synapse, seed };
  } catch (err) {
    await synapse.stop();
    throw err;
  }
}

/** Later runs: start the seeded Synapse again (same port when it is free). */
async function startSeeded(dataDir, seed) {
  const port = (await portIsFree(seed.synapsePort)) ? seed.synapsePort : await freePort();
  const synapse = await startSynapse({ dir: dataDir, port, serverName: seed.serverName, authenticatedMedia: true });
  if (port !== seed.synapsePort) writeJsonAtomic(path.join(dataDir, SEED_FILE), { ...seed, synapsePort: port });
  return synapse;
}

/**
 * An encrypted attachment (`EncryptedFile`, v2: AES-256-CTR, SHA-256 of the ciphertext), seeded once
 * and recorded in the seed file. The page shows it when the SDK offers `srcEncrypted` (issue 7).
 */
async function seedEncrypted(base, dataDir, seed) {
  if (seed.encrypted) return seed;
  const fixtures = await ensureFixtures();
  const photo = fixtures.png800;
  const plain = readFixture(photo);
  const key = randomBytes(32);
  // The spec's counter block: 8 random bytes, then a 64-bit counter starting at 0.
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const unpadded = (b64) => b64.replace(/=+$/, '');
  const session = await mx.login(base, 'alice', seed.users.alice.password);
  try {
    const mxc = await mx.upload(base, session.accessToken, ciphertext, 'application/octet-stream');
    const file = {
      v: 'v2',
      url: mxc,
      key: { kty: 'oct', alg: 'A256CTR', ext: true, key_ops: ['encrypt', 'decrypt'], k: key.toString('base64url') },
      iv: unpadded(iv.toString('base64')),
      hashes: { sha256: unpadded(createHash('sha256').update(ciphertext).digest('base64')) },
    };
    const name = 'encrypted-landscape.png';
    const eventId = await mx.sendMessage(base, session.accessToken, seed.roomId, {
      msgtype: 'm.image',
      body: name,
      filename: name,
      file,
      info: { mimetype: photo.contentType, size: plain.length, w: photo.width, h: photo.height },
    });
    const next = { ...seed, encrypted: { mxc, eventId } };
    writeJsonAtomic(path.join(dataDir, SEED_FILE), next);
    return next;
  } finally {
    await mx.logout(base, session.accessToken).catch(() => {});
  }
}

/** The ESM entry of the npm package, from its package.json `exports` (or `module`/`main`). */
function packageEntry() {
  const file = path.join(NPM_DIR, 'package.json');
  if (!existsSync(file)) return null;
  const pkg = JSON.parse(readFileSync(file, 'utf8'));
  const pick = (target) => {
    if (typeof target === 'string') return target;
    if (target && typeof target === 'object') {
      for (const key of ['browser', 'import', 'module', 'default']) {
        const found = pick(target[key]);
        if (found) return found;
      }
    }
    return null;
  };
  let exp = pkg.exports;
  if (exp && typeof exp === 'object' && Object.hasOwn(exp, '.')) exp = exp['.'];
  const entry = pick(exp) ?? pkg.module ?? pkg.main ?? null;
  return entry ? entry.replace(/^\.\//, '') : null;
}

function findWorkerDir() {
  return WORKER_FILES.every((f) => existsSync(path.join(WORKER_DIR, f))) ? WORKER_DIR : null;
}

async function main() {
  const opts = parseCli();
  const t0 = Date.now();

  const entry = packageEntry();
  if (!entry) log('warning: npm/package.json not found or without an entry: run scripts/build.sh');
  const workerDir = findWorkerDir();
  if (!workerDir) log('warning: worker files not built (npm/sw/authmedia-sw.js; run scripts/build.sh): the page will use the fallback');

  if (opts.port !== 0 && !(await portIsFree(opts.port))) {
    fail(`port ${opts.port} on 127.0.0.1 is in use; choose another with --port`);
  }

  /** @type {any} */
  let synapse = null;
  let config;
  if (opts.homeserver) {
    config = { homeserver: opts.homeserver, user: opts.user ?? '', password: opts.password ?? '', roomId: null, local: false };
  } else {
    let seed = readSeed(opts.dataDir);
    if (seed) {
      log(`starting the seeded Synapse in ${path.relative(REPO_ROOT, opts.dataDir) || opts.dataDir}`);
      synapse = await startSeeded(opts.dataDir, seed);
    } else {
      ({ synapse, seed } = await seedFresh(opts.dataDir));
    }
    // Later seed steps are recorded in the seed file too, so an older demo directory gains them once.
    seed = await seedEncrypted(synapse.baseUrl, opts.dataDir, seed);
    const alice = seed.users.alice;
    config = {
      homeserver: synapse.baseUrl,
      user: opts.user ?? 'alice',
      password: opts.password ?? alice.password,
      roomId: seed.roomId,
      local: true,
      serverName: seed.serverName,
      prefreezeMxc: seed.media.prefreezePng?.mxc ?? null,
      secondUser: { user: 'bob', password: seed.users.bob?.password ?? '' },
    };
  }

  const indexHtml = () => {
    const html = readFileSync(path.join(DEMO_DIR, 'index.html'), 'utf8');
    if (!entry) return html;
    const map = JSON.stringify({ imports: { 'matrix-authmedia': `/pkg/${entry}` } });
    return html.replace(/<script type="importmap"[^>]*>[\s\S]*?<\/script>/, `<script type="importmap">${map}</script>`);
  };

  const server = await startStaticServer({
    root: DEMO_DIR,
    mounts: { '/pkg/': NPM_DIR },
    port: opts.port,
    routes: async (req, res, url) => {
      if (url.pathname === '/' || url.pathname === '/index.html') {
        const body = indexHtml();
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return true;
      }
      if (url.pathname === '/demo-config.json') {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify(config));
        return true;
      }
      const name = url.pathname.slice(1);
      if (WORKER_FILES.includes(name)) {
        const dir = findWorkerDir();
        if (!dir) return false;
        await sendFile(req, res, path.join(dir, name), { 'Service-Worker-Allowed': '/' });
        return true;
      }
      // The demo's own runner and anything hidden stay private.
      if (url.pathname === '/run.mjs' || url.pathname.split('/').some((seg) => seg.startsWith('.'))) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        return true;
      }
      return false;
    },
  });

  const shutdown = () => {
    if (opts.readyFile) rmSync(opts.readyFile, { force: true });
  };
  process.on('exit', shutdown);
  // support/procs.mjs kills Synapse's process group on SIGINT/SIGTERM/SIGHUP once a child was
  // spawned; without one (--homeserver) these handlers make the same signals exit cleanly too.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(0));
  }

  const url = `${server.origin}/`;
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  const lines = [
    '',
    `  authmedia demo ready in ${seconds} s:  ${url}`,
    `  homeserver: ${config.homeserver}${synapse ? ' (local Synapse, authenticated media on)' : ''}`,
  ];
  if (config.user) lines.push(`  log in as:  ${config.user} / ${config.password || '(your password)'}`);
  if (config.secondUser) lines.push(`  second user: ${config.secondUser.user} / ${config.secondUser.password}`);
  lines.push('  Ctrl-C stops the demo (and the Synapse it started).', '');
  process.stdout.write(lines.join('\n') + '\n');
  if (opts.readyFile) {
    writeJsonAtomic(opts.readyFile, {
      url,
      homeserver: config.homeserver,
      user: config.user,
      password: config.password,
      roomId: config.roomId,
      pid: process.pid,
      startSeconds: Number(seconds),
    });
  }
}

main().catch((err) => {
  process.stderr.write(`demo: ${err?.stack ?? err}\n`);
  process.exit(1);
});
