import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BOARD_CSP, errorPage, newNonce, pageCsp } from './html.ts';

// /ops/queues: Bull Board over every BullMQ queue of the service. Authentication, roles and the CSRF
// check are the /ops plugin's hooks, which run before these routes.
//
// Bull Board's Fastify adapter loads @fastify/static, which requires `content-disposition` 3, an
// ES module (its package.json says Node >= 22). Node 20 loads it through require(esm), on by default
// from Node 20.19; on an older Node the import fails, so it is loaded lazily and, failing, the board
// answers 503 with the reason while the rest of the service runs.

export interface BoardOptions {
  /** The board's public path, e.g. /ops/queues. */
  readonly basePath: string;
  readonly queues: readonly Queue[];
}

// The board's page template links a web font from a third-party host; the ops pages fetch nothing
// from elsewhere, so that link is dropped (the CSP would block it anyway).
const EXTERNAL_LINK = /<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>/gi;

export async function queueBoard(app: FastifyInstance, opts: BoardOptions): Promise<void> {
  let modules: [
    typeof import('@bull-board/api'),
    typeof import('@bull-board/api/bullMQAdapter'),
    typeof import('@bull-board/fastify'),
  ];
  try {
    modules = await Promise.all([
      import('@bull-board/api'),
      import('@bull-board/api/bullMQAdapter'),
      import('@bull-board/fastify'),
    ]);
  } catch (error) {
    const reason = `Bull Board could not be loaded on Node ${process.versions.node} (it needs require(esm), Node >= 20.19): ${(error as Error).message}`;
    app.log.warn({ err: (error as Error).message }, 'queue board unavailable');
    const unavailable = async (request: FastifyRequest, reply: FastifyReply) => {
      const nonce = newNonce();
      const user = request.opsUser;
      return reply
        .code(503)
        .header('content-security-policy', pageCsp(nonce))
        .type('text/html; charset=utf-8')
        .send(
          errorPage({
            nonce,
            status: 503,
            title: 'Queue board unavailable',
            message: reason,
            ...(user ? { user } : {}),
          }),
        );
    };
    app.all('/', unavailable);
    app.all('/*', unavailable);
    return;
  }
  const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = modules;
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(opts.basePath);
  createBullBoard({
    queues: opts.queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: {
      uiConfig: { boardTitle: 'Intervene queues', miscLinks: [{ text: 'Ops dashboard', url: '/ops' }] },
    },
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', BOARD_CSP);
    if (typeof payload === 'string' && String(reply.getHeader('content-type') ?? '').startsWith('text/html')) {
      return payload.replace(EXTERNAL_LINK, '');
    }
    return payload;
  });
  await app.register(serverAdapter.registerPlugin());
}
