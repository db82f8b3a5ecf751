import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * Fastify's real route table, as the `onRoute` hook sees it (every route, hidden ones and
 * plugins' own such as bull-board's and swagger-ui's included), per app instance.
 *
 * Use it by mocking `fastify` in the test file, before anything imports it:
 *   jest.mock('fastify', () => jest.requireActual('../support/route-table').wrappedFastify());
 * then `routeTable(app)` after `app.ready()`.
 */
const tables = new WeakMap<object, RouteOptions[]>();

export interface TableRoute {
  method: string;
  /** fastify's form: `/api/orders/:orderId`, wildcards as `*`. */
  url: string;
  /** `METHOD url`, the key the allow-lists use. */
  key: string;
  params: string[];
  schema: Record<string, any> | undefined;
}

export function wrappedFastify(): unknown {
  const real = jest.requireActual('fastify');
  const wrapped = Object.assign((...args: unknown[]) => {
    const app = real(...args);
    const list: RouteOptions[] = [];
    tables.set(app, list);
    app.addHook('onRoute', (route: RouteOptions) => list.push(route));
    return app;
  }, real);
  wrapped.default = wrapped;
  wrapped.fastify = wrapped;
  return wrapped;
}

/** Every route of `app` except the HEAD twins fastify adds to GETs; sorted, one per method. */
export function routeTable(app: FastifyInstance): TableRoute[] {
  const list = tables.get(app);
  if (!list) throw new Error('no route table: mock fastify with wrappedFastify() at the top of the test file');
  const seen = new Map<string, TableRoute>();
  for (const r of list) {
    for (const method of ([] as string[]).concat(r.method as string | string[])) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      const url = r.url;
      const key = `${method} ${url}`;
      const params = [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]);
      seen.set(key, { method, url, key, params, schema: r.schema as Record<string, any> | undefined });
    }
  }
  return [...seen.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** `url` with each `:param` replaced by `values[param]` (URL-encoded) and `*` by `wildcard`. */
export function fillUrl(url: string, values: Record<string, string>, wildcard = 'x'): string {
  return url
    .replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
      if (!(name in values)) throw new Error(`no value for :${name} in ${url}`);
      return encodeURIComponent(values[name]);
    })
    .replace(/\*/g, wildcard);
}
