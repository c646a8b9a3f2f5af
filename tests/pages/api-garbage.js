// Page side of tests/e2e/api-garbage.test.mjs (classic script, added with page.addScriptTag).
// window.garbage.rows(api, ctx) → [[label, () => call, expect]] for one public API of the package,
// window.garbage.run(rows) → [{label, outcome, code, ...}]: what each call did (threw / rejected /
// returned / resolved / hung), described without touching the garbage again.
(() => {
  const HANG_MS = 15000;

  /** Values no API accepts where it expects a string, an object, an element or a function. */
  function values() {
    const trap = () => {
      throw new Error('trap: a getter of this argument was called');
    };
    const throwingProxy = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
    const badToString = { toString: trap, valueOf: trap, [Symbol.toPrimitive]: trap };
    return [
      ['undefined', undefined],
      ['null', null],
      ['0', 0],
      ['NaN', NaN],
      ['-Infinity', -Infinity],
      ['true', true],
      ['{}', {}],
      ['[]', []],
      ['Symbol', Symbol('garbage')],
      ['BigInt', 10n],
      ['function', () => 'mxc://x/y'],
      ['throwing Proxy', throwingProxy],
      ['throwing toString', badToString],
    ];
  }

  /** Strings that are not mxc URIs, or try to escape the URL path. */
  function badMxcs() {
    return [
      ['empty', ''],
      ['mxc://', 'mxc://'],
      ['mxc://../config', 'mxc://../config'],
      ['mxc://hs/../config', 'mxc://authmedia.test/../config'],
      ['mxc://hs/a/b', 'mxc://authmedia.test/a/b'],
      ['NUL in id', 'mxc://authmedia.test/a\u0000b'],
      ['newline in id', 'mxc://authmedia.test/a\nb'],
      ['CRLF in server', 'mxc://authmedia.test\r\nX-Evil: 1/abc'],
      ['query in id', 'mxc://authmedia.test/abc?access_token=x'],
      ['fragment in id', 'mxc://authmedia.test/abc#x'],
      ['user info', 'mxc://user:pass@authmedia.test/abc'],
      ['port 99999', 'mxc://authmedia.test:99999/abc'],
      ['http scheme', 'https://authmedia.test/abc'],
      ['javascript:', 'javascript:alert(1)'],
      ['huge media id (4 MB)', 'mxc://authmedia.test/' + 'a'.repeat(4 * 1024 * 1024)],
      ['huge server name', 'mxc://' + 'a'.repeat(100000) + '/abc'],
    ];
  }

  const notString = () => values().filter(([, v]) => typeof v !== 'string');
  const notObject = () => values().filter(([, v]) => v === null || v === undefined || (typeof v !== 'object' && typeof v !== 'function'));

  /**
   * @param {string} api
   * @param {{media: any, am: any, mxc: string, homeserver: string, token: string, userId: string, file: any}} c
   * Each row: [label, call, expect] with expect 'error' (default: throws or rejects an
   * AuthMediaError with a documented code) or 'ok' (must not throw).
   */
  function rows(api, c) {
    const { media, am } = c;
    const out = [];
    const add = (label, call, expect = 'error') => out.push([`${api}: ${label}`, call, expect]);
    const opts = (extra) => ({ homeserver: c.homeserver, accessToken: c.token, userId: c.userId, workerUrl: null, ...extra });
    switch (api) {
      case 'init': {
        add('no argument', () => am.AuthMedia.init());
        for (const [l, v] of values()) add(`options = ${l}`, () => am.AuthMedia.init(v));
        add('{}', () => am.AuthMedia.init({}));
        for (const [l, v] of values()) add(`homeserver = ${l}`, () => am.AuthMedia.init(opts({ homeserver: v })));
        for (const [l, v] of [['empty', ''], ['not a URL', 'not a url'], ['mxc', 'mxc://../config'], ['javascript:', 'javascript:alert(1)'], ['file:', 'file:///etc/passwd'], ['user info', 'http://u:p@127.0.0.1:1/'], ['NUL', 'http://127.0.0.1\u0000.evil/'], ['newline', 'http://127.0.0.1:1/\nx'], ['huge', 'http://' + 'a'.repeat(1 << 20) + '/']]) {
          add(`homeserver = ${l}`, () => am.AuthMedia.init(opts({ homeserver: v })));
        }
        for (const [l, v] of values()) add(`accessToken = ${l}`, () => am.AuthMedia.init(opts({ accessToken: v })));
        for (const [l, v] of [['empty', ''], ['newline', 'abc\ndef'], ['CRLF header injection', 'abc\r\nX-Evil: 1'], ['NUL', 'abc\u0000'], ['space', 'abc def'], ['non-ASCII', 'tökén'], ['huge (2 MB)', 'a'.repeat(2 << 20)]]) {
          add(`accessToken = ${l}`, () => am.AuthMedia.init(opts({ accessToken: v })));
        }
        for (const [l, v] of notString().filter(([, v]) => v !== undefined && v !== null)) add(`userId = ${l}`, () => am.AuthMedia.init(opts({ userId: v })));
        for (const [l, v] of notString().filter(([, v]) => v !== undefined && v !== null)) add(`workerUrl = ${l}`, () => am.AuthMedia.init(opts({ workerUrl: v })));
        for (const [l, v] of [...notString().filter(([, v]) => v !== undefined && v !== null), ['bogus', 'bogus'], ['FORCE', 'FORCE']]) add(`fallback = ${l}`, () => am.AuthMedia.init(opts({ fallback: v })));
        add("fallback 'never' without a workerUrl", () => am.AuthMedia.init(opts({ fallback: 'never' })));
        for (const [l, v] of [...notObject().filter(([, v]) => v !== undefined && v !== null), ['string', 'f'], ['{}', {}]]) add(`onTokenRefresh = ${l}`, () => am.AuthMedia.init(opts({ onTokenRefresh: v })));
        for (const k of ['budgetBytes', 'concurrency']) {
          for (const [l, v] of [['0', 0], ['-1', -1], ['NaN', NaN], ['Infinity', Infinity], ['string', '10'], ['{}', {}], ['Symbol', Symbol('n')], ['BigInt', 10n], ['throwing toString', values().at(-1)[1]]]) add(`${k} = ${l}`, () => am.AuthMedia.init(opts({ [k]: v })));
        }
        add('options behind a throwing Proxy (valid target)', () => am.AuthMedia.init(new Proxy(opts({}), { get() { throw new Error('trap'); } })));
        break;
      }
      case 'constructor': {
        for (const [l, v] of values()) add(`new AuthMedia(${l})`, () => new am.AuthMedia(v));
        break;
      }
      case 'src':
      case 'httpUrl':
      case 'download': {
        const f = (...a) => media[api](...a);
        add('no argument', () => f());
        for (const [l, v] of values()) add(`mxc = ${l}`, () => f(v));
        for (const [l, v] of badMxcs()) add(`mxc = ${l}`, () => f(v));
        if (api === 'download') {
          for (const [l, v] of notString().filter(([, v]) => v !== undefined && v !== null)) add(`filename = ${l}`, () => f(c.mxc, v));
        } else {
          for (const [l, v] of values().filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')) add(`options = ${l}`, () => f(c.mxc, v));
          add('options = throwing Proxy', () => f(c.mxc, values().find(([l]) => l === 'throwing Proxy')[1]));
          for (const [l, v] of values().filter(([, v]) => v !== undefined && v !== null)) add(`thumbnail = ${l}`, () => f(c.mxc, { thumbnail: v }));
          for (const [l, t] of [
            ['width missing', { height: 32 }],
            ['width 0', { width: 0, height: 32 }],
            ['width -5', { width: -5, height: 32 }],
            ['width NaN', { width: NaN, height: 32 }],
            ['width 1e12', { width: 1e12, height: 32 }],
            ['width "32"', { width: '32', height: 32 }],
            ['width Symbol', { width: Symbol('w'), height: 32 }],
            ['width BigInt', { width: 32n, height: 32 }],
            ['method bogus', { width: 32, height: 32, method: 'bogus' }],
            ['method 1', { width: 32, height: 32, method: 1 }],
            ['animated "yes"', { width: 32, height: 32, animated: 'yes' }],
            ['animated {}', { width: 32, height: 32, animated: {} }],
          ]) add(`thumbnail ${l}`, () => f(c.mxc, { thumbnail: t }));
          for (const [l, v] of notString().filter(([, v]) => v !== undefined && v !== null)) add(`filename = ${l}`, () => f(c.mxc, { filename: v }));
        }
        break;
      }
      case 'srcEncrypted': {
        const f = (...a) => media.srcEncrypted(...a);
        add('no argument', () => f());
        for (const [l, v] of values()) add(`file = ${l}`, () => f(v));
        for (const [l, v] of [['empty string', ''], ['not JSON', '{'], ['JSON null', 'null'], ['JSON array', '[]'], ['huge string', '"' + 'a'.repeat(4 << 20) + '"']]) add(`file = ${l}`, () => f(v));
        const good = c.file;
        const mutate = (fn) => {
          const x = JSON.parse(JSON.stringify(good));
          fn(x);
          return x;
        };
        for (const [l, fn] of [
          ['url mxc://../config', (x) => (x.url = 'mxc://../config')],
          ['url https:', (x) => (x.url = 'https://authmedia.test/x')],
          ['url 42', (x) => (x.url = 42)],
          ['no key', (x) => delete x.key],
          ['key.k short', (x) => (x.key.k = 'AAAA')],
          ['key.alg A128CTR', (x) => (x.key.alg = 'A128CTR')],
          ['iv garbage', (x) => (x.iv = '!!!')],
          ['no hashes', (x) => delete x.hashes],
          ['hashes.sha256 42', (x) => (x.hashes.sha256 = 42)],
          ['v v1', (x) => (x.v = 'v1')],
        ]) add(`file ${l}`, () => f(mutate(fn)));
        add('file fields behind a throwing Proxy', () => f(new Proxy(JSON.parse(JSON.stringify(good)), { get() { throw new Error('trap'); } })));
        for (const [l, v] of values().filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')) add(`options = ${l}`, () => f(good, v));
        for (const [l, v] of notString().filter(([, v]) => v !== undefined && v !== null)) add(`options.mimetype = ${l}`, () => f(good, { mimetype: v }));
        break;
      }
      case 'mount': {
        add('no argument', () => media.mount());
        for (const [l, v] of values()) add(`root = ${l}`, () => media.mount(v));
        add('root = a fake {nodeType: 1}', () => media.mount({ nodeType: 1, querySelectorAll: () => [] }));
        add('root = a Text node', () => media.mount(document.createTextNode('x')));
        add('root = document', () => media.mount(document));
        add('root = a Proxy of an element', () => media.mount(new Proxy(document.createElement('div'), {})));
        break;
      }
      case 'setAccessToken': {
        add('no argument', () => media.setAccessToken());
        for (const [l, v] of values()) add(`token = ${l}`, () => media.setAccessToken(v));
        for (const [l, v] of [['empty', ''], ['newline', 'abc\ndef'], ['CRLF header injection', 'abc\r\nX-Evil: 1'], ['NUL', 'abc\u0000'], ['space', 'abc def'], ['non-ASCII', 'tökén'], ['huge (2 MB)', 'a'.repeat(2 << 20)]]) {
          add(`token = ${l}`, () => media.setAccessToken(v));
        }
        break;
      }
      case 'setForceFallback': {
        add('no argument', () => media.setForceFallback());
        for (const [l, v] of values().filter(([, v]) => v !== undefined && typeof v !== 'boolean')) add(`force = ${l}`, () => media.setForceFallback(v));
        add('force = "false"', () => media.setForceFallback('false'));
        break;
      }
      case 'events': {
        for (const m of ['addEventListener', 'removeEventListener']) {
          const ok = () => {};
          add(`${m}() no argument`, () => media[m]());
          for (const [l, v] of values()) add(`${m} type = ${l}`, () => media[m](v, ok));
          add(`${m} type = "bogus"`, () => media[m]('bogus', ok));
          for (const [l, v] of values().filter(([, v]) => typeof v !== 'function')) add(`${m} listener = ${l}`, () => media[m]('error', v));
        }
        break;
      }
      case 'detached': {
        // Methods called on something that is not an AuthMedia (a detached method, a wrong `this`).
        const methods = Object.getOwnPropertyNames(am.AuthMedia.prototype).filter((m) => m !== 'constructor' && typeof Object.getOwnPropertyDescriptor(am.AuthMedia.prototype, m).value === 'function');
        if (methods.length < 12) throw new Error(`only ${methods.length} methods found`);
        for (const m of methods) {
          add(`${m} with this = {}`, () => am.AuthMedia.prototype[m].call({}, c.mxc));
          add(`${m} with this = undefined`, () => am.AuthMedia.prototype[m].call(undefined, c.mxc));
        }
        for (const g of ['mode', 'api', 'fallbackReason']) {
          add(`get ${g} with this = {}`, () => Object.getOwnPropertyDescriptor(am.AuthMedia.prototype, g).get.call({}));
        }
        break;
      }
      case 'extraArgs': {
        // Calls that take no argument ignore garbage ones (and must not break).
        for (const [l, v] of values()) {
          add(`stats(${l})`, () => media.stats(v), 'ok');
          add(`refreshStats(${l})`, () => media.refreshStats(v), 'ok');
          add(`isInitialized(${l})`, () => am.isInitialized(v), 'ok');
          add(`initAsync(${l}) once loaded`, () => am.initAsync(v), 'ok');
          if (typeof media.retryFailed === 'function') add(`retryFailed(${l})`, () => media.retryFailed(v), 'ok');
        }
        break;
      }
      case 'fromMatrixClient': {
        const f = (...a) => am.fromMatrixClient(...a);
        add('no argument', () => f());
        for (const [l, v] of values()) add(`client = ${l}`, () => f(v));
        const client = (over = {}) => ({
          getHomeserverUrl: () => c.homeserver,
          getAccessToken: () => c.token,
          getUserId: () => c.userId,
          ...over,
        });
        const trap = () => {
          throw new Error('trap');
        };
        for (const [l, v] of values().filter(([, v]) => typeof v !== 'string')) {
          add(`getHomeserverUrl() → ${l}`, () => f(client({ getHomeserverUrl: () => v }), { workerUrl: null }));
          add(`getAccessToken() → ${l}`, () => f(client({ getAccessToken: () => v }), { workerUrl: null }));
          if (v !== null && v !== undefined) add(`getUserId() → ${l}`, () => f(client({ getUserId: () => v }), { workerUrl: null }));
        }
        add('getHomeserverUrl throws', () => f(client({ getHomeserverUrl: trap }), { workerUrl: null }));
        add('getAccessToken throws', () => f(client({ getAccessToken: trap }), { workerUrl: null }));
        add('getUserId throws', () => f(client({ getUserId: trap }), { workerUrl: null }));
        for (const [l, v] of values().filter(([, v]) => v !== undefined && typeof v !== 'object')) add(`options = ${l}`, () => f(client(), v));
        add('options = null', () => f(client(), null));
        add('options = throwing Proxy', () => f(client(), values().find(([l]) => l === 'throwing Proxy')[1]));
        add('options.fallback bogus', () => f(client(), { workerUrl: null, fallback: 'bogus' }));
        break;
      }
      case 'AuthMediaError': {
        const E = am.AuthMediaError;
        for (const [l, v] of values()) {
          add(`instanceof with ${l}`, () => {
            if (v instanceof E) throw new Error(`${l} counted as an AuthMediaError`);
            return true;
          }, 'ok');
        }
        add('instanceof with a Proxy of an Error whose getters throw', () => {
          const p = new Proxy(new Error('x'), { get() { throw new Error('trap'); } });
          if (p instanceof E) throw new Error('counted as an AuthMediaError');
          return true;
        }, 'ok');
        for (const [l, v] of values().filter(([, v]) => typeof v !== 'string')) add(`new AuthMediaError(${l}, "m")`, () => new E(v, 'message'));
        add('new AuthMediaError("", "m")', () => new E('', 'message'));
        for (const [l, v] of values().filter(([, v]) => v !== undefined && typeof v !== 'string' && typeof v !== 'object')) add(`new AuthMediaError("network", ${l})`, () => new E('network', v));
        add('new AuthMediaError("network", throwing toString)', () => new E('network', values().at(-1)[1]));
        break;
      }
      default:
        throw new Error(`no rows for ${api}`);
    }
    return out;
  }

  function safeString(v) {
    try {
      if (typeof v === 'string') return v.length > 200 ? v.slice(0, 200) + '…' : v;
      if (typeof v === 'function') return 'function';
      if (v instanceof Function) return 'function';
      return String(v).slice(0, 200);
    } catch {
      return '(unprintable)';
    }
  }

  function describe(outcome, e) {
    const out = { outcome };
    try {
      out.isError = e instanceof Error;
      out.name = safeString(e && e.name);
      out.code = e && typeof e.code === 'string' ? e.code : e && e.code !== undefined ? `(non-string ${typeof e.code})` : null;
      out.message = safeString(e && e.message);
      out.instanceOfAuthMediaError = window.am ? e instanceof window.am.AuthMediaError : null;
    } catch (err) {
      out.describeFailed = safeString(err && err.message);
    }
    return out;
  }

  async function runOne(call) {
    let r;
    try {
      r = call();
    } catch (e) {
      return describe('threw', e);
    }
    if (r && typeof r.then === 'function') {
      let timer;
      const hang = new Promise((resolve) => (timer = setTimeout(() => resolve(hang), HANG_MS)));
      try {
        const v = await Promise.race([r, hang]);
        if (v === hang) return { outcome: 'hung' };
        return { outcome: 'resolved', value: safeString(v) };
      } catch (e) {
        return describe('rejected', e);
      } finally {
        clearTimeout(timer);
      }
    }
    return { outcome: 'returned', value: safeString(r) };
  }

  async function run(list) {
    const results = [];
    for (const [label, call, expect] of list) results.push({ label, expect, ...(await runOne(call)) });
    return results;
  }

  window.garbage = { rows, run, values, badMxcs };
})();
