import { ConfigError, loadConfig } from '../../config';
import { buildGatewayServer } from './server';

/**
 * `npm run gateway`: the mock payment gateway as its own process, for a server started with
 * `GATEWAY_URL` pointing at it. It reads the same configuration as the server (so the same
 * PAYMENT_WEBHOOK_SECRET, generated into DATA_DIR when unset) and listens on GATEWAY_PORT.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`The mock gateway cannot start: ${error.message}`);
      process.exit(78);
    }
    throw error;
  }
  const { app } = await buildGatewayServer({
    secret: config.paymentWebhookSecret,
    retryBaseMs: config.gatewayRetryBaseMs,
    autoApproveMs: config.gatewayAutoApproveMs,
    deliveryConcurrency: config.gatewayDeliveryConcurrency,
    publicUrl: config.gatewayUrl,
    // LOG_LEVEL as for the server: at `info` every request is logged (two lines each).
    logger: { level: config.logLevel },
  });
  const stop = async () => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await app.listen({ port: config.gatewayPort, host: config.host, backlog: config.listenBacklog });
  app.log.info(`mock payment gateway is up on port ${config.gatewayPort}${config.gatewayUrl ? ` (public URL ${config.gatewayUrl})` : ''}`);
}

void main();
