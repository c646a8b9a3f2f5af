/**
 * The shared test world: one real Synapse with authenticated media on, users, and uploaded media.
 *
 * API:
 *   startWorld({ dir?, serverName? }) → Promise<World>
 *     Starts Synapse in a fresh `<repo>/.local/test-synapse-<pid>` with `enable_authenticated_media:
 *     false`, uploads the pre-freeze fixture, restarts with it `true` (the freeze), registers users,
 *     uploads every fixture, and seeds a room. The returned object is JSON-able (what run-e2e.mjs writes
 *     to tests/artifacts/world-<pid>.json) and also carries two non-enumerable members:
 *       world.stop(): Promise<void>      stops Synapse (and removes nothing: the dir stays for logs)
 *       world.synapseHandle              the startSynapse() handle (restart() etc.)
 *   loadWorld() → Promise<World>
 *     For test files: reads the world from the JSON file named by $AUTHMEDIA_WORLD (set by
 *     tests/run-e2e.mjs). Without it (a test file run on its own with `node --test FILE`), starts a
 *     private world once per process and stops it when the process exits.
 *
 * World (JSON):
 *   {
 *     synapse: { baseUrl: "http://127.0.0.1:PORT", serverName: "authmedia.test", registrationSecret, logFile, dir },
 *     users: {
 *       alice: { userId, accessToken, password, deviceId },
 *       bob:   { userId, accessToken, password, deviceId },
 *       admin: { userId, accessToken, password, deviceId }      // a server admin
 *     },
 *     media: {        // uploaded by alice unless noted; every entry:
 *       // { mxc, serverName, mediaId, contentType, filename, bytes (size), sha256, path (local file),
 *       //   width?, height?, durationS?, kind: 'image'|'video'|'file', uploader }
 *       png64, png800, png1600, jpeg, gif, mp4, webm, file,
 *       prefreezePng,   // uploaded before the freeze: also reachable on /_matrix/media/v3 without a token
 *       bobPng          // uploaded by bob
 *     },
 *     room: { roomId, events: { <media name>: eventId } }   // alice's room, bob joined, one message per media
 *   }
 * Synapse media is not per-user: any logged-in user may download any local media. To check *which*
 * token a request carried, use `whoami` (matrix.mjs) on the token, or a recording server (tests/lib/recorder.mjs).
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startSynapse, REPO_ROOT } from './synapse.mjs';
import { ensureFixtures, readFixture } from './fixtures.mjs';
import * as mx from './matrix.mjs';

const PASSWORDS = { alice: 'alice-password-1', bob: 'bob-password-2', admin: 'admin-password-3' };

/** msgtype for a fixture kind. */
function msgtypeOf(info) {
  if (info.kind === 'video') return 'm.video';
  if (info.kind === 'file') return 'm.file';
  return 'm.image';
}

/**
 * @param {{dir?: string, serverName?: string}} [opts]
 */
export async function startWorld(opts = {}) {
  const dir = opts.dir ?? path.join(REPO_ROOT, '.local', `test-synapse-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const fixtures = await ensureFixtures();

  const synapse = await startSynapse({ dir, serverName: opts.serverName, authenticatedMedia: false });
  try {
    const base = synapse.baseUrl;
    const secret = synapse.registrationSecret;

    // Before the freeze: one upload that stays reachable on the legacy endpoints.
    const alice0 = await mx.registerUser(base, secret, 'alice', PASSWORDS.alice, { displayName: 'Alice' });
    const pre = fixtures.prefreezePng;
    const prefreezeMxc = await mx.upload(base, alice0.accessToken, readFixture(pre), pre.contentType, pre.filename);

    await synapse.restart({ authenticatedMedia: true });

    await mx.registerUser(base, secret, 'bob', PASSWORDS.bob, { displayName: 'Bob' });
    await mx.registerUser(base, secret, 'admin', PASSWORDS.admin, { admin: true });
    /** @type {Record<string, any>} */
    const users = {};
    for (const name of ['alice', 'bob', 'admin']) {
      const session = await mx.login(base, name, PASSWORDS[name]);
      users[name] = { ...session, password: PASSWORDS[name] };
    }

    /** @type {Record<string, any>} */
    const media = {};
    const describe = (name, mxc, uploader) => {
      const { path: file, ...meta } = fixtures[name];
      return { mxc, ...mx.parseMxc(mxc), ...meta, path: file, uploader };
    };
    media.prefreezePng = describe('prefreezePng', prefreezeMxc, 'alice');
    for (const name of Object.keys(fixtures)) {
      if (name === 'prefreezePng') continue;
      const uploader = name === 'bobPng' ? 'bob' : 'alice';
      const info = fixtures[name];
      const mxc = await mx.upload(base, users[uploader].accessToken, readFixture(info), info.contentType, info.filename);
      media[name] = describe(name, mxc, uploader);
    }

    // A room with one message per media item (used by page tests and as seed data).
    const alice = users.alice;
    await mx.setAvatar(base, alice.accessToken, alice.userId, media.png64.mxc);
    const roomId = await mx.createRoom(base, alice.accessToken, {
      name: 'Media',
      preset: 'private_chat',
      invite: [users.bob.userId],
    });
    await mx.joinRoom(base, users.bob.accessToken, roomId);
    /** @type {Record<string, string>} */
    const events = {};
    for (const [name, item] of Object.entries(media)) {
      const token = users[item.uploader].accessToken;
      const info = { mimetype: item.contentType, size: item.bytes };
      if (item.width) Object.assign(info, { w: item.width, h: item.height });
      if (item.durationS) info.duration = item.durationS * 1000;
      events[name] = await mx.sendMessage(base, token, roomId, {
        msgtype: msgtypeOf(item),
        body: item.filename,
        filename: item.filename,
        url: item.mxc,
        info,
      });
    }

    const world = {
      synapse: {
        baseUrl: base,
        serverName: synapse.serverName,
        registrationSecret: secret,
        logFile: synapse.logFile,
        dir,
      },
      users,
      media,
      room: { roomId, events },
    };
    Object.defineProperty(world, 'stop', { value: () => synapse.stop(), enumerable: false });
    Object.defineProperty(world, 'synapseHandle', { value: synapse, enumerable: false });
    return world;
  } catch (err) {
    await synapse.stop();
    throw err;
  }
}

/** @type {Promise<any> | null} */
let cached = null;

/** The world for a test file: from $AUTHMEDIA_WORLD, or a private one started on first use. */
export function loadWorld() {
  if (cached) return cached;
  const file = process.env.AUTHMEDIA_WORLD;
  if (file) {
    cached = Promise.resolve(JSON.parse(readFileSync(file, 'utf8')));
  } else {
    cached = startWorld().then((world) => {
      // Synapse is killed by support/procs.mjs's exit hook (registered earlier, so it runs first);
      // then its private directory goes.
      process.on('exit', () => rmSync(world.synapse.dir, { recursive: true, force: true }));
      return world;
    });
  }
  return cached;
}
