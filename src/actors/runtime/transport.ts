import type { EntityManager } from 'typeorm';
import type { WriteSet } from '../../persistence/write-set';
import type { Address, Envelope } from './actor';
import { journal } from './journal';

/**
 * Carries envelopes to the node that owns the target actor and brings the reply back.
 * Embedded: an in-process call. Cluster (Redis Streams): a later transport with the same shape.
 */
export interface Transport {
  /** Starts delivering envelopes meant for this node to `deliver`. */
  start(deliver: (envelope: Envelope) => Promise<unknown>): Promise<void>;
  /** Sends `envelope` and resolves with the actor's reply. */
  request(envelope: Envelope): Promise<unknown>;
  /**
   * Sends `envelope` without a reply (best effort; a transport without it carries tells as
   * requests). Resolves once it is handed over; rejects when it could not be.
   */
  tell?(envelope: Envelope): Promise<void>;
  stop(): Promise<void>;
  /**
   * The route a request to `to` takes now, for the ask-latency histogram's `transport` label
   * (`local`: delivered in process; `redis`: through a mailbox stream).
   */
  route?(to: Address): string;
}

/**
 * Decides which node may activate an actor and hands out the activation's fencing token, a number
 * larger than any token handed out before for that actor.
 */
export interface Placement {
  /** Whether this node may activate `address` now. */
  isLocal(address: Address): boolean;
  /** Claims a new fencing token inside `manager`'s transaction; null when a newer owner exists. */
  claim(manager: EntityManager, address: Address, now: number): Promise<number | null>;
  /**
   * Optional: {@link claim} as statements of a batch's `writes` (the actor's first commit in an
   * activation), saving the claim its own round trips. The claim's UPDATE takes the actor's row
   * lock and fences off older activations, so that batch needs no separate fence check. Returns
   * the token's getter, valid once the writes have run; the token holds only if the batch
   * commits (a failed claim fails it with FencedError). Null when this node may not claim the
   * actor now.
   */
  claimWrites?(writes: WriteSet, address: Address, now: number): (() => number) | null;
}

/** Embedded transport: this process owns every actor, a request is a direct call. */
export class InProcessTransport implements Transport {
  private deliver: ((envelope: Envelope) => Promise<unknown>) | null = null;

  async start(deliver: (envelope: Envelope) => Promise<unknown>): Promise<void> {
    this.deliver = deliver;
  }

  request(envelope: Envelope): Promise<unknown> {
    if (!this.deliver) return Promise.reject(new Error('transport not started'));
    return this.deliver(envelope);
  }

  async stop(): Promise<void> {
    this.deliver = null;
  }

  route(): string {
    return 'in-process';
  }
}

/** Embedded placement: every actor is local; the token is the stored fence plus one. */
export class SingleNodePlacement implements Placement {
  isLocal(): boolean {
    return true;
  }

  async claim(manager: EntityManager, address: Address, now: number): Promise<number | null> {
    const token = (await journal.currentFence(manager, address)) + 1;
    return (await journal.claimFence(manager, address, token, now)) ? token : null;
  }

  /** The stored fence plus one, raised and read back in the batch's packet. */
  claimWrites(writes: WriteSet, address: Address, now: number): () => number {
    return journal.raiseFenceWrites(writes, address, now);
  }
}
