// The Node.js flags every Intervene process is started with: `npm start`, `npm run bench`, the
// `intervene` command, the Dockerfile and the worker entry points (test/cli/node-flags.test.ts keeps them equal).
//
// --max-semi-space-size=64: a young generation of 64 MiB semi-spaces instead of V8's 16. A deadline firing
// keeps its case, its hand-off package and its BullMQ job alive across a few Redis round trips, so at a
// high firing rate several MiB are still live at every scavenge and get copied, then promoted. Measured with a
// scratch harness firing 20,000 escalating deadlines (as bench/run.ts section 3 does, smaller): scavenging took 2.5–3.0 s of the window at
// 16 MiB and 1.4–1.6 s at 64 MiB, Node CPU per firing fell from 686–843 to 566–611 µs, and the lateness
// p99 of the full section from 10.6 s to 3.6 s on the same (saturated) host. Each scavenge pauses ~18 ms
// instead of ~8 ms; 128 MiB saved little more and paused ~32 ms.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** The flags of NODE_FLAGS this process was started without (on its command line or in NODE_OPTIONS). */
export function missingNodeFlags(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map((flag) => flag.split('=')[0]));
  return NODE_FLAGS.filter((flag) => !given.has(flag.split('=')[0]));
}
