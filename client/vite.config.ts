import { sep } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin } from 'vite';

/** Absolute path of this folder (`client/`), with a trailing separator. */
const clientDir = fileURLToPath(new URL('.', import.meta.url));
/** The server's sources: the client may take types from there, never code. */
const serverSrc = fileURLToPath(new URL('../src/', import.meta.url));

/** Where the server listens during development (`npm start` defaults to port 3000). */
const server = 'http://127.0.0.1:3000';

/**
 * Fails the build when a module under `../src` would be bundled. The client imports the wire
 * types with `import type` only (they are erased); runtime code from there would drag the server's
 * dependencies (TypeBox, ...) into the browser.
 */
function typesOnlyFromServer(): Plugin {
  return {
    name: 'dealrush:types-only-from-server',
    load(id) {
      if (id.startsWith(serverSrc) || id.startsWith(serverSrc.replaceAll(sep, '/'))) {
        this.error(`client/ may only "import type" from ../src, but ${id} would be bundled`);
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
