/**
 * A real Synapse homeserver on loopback, for tests and the demo.
 *
 * API:
 *   startSynapse({ dir, port?, serverName?, authenticatedMedia = true, registrationSecret?, python?,
 *                  readyTimeoutMs = 180000, extraConfig? })
 *     → Promise<{ baseUrl, serverName, port, dir, registrationSecret, logFile,
 *                 stop(): Promise<void>, restart({ authenticatedMedia? }): Promise<void> }>
 *
 *   - `dir` is created if needed and holds homeserver.yaml, the signing key, the sqlite database,
 *     the media store and `synapse.log` (stdout + stderr of the process). Reusing a dir keeps users
 *     and media (the demo does that); tests use a fresh dir.
 *   - `port` defaults to a free port; `serverName` defaults to "authmedia.test" (deliberately not the
 *     host of `baseUrl`, so code cannot confuse the media's server name with the homeserver origin).
 *   - `authenticatedMedia` is Synapse's `enable_authenticated_media`, i.e. the media freeze: media
 *     uploaded while it is false stays reachable on the legacy /_matrix/media/v3 endpoints after a
 *     `restart({ authenticatedMedia: true })`.
 *   - The client listener is plain HTTP on 127.0.0.1; federation is off; registration only through
 *     the shared secret (`registrationSecret`, see matrix.mjs `registerUser`); guests allowed;
 *     rate limits relaxed; uploads up to 200 MB.
 *   - Readiness: polls GET /_matrix/client/versions until 200, failing early (with the log tail)
 *     if the process exits, or after `readyTimeoutMs`.
 *   - The process runs in its own process group; `stop()` (and the parent's exit, SIGINT, SIGTERM)
 *     kills the whole group.
 *   - `python` defaults to $AUTHMEDIA_SYNAPSE_PYTHON or `<repo>/.local/synapse-venv/bin/python`
 *     (installed by scripts/setup.sh).
 */
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { spawnGroup, waitUntil, freePort } from './procs.mjs';

const execFileP = promisify(execFile);

/** Repository root (two levels above this file). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Default Python of the Synapse venv made by scripts/setup.sh. */
export function synapsePython() {
  return process.env.AUTHMEDIA_SYNAPSE_PYTHON || path.join(REPO_ROOT, '.local', 'synapse-venv', 'bin', 'python');
}

const RELAXED = { per_second: 10000, burst_count: 100000 };

/**
 * Build the homeserver config. YAML is a superset of JSON, so JSON is written.
 * @returns {object}
 */
function buildConfig({ dir, port, serverName, authenticatedMedia, registrationSecret, secrets, extraConfig }) {
  return {
    server_name: serverName,
    pid_file: path.join(dir, 'homeserver.pid'),
    public_baseurl: `http://127.0.0.1:${port}/`,
    listeners: [
      {
        port,
        bind_addresses: ['127.0.0.1'],
        type: 'http',
        tls: false,
        x_forwarded: false,
        resources: [{ names: ['client'], compress: false }],
      },
    ],
    database: { name: 'sqlite3', args: { database: path.join(dir, 'homeserver.db') } },
    media_store_path: path.join(dir, 'media_store'),
    signing_key_path: path.join(dir, 'signing.key'),
    registration_shared_secret: registrationSecret,
    macaroon_secret_key: secrets.macaroon,
    form_secret: secrets.form,
    enable_registration: false,
    allow_guest_access: true,
    bcrypt_rounds: 4,
    report_stats: false,
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    federation_domain_whitelist: [],
    enable_authenticated_media: authenticatedMedia,
    max_upload_size: '200M',
    url_preview_enabled: false,
    enable_metrics: false,
    presence: { enabled: false },
    rc_message: RELAXED,
    rc_registration: RELAXED,
    rc_registration_token_validity: RELAXED,
    rc_login: { address: RELAXED, account: RELAXED, failed_attempts: RELAXED },
    rc_admin_redaction: RELAXED,
    rc_joins: { local: RELAXED, remote: RELAXED },
    rc_joins_per_room: RELAXED,
    rc_invites: { per_room: RELAXED, per_user: RELAXED, per_issuer: RELAXED },
    rc_3pid_validation: RELAXED,
    rc_media_create: RELAXED,
    rc_room_creation: RELAXED,
    rc_presence: { per_user: RELAXED },
    rc_delayed_event_mgmt: RELAXED,
    ...extraConfig,
  };
}

