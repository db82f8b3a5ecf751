import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Runs test/support/activation-memory-probe.ts in a fresh `node --expose-gc`, compiled on the way
 * by @swc/core with the repository's .swcrc (as jest does).
 */
async function probe(count: number): Promise<{ perActivation: number; live: number }> {
  const hook = `
    const fs = require('node:fs');
    const { transformSync } = require('@swc/core');
    require.extensions['.ts'] = (module, filename) => {
      const { code } = transformSync(fs.readFileSync(filename, 'utf8'), { filename, cwd: ${JSON.stringify(ROOT)}, swcrc: true, sourceMaps: false });
      module._compile(code, filename);
    };
    require(${JSON.stringify(join(ROOT, 'test', 'support', 'activation-memory-probe.ts'))})
      .measureCartActivations(${count})
      .then((r) => { console.log(JSON.stringify(r)); process.exit(0); }, (e) => { console.error(e); process.exit(1); });
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '-e', hook], { cwd: ROOT, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

/**
 * What one live activation keeps on the heap. In a sale most activations are shoppers' carts
 * (derived actors: no reminders, no inbox, no timers); with the runtime's collections made on
 * first use one costs about 150 bytes, where five empty Maps and Sets made it about 1,040.
 */
describe('activation memory', () => {
  it('keeps a live cart activation under 600 bytes', async () => {
    const { perActivation, live } = await probe(5000);
    expect(live).toBeGreaterThanOrEqual(5000);
    expect(perActivation).toBeGreaterThan(0);
    expect(perActivation).toBeLessThan(600);
  });
});
