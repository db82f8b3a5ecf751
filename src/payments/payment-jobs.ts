import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { RuntimeLogger } from '../actors/runtime/actor';
import type { PaymentService, StoredPaymentEvent } from './payment-service';

/** How long a webhook waits for Redis to take its job before processing the event in-process (ms). */
const ENQUEUE_TIMEOUT_MS = 1000;

/** The BullMQ queue of payment work (visible in bull-board at `/admin/queues`). */
export const PAYMENTS_QUEUE = 'payments';

export interface PaymentJobsOptions {
  service: PaymentService;
  logger: RuntimeLogger;
  /** How often the periodic sweep (stale events, refunds, reconciliation) runs, ms. */
  intervalMs: number;
  /** Redis for BullMQ; null: the same job functions run in-process (embedded mode). */
  redisUrl: string | null;
  prefix: string;
  /**
   * BullMQ jobs one node runs at once (default 64). A webhook job mostly waits for the order actor
   * (and that for its commit), so a rush of payments needs many in flight: at 8, a node settled
   * about ten a second under a 4,000-shopper rehearsal, and orders expired with their payment
   * approved at the gateway (then refunded).
   */
  concurrency?: number;
}

/** BullMQ connection options for a `redis://` URL (BullMQ makes and closes its own connections). */
const redisOptions = (url: string): ConnectionOptions => ({ url, maxRetriesPerRequest: null });

/** What the last runs did, for `/admin/queues` in embedded mode and the logs. */
export interface JobRun {
  name: string;
  at: number;
  ms: number;
  result: unknown;
  error?: string;
}

/**
 * Runs the payment jobs. With Redis: a BullMQ queue `payments` with one job per webhook event
 * (`webhook`, job id = the event id, so a duplicate delivery collapses into one job), a `refunds`
 * job when an order asks for a refund, and a job scheduler that adds a `sweep` every
 * `intervalMs`; a worker on every node takes them. Without Redis (embedded mode) the same
 * functions run in-process: an event right after it is stored, the sweep on a timer.
 */
export class PaymentJobs {
  readonly recent: JobRun[] = [];
  private readonly queue: Queue | null = null;
  private worker: Worker | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;
  private refunding = false;
  private lastQueuedSweepAt = 0;
  private stopped = false;

  constructor(private readonly options: PaymentJobsOptions) {
    if (options.redisUrl) {
      this.queue = new Queue(PAYMENTS_QUEUE, { connection: redisOptions(options.redisUrl), prefix: options.prefix, defaultJobOptions: { removeOnComplete: 1000, removeOnFail: 5000 } });
      this.queue.on('error', (err) => options.logger.warn({ err }, 'payment jobs: Redis error'));
    }
  }

  get mode(): 'bullmq' | 'in-process' {
    return this.options.redisUrl ? 'bullmq' : 'in-process';
  }

  /** The BullMQ queue (for bull-board), or null in embedded mode. */
  get bullQueue(): Queue | null {
    return this.queue;
  }

  async start(): Promise<void> {
    const { redisUrl, prefix, intervalMs } = this.options;
    // The in-process sweep runs in both modes: alone in embedded mode; with BullMQ only when the
    // queue's own sweep has not run for three intervals (Redis down), so payments still settle.
    this.timer = setInterval(() => {
      if (!this.queue || Date.now() - this.lastQueuedSweepAt > 3 * intervalMs) void this.runSweep();
    }, intervalMs);
    this.timer.unref();
    if (!redisUrl) {
      void this.runSweep();
      return;
    }
    this.lastQueuedSweepAt = Date.now();
    this.worker = new Worker(PAYMENTS_QUEUE, (job) => this.handle(job), { connection: redisOptions(redisUrl), prefix, concurrency: this.options.concurrency ?? 64 });
    this.worker.on('failed', (job, err) => this.options.logger.warn({ err, job: job?.name, jobId: job?.id }, 'payment job failed (it is retried)'));
    this.worker.on('error', (err) => this.options.logger.warn({ err }, 'payment jobs worker error'));
    // Not awaited: a server must start (and sell) while Redis is down; the scheduler is set once it answers.
    const schedule = (): void => {
      if (this.stopped) return;
      this.queue!.upsertJobScheduler('payments-sweep', { every: intervalMs }, { name: 'sweep', data: {} }).catch((err) => {
        this.options.logger.warn({ err }, 'could not schedule the payment sweep in Redis; retrying (the in-process sweep covers meanwhile)');
        setTimeout(schedule, intervalMs).unref();
      });
    };
    schedule();
  }

