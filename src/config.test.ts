import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';

const dataDir = () => mkdtempSync(join(tmpdir(), 'dealrush-config-'));

describe('loadConfig', () => {
  it('defaults to the embedded mode: SQLite under DATA_DIR, demo data on, secrets generated once and kept', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config).toMatchObject({ port: 3000, host: '0.0.0.0', database: { type: 'sqlite', path: join(dir, 'dealrush.sqlite') }, redisUrl: null, demoData: true, holdTtlSeconds: 600 });
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ DATA_DIR: dir }).jwtSecret).toBe(config.jwtSecret);
    expect(JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8')).jwtSecret).toBe(config.jwtSecret);
  });

  it('reads MariaDB URLs (mariadb:// as mysql://) and turns demo data off for them', () => {
    const config = loadConfig({ DATA_DIR: dataDir(), DATABASE_URL: 'mariadb://root@127.0.0.1:3306/dealrush', PORT: '8080', HOLD_TTL_SECONDS: '30' });
    expect(config).toMatchObject({ database: { type: 'mariadb', url: 'mysql://root@127.0.0.1:3306/dealrush' }, port: 8080, demoData: false, holdTtlSeconds: 30 });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'postgres://x'],
    ['HOLD_TTL_SECONDS', '1'],
    ['DEMO_DATA', 'yes'],
    ['JWT_SECRET', 'short'],
    ['LOG_LEVEL', 'loud'],
  ])('stops on a bad %s (%s), naming the variable', (name, value) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: dataDir(), [name]: value })).toThrow(new RegExp(`^${name}:`));
  });
});
