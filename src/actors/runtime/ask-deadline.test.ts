import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openDatabase } from '../../persistence/data-source';
import { Database } from '../../persistence/database';
import type { ActorDefinition } from './actor';
import { ActorSystem } from './actor-system';
import { ActorRuntimeError } from './errors';

/**
 * Ask deadlines: each ask fails with UNAVAILABLE once its own timeout has passed (on the system's
 * clock), whatever the other asks in flight wait for, and an answered ask never fails later.
 */
describe('ask deadlines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dealrush-ask-deadline-'));
  let db: Database;
  let system: ActorSystem;
  let now = 1_000_000;
  /**
   * Loads of `stuck` actors (ids not starting with "live") wait for the gate, opened at the end of
   * each test: until then they never answer. (They hold SQLite's one connection meanwhile, so the
   * live actor is asked first.)
   */
  let openGate: () => void = () => undefined;
  let gate = Promise.resolve();
  const closeGate = () => (gate = new Promise<void>((resolve) => (openGate = resolve)));
  const stuck: ActorDefinition<{ id: string }, { type: 'ping' }> = {
    kind: 'stuck',
    durable: false,
    store: { load: (_m, id) => (id.startsWith('live') ? Promise.resolve({ id }) : gate.then(() => ({ id }))), save: async () => undefined },
    transition: (state) => ({ state, reply: 'pong' }),
    alarm: () => ({ type: 'ping' }),
  };

  beforeAll(async () => {
    db = new Database(await openDatabase({ type: 'sqlite', path: join(dir, 'deadline.sqlite') }));
    system = new ActorSystem({ db, logger: pino({ level: 'silent' }), clock: () => now, askTimeoutMs: 1000 });
    system.register(stuck as ActorDefinition<unknown>);
    await system.start();
  });
  afterEach(() => openGate());
  afterAll(async () => {
    await system.stop(100);
    await db.dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Settles to the error's code, or 'answered', without an unhandled rejection meanwhile. */
  const outcome = (ask: Promise<unknown>) => ask.then(() => 'answered', (error: unknown) => (error instanceof ActorRuntimeError ? error.code : String(error)));
  const sweep = () => new Promise((resolve) => setTimeout(resolve, 120)); // the sweep runs every 50 ms

  it('fails each ask at its own deadline, shorter timeouts sent later first, and never an answered one', async () => {
    const settled: string[] = [];
    const track = (name: string, ask: Promise<unknown>) => outcome(ask).then((result) => (settled.push(name), result));
    expect(await track('answered', system.ask({ kind: 'stuck', id: 'live-1' }, { type: 'ping' }, { timeoutMs: 200 }))).toBe('answered');
    closeGate();
    const long = track('long', system.ask({ kind: 'stuck', id: 'a' }, { type: 'ping' }, { timeoutMs: 3000 }));
    const usual = track('usual', system.ask({ kind: 'stuck', id: 'b' }, { type: 'ping' }));
    now += 100;
    const short = track('short', system.ask({ kind: 'stuck', id: 'c' }, { type: 'ping' }, { timeoutMs: 200 }));

    now += 199; // short is due at +300 on the system's clock
    await sweep();
    expect(settled).toEqual(['answered']);
    now += 1;
    await sweep();
    expect(await short).toBe('UNAVAILABLE');
    expect(settled).toEqual(['answered', 'short']);

    now += 700; // usual (1000 ms, the system's default) is due at +1000
    await sweep();
    expect(await usual).toBe('UNAVAILABLE');
    expect(settled).toEqual(['answered', 'short', 'usual']);

    now += 1999; // long is due at +3000
    await sweep();
    expect(settled).toHaveLength(3);
    now += 1;
    expect(await long).toBe('UNAVAILABLE');
    expect(settled).toEqual(['answered', 'short', 'usual', 'long']);
  });

  it('keeps expiring asks of a timeout after every ask of it has settled once', async () => {
    closeGate();
    const first = outcome(system.ask({ kind: 'stuck', id: 'd' }, { type: 'ping' }, { timeoutMs: 50 }));
    now += 50;
    expect(await first).toBe('UNAVAILABLE');
    await sweep(); // the sweep may drop the timeout's empty set now
    const second = outcome(system.ask({ kind: 'stuck', id: 'e' }, { type: 'ping' }, { timeoutMs: 50 }));
    now += 50;
    expect(await second).toBe('UNAVAILABLE');
  });
});
