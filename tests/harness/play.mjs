/**
 * Playing a `<video>` in a test until its time advances, with the one recovery WebKitGTK needs.
 *
 * WebKitGTK (2.50, GStreamer) sometimes never advances after `play()`: the element reports
 * `playing`, then `waiting` and `stalled`, and stays at currentTime ≈ 0.005 with readyState 2 and
 * networkState LOADING while `buffered` already covers the whole file. Measured on this machine with
 * no library and no worker in the path (the 8 s mp4 from a plain Node server that answers Range with
 * 206): 7 of 400 plays stuck (2 crossorigin forms, 200 each). Pressing play again
 * (`pause(); play()`) gets it going (4 of 4), as does `load()`; a small seek does not (0 of 2).
 *
 * So a test does what a user does: when playback has not advanced for `STUCK_MS` although the
 * data to advance into is already buffered (from the current position to 2 s ahead, or to the end),
 * it presses play again, once, and reports that it did (`replayed`). A video whose data did not
 * arrive is never nudged: it fails with its state, as before.
 *
 * The function is play-advancing.js (a plain browser script: the engines test page loads it as
 * /harness/play-advancing.js):
 *   playAdvancing(video, to, ms) → Promise<{ playedTo, replayed }>: plays until currentTime > `to`;
 *       rejects on a media error or after `ms` with the element's state
 * API:
 *   PLAY_ADVANCING  its source, to put at the start of a `page.evaluate` / WebDriver body that calls it
 *   logReplay(where, result)  logs the nudge when `result.replayed` (a test shows it, never hides it)
 */
import { readFileSync } from 'node:fs';

export const PLAY_ADVANCING = readFileSync(new URL('./play-advancing.js', import.meta.url), 'utf8');

export function logReplay(where, result) {
  if (result.replayed) console.log(`${where}: engine stall at the start (tests/harness/play.mjs), pressed play again: ${JSON.stringify(result)}`);
}
