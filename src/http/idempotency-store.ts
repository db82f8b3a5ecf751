import { randomBytes } from 'node:crypto';

/** Claim nonces: this process's random prefix and a counter (unique without entropy per request). */
const NONCE_PREFIX = randomBytes(6).toString('base64url');
let nonceCounter = 0;
import type { Database } from '../persistence/database';
import { Batcher } from '../persistence/batcher';
import { execute, placeholders } from '../persistence/sql';

/** A request's claim on an idempotency key. */
export interface IdempotencyClaim {
  userId: string;
  keyHash: string;
  route: string;
  bodyHash: string;
}

/** The stored row as the claimant sees it after trying to be first. */
export interface IdempotencyRecord {
  first: boolean;
  route: string;
  bodyHash: string;
  statusCode: number | null;
  contentType: string | null;
  response: string | null;
  createdAt: number;
}

interface Completion extends IdempotencyClaim {
  statusCode: number;
  contentType: string | null;
  response: string;
  createdAt: number;
}

/**
 * The `idempotency_keys` table, written in groups: concurrent claims go in one
 * `INSERT … IGNORE` plus one `SELECT` (a nonce tells each claimant whether its row went in), and
 * concurrent completions in one upsert, each statement committing on its own. So the hold path
 * pays three shared statements per batch of requests, not two transactions per request.
 */
export class IdempotencyStore {
  private readonly claims: Batcher<IdempotencyClaim & { nonce: string; createdAt: number }, IdempotencyRecord>;
  private readonly completions: Batcher<Completion, void>;

  constructor(private readonly db: Database) {
    const sqlite = db.dialect === 'sqlite';
    const insertIgnore = sqlite ? 'INSERT OR IGNORE' : 'INSERT IGNORE';
    // Both statements commit on their own: the INSERT's rows are durable before the SELECT reads them.
    this.claims = new Batcher(
      async (items) =>
        db.autocommit(async (m) => {
          const inserted = await execute(
            m,
            `${insertIgnore} INTO idempotency_keys (user_id, key_hash, route, body_hash, nonce, created_at) VALUES ${placeholders(items.length, 6)}`,
            items.flatMap((c) => [c.userId, c.keyHash, c.route, c.bodyHash, c.nonce, c.createdAt]),
          );
          // The usual case: every key was new, every claimant is first; no need to read.
          if (inserted === items.length && new Set(items.map((c) => `${c.userId}\n${c.keyHash}`)).size === items.length) {
            return items.map((c) => ({ first: true, route: c.route, bodyHash: c.bodyHash, statusCode: null, contentType: null, response: null, createdAt: c.createdAt }));
          }
          const rows: Array<Record<string, unknown>> = await m.query(
            `SELECT user_id, key_hash, route, body_hash, nonce, status_code, content_type, response, created_at FROM idempotency_keys WHERE ${items.map(() => '(user_id = ? AND key_hash = ?)').join(' OR ')}`,
            items.flatMap((c) => [c.userId, c.keyHash]),
          );
          const byKey = new Map(rows.map((r) => [`${r.user_id}\n${r.key_hash}`, r]));
          return items.map((c) => {
            const r = byKey.get(`${c.userId}\n${c.keyHash}`);
            if (!r) return { first: false, route: c.route, bodyHash: c.bodyHash, statusCode: null, contentType: null, response: null, createdAt: 0 }; // removed meanwhile: try again
            return {
              first: r.nonce === c.nonce,
              route: String(r.route),
              bodyHash: String(r.body_hash),
              statusCode: r.status_code === null ? null : Number(r.status_code),
              contentType: (r.content_type as string | null) ?? null,
              response: (r.response as string | null) ?? null,
              createdAt: Number(r.created_at),
            };
          });
        }),
      { concurrency: 1 },
    );
    const upsert = sqlite
      ? 'ON CONFLICT (user_id, key_hash) DO UPDATE SET status_code = excluded.status_code, content_type = excluded.content_type, response = excluded.response'
      : 'ON DUPLICATE KEY UPDATE status_code = VALUES(status_code), content_type = VALUES(content_type), response = VALUES(response)';
    this.completions = new Batcher(
      async (items) => {
        await db.autocommit((m) =>
          m.query(
            `INSERT INTO idempotency_keys (user_id, key_hash, route, body_hash, nonce, status_code, content_type, response, created_at) VALUES ${placeholders(items.length, 9)} ${upsert}`,
            items.flatMap((c) => [c.userId, c.keyHash, c.route, c.bodyHash, '', c.statusCode, c.contentType, c.response, c.createdAt]),
          ),
        );
        return items.map(() => undefined);
      },
      { concurrency: 1 },
    );
  }

  /** Tries to be the first request with this key; answers with the row as it stands. */
  claim(claim: IdempotencyClaim, now = Date.now()): Promise<IdempotencyRecord> {
    return this.claims.submit({ ...claim, nonce: `${NONCE_PREFIX}${(nonceCounter++).toString(36)}`, createdAt: now });
  }

  /** Stores the first request's answer (batched with other completions). */
  complete(claim: IdempotencyClaim, answer: { statusCode: number; contentType: string | null; response: string }, createdAt: number): Promise<void> {
    return this.completions.submit({ ...claim, ...answer, createdAt });
  }

  /** Drops a claim (its request failed with a 5xx, or its placeholder was abandoned). */
  async forget(claim: Pick<IdempotencyClaim, 'userId' | 'keyHash'>, onlyUnfinished = false): Promise<void> {
    await this.db.transaction((m) =>
      execute(m, `DELETE FROM idempotency_keys WHERE user_id = ? AND key_hash = ?${onlyUnfinished ? ' AND status_code IS NULL' : ''}`, [claim.userId, claim.keyHash]),
    );
  }

  /** Deletes rows created before `before` (epoch ms). */
  async prune(before: number): Promise<void> {
    await this.db.transaction((m) => execute(m, 'DELETE FROM idempotency_keys WHERE created_at < ?', [before]));
  }
}
