import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort } from './server-process';

const ROOT = join(__dirname, '..', '..');

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** PUT /v1/_faults. */
  faults(patch: Record<string, unknown>): Promise<void>;
  deliveries(): Promise<Array<{ eventId: string; type: string; paymentId: string; attempt: number; outcome: number | string; at: number }>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the mock gateway as its own process (`npm run gateway`: `node dist/src/payments/gateway/main.js`)
 * with `env` (PAYMENT_WEBHOOK_SECRET must be the server's), and resolves once `/health` answers.
 */
export async function startGatewayProcess(env: Record<string, string>, timeoutMs = 15_000): Promise<GatewayProcess> {
  const port = env.GATEWAY_PORT ? Number(env.GATEWAY_PORT) : await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', 'payments', 'gateway', 'main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, GATEWAY_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway not up within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => output,
    async faults(patch) {
      const res = await fetch(`${url}/v1/_faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
      if (res.status !== 200) throw new Error(`faults: ${res.status} ${await res.text()}`);
    },
    async deliveries() {
      return (await fetch(`${url}/v1/_deliveries`)).json() as Promise<any>;
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
