/**
 * The runtime half of the live contract shared with the server (src/realtime/events.ts): pure
 * functions, bundled as they are so the browser and the server never disagree. The only module
 * under ../src that vite.config.ts lets into the bundle.
 */
export { queuePlace } from '../../src/realtime/events';
