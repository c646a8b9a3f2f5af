/**
 * Media fixtures generated with ffmpeg (Debian package, installed by scripts/setup.sh), cached under
 * `<repo>/.local/fixtures/` and regenerated only when missing.
 *
 * API:
 *   FIXTURES: Record<name, {file, contentType, filename, width?, height?, durationS?, kind}>
 *     the catalogue: png64 (64×64), png800 (800×600), png1600 (1600×1200), jpeg (1024×768),
 *     gif (animated, 160×120, 20 frames), mp4 (H.264 yuv420p 854×480, 24 s, keyframe every 15 frames,
 *     faststart, ≥ 5 MB), webm (VP8 320×240, 2 s), file (text/plain, file name with spaces),
 *     prefreezePng (96×72, uploaded before the media freeze by env.mjs), bobPng (120×90).
 *   ensureFixtures({ dir? }) → Promise<Record<name, {path, bytes, sha256, contentType, filename,
 *                                                   width?, height?, durationS?, kind}>>
 *     generates what is missing (atomically: temp file + rename) and describes every fixture;
 *     `bytes` is the file size in bytes.
 *   readFixture(info) → Buffer of the file.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './synapse.mjs';

const execFileP = promisify(execFile);

/** Where generated fixtures are cached. */
export const FIXTURE_DIR = path.join(REPO_ROOT, '.local', 'fixtures');

const MIN_MP4_BYTES = 5 * 1024 * 1024;

/** ffmpeg arguments producing one still image from a lavfi source. */
const still = (source, size) => ['-f', 'lavfi', '-i', `${source}=size=${size}:rate=1`, '-frames:v', '1'];

/**
 * The catalogue. `args` are the ffmpeg arguments before the output path; `text` fixtures are written directly.
 */
export const FIXTURES = {
  png64: { file: 'png64.png', contentType: 'image/png', filename: 'square-64.png', width: 64, height: 64, kind: 'image', args: still('testsrc2', '64x64') },
  png800: { file: 'png800.png', contentType: 'image/png', filename: 'landscape-800x600.png', width: 800, height: 600, kind: 'image', args: still('testsrc', '800x600') },
  png1600: { file: 'png1600.png', contentType: 'image/png', filename: 'large-1600x1200.png', width: 1600, height: 1200, kind: 'image', args: still('smptehdbars', '1600x1200') },
  jpeg: { file: 'photo.jpg', contentType: 'image/jpeg', filename: 'photo 1024x768.jpg', width: 1024, height: 768, kind: 'image', args: [...still('testsrc2', '1024x768'), '-q:v', '4'] },
  gif: {
    file: 'animated.gif',
    contentType: 'image/gif',
    filename: 'animated.gif',
    width: 160,
    height: 120,
    kind: 'image',
    args: ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '2', '-loop', '0'],
  },
  mp4: {
    file: 'video-h264.mp4',
    contentType: 'video/mp4',
    filename: 'video h264.mp4',
    width: 854,
    height: 480,
    durationS: 24,
    kind: 'video',
    // Constant 2.2 Mbit/s (padded with filler) so the file is reliably > 5 MB; a keyframe every 15
    // frames so a seek lands quickly; moov atom first (faststart) so playback starts before the end.
    args: [
      '-f', 'lavfi', '-i', 'testsrc2=size=854x480:rate=25', '-t', '24',
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '15', '-keyint_min', '15',
      '-b:v', '2200k', '-minrate', '2200k', '-maxrate', '2200k', '-bufsize', '1100k',
      '-x264-params', 'nal-hrd=cbr:force-cfr=1', '-movflags', '+faststart', '-f', 'mp4',
    ],
  },
  webm: {
    file: 'clip.webm',
    contentType: 'video/webm',
    filename: 'clip.webm',
    width: 320,
    height: 240,
    durationS: 2,
    kind: 'video',
    args: ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '2', '-c:v', 'libvpx', '-b:v', '300k', '-f', 'webm'],
  },
  file: {
    file: 'notes.txt',
    contentType: 'text/plain',
    filename: 'meeting notes #1 (draft).txt',
    kind: 'file',
    text: 'authmedia test attachment\nline two: héllo wörld\n',
  },
  prefreezePng: { file: 'prefreeze.png', contentType: 'image/png', filename: 'before-freeze.png', width: 96, height: 72, kind: 'image', args: still('rgbtestsrc', '96x72') },
  bobPng: { file: 'bob.png', contentType: 'image/png', filename: 'bob.png', width: 120, height: 90, kind: 'image', args: still('mandelbrot', '120x90') },
};

async function generate(name, spec, target) {
  const tmp = `${target}.tmp-${process.pid}${path.extname(target)}`;
  rmSync(tmp, { force: true });
  if (spec.text !== undefined) {
    writeFileSync(tmp, spec.text);
  } else {
    await execFileP('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...spec.args, tmp], {
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  }
  if (name === 'mp4' && statSync(tmp).size < MIN_MP4_BYTES) {
    throw new Error(`fixture mp4 is only ${statSync(tmp).size} bytes (< 5 MB)`);
  }
  renameSync(tmp, target);
}

/**
 * Generate missing fixtures and describe all of them.
 * @param {{dir?: string}} [opts]
 */
export async function ensureFixtures({ dir = FIXTURE_DIR } = {}) {
  mkdirSync(dir, { recursive: true });
  /** @type {Record<string, any>} */
  const out = {};
  for (const [name, spec] of Object.entries(FIXTURES)) {
    const target = path.join(dir, spec.file);
    if (!existsSync(target)) await generate(name, spec, target);
    const data = readFileSync(target);
    const { args: _args, text: _text, file: _file, ...meta } = spec;
    out[name] = {
      ...meta,
      path: target,
      bytes: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
    };
  }
  return out;
}

/** @param {{path: string}} info */
export function readFixture(info) {
  return readFileSync(info.path);
}
