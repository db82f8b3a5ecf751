import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { cartActor } from '../cart/cart-actor';
import { openDatabase } from '../../persistence/data-source';
import { Database } from '../../persistence/database';
import { ActorSystem } from './actor-system';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after full collections (bytes). */
function liveHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * What one live activation keeps on the heap. In a sale most activations are shoppers' carts
 * (derived actors: no reminders, no inbox, no timers); with the runtime's collections made on
 * first use one costs about 150 bytes, where five empty Maps and Sets made it about 1,040.
 */
describe('activation memory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dealrush-activation-memory-'));
  let db: Database;
  let system: ActorSystem;

  beforeAll(async () => {
    db = new Database(await openDatabase({ type: 'sqlite', path: join(dir, 'memory.sqlite') }));
    system = new ActorSystem({ db, logger: pino({ level: 'silent' }), maxBatch: 1000 });
    system.register(cartActor);
    await system.start();
  });
  afterAll(async () => {
    await system.stop(1000);
    await db.dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a live cart activation under 600 bytes', async () => {
    const count = 5000;
    const ids = Array.from({ length: count }, () => crypto.randomUUID());
    // Code, shapes and the pool's buffers exist before the measurement starts.
    for (let i = 0; i < 100; i += 1) await system.ask({ kind: 'cart', id: `warm-${i}` }, { type: 'list', now: Date.now() });
    const before = liveHeap();
    for (let i = 0; i < count; i += 500) {
      const replies = await Promise.all(ids.slice(i, i + 500).map((id) => system.ask<{ ok: boolean }>({ kind: 'cart', id }, { type: 'list', now: Date.now() })));
      expect(replies.every((r) => r.ok)).toBe(true);
    }
    const perActivation = (liveHeap() - before) / count;
    expect(system.stats().activations.cart).toBeGreaterThanOrEqual(count);
    expect(perActivation).toBeGreaterThan(0);
    expect(perActivation).toBeLessThan(600);
  });
});
