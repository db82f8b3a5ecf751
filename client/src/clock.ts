/**
 * The server's clock as seen from this browser. Countdowns must not trust the local clock (it may
 * be minutes off): every `deal:watch` acknowledgement carries `serverTime`, and the offset is
 * `serverTime - (receivedAt - roundTrip / 2)`, assuming the server stamped it half-way through
 * the round trip. Of the recent samples, the one with the shortest round trip is the most exact.
 */
import { ref } from 'vue';

const MAX_SAMPLES = 8;
const samples: { offset: number; roundTrip: number }[] = [];
const offset = ref(0);

/**
 * Records one server timestamp.
 * @param serverTime server epoch ms from the acknowledgement
 * @param roundTripMs time from emit to acknowledgement, in ms (measure with `performance.now()`)
 * @param receivedAt local epoch ms when the acknowledgement arrived
 */
export function recordServerTime(serverTime: number, roundTripMs: number, receivedAt = Date.now()): void {
  samples.push({ offset: serverTime - (receivedAt - roundTripMs / 2), roundTrip: roundTripMs });
  if (samples.length > MAX_SAMPLES) samples.shift();
  offset.value = samples.reduce((best, s) => (s.roundTrip < best.roundTrip ? s : best)).offset;
}

/** Estimated server time minus local time, in ms (reactive: read it inside computed/watch). */
export function clockOffset(): number {
  return offset.value;
}

/** The server's current epoch ms, as far as this browser can tell. */
export function serverNow(): number {
  return Date.now() + offset.value;
}
