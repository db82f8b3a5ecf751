import closeWithGrace from 'close-with-grace';
import { buildApp } from './app';
import { ConfigError, loadConfig } from './config';

/** Starts one Dealrush node and shuts it down gracefully on SIGINT/SIGTERM (10 s at most). */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Dealrush cannot start: ${error.message}`);
      process.exit(78);
    }
    throw error;
  }
  const app = await buildApp(config);
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down: finishing in-flight work');
    await app.close();
  });
  await app.listen({ port: config.port, host: config.host, backlog: config.listenBacklog });
  app.log.info(`Dealrush is up: http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${(app.server.address() as { port: number }).port}/ (API docs at /docs)`);
}

void main();
