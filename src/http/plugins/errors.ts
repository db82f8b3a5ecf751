import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ActorRuntimeError } from '../../actors/runtime/errors';
import { HttpProblem } from '../problem';

/**
 * One error handler for the app: business and validation failures become problem+json with the
 * contract's code; anything unexpected is logged with the request and answered as a bare 500 (or
 * 503 when a dependency is down) that carries no internals. Unknown paths are `NOT_FOUND`
 * problems, except GETs of the single-page app's own routes (`/deals/…`), which get its index.html
 * when `spaIndex` is on (one not-found handler per prefix is all fastify allows).
 */
export default fp(
  async function errors(app: FastifyInstance, opts: { spaIndex?: boolean }) {
    app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const problem = toProblem(error);
      if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
      else request.log.info({ code: problem.code, detail: problem.detail }, 'request refused');
      return sendProblem(reply, problem, request.id);
    });
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0];
      if (opts.spaIndex && request.method === 'GET' && !/^\/(api|socket\.io|health|docs|metrics|admin\/queues)(\/|$)/.test(path) && !/\.\w+$/.test(path)) {
        return reply.sendFile('index.html');
      }
      return sendProblem(reply, new HttpProblem('NOT_FOUND', `no route for ${request.method} ${path}`), request.id);
    });
  },
  { name: 'errors' },
);

export function sendProblem(reply: FastifyReply, problem: HttpProblem, requestId?: string): FastifyReply {
  if (problem.extra.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.extra.retryAfterSeconds));
  return reply.code(problem.status).type('application/problem+json').send(problem.body(requestId));
}

function toProblem(error: FastifyError): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error.validation) {
    const errors = error.validation.map((v) => ({
      path: `${error.validationContext ?? 'body'}${v.instancePath || ''}${v.keyword === 'additionalProperties' ? `/${String((v.params as { additionalProperty?: string }).additionalProperty)}` : v.keyword === 'required' ? `/${String((v.params as { missingProperty?: string }).missingProperty)}` : ''}`,
      message: v.keyword === 'additionalProperties' ? 'is not allowed here' : (v.message ?? 'is not valid'),
    }));
    return new HttpProblem('VALIDATION_FAILED', errors.map((e) => `${e.path} ${e.message}`).join('; '), { errors });
  }
  if (error instanceof ActorRuntimeError) {
    if (error.code === 'UNAVAILABLE' || error.code === 'SHUTTING_DOWN' || error.code === 'FENCED' || error.code === 'STOCK_GUARD') {
      return new HttpProblem('UNAVAILABLE', 'the service is busy or recovering; try again shortly', { retryAfterSeconds: 1 });
    }
    return new HttpProblem('INTERNAL', 'an internal error occurred');
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpProblem('VALIDATION_FAILED', 'the body is not valid JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem('PAYLOAD_TOO_LARGE', 'the body is larger than allowed');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem('UNSUPPORTED_MEDIA_TYPE', 'send application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpProblem('VALIDATION_FAILED', 'the Content-Length does not match the body');
  }
  if (error.code?.startsWith('FST_JWT') || error.statusCode === 401) return new HttpProblem('UNAUTHORIZED', 'a valid access token is required');
  if (isDatabaseDown(error)) return new HttpProblem('UNAVAILABLE', 'the database is not reachable; try again shortly', { retryAfterSeconds: 2 });
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) return new HttpProblem('VALIDATION_FAILED', error.message);
  return new HttpProblem('INTERNAL', 'an internal error occurred');
}

function isDatabaseDown(error: { code?: string; message?: string }): boolean {
  return ['ECONNREFUSED', 'PROTOCOL_CONNECTION_LOST', 'ETIMEDOUT', 'ECONNRESET', 'ER_CON_COUNT_ERROR'].includes(error.code ?? '');
}
