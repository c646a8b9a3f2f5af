#!/usr/bin/env node
/**
 * Load figures (scripts/load.sh): runs the scenario of tests/e2e/load.test.mjs (tests/lib/load-scenario.mjs)
 * on a private Synapse (or the world of $AUTHMEDIA_WORLD) and prints a Markdown table: phases cold,
 * warm (same URLs), restarted (after CDP ServiceWorker.stopAllWorkers) and a small store budget.
 * Measures only: it exits non-zero only if the scenario could not run; the e2e test asserts.
 *
 * Environment:
 *   LOAD_REQUESTS   requests per phase (default 1000)
 *   LOAD_IMAGES     distinct images; each gives a download and a thumbnail URL (default 200)
 *   LOAD_IMG_EVERY  every k-th request of the cold phase is an <img> (default 5; 0 = fetch only)
 *   LOAD_SMALL_BUDGET  store budget in bytes of the last phase's worker (default 262144)
 *   LOAD_JSON       write the phases as JSON to this file too
 *   LOAD_CONSOLE=1  print the browser console (without "Failed to load resource" lines) to stderr
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { loadWorld } from '../support/world.mjs';
import { startLoadRig, formatPhases, loadWorker } from './lib/load-scenario.mjs';

const requests = Number(process.env.LOAD_REQUESTS ?? 1000);
const images = Number(process.env.LOAD_IMAGES ?? 200);
const imgEvery = Number(process.env.LOAD_IMG_EVERY ?? 5);
const smallBudget = Number(process.env.LOAD_SMALL_BUDGET ?? 256 * 1024);

async function main() {
  const started = Date.now();
  const world = await loadWorld();
  console.error(`load: world ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const rig = await startLoadRig({ world, images, log: (line) => console.error(`load: ${line}`) });
  const phases = [];
  try {
    phases.push(await rig.runPhase('cold', rig.planRequests({ requests, imgEvery, seed: 1 })));
    phases.push(await rig.runPhase('warm', rig.planRequests({ requests, seed: 2 })));
    await rig.stopWorker();
    phases.push(await rig.runPhase('restarted', rig.planRequests({ requests, seed: 3 })));
    await rig.relaunch(loadWorker({ budget: smallBudget }));
    phases.push(await rig.runPhase(`store ${smallBudget / 1024} KiB`, rig.planRequests({ requests, seed: 4 })));
  } finally {
    if (process.env.LOAD_CONSOLE === '1') {
      const lines = rig.consoleLines.filter((l) => !l.includes('Failed to load resource'));
      console.error(`--- browser console (${rig.consoleLines.length - lines.length} "Failed to load resource" lines left out) ---`);
      console.error(lines.join('\n'));
    }
    await rig.close();
  }
  const [l1, l5, l15] = os.loadavg().map((x) => x.toFixed(2));
  console.log(`# authmedia load figures, ${new Date().toISOString()}`);
  console.log(`# ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${l1} ${l5} ${l15}, node ${process.version}`);
  console.log(`# ${requests} requests per phase, ${images} images × (download + ${'32×32 crop thumbnail'})`);
  console.log('');
  console.log(formatPhases(phases));
  for (const p of phases) {
    if (p.failureCount) console.log(`\n${p.name}: ${p.failureCount} failed, e.g. ${JSON.stringify(p.failures.slice(0, 3))}`);
  }
  if (process.env.LOAD_JSON) {
    writeFileSync(
      process.env.LOAD_JSON,
      JSON.stringify(phases.map(({ upstreamByUrl, ...p }) => p), null, 2) + '\n',
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`load: ${err.stack ?? err}`);
    process.exit(1);
  },
);
