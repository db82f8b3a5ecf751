import { writeFileSync } from 'node:fs';

/**
 * A bench-only preload (`node --expose-gc --require dist/bench/memory-probe.js`) that lets a bench
 * read a server's live memory: on SIGWINCH it runs two full garbage collections and writes
 * `process.memoryUsage()` (bytes: rss, heapTotal, heapUsed, external, arrayBuffers) as JSON, with
 * a `probe` counter, to the file named by `BENCH_MEMORY_PROBE_FILE`.
 *
 * Why: the RSS growth over N connections is noise-dominated (V8 grows and shrinks its heap on its
 * own schedule; a node that has just served a load test may shrink while sockets connect). Heap
 * used plus external memory after a full GC is what the connections keep alive.
 *
 * SIGWINCH because its default action is to do nothing (a server without the probe is not hurt)
 * and close-with-grace, which `main.ts` uses, takes SIGUSR2 as a request to shut down.
 *
 * Nothing here runs unless the bench asks for it; the server is not built with it.
 */
const file = process.env.BENCH_MEMORY_PROBE_FILE;
const gc = (globalThis as { gc?: () => void }).gc;
if (file && gc) {
  let probe = 0;
  process.on('SIGWINCH', () => {
    gc();
    gc();
    probe += 1;
    writeFileSync(file, JSON.stringify({ probe, ...process.memoryUsage() }));
  });
}