  /**
   * Hands a stored webhook event to its order (a job, or at once in-process). `stored`: the row
   * as just stored, which the in-process path applies without reading it back.
   */
  async enqueueEvent(eventId: string, stored?: StoredPaymentEvent): Promise<void> {
    if (this.queue) {
      const added = this.queue.add('webhook', { eventId }, { jobId: `evt-${eventId}`, attempts: 8, backoff: { type: 'exponential', delay: 500 } });
      const queued = await Promise.race([added.then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), ENQUEUE_TIMEOUT_MS).unref())]);
      if (queued) return;
      this.options.logger.warn({ eventId }, 'Redis did not take the payment event job: processing it in-process');
    }
    setImmediate(() => void this.run('webhook', () => this.options.service.processEvent(eventId, stored)));
  }

  /** Asks for the refunds orders marked to be carried out soon (instead of at the next sweep). */
  kickRefunds(): void {
    if (this.stopped) return;
    if (this.queue) {
      // One refunds job runs at a time (and at most one waits behind it): each one settles every
      // refund due, so a rush of expired-but-paid orders must not start one job per order, each
      // asking the gateway and the order actors about the same payments.
      this.queue.add('refunds', {}, { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, deduplication: { id: 'refunds', keepLastIfActive: true } }).catch((err) => this.options.logger.warn({ err }, 'could not add a refunds job; the sweep does it'));
      return;
    }
    if (this.refunding) return;
    this.refunding = true;
    setImmediate(() => {
      void this.run('refunds', () => this.options.service.settleRefunds()).finally(() => (this.refunding = false));
    });
  }

  /** Runs the sweep now (in-process; tests and the embedded timer). */
  runSweep(): Promise<unknown> {
    if (!this.sweeping) {
      this.sweeping = this.run('sweep', () => this.options.service.sweep()).finally(() => (this.sweeping = null));
    }
    return this.sweeping;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
    // Closing waits for Redis; a shutdown while Redis is down must not hang on it.
    const closed = Promise.all([this.worker?.close(), this.queue?.close()]).catch((err) => this.options.logger.warn({ err }, 'payment jobs: closing the queue failed'));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private handle(job: Job): Promise<unknown> {
    const service = this.options.service;
    switch (job.name) {
      case 'webhook':
        return this.run('webhook', () => service.processEvent(String(job.data.eventId)), true);
      case 'refunds':
        return this.run('refunds', () => service.settleRefunds(), true);
      case 'sweep':
        this.lastQueuedSweepAt = Date.now();
        return this.run('sweep', () => service.sweep(), true);
      default:
        return Promise.resolve(`unknown job ${job.name}`);
    }
  }

  private async run(name: string, work: () => Promise<unknown>, rethrow = false): Promise<unknown> {
    if (this.stopped && !rethrow) return null;
    const at = Date.now();
    try {
      const result = await work();
      this.remember({ name, at, ms: Date.now() - at, result });
      return result;
    } catch (err) {
      this.remember({ name, at, ms: Date.now() - at, result: null, error: (err as Error).message });
      this.options.logger.warn({ err, job: name }, 'payment job failed; it runs again');
      if (rethrow) throw err;
      return null;
    }
  }

  private remember(run: JobRun): void {
    this.recent.push(run);
    if (this.recent.length > 50) this.recent.shift();
  }
}
