import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse } from 'yaml';
import { configSchemaProperties, loadConfig } from '../src/config';

/**
 * The monitoring deployment, checked by reading it (there is no Docker engine in CI): the compose
 * file, Prometheus' and Grafana's provisioning parse and point at each other, every file a
 * service mounts exists, and every dealrush_* series the dashboard queries is one the server
 * registers (src/http/plugins/metrics.ts, src/realtime/live-ops.ts).
 */

const ROOT = join(__dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const yaml = (path: string) => parse(read(path)) as Record<string, any>;

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

describe('deploy/: Prometheus, Grafana and docker-compose.yml', () => {
  const compose = yaml('docker-compose.yml');
  const prometheus = yaml('deploy/prometheus.yml');
  const datasources = yaml('deploy/grafana/provisioning/datasources/prometheus.yml');
  const providers = yaml('deploy/grafana/provisioning/dashboards/dealrush.yml');
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/dealrush.json')) as { uid: string; title: string; panels: Panel[] };

  it('runs prometheus and grafana next to the app, with every mounted file present', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['app', 'prometheus', 'grafana']));
    for (const name of ['prometheus', 'grafana']) {
      const service = compose.services[name];
      expect(service.image).toMatch(/^[\w./-]+:[\w.-]+$/); // pinned
      for (const volume of service.volumes as string[]) {
        const [source] = volume.split(':');
        if (source.startsWith('./')) expect(() => readFileSync(join(ROOT, source)).length).not.toThrow(/ENOENT/);
        else expect(Object.keys(compose.volumes)).toContain(source); // a named volume, declared
      }
    }
    expect(compose.services.prometheus.volumes).toContain('./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  });

  it('has Prometheus scrape /metrics of every app node on the port the app listens on', () => {
    const job = (prometheus.scrape_configs as Array<Record<string, any>>).find((c) => c.job_name === 'dealrush');
    expect(job).toBeDefined();
    expect(job!.metrics_path).toBe('/metrics');
    const [sd] = job!.dns_sd_configs;
    expect(sd.names).toEqual(['app']); // the compose service: one address per replica
    expect(sd.port).toBe(3000); // PORT's default, which the app service keeps
    expect(compose.services.app.environment.PORT ?? '3000').toBe('3000');
  });

  it('provisions the Prometheus data source and the dashboard folder Grafana reads', () => {
    const [source] = datasources.datasources;
    expect(source).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', uid: 'dealrush-prometheus' });
    const [provider] = providers.providers;
    expect(provider.options.path).toBe('/var/lib/grafana/dashboards');
    expect(compose.services.grafana.volumes).toEqual(
      expect.arrayContaining(['./deploy/grafana/provisioning:/etc/grafana/provisioning:ro', './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro']),
    );
  });

  it('has a dashboard whose panels query the provisioned source and series the server exports', () => {
    expect(dashboard).toMatchObject({ uid: 'dealrush-overview', title: 'Dealrush overview' });
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(10);
    const exported = read('src/http/plugins/metrics.ts') + read('src/realtime/live-ops.ts');
    const queried = new Set<string>();
    for (const panel of graphs) {
      expect(panel.datasource?.uid).toBe('dealrush-prometheus');
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets!) for (const name of target.expr.match(/dealrush_\w+/g) ?? []) queried.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
    for (const name of queried) expect({ name, exported: exported.includes(`'${name}'`) }).toEqual({ name, exported: true });
    // What issue 7 asks to see.
    expect([...queried]).toEqual(
      expect.arrayContaining([
        'dealrush_http_request_duration_seconds',
        'dealrush_actor_mailbox_depth',
        'dealrush_actor_batch_size',
        'dealrush_actor_batch_duration_seconds',
        'dealrush_holds_total',
        'dealrush_orders_total',
        'dealrush_waiting_room_shoppers',
        'dealrush_socket_connections',
        'dealrush_outbox_in_flight',
      ]),
    );
  });

  it('runs the app as a cluster: two or more replicas on MariaDB and Redis, sharing the secrets, with a configuration this version accepts', () => {
    const app = compose.services.app;
    expect(app.deploy.replicas).toBeGreaterThanOrEqual(2);
    const env = app.environment as Record<string, string>;
    expect(env.REDIS_URL).toMatch(/^redis:\/\/redis:6379/);
    expect(env.DATABASE_URL).toMatch(/^mysql:\/\/.+@mariadb:3306\//);
    expect(app.volumes).toEqual(expect.arrayContaining([expect.stringMatching(/:\/data$/)]));
    expect(env.DATA_DIR).toBe('/data');
    // Every variable set is one the server reads, and the values (with placeholders filled) pass its schema.
    const filled = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{([A-Z_]+)(:-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, _d, fallback?: string) => fallback ?? (name.includes('SECRET') ? 'x'.repeat(40) : 'dealrush'))]));
    const config = loadConfig({ ...filled, DATA_DIR: mkdtempSync(join(tmpdir(), 'dealrush-compose-')) });
    expect(config.cluster).not.toBeNull();
    expect(config.database.type).toBe('mariadb');
    const known = new Set(Object.keys(configSchemaProperties()));
    for (const key of Object.keys(env)) expect({ key, known: known.has(key) }).toEqual({ key, known: true });
    // The proxy keeps a client on one node (socket.io long-polling) and upgrades WebSockets.
    const nginx = read('deploy/nginx.conf');
    expect(nginx).toMatch(/upstream dealrush \{[^}]*ip_hash;[^}]*server app:3000;/);
    // Webhooks: not sticky (one gateway address would pin them to one node), the least busy node.
    expect(nginx).toMatch(/upstream dealrush_webhooks \{[^}]*least_conn;[^}]*server app:3000;/);
    expect(nginx).toMatch(/location = \/api\/payments\/webhook \{[^}]*proxy_pass http:\/\/dealrush_webhooks;/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
  });
});
