import type { FastifyError, FastifyReply } from 'fastify';
import { Conflict, DomainError, EventRefused, Forbidden, NotFound, ValidationError } from '../domain/errors.ts';

// RFC 9457 problem details. Domain errors keep their stable code; the clause travels with refusals.
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  clause?: string;
  errors?: { path: string; message: string }[];
}

// Relative type URIs (RFC 9457 allows references); each code is documented in the README.
const TYPE = '/problems/';

export function problem(
  status: number,
  code: string,
  title: string,
  detail: string,
  extra: Partial<Problem> = {},
): Problem {
  return { type: `${TYPE}${code.toLowerCase().replaceAll('_', '-')}`, title, status, detail, code, ...extra };
}

export function problemOf(error: unknown): Problem {
  if (error instanceof ValidationError) {
    return problem(400, error.code, 'Invalid request', error.message, { errors: [...error.errors] });
  }
  if (error instanceof EventRefused) {
    return problem(422, error.code, 'Refused by the agreement', error.message, { clause: error.clause as string });
  }
  if (error instanceof Forbidden) {
    return problem(403, error.code, 'Forbidden', error.message, error.clause ? { clause: error.clause } : {});
  }
  if (error instanceof NotFound) return problem(404, error.code, 'Not found', error.message);
  if (error instanceof Conflict) {
    const status = error.code === 'PRECONDITION_FAILED' ? 412 : error.code === 'IDEMPOTENCY_CONFLICT' ? 422 : 409;
    return problem(status, error.code, 'Conflict', error.message);
  }
  if (error instanceof DomainError) return problem(400, error.code, 'Invalid request', error.message);
  const fastify = error as Partial<FastifyError> & { statusCode?: number };
  // 4.2: these messages quote the URL, which may hold a customer id: answered without it.
  if (fastify.code === 'FST_ERR_BAD_URL') return problem(400, 'BAD_URL', 'Bad request', 'the URL is malformed');
  if (fastify.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return problem(414, 'URI_TOO_LONG', 'URI too long', 'a path parameter is longer than 256 characters');
  }
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return problem(413, 'BODY_TOO_LARGE', 'Body too large', fastify.message ?? '');
  if (fastify.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', 'send application/json');
  }
  if (
    fastify.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
    fastify.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
    error instanceof SyntaxError
  ) {
    // 4.2: never echo the body: a parser's SyntaxError may quote it (V8: `Unexpected token …, "<body>" is not valid JSON`).
    const position = /at position (\d+)/.exec(fastify.message ?? '')?.[1];
    const where = position === undefined ? '' : ` (at position ${position})`;
    const detail =
      fastify.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || /prototype/.test(fastify.message ?? '')
        ? (fastify.message ?? 'the body is not valid JSON')
        : `the body is not valid JSON${where}`;
    return problem(400, 'MALFORMED_JSON', 'Malformed JSON', detail);
  }
  if (fastify.statusCode && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return problem(fastify.statusCode, fastify.code ?? 'BAD_REQUEST', 'Bad request', fastify.message ?? '');
  }
  if (isRedisDown(error)) {
    return problem(
      503,
      'UNAVAILABLE',
      'Service unavailable',
      'the store is unreachable; retry with the same Idempotency-Key',
    );
  }
  return problem(500, 'INTERNAL', 'Internal error', 'an unexpected error occurred; it has been logged');
}

export function isRedisDown(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|enableOfflineQueue|MaxRetriesPerRequest|Reached the max retries|Command timed out/i.test(
    message,
  );
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type('application/problem+json').send(p);
}
