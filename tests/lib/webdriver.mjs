/**
 * A small W3C WebDriver client over fetch, for the engines Playwright cannot drive here:
 * Firefox ESR (geckodriver) and WebKitGTK (WebKitWebDriver + MiniBrowser, under `xvfb-run -a`).
 *
 * API:
 *   launchFirefox({ prefs = {}, headless = true, args = [] }) → Promise<Session>
 *     Starts geckodriver ($GECKODRIVER or `geckodriver` on PATH) and a Firefox ESR session with
 *     `moz:firefoxOptions` (binary /usr/bin/firefox-esr, `-headless`, the given prefs merged over
 *     DEFAULT_FIREFOX_PREFS). Example: launchFirefox({ prefs: { 'dom.serviceWorkers.enabled': false } }).
 *   launchWebKit({ args = [] }) → Promise<Session>
 *     Starts `xvfb-run -a WebKitWebDriver` and a MiniBrowser session (`--automation` + args).
 *     AUTHMEDIA_WEBKIT_LOG=<file> keeps the driver's and browser's output there (GST_DEBUG=2: media errors).
 *   startDriver('firefox' | 'webkit') → Promise<{ url, stop() }>   just the driver process
 *   newSession(driver, capabilities) → Promise<Session>            raw session on a started driver
 *
 *   Session:
 *     id, driverUrl
 *     navigate(url)                          waits for the page load (WebDriver semantics)
 *     currentUrl(), title(), refresh()
 *     executeScript(body, ...args)           body of a function: `return document.title`
 *     executeAsyncScript(body, ...args)      the last argument is the callback: `arguments[arguments.length-1](x)`
 *     evaluate(asyncFnBody, ...args)         convenience: runs `async (...args) => { <body> }` and returns
 *                                            its resolved value, or throws its rejection as an Error
 *     waitFor(body, { timeoutMs = 10000, intervalMs = 100 }, ...args)
 *                                            polls executeScript(body) until truthy; returns that value
 *     setTimeouts({ script, pageLoad, implicit })   milliseconds
 *     screenshot() → Buffer (PNG)
 *     close()                                deletes the session and stops the driver (process group)
 *   WebDriverError: { status, error, message } for error answers.
 *
 * Drivers and browsers run in their own process group and die with the parent (support/procs.mjs).
 */
import { execFileSync } from 'node:child_process';
import { spawnGroup, waitUntil, freePort } from '../../support/procs.mjs';

export const FIREFOX_BINARY = process.env.AUTHMEDIA_FIREFOX ?? '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = process.env.AUTHMEDIA_WEBKITDRIVER ?? '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = process.env.AUTHMEDIA_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** Prefs that keep Firefox quiet and off the (closed) network, and let media autoplay. */
export const DEFAULT_FIREFOX_PREFS = {
  'app.update.enabled': false,
  'app.update.auto': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'extensions.update.enabled': false,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
};

export class WebDriverError extends Error {
  constructor(status, error, message) {
    super(`WebDriver ${status} ${error}: ${message}`);
    this.name = 'WebDriverError';
    this.status = status;
    this.error = error;
  }
}

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

async function call(url, method, body, timeoutMs = 120_000) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    throw new WebDriverError(res.status, 'invalid json', text.slice(0, 500));
  }
  if (!res.ok || (json.value && typeof json.value === 'object' && json.value.error)) {
    const v = json.value ?? {};
    throw new WebDriverError(res.status, v.error ?? 'unknown error', v.message ?? text.slice(0, 500));
  }
  return json.value;
}

/**
 * Start a WebDriver server.
 * @param {'firefox'|'webkit'} kind
 */
