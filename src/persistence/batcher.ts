/**
 * Group commit for work that is not an actor's: items submitted while flushes are running are
 * flushed together by the next one (one statement or transaction for many requests), so
 * throughput grows with load instead of each item paying its own round trip and fsync. Up to
 * `concurrency` flushes run at once, so a new batch need not wait for the previous one's fsync;
 * use 1 where batches must not overlap. Each submitter gets its own result.
 *
 * @example
 *   const inserts = new Batcher<Row, void>(async (rows) => { await insertMany(rows); return rows.map(() => undefined); });
 *   await inserts.submit(row);
 */
export class Batcher<T, R> {
  private queue: Array<{ item: T; resolve(result: R): void; reject(error: unknown): void }> = [];
  private running = 0;

  /**
   * @param flush handles a batch and returns one result per item, in order; a throw fails every
   *   item of the batch.
   */
  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly options: { maxBatch?: number; concurrency?: number } = {},
  ) {}

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running < (this.options.concurrency ?? 1)) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running += 1;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 500);
        try {
          const results = await this.flush(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i]));
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.running -= 1;
    }
  }
}
