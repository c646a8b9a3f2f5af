/**
 * The benchmark world: a private Synapse (support/synapse.mjs) with
 *   - `pre`:  N_PRE distinct 200×200 noise PNGs uploaded while `enable_authenticated_media` was off
 *             (reachable on the legacy /_matrix/media/v3 endpoints without a token: the floor),
 *   - `post`: N_POST distinct 200×200 noise PNGs uploaded after the freeze (authenticated only),
 *   - the ≥ 5 MB mp4 fixture (support/fixtures.mjs) uploaded before and after the freeze,
 *   - one user (alice) and her access token.
 * Every thumbnail the benchmarks ask for is requested once from Node before any browser runs, so
 * no variant pays Synapse's thumbnail generation.
 *
 * API:
 *   startBenchWorld({ nPre = 200, nPost = 500, warmExtra = 20, log }) → Promise<{ baseUrl, serverName, token, userId,
 *     pre: string[] (mxc), post: string[] (mxc), mp4: { pre, post, bytes }, logFile, stop() }>
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { startSynapse, REPO_ROOT } from '../../support/synapse.mjs';
import { ensureFixtures, readFixture } from '../../support/fixtures.mjs';
import * as mx from '../../support/matrix.mjs';
import { encodeRgbPng } from '../../tests/lib/png.mjs';
import { mapLimit } from '../../support/procs.mjs';

/** A distinct, poorly compressible w×h RGB PNG (xorshift noise seeded by `seed`). */
export function noisePng(seed, w = 200, h = 200) {
  let s = (seed * 2654435761 + 1) >>> 0 || 1;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    raw[row] = 0; // filter: none
    for (let i = 1; i <= w * 3; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      raw[row + i] = s & 0xff;
    }
  }
  return encodeRgbPng(w, h, raw, { level: 1 });
}

export async function startBenchWorld({ nPre = 200, nPost = 500, warmExtra = 20, log = () => {} } = {}) {
  const dir = path.join(REPO_ROOT, '.local', `bench-synapse-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const fixtures = await ensureFixtures();
  const mp4Bytes = readFixture(fixtures.mp4);
  const synapse = await startSynapse({ dir, authenticatedMedia: false });
  try {
    const base = synapse.baseUrl;
    const { accessToken: token0 } = await mx.registerUser(base, synapse.registrationSecret, 'alice', 'alice-bench-pw');
    const t0 = Date.now();
    const upload = (token, seed) => mx.upload(base, token, noisePng(seed), 'image/png', `noise-${seed}.png`);
    const pre = await mapLimit([...Array(nPre).keys()], 4, (i) => upload(token0, 1_000_000 + i));
    const mp4Pre = await mx.upload(base, token0, mp4Bytes, 'video/mp4', 'video.mp4');
    log(`uploaded ${nPre} pre-freeze images + mp4 in ${Date.now() - t0} ms`);
    await synapse.restart({ authenticatedMedia: true });
    const session = await mx.login(base, 'alice', 'alice-bench-pw');
    const token = session.accessToken;
    const t1 = Date.now();
    const post = await mapLimit([...Array(nPost).keys()], 4, (i) => upload(token, 2_000_000 + i));
    const mp4Post = await mx.upload(base, token, mp4Bytes, 'video/mp4', 'video.mp4');
    log(`uploaded ${nPost} post-freeze images + mp4 in ${Date.now() - t1} ms`);
    // Warm Synapse's thumbnail store for every URL the gallery asks for.
    const t2 = Date.now();
    const thumb = async (mxc, legacy) => {
      const { serverName, mediaId } = mx.parseMxc(mxc);
      const prefix = legacy ? '/_matrix/media/v3/thumbnail' : '/_matrix/client/v1/media/thumbnail';
      const res = await fetch(`${base}${prefix}/${serverName}/${mediaId}?width=96&height=96&method=crop`, {
        headers: legacy ? {} : { Authorization: `Bearer ${token}` },
      });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) throw new Error(`warm-up thumbnail ${mxc}: HTTP ${res.status} ${body.toString().slice(0, 200)}`);
      return body.length;
    };
    const preSizes = await mapLimit(pre, 4, (m) => thumb(m, true));
    const postSizes = await mapLimit(post.slice(0, nPre + warmExtra), 4, (m) => thumb(m, false));
    const avg = (a) => Math.round(a.reduce((x, y) => x + y, 0) / a.length);
    log(`warmed ${preSizes.length + postSizes.length} thumbnails in ${Date.now() - t2} ms (avg ${avg(preSizes)} / ${avg(postSizes)} bytes)`);
    return {
      baseUrl: base,
      serverName: synapse.serverName,
      token,
      userId: session.userId,
      pre,
      post,
      thumbBytes: { pre: avg(preSizes), post: avg(postSizes) },
      imageBytes: noisePng(0).length,
      mp4: { pre: mp4Pre, post: mp4Post, bytes: mp4Bytes.length },
      logFile: synapse.logFile,
      async stop() {
        await synapse.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await synapse.stop();
    throw err;
  }
}
