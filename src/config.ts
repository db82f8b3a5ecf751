import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Every setting Dealrush reads, as one TypeBox schema over the environment.
 * `npm start`, `npm run mint` and every other command call {@link loadConfig} alike, so they agree.
 * Behaviour is chosen by explicit settings (`DATABASE_URL` scheme, `REDIS_URL` set or not),
 * never by `NODE_ENV`.
 */
const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  /**
   * Length of the listen queue (connections the kernel has accepted and the server not yet).
   * Node's 511 overflows when thousands of shoppers connect in the same second, and each dropped
   * SYN costs its client a 1 s, then 3 s, then 7 s retry. A longer queue did not help an
   * overloaded node: it holds connections whose clients have given up by the time they are
   * accepted (4,000-shopper rehearsals on 2 cores paid 788, 1,390 and 1,445 orders with 511, and
   * 765 and 812 with 4096). Raise it when the nodes have headroom and connects come in bursts.
   * Linux caps it at `net.core.somaxconn`.
   */
  LISTEN_BACKLOG: Type.Integer({ minimum: 1, maximum: 65535, default: 511 }),
  /** `mysql://` or `mariadb://` for MariaDB; unset for SQLite under DATA_DIR. */
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^(mysql|mariadb)://' })),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  /** Unset: embedded single node (in-process mailboxes). */
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  /** `1`: seed demo data when the database has no deals; `0`: start empty. Default 1 on embedded. */
  DEMO_DATA: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  /** Seconds from start-up until the demo flash sale opens (demo data only). */
  DEMO_OPENS_IN_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
  HOLD_TTL_SECONDS: Type.Integer({ minimum: 5, maximum: 86400, default: 600 }),
  ORDER_PAYMENT_TIMEOUT_SECONDS: Type.Integer({ minimum: 5, maximum: 86400, default: 900 }),
  /**
   * At its deadline, an order whose payment is still pending is kept while the gateway is asked
   * about that payment (a late or lost webhook of a shopper who paid in time); if the gateway has
   * not answered after this many seconds, the order expires. 0: expire at the deadline, unasked.
   */
  ORDER_PAYMENT_CHECK_GRACE_SECONDS: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
  PAYMENT_WEBHOOK_SECRET: Type.Optional(Type.String({ minLength: 16 })),
  GATEWAY_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** The signing secret before a rotation: accepted too until PAYMENT_WEBHOOK_SECRET_PREVIOUS_UNTIL (or while set). */
  PAYMENT_WEBHOOK_SECRET_PREVIOUS: Type.Optional(Type.String({ minLength: 16 })),
  PAYMENT_WEBHOOK_SECRET_PREVIOUS_UNTIL: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$' })),
  /** Where the gateway sends webhooks (given with each payment); unset: this node's own address. */
  PAYMENT_WEBHOOK_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** A payment still pending this long is asked about at the gateway (a lost webhook). */
  PAYMENT_RECONCILE_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 120 }),
  /**
   * Reconciliation leaves alone payments older than this (s): a payment nobody paid stays pending at
   * the gateway for good and would be asked about forever. Longer than ORDER_PAYMENT_TIMEOUT_SECONDS
   * and than the gateway's own payment window (a Stripe Checkout Session expires within 24 h).
   */
  PAYMENT_RECONCILE_MAX_AGE_SECONDS: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 172_800 }),
  /** Payments one reconciliation run asks the gateway about (the next ones after the last run's). */
  PAYMENT_RECONCILE_BATCH: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  /** How often the reconciliation job runs (also retries refunds and unprocessed webhooks). */
  PAYMENT_JOBS_INTERVAL_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
  /** Payment jobs (webhook events, refunds, sweeps) one node runs at once (cluster mode, BullMQ). */
  PAYMENT_JOBS_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),
  /** BullMQ key prefix in Redis (REDIS_URL set). */
  QUEUE_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'dealrush' }),
  /** `npm run gateway`: the mock gateway's port. */
  GATEWAY_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 4100 }),
  /** The mock gateway's first webhook retry delay (doubling after each failure). */
  GATEWAY_RETRY_BASE_MS: Type.Integer({ minimum: 10, maximum: 600_000, default: 1000 }),
  /** The mock gateway approves each payment this many ms after its creation (demos, browser tests); unset: the card page decides. */
  GATEWAY_AUTO_APPROVE_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  /** The mock gateway's webhook requests in flight at once to one endpoint (its per-endpoint delivery limit). */
  GATEWAY_DELIVERY_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 10_000, default: 64 }),
  /** '1': the in-process mock gateway also serves its test routes (fault injection, delivery log). */
  GATEWAY_FAULT_ROUTES: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '0' }),
  /** HMAC secret of access tokens; the embedded default generates one and keeps it in DATA_DIR. */
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  ACCESS_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 30, maximum: 86400, default: 900 }),
  REFRESH_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 7776000, default: 2592000 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  /** An actor with no message for this long is passivated (its memory freed). */
  ACTOR_IDLE_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
  /** Most messages of one mailbox committed in one transaction (group commit). */
  ACTOR_MAX_BATCH: Type.Integer({ minimum: 1, maximum: 10000, default: 1000 }),
  DB_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 500, default: 20 }),
  /** Fewest milliseconds between two `deal:stock` events of one deal (coalescing). */
  STOCK_PUBLISH_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 10000, default: 100 }),
  /** Cluster mode: this node's name (default: host name, process id and a random suffix). */
  NODE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' })),
  /** Cluster mode: prefix of every Redis key, so several clusters can share one Redis. */
  CLUSTER_NAME: Type.String({ pattern: '^[A-Za-z0-9._-]{1,40}$', default: 'dealrush' }),
  /** Cluster mode: mailbox partitions per actor kind (the same on every node). */
  CLUSTER_PARTITIONS: Type.Integer({ minimum: 1, maximum: 1024, default: 8 }),
  /** Cluster mode: partition lease lifetime; a dead node's actors move after about this long. */
  CLUSTER_LEASE_MS: Type.Integer({ minimum: 500, maximum: 60000, default: 3000 }),
  /** Cluster mode: heartbeat (lease renewal, rebalancing) period; well under the lease. */
  CLUSTER_HEARTBEAT_MS: Type.Integer({ minimum: 100, maximum: 20000, default: 1000 }),
  /** Cluster mode: `0` sends every actor message through Redis, even to this node's own actors (only to measure the transport). */
  CLUSTER_LOCAL_DELIVERY: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '1' }),
  /** How long a call to an actor waits for its answer before `503 UNAVAILABLE`. */
  ASK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 5000 }),
  /** Ms between two waiting-room admission ticks (each broadcasts one `queue:progress`). */
  QUEUE_TICK_MS: Type.Integer({ minimum: 50, maximum: 1000, default: 1000 }),
  /** A waiting shopper with no socket and no poll for this long is skipped when reached. */
  QUEUE_GONE_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 60 }),
  /** How long an admission from the waiting room lasts (its token expires with it). */
  ADMISSION_TTL_SECONDS: Type.Integer({ minimum: 10, maximum: 86400, default: 600 }),
  /** Ed25519 private key (PKCS#8 PEM) signing admission tokens; every node needs the same one. Embedded default: generated once. */
  ADMISSION_PRIVATE_KEY: Type.Optional(Type.String({ pattern: 'BEGIN PRIVATE KEY' })),
  /** Serve the built client from client/dist at `/` (off for API-only nodes). */
  SERVE_CLIENT: Type.Union([Type.Literal('0'), Type.Literal('1')], { default: '1' }),
  /**
   * Which proxies to believe about the client's address (`X-Forwarded-For`): unset or `0` none
   * (the socket's address is the client's), a number of hops, or a comma-separated list of
   * addresses/CIDRs (e.g. `127.0.0.1,10.0.0.0/8`). Rate limits per address depend on it.
   */
  TRUST_PROXY: Type.Optional(Type.String({ pattern: '^(\\d{1,2}|[0-9a-fA-F:.,/ ]+)$' })),
  /** Origins allowed to call the API from a browser (CORS), comma-separated; unset: same origin only. */
  CORS_ORIGINS: Type.Optional(Type.String({ pattern: '^(\\*|https?://[^,\\s]+(,\\s*https?://[^,\\s]+)*)$' })),
  /** Largest accepted request body, bytes (larger: 413). */
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, maximum: 10_485_760, default: 65_536 }),
  /** Failed logins in a row (within LOGIN_LOCKOUT_SECONDS of each other) that lock an account. */
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 100, default: 5 }),
  /** How long a locked account stays locked; it unlocks by itself afterwards. */
  LOGIN_LOCKOUT_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 900 }),
  /** The first admin: created at start when no account has this email (or given the admin role if one has). */
  ADMIN_EMAIL: Type.Optional(Type.String({ pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', maxLength: 254 })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 10, maxLength: 128 })),
  /** How often a node re-reads suspended accounts (other nodes' suspensions reach it within this). */
  SUSPENSION_SYNC_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
  /** The window of every rate limit below; each limit is a request count per window, 0 = off. */
  RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 60 }),
  RATE_LIMIT_SIGNUP_PER_ADDRESS: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 20 }),
  RATE_LIMIT_LOGIN_PER_ADDRESS: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 60 }),
  RATE_LIMIT_LOGIN_PER_ACCOUNT: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 20 }),
  RATE_LIMIT_QUEUE_JOIN_PER_USER: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 60 }),
  RATE_LIMIT_QUEUE_JOIN_PER_ADDRESS: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 6000 }),
  RATE_LIMIT_HOLDS_PER_USER: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 120 }),
  RATE_LIMIT_HOLDS_PER_ADDRESS: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 6000 }),
});

