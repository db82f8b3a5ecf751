/**
 * How cluster mode splits the actors: each kind into `partitions` partitions by a hash of the
 * actor id, and the Redis keys of a partition. Every key of one partition carries the same hash tag
 * (`{deal:3}`), so in a Redis Cluster a partition's mailbox, lease and consumer group live in one
 * slot and its multi-key scripts stay legal.
 */

/** 32-bit FNV-1a of `text` (Fowler, Noll, Vo; http://www.isthe.com/chongo/tech/comp/fnv/). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** MurmurHash3's 32-bit finalizer (Appleby): spreads FNV's low-entropy outputs for similar inputs. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The partition (0..partitions-1) of actor `id`. Stable for a given partition count. */
export const partitionOf = (id: string, partitions: number): number => fmix32(fnv1a(id)) % partitions;

/** A partition's name, `deal:3`: the hash tag of its keys and the key of maps. */
export const partitionName = (kind: string, partition: number): string => `${kind}:${partition}`;

/**
 * The Redis keys of one cluster. `cluster` (CLUSTER_NAME) prefixes every key and channel, so
 * several clusters (or test runs) can share one Redis.
 */
export function clusterKeys(cluster: string) {
  return {
    /** The partition's mailbox (a Redis Stream). */
    mailbox: (name: string) => `${cluster}:{${name}}:mailbox`,
    /** The partition's lease: the owning node's id, with a TTL. */
    lease: (name: string) => `${cluster}:{${name}}:lease`,
    /** Live nodes: a sorted set of node ids scored by their last heartbeat (epoch ms). */
    nodes: `${cluster}:nodes`,
    /** Where the node `nodeId` receives replies (pub/sub channel). */
    replies: (nodeId: string) => `${cluster}:replies:${nodeId}`,
    /** The socket.io adapter's channel prefix. */
    sockets: `${cluster}:socket.io`,
  };
}
export type ClusterKeys = ReturnType<typeof clusterKeys>;

/** The consumer group every owner reads a mailbox through. */
export const MAILBOX_GROUP = 'owners';

/**
 * The node that should own `name` among `nodes`: rendezvous (highest random weight) hashing
 * (Thaler and Ravishankar, "Using name-based mappings to increase hit rates", IEEE/ACM ToN 1998).
 * When a node joins or leaves, only the partitions it wins or held move. Null when `nodes` is empty.
 */
export function rendezvousOwner(name: string, nodes: readonly string[]): string | null {
  let best: string | null = null;
  let bestWeight = -1;
  for (const node of nodes) {
    const weight = fmix32(fnv1a(`${node}/${name}`));
    if (weight > bestWeight || (weight === bestWeight && best !== null && node < best)) {
      best = node;
      bestWeight = weight;
    }
  }
  return best;
}