function readSecrets(dir) {
  const file = path.join(dir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const secrets = {
    registration: randomBytes(24).toString('hex'),
    macaroon: randomBytes(24).toString('hex'),
    form: randomBytes(24).toString('hex'),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

function logTail(logFile, lines = 40) {
  try {
    return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Start Synapse. See the module comment for the contract.
 * @param {{dir: string, port?: number, serverName?: string, authenticatedMedia?: boolean,
 *          registrationSecret?: string, python?: string, readyTimeoutMs?: number, extraConfig?: object}} opts
 */
export async function startSynapse(opts) {
  const dir = path.resolve(opts.dir);
  mkdirSync(path.join(dir, 'media_store'), { recursive: true });
  const python = opts.python ?? synapsePython();
  if (!existsSync(python)) {
    throw new Error(`Synapse's Python not found at ${python}: run scripts/setup.sh first`);
  }
  const port = opts.port ?? (await freePort());
  const serverName = opts.serverName ?? 'authmedia.test';
  const secrets = readSecrets(dir);
  const registrationSecret = opts.registrationSecret ?? secrets.registration;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  const configFile = path.join(dir, 'homeserver.yaml');
  const logFile = path.join(dir, 'synapse.log');
  const baseUrl = `http://127.0.0.1:${port}`;
  let authenticatedMedia = opts.authenticatedMedia ?? true;

  const writeConfig = () => {
    const config = buildConfig({
      dir,
      port,
      serverName,
      authenticatedMedia,
      registrationSecret,
      secrets,
      extraConfig: opts.extraConfig ?? {},
    });
    writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  };

  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', SYNAPSE_NO_TLS: '1' };
  writeConfig();
  if (!existsSync(path.join(dir, 'signing.key'))) {
    await execFileP(python, ['-m', 'synapse.app.homeserver', '-c', configFile, '--generate-keys'], {
      cwd: dir,
      env,
      timeout: 300_000,
    });
  }

  /** @type {ReturnType<typeof spawnGroup> | null} */
  let proc = null;

  const launch = async () => {
    writeConfig();
    writeFileSync(logFile, `--- start ${new Date().toISOString()} enable_authenticated_media=${authenticatedMedia}\n`, {
      flag: 'a',
    });
    const p = spawnGroup(python, ['-m', 'synapse.app.homeserver', '-c', configFile], { cwd: dir, env, logFile });
    proc = p;
    await waitUntil(
      async () => {
        if (p.hasExited) {
          throw Object.assign(new Error('exited'), { fatal: true });
        }
        const res = await fetch(`${baseUrl}/_matrix/client/versions`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.ok;
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 150, what: `Synapse at ${baseUrl}` },
    ).catch(async (err) => {
      await p.kill(2000);
      throw new Error(`Synapse did not become ready (${err.message}). Log tail (${logFile}):\n${logTail(logFile)}`);
    });
    if (p.hasExited) {
      throw new Error(`Synapse exited during start. Log tail (${logFile}):\n${logTail(logFile)}`);
    }
  };

  const stop = async () => {
    if (proc) {
      const p = proc;
      proc = null;
      await p.kill(15_000);
    }
  };

  await launch();

  return {
    baseUrl,
    serverName,
    port,
    dir,
    registrationSecret,
    logFile,
    stop,
    /** Stop and start again on the same port and data, optionally flipping the media freeze. */
    async restart({ authenticatedMedia: next } = {}) {
      await stop();
      if (next !== undefined) authenticatedMedia = next;
      await launch();
    },
    get authenticatedMedia() {
      return authenticatedMedia;
    },
  };
}
