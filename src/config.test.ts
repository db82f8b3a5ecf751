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
    ['TRUST_PROXY', 'yes please'],
    ['CORS_ORIGINS', 'shop.example'],
    ['RATE_LIMIT_HOLDS_PER_USER', '-1'],
    ['BODY_LIMIT_BYTES', '10'],
    ['ADMIN_EMAIL', 'not-an-email'],
    ['GATEWAY_DELIVERY_CONCURRENCY', '0'],
    ['GATEWAY_FAULT_ROUTES', 'true'],
  ])('stops on a bad %s (%s), naming the variable', (name, value) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: dataDir(), [name]: value })).toThrow(new RegExp(`^${name}:`));
  });

  it('reads the security settings: trusted proxies, CORS origins, rate limits, the first admin', () => {
    const defaults = loadConfig({ DATA_DIR: dataDir() });
    expect(defaults).toMatchObject({ trustProxy: false, corsOrigins: [], bodyLimitBytes: 65536, admin: null, loginMaxFailures: 5, loginLockoutSeconds: 900 });
    expect(defaults.rateLimits).toEqual({ windowSeconds: 60, signupPerAddress: 20, loginPerAddress: 60, loginPerAccount: 20, queueJoinPerUser: 60, queueJoinPerAddress: 6000, holdsPerUser: 120, holdsPerAddress: 6000 });
    const set = loadConfig({
      DATA_DIR: dataDir(), TRUST_PROXY: '127.0.0.1, 10.0.0.0/8', CORS_ORIGINS: 'https://shop.example/,https://admin.example', RATE_LIMIT_HOLDS_PER_ADDRESS: '0',
      ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'a long admin passphrase',
    });
    expect(set).toMatchObject({ trustProxy: '127.0.0.1,10.0.0.0/8', corsOrigins: ['https://shop.example', 'https://admin.example'], admin: { email: 'root@example.com', password: 'a long admin passphrase' } });
    expect(set.rateLimits.holdsPerAddress).toBe(0);
    const hops = loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: '2' }).trustProxy as (address: string, hop: number) => boolean;
    expect([hops('x', 0), hops('x', 1), hops('x', 2)]).toEqual([true, true, false]);
    expect(loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: '0' }).trustProxy).toBe(false);
    expect(() => loadConfig({ DATA_DIR: dataDir(), ADMIN_EMAIL: 'root@example.com' })).toThrow(/^ADMIN_PASSWORD:/);
  });

  it("reads the mock gateway's settings: webhook delivery concurrency, and its test routes off unless asked for", () => {
    expect(loadConfig({ DATA_DIR: dataDir() })).toMatchObject({ gatewayDeliveryConcurrency: 64, gatewayFaultRoutes: false });
    expect(loadConfig({ DATA_DIR: dataDir(), GATEWAY_DELIVERY_CONCURRENCY: '256', GATEWAY_FAULT_ROUTES: '1' })).toMatchObject({ gatewayDeliveryConcurrency: 256, gatewayFaultRoutes: true });
  });

  it('bounds the age of payments reconciliation asks about, above the order payment window', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).paymentReconcileMaxAgeSeconds).toBe(172_800);
    expect(loadConfig({ DATA_DIR: dataDir(), PAYMENT_RECONCILE_MAX_AGE_SECONDS: '1021' }).paymentReconcileMaxAgeSeconds).toBe(1021);
    // 900 s to pay plus 120 s before reconciliation asks: 1,020 s is too short.
    expect(() => loadConfig({ DATA_DIR: dataDir(), PAYMENT_RECONCILE_MAX_AGE_SECONDS: '1020' })).toThrow(/^PAYMENT_RECONCILE_MAX_AGE_SECONDS: must be more than .* \(1020\)/);
    expect(() => loadConfig({ DATA_DIR: dataDir(), PAYMENT_RECONCILE_MAX_AGE_SECONDS: 'a week' })).toThrow(/^PAYMENT_RECONCILE_MAX_AGE_SECONDS:/);
  });
});
