/**
 * Measures what one live cart activation keeps on the heap, in a process of its own (run by
 * `src/actors/runtime/activation-memory.test.ts` with `node --expose-gc`): inside jest's worker
 * the heap is shared with whatever earlier test files left running, and their leftovers counted
 * as the activations' own bytes. Prints one JSON line: `{ perActivation, live }` (bytes, count).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { cartActor } from '../../src/actors/cart/cart-actor';
import { ActorSystem } from '../../src/actors/runtime/actor-system';
import { openDatabase } from '../../src/persistence/data-source';
import { Database } from '../../src/persistence/database';

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap in use after full collections (bytes). */
function liveHeap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

export async function measureCartActivations(count: number): Promise<{ perActivation: number; live: number }> {
  if (!gc) throw new Error('run with node --expose-gc');
  const dir = mkdtempSync(join(tmpdir(), 'dealrush-activation-memory-'));
  const db = new Database(await openDatabase({ type: 'sqlite', path: join(dir, 'memory.sqlite') }));
  const system = new ActorSystem({ db, logger: pino({ level: 'silent' }), maxBatch: 1000 });
  system.register(cartActor);
  await system.start();
  try {
    const ids = Array.from({ length: count }, () => crypto.randomUUID());
    // Code, shapes and the pool's buffers exist before the measurement starts.
    for (let i = 0; i < 100; i += 1) await system.ask({ kind: 'cart', id: `warm-${i}` }, { type: 'list', now: Date.now() });
    const before = liveHeap();
    for (let i = 0; i < count; i += 500) {
      const replies = await Promise.all(ids.slice(i, i + 500).map((id) => system.ask<{ ok: boolean }>({ kind: 'cart', id }, { type: 'list', now: Date.now() })));
      if (!replies.every((r) => r.ok)) throw new Error('a cart did not answer ok');
    }
    const perActivation = (liveHeap() - before) / count;
    return { perActivation, live: system.stats().activations.cart ?? 0 };
  } finally {
    await system.stop(1000);
    await db.dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
