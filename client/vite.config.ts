import { sep } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin } from 'vite';

/** Absolute path of this folder (`client/`), with a trailing separator. */
const clientDir = fileURLToPath(new URL('.', import.meta.url));
/** The server's sources: the client may take types from there, and code only from {@link sharedCode}. */
const serverSrc = fileURLToPath(new URL('../src/', import.meta.url));
/**
 * The one server module the client may bundle: the live contract (STYLE.md 9), whose runtime part is
 * pure functions such as `queuePlace`, so server and browser compute a queue place the same way.
 * Its own imports from ../src are `import type` only; any runtime one would still fail the build.
 */
const sharedCode = [fileURLToPath(new URL('../src/realtime/events.ts', import.meta.url))];

/** Where the server listens during development (`npm start` defaults to port 3000). */
const server = 'http://127.0.0.1:3000';

/**
 * Fails the build when a module under `../src` other than {@link sharedCode} would be bundled. The
 * client imports the wire types with `import type` (they are erased); runtime code from elsewhere
 * would drag the server's dependencies (TypeBox, ...) into the browser.
 */
function typesOnlyFromServer(): Plugin {
  const slashed = (path: string) => path.replaceAll(sep, '/');
  const allowed = new Set(sharedCode.flatMap((path) => [path, slashed(path)]));
  return {
    name: 'dealrush:types-only-from-server',
    load(id) {
      if (allowed.has(id.split('?')[0]!)) return null;
      if (id.startsWith(serverSrc) || id.startsWith(slashed(serverSrc))) {
        this.error(`client/ may only "import type" from ../src (code only from src/realtime/events.ts), but ${id} would be bundled`);
      }
      return null;
    },
  };
}

export default defineConfig({
  root: clientDir,
  plugins: [vue(), typesOnlyFromServer()],
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
  },
  server: {
    proxy: {
      '/api': server,
      '/socket.io': { target: server, ws: true },
      '/health': server,
      '/docs': server,
    },
  },
});
