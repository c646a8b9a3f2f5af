// playAdvancing(video, to, ms) → Promise<{ playedTo, replayed }>: plays until currentTime > `to`, and
// presses play again once when WebKitGTK's start gets stuck with the data already buffered. Why and
// what was measured: tests/harness/play.mjs. A plain script: the engines test page loads it
// (/harness/play-advancing.js), and play.mjs hands its text to bodies run in other pages (so no
// 'use strict' directive: a body wrapped in a function with rest parameters may not have one).

const STUCK_MS = 4000;

function playAdvancing(v, to, ms) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let last = v.currentTime;
    let lastMoved = t0;
    let replayed = false;
    const state = () => 'currentTime ' + v.currentTime + ', readyState ' + v.readyState + ', networkState ' + v.networkState +
      ', paused ' + v.paused + ', buffered ' + JSON.stringify(Array.from({ length: v.buffered.length }, (_, i) => [v.buffered.start(i), v.buffered.end(i)])) +
      ', replayed ' + replayed;
    // The data to advance into is here: a buffered range holds the current position and reaches
    // 2 s past it (or the end).
    const dataAhead = () => {
      const want = Math.min(v.currentTime + 2, v.duration) - 0.05;
      for (let i = 0; i < v.buffered.length; i += 1) {
        if (v.buffered.start(i) <= v.currentTime + 0.05 && v.buffered.end(i) >= want) return true;
      }
      return false;
    };
    const timer = setInterval(() => {
      const now = performance.now();
      if (v.error) {
        clearInterval(timer);
        reject(new Error('video error ' + v.error.code + ' ' + v.error.message + ' (' + state() + ')'));
      } else if (v.currentTime > to) {
        clearInterval(timer);
        resolve({ playedTo: v.currentTime, replayed });
      } else if (now - t0 > ms) {
        clearInterval(timer);
        reject(new Error('video: time did not pass ' + to + ' s within ' + ms + ' ms (' + state() + ')'));
      } else if (v.currentTime !== last) {
        last = v.currentTime;
        lastMoved = now;
      } else if (!replayed && !v.paused && now - lastMoved > STUCK_MS && dataAhead()) {
        replayed = true;
        lastMoved = now;
        v.pause();
        v.play().catch(() => {});
      }
    }, 50);
    v.play().catch((err) => {
      clearInterval(timer);
      reject(new Error('video: play() rejected: ' + err + ' (' + state() + ')'));
    });
  });
}