export async function startDriver(kind) {
  const port = await freePort();
  let proc;
  if (kind === 'firefox') {
    const gecko = process.env.GECKODRIVER || which('geckodriver');
    if (!gecko) throw new Error('geckodriver not found: run scripts/setup.sh (cargo install geckodriver)');
    proc = spawnGroup(gecko, ['--host', '127.0.0.1', '--port', String(port)], {
      env: { ...process.env, MOZ_HEADLESS: '1' },
    });
  } else if (kind === 'webkit') {
    // AUTHMEDIA_WEBKIT_LOG=<file>: the driver's and MiniBrowser's output (e.g. with GST_DEBUG=2 for media).
    proc = spawnGroup('xvfb-run', ['-a', WEBKIT_DRIVER, `--host=127.0.0.1`, `--port=${port}`], {
      logFile: process.env.AUTHMEDIA_WEBKIT_LOG || undefined,
    });
  } else {
    throw new Error(`unknown driver kind ${kind}`);
  }
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => {
        if (proc.hasExited) throw Object.assign(new Error(`${kind} driver exited`), { fatal: true });
        const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.ok;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `${kind} WebDriver on ${url}` },
    );
  } catch (err) {
    await proc.kill(2000);
    throw err;
  }
  return { url, stop: () => proc.kill(5000) };
}

/**
 * Create a session on a started driver.
 * @param {{url: string, stop: () => Promise<void>}} driver
 * @param {object} alwaysMatch  capabilities
 */
export async function newSession(driver, alwaysMatch) {
  const value = await call(`${driver.url}/session`, 'POST', { capabilities: { alwaysMatch } }, 180_000);
  const id = value.sessionId;
  const base = `${driver.url}/session/${id}`;
  let closed = false;
  const session = {
    id,
    driverUrl: driver.url,
    capabilities: value.capabilities,
    navigate: (url) => call(`${base}/url`, 'POST', { url }),
    currentUrl: () => call(`${base}/url`, 'GET'),
    title: () => call(`${base}/title`, 'GET'),
    refresh: () => call(`${base}/refresh`, 'POST', {}),
    executeScript: (script, ...args) => call(`${base}/execute/sync`, 'POST', { script, args }),
    executeAsyncScript: (script, ...args) => call(`${base}/execute/async`, 'POST', { script, args }),
    /** Run an async function body; resolve with its value or throw its error. */
    async evaluate(body, ...args) {
      const script = `
        const done = arguments[arguments.length - 1];
        const args = Array.prototype.slice.call(arguments, 0, arguments.length - 1);
        (async (...args) => { ${body} })(...args).then(
          (value) => done({ ok: true, value }),
          (err) => done({ ok: false, error: String((err && err.stack) || err) }));`;
      const out = await call(`${base}/execute/async`, 'POST', { script, args });
      if (!out || !out.ok) throw new Error(`script failed: ${out ? out.error : 'no result'}`);
      return out.value;
    },
    waitFor(body, { timeoutMs = 10_000, intervalMs = 100 } = {}, ...args) {
      return waitUntil(() => call(`${base}/execute/sync`, 'POST', { script: body, args }), {
        timeoutMs,
        intervalMs,
        what: `script condition: ${body.slice(0, 80)}`,
      });
    },
    setTimeouts: (t) => call(`${base}/timeouts`, 'POST', t),
    async screenshot() {
      return Buffer.from(await call(`${base}/screenshot`, 'GET'), 'base64');
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await call(base, 'DELETE', undefined, 20_000);
      } catch {
        // The driver is stopped below either way.
      }
      await driver.stop();
    },
  };
  // Async scripts get a generous default timeout (browsers are slow on a shared 2-core machine).
  await session.setTimeouts({ script: 60_000, pageLoad: 60_000 });
  return session;
}

/**
 * Firefox ESR through geckodriver.
 * @param {{prefs?: Record<string, any>, headless?: boolean, args?: string[]}} [opts]
 */
export async function launchFirefox({ prefs = {}, headless = true, args = [] } = {}) {
  const driver = await startDriver('firefox');
  try {
    return await newSession(driver, {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: FIREFOX_BINARY,
        args: [...(headless ? ['-headless'] : []), ...args],
        prefs: { ...DEFAULT_FIREFOX_PREFS, ...prefs },
      },
    });
  } catch (err) {
    await driver.stop();
    throw err;
  }
}

/**
 * WebKitGTK MiniBrowser through WebKitWebDriver, on a virtual display.
 * @param {{args?: string[]}} [opts]
 */
export async function launchWebKit({ args = [] } = {}) {
  const driver = await startDriver('webkit');
  try {
    return await newSession(driver, {
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', ...args] },
    });
  } catch (err) {
    await driver.stop();
    throw err;
  }
}