type Env = Static<typeof EnvSchema>;

/** The validated, resolved configuration. Durations are in the unit their name says. */
export interface Config {
  port: number;
  host: string;
  /** Listen queue length (LISTEN_BACKLOG). */
  listenBacklog: number;
  database: { type: 'mariadb'; url: string } | { type: 'sqlite'; path: string };
  dataDir: string;
  redisUrl: string | null;
  demoData: boolean;
  demoOpensInSeconds: number;
  holdTtlSeconds: number;
  orderPaymentTimeoutSeconds: number;
  orderPaymentCheckGraceSeconds: number;
  paymentWebhookSecret: string;
  /** The previous signing secret, still accepted until `paymentWebhookSecretPreviousUntil` (epoch ms; null: while set). */
  paymentWebhookSecretPrevious: string | null;
  paymentWebhookSecretPreviousUntil: number | null;
  paymentWebhookUrl: string | null;
  paymentReconcileAfterSeconds: number;
  paymentReconcileBatch: number;
  /** Payments older than this (s) are not asked about any more (PAYMENT_RECONCILE_MAX_AGE_SECONDS). */
  paymentReconcileMaxAgeSeconds: number;
  paymentJobsIntervalSeconds: number;
  paymentJobsConcurrency: number;
  queuePrefix: string;
  /** Null: the bundled mock gateway, in-process. */
  gatewayUrl: string | null;
  gatewayPort: number;
  gatewayRetryBaseMs: number;
  gatewayAutoApproveMs: number | null;
  /** The mock gateway's webhook requests in flight at once per endpoint (GATEWAY_DELIVERY_CONCURRENCY). */
  gatewayDeliveryConcurrency: number;
  /** The in-process mock gateway serves `/v1/_faults` and `/v1/_deliveries` (GATEWAY_FAULT_ROUTES=1). */
  gatewayFaultRoutes: boolean;
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  logLevel: string;
  actorIdleSeconds: number;
  actorMaxBatch: number;
  dbPoolSize: number;
  stockPublishIntervalMs: number;
  queueTickMs: number;
  /** Set in cluster mode (REDIS_URL set). */
  cluster: { name: string; nodeId: string; partitions: number; leaseMs: number; heartbeatMs: number; localDelivery: boolean } | null;
  askTimeoutMs: number;
  queueGoneAfterSeconds: number;
  admissionTtlSeconds: number;
  /** PKCS#8 PEM of the Ed25519 key that signs admission tokens. */
  admissionPrivateKey: string;
  serveClient: boolean;
  /** fastify's `trustProxy`: false, a hop count (as a function), or addresses/CIDRs. */
  trustProxy: boolean | string | ((address: string, hop: number) => boolean);
  /** Allowed CORS origins; empty: no cross-origin access; `['*']`: any. */
  corsOrigins: string[];
  bodyLimitBytes: number;
  loginMaxFailures: number;
  loginLockoutSeconds: number;
  /** The first admin's account, or null. */
  admin: { email: string; password: string } | null;
  suspensionSyncSeconds: number;
  /** Requests per `windowSeconds`; 0 turns a limit off. */
  rateLimits: {
    windowSeconds: number;
    signupPerAddress: number;
    loginPerAddress: number;
    loginPerAccount: number;
    queueJoinPerUser: number;
    queueJoinPerAddress: number;
    holdsPerUser: number;
    holdsPerAddress: number;
  };
}

