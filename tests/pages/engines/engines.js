// Element helpers for the cross-engine tests (window.e): <img> and <video> with or without a
// `crossorigin` attribute. Every wait is bounded; nothing here sleeps.
'use strict';

/** Whether a loaded image can be read back through a canvas (false: the canvas is tainted). */
function readable(img) {
  try {
    const canvas = document.createElement('canvas');
    canvas.width = 1;
    canvas.height = 1;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0, 1, 1);
    ctx.getImageData(0, 0, 1, 1);
    return true;
  } catch (_) {
    return false;
  }
}

window.e = {
  /**
   * Loads an <img> in the document; `crossOrigin` null (no attribute) or 'anonymous'.
   * Resolves {loaded, naturalWidth, naturalHeight, canvasReadable}.
   */
  image(src, crossOrigin, timeoutMs = 20000) {
    return new Promise((resolve) => {
      const img = document.createElement('img');
      if (crossOrigin !== null && crossOrigin !== undefined) img.setAttribute('crossorigin', crossOrigin);
      const done = (loaded) => {
        clearTimeout(timer);
        resolve({
          loaded,
          naturalWidth: img.naturalWidth,
          naturalHeight: img.naturalHeight,
          canvasReadable: loaded ? readable(img) : null,
        });
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      img.onload = () => done(true);
      img.onerror = () => done(false);
      img.src = src;
      document.body.appendChild(img);
    });
  },

  /**
   * A <video> (muted, preload auto) with or without `crossorigin`: waits until it can play, plays
   * until currentTime advances (`playAdvancing`: WebKitGTK's stuck start is pressed play again,
   * reported as `replayed`), seeks to `seekTo` and waits for data there.
   */
  async video(src, crossOrigin, seekTo, timeoutMs = 60000) {
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.preload = 'auto';
    if (crossOrigin !== null && crossOrigin !== undefined) video.setAttribute('crossorigin', crossOrigin);
    document.body.appendChild(video);
    const events = [];
    for (const name of ['loadedmetadata', 'canplay', 'playing', 'seeking', 'seeked', 'stalled', 'error']) {
      video.addEventListener(name, () => events.push(name));
    }
    const until = (name, check) =>
      new Promise((resolve, reject) => {
        if (check && check()) {
          resolve();
          return;
        }
        const timer = setTimeout(
          () => reject(new Error(`video: no ${name} within ${timeoutMs} ms (events ${events.join(',')}, error ${video.error && video.error.code})`)),
          timeoutMs,
        );
        const onEvent = () => {
          if (check && !check()) return;
          clearTimeout(timer);
          video.removeEventListener(name, onEvent);
          resolve();
        };
        video.addEventListener(name, onEvent);
        video.addEventListener('error', () => {
          clearTimeout(timer);
          reject(new Error(`video error ${video.error && video.error.code}: ${video.error && video.error.message}`));
        }, { once: true });
      });
    const canPlay = until('canplay');
    video.src = src;
    await canPlay;
    // playAdvancing: tests/harness/play-advancing.js, loaded by the page.
    const { playedTo, replayed } = await playAdvancing(video, 0.2, timeoutMs);
    video.pause();
    const seeked = until('seeked');
    video.currentTime = seekTo;
    await seeked;
    if (video.readyState < 2) await until('canplay', () => video.readyState >= 2);
    return {
      playedTo,
      duration: video.duration,
      currentTime: video.currentTime,
      readyState: video.readyState,
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      buffered: Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]),
      events,
      replayed,
    };
  },
};
