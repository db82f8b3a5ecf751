/** Exceptional runtime failures (not business outcomes): each has a stable `code`. */
export class ActorRuntimeError extends Error {
  constructor(
    readonly code: 'UNAVAILABLE' | 'FENCED' | 'STOCK_GUARD' | 'SHUTTING_DOWN' | 'ACTOR_FAILED' | 'UNKNOWN_KIND',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ActorRuntimeError';
  }
}

/** A newer activation holds the actor: this one's write was rejected and it steps down. */
export class FencedError extends ActorRuntimeError {
  constructor(key: string, fence: number) {
    super('FENCED', `${key}: fencing token ${fence} is stale; a newer activation owns the actor`);
  }
}