/** Thrown when the environment does not fit the schema; the message names the variable. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

const NUMERIC = new Set(
  Object.entries(EnvSchema.properties)
    .filter(([, s]) => (s as { type?: string }).type === 'integer')
    .map(([k]) => k),
);

/**
 * Reads and validates the configuration from `env` (default `process.env`).
 * Secrets not given are generated once and kept in `DATA_DIR/secrets.json`, so a restart, and
 * `npm run mint`, use the same ones.
 * @throws ConfigError naming the first bad variable, e.g. `PORT: Expected integer (got "abc")`.
 */
/** The names (and schemas) of every environment variable Dealrush reads. */
export const configSchemaProperties = () => EnvSchema.properties;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key];
    if (value === undefined || value === '') continue;
    raw[key] = NUMERIC.has(key) && /^-?\d+$/.test(value) ? Number(value) : value;
  }
  const withDefaults = Value.Default(EnvSchema, raw) as Env;
  const firstError = Value.Errors(EnvSchema, withDefaults).First();
  if (firstError) {
    const name = firstError.path.replace(/^\//, '') || '(environment)';
    throw new ConfigError(`${name}: ${firstError.message} (got ${JSON.stringify(env[name] ?? null)})`);
  }
  const e = withDefaults;
  if (Boolean(e.ADMIN_EMAIL) !== Boolean(e.ADMIN_PASSWORD)) {
    const missing = e.ADMIN_EMAIL ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL';
    throw new ConfigError(`${missing}: ADMIN_EMAIL and ADMIN_PASSWORD are set together (got ${JSON.stringify(env[missing] ?? null)})`);
  }
  if (e.REDIS_URL && !e.DATABASE_URL) {
    throw new ConfigError('DATABASE_URL: cluster mode (REDIS_URL set) needs MariaDB; SQLite is for the embedded single node (got null)');
  }
  if (e.PAYMENT_RECONCILE_MAX_AGE_SECONDS <= e.ORDER_PAYMENT_TIMEOUT_SECONDS + e.PAYMENT_RECONCILE_AFTER_SECONDS) {
    // Otherwise a payment could age out while its order still waits for it, and its lost webhook would never be found.
    throw new ConfigError(
      `PAYMENT_RECONCILE_MAX_AGE_SECONDS: must be more than ORDER_PAYMENT_TIMEOUT_SECONDS + PAYMENT_RECONCILE_AFTER_SECONDS (${e.ORDER_PAYMENT_TIMEOUT_SECONDS + e.PAYMENT_RECONCILE_AFTER_SECONDS}) (got ${JSON.stringify(env.PAYMENT_RECONCILE_MAX_AGE_SECONDS ?? String(e.PAYMENT_RECONCILE_MAX_AGE_SECONDS))})`,
    );
  }
  if (e.CLUSTER_HEARTBEAT_MS * 2 > e.CLUSTER_LEASE_MS) {
    throw new ConfigError(`CLUSTER_HEARTBEAT_MS: must be at most half of CLUSTER_LEASE_MS (${e.CLUSTER_LEASE_MS}) (got ${JSON.stringify(env.CLUSTER_HEARTBEAT_MS ?? String(e.CLUSTER_HEARTBEAT_MS))})`);
  }
  const dataDir = resolve(e.DATA_DIR);
  const secrets = loadOrCreateSecrets(dataDir);
  const database: Config['database'] = e.DATABASE_URL
    ? { type: 'mariadb', url: e.DATABASE_URL.replace(/^mariadb:/, 'mysql:') }
    : { type: 'sqlite', path: join(dataDir, 'dealrush.sqlite') };
  return {
    port: e.PORT,
    host: e.HOST,
    listenBacklog: e.LISTEN_BACKLOG,
    database,
    dataDir,
    redisUrl: e.REDIS_URL ?? null,
    demoData: e.DEMO_DATA ? e.DEMO_DATA === '1' : !e.DATABASE_URL,
    demoOpensInSeconds: e.DEMO_OPENS_IN_SECONDS,
    holdTtlSeconds: e.HOLD_TTL_SECONDS,
    orderPaymentTimeoutSeconds: e.ORDER_PAYMENT_TIMEOUT_SECONDS,
    orderPaymentCheckGraceSeconds: e.ORDER_PAYMENT_CHECK_GRACE_SECONDS,
    paymentWebhookSecret: e.PAYMENT_WEBHOOK_SECRET ?? secrets.paymentWebhookSecret,
    paymentWebhookSecretPrevious: e.PAYMENT_WEBHOOK_SECRET_PREVIOUS ?? null,
    paymentWebhookSecretPreviousUntil: e.PAYMENT_WEBHOOK_SECRET_PREVIOUS_UNTIL ? Date.parse(e.PAYMENT_WEBHOOK_SECRET_PREVIOUS_UNTIL) : null,
    paymentWebhookUrl: e.PAYMENT_WEBHOOK_URL ?? null,
    paymentReconcileAfterSeconds: e.PAYMENT_RECONCILE_AFTER_SECONDS,
    paymentReconcileBatch: e.PAYMENT_RECONCILE_BATCH,
    paymentReconcileMaxAgeSeconds: e.PAYMENT_RECONCILE_MAX_AGE_SECONDS,
    paymentJobsIntervalSeconds: e.PAYMENT_JOBS_INTERVAL_SECONDS,
    paymentJobsConcurrency: e.PAYMENT_JOBS_CONCURRENCY,
    queuePrefix: e.QUEUE_PREFIX,
    gatewayUrl: e.GATEWAY_URL ? e.GATEWAY_URL.replace(/\/+$/, '') : null,
    gatewayPort: e.GATEWAY_PORT,
    gatewayRetryBaseMs: e.GATEWAY_RETRY_BASE_MS,
    gatewayAutoApproveMs: e.GATEWAY_AUTO_APPROVE_MS ?? null,
    gatewayDeliveryConcurrency: e.GATEWAY_DELIVERY_CONCURRENCY,
    gatewayFaultRoutes: e.GATEWAY_FAULT_ROUTES === '1',
    jwtSecret: e.JWT_SECRET ?? secrets.jwtSecret,
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    logLevel: e.LOG_LEVEL,
    actorIdleSeconds: e.ACTOR_IDLE_SECONDS,
    actorMaxBatch: e.ACTOR_MAX_BATCH,
    dbPoolSize: e.DB_POOL_SIZE,
    stockPublishIntervalMs: e.STOCK_PUBLISH_INTERVAL_MS,
    queueTickMs: e.QUEUE_TICK_MS,
    cluster: e.REDIS_URL
      ? { name: e.CLUSTER_NAME, nodeId: e.NODE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`, partitions: e.CLUSTER_PARTITIONS, leaseMs: e.CLUSTER_LEASE_MS, heartbeatMs: e.CLUSTER_HEARTBEAT_MS, localDelivery: e.CLUSTER_LOCAL_DELIVERY === '1' }
      : null,
    askTimeoutMs: e.ASK_TIMEOUT_MS,
    queueGoneAfterSeconds: e.QUEUE_GONE_AFTER_SECONDS,
    admissionTtlSeconds: e.ADMISSION_TTL_SECONDS,
    admissionPrivateKey: e.ADMISSION_PRIVATE_KEY ?? secrets.admissionPrivateKey,
    serveClient: e.SERVE_CLIENT === '1',
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    corsOrigins: e.CORS_ORIGINS ? e.CORS_ORIGINS.split(',').map((o) => o.trim().replace(/\/+$/, '')) : [],
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    loginMaxFailures: e.LOGIN_MAX_FAILURES,
    loginLockoutSeconds: e.LOGIN_LOCKOUT_SECONDS,
    admin: e.ADMIN_EMAIL && e.ADMIN_PASSWORD ? { email: e.ADMIN_EMAIL, password: e.ADMIN_PASSWORD } : null,
    suspensionSyncSeconds: e.SUSPENSION_SYNC_SECONDS,
    rateLimits: {
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      signupPerAddress: e.RATE_LIMIT_SIGNUP_PER_ADDRESS,
      loginPerAddress: e.RATE_LIMIT_LOGIN_PER_ADDRESS,
      loginPerAccount: e.RATE_LIMIT_LOGIN_PER_ACCOUNT,
      queueJoinPerUser: e.RATE_LIMIT_QUEUE_JOIN_PER_USER,
      queueJoinPerAddress: e.RATE_LIMIT_QUEUE_JOIN_PER_ADDRESS,
      holdsPerUser: e.RATE_LIMIT_HOLDS_PER_USER,
      holdsPerAddress: e.RATE_LIMIT_HOLDS_PER_ADDRESS,
    },
  };
}

/** `TRUST_PROXY` as fastify's `trustProxy`: `0`/unset off, `N` hops, else the address list. */
function parseTrustProxy(value: string | undefined): Config['trustProxy'] {
  if (!value || value === '0') return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return (_address, hop) => hop < hops;
  }
  return value.split(',').map((a) => a.trim()).filter(Boolean).join(',');
}

interface Secrets {
  jwtSecret: string;
  paymentWebhookSecret: string;
  /** PKCS#8 PEM, Ed25519 (added later: older files get it on first read). */
  admissionPrivateKey: string;
}

const newAdmissionKey = (): string => generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function loadOrCreateSecrets(dataDir: string): Secrets {
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>;
    if (secrets.admissionPrivateKey) return secrets as Secrets;
    // A file from before admission tokens: add the key (write-then-rename, then read back what won).
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...secrets, admissionPrivateKey: newAdmissionKey() }, null, 2), { mode: 0o600 });
    renameSync(tmp, file);
    return JSON.parse(readFileSync(file, 'utf8')) as Secrets;
  }
  mkdirSync(dataDir, { recursive: true });
  const secrets: Secrets = {
    jwtSecret: randomBytes(32).toString('base64url'),
    paymentWebhookSecret: randomBytes(32).toString('base64url'),
    admissionPrivateKey: newAdmissionKey(),
  };
  try {
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process (a second node, `npm run mint`) created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return JSON.parse(readFileSync(file, 'utf8')) as Secrets;
    throw error;
  }
  return secrets;
}
