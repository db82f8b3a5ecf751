import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { freePort } from './servers';

const run = promisify(execFile);

/**
 * A Redis or MariaDB of one's own on a free loopback port, which may be stopped and started: the
 * rehearsal's restart faults and the outage tests use them, so that the machine's shared services
 * stay up for everyone else. `stop` and `start` keep the port (and MariaDB's data).
 */
export interface PrivateService {
  url: string;
  port: number;
  pid(): number | null;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopChild(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** redis-server without persistence: a restart comes back empty, as a crashed cache would. */
export async function privateRedis(): Promise<PrivateService> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const url = `redis://127.0.0.1:${port}`;
  const service: PrivateService = {
    url,
    port,
    pid: () => child?.pid ?? null,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitUntil(async () => {
        const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        try {
          await r.connect();
          return (await r.ping()) === 'PONG';
        } finally {
          r.disconnect();
        }
      }, 10_000, 'private Redis');
    },
    stop: () => stopChild(child),
    destroy: () => stopChild(child),
  };
  await service.start();
  return service;
}

/** mariadbd with its own data directory (mariadb-install-db), root without a password. */
export async function privateMariaDB(): Promise<PrivateService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dealrush-mariadb-'));
  await run('mariadb-install-db', ['--no-defaults', `--datadir=${join(dir, 'data')}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { timeout: 60_000 });
  let child: ChildProcess | null = null;
  const url = `mysql://root@127.0.0.1:${port}`;
  const service: PrivateService = {
    url,
    port,
    pid: () => child?.pid ?? null,
    async start() {
      child = spawn(
        '/usr/sbin/mariadbd',
        ['--no-defaults', `--datadir=${join(dir, 'data')}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${join(dir, 'sock')}`, '--user=root', '--skip-log-bin', '--innodb-buffer-pool-size=256M', '--max-connections=500', `--pid-file=${join(dir, 'pid')}`],
        { stdio: 'ignore' },
      );
      await waitUntil(async () => {
        const c = await createConnection({ uri: url, connectTimeout: 1000 });
        await c.end();
        return true;
      }, 30_000, 'private MariaDB');
    },
    stop: () => stopChild(child),
    async destroy() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}
