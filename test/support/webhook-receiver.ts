import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

// A real Standard Webhooks receiver on 127.0.0.1: every request is verified with the `standardwebhooks`
// library (not with our own signing code), recorded, and answered with a status the test chooses.

export interface ReceivedWebhook {
  /** The request path, e.g. `/legal`. */
  readonly path: string;
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The body as verified and parsed by `standardwebhooks`; undefined when verification failed. */
  readonly payload: any;
  readonly verified: boolean;
  readonly error?: string;
  /** The status the receiver answered. */
  status: number;
  readonly receivedAt: number;
}

/** Chooses the answer to one request; `nth` counts earlier requests with the same webhook-id. */
export type Responder = (request: ReceivedWebhook, nth: number) => number;

export interface WebhookReceiver {
  /** The full URL of a path on this receiver. */
  url(path: string): string;
  readonly requests: ReceivedWebhook[];
  /** The requests to one path. */
  to(path: string): ReceivedWebhook[];
  /** Sets the secret a path verifies with. */
  setSecret(path: string, secret: string): void;
  /** Sets how requests are answered; by default 200 when verified, 401 when not. */
  respond(responder: Responder): void;
  close(): Promise<void>;
}

const verifiedOr401: Responder = (request) => (request.verified ? 200 : 401);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Starts a receiver on a free port; `secrets` maps a path (`/legal`) to the secret it verifies with. */
export async function startWebhookReceiver(secrets: Record<string, string> = {}): Promise<WebhookReceiver> {
  const byPath = new Map(Object.entries(secrets));
  const requests: ReceivedWebhook[] = [];
  let responder = verifiedOr401;

  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string') headers[name] = value;
      }
      const path = new URL(req.url ?? '/', 'http://receiver').pathname;
      const secret = byPath.get(path);
      let payload: unknown;
      let verified = false;
      let error: string | undefined;
      try {
        if (!secret) throw new Error(`no secret configured for ${path}`);
        payload = new Webhook(secret).verify(body, headers);
        verified = true;
      } catch (e) {
        error = `${(e as Error).name}: ${(e as Error).message}`;
      }
      const request: ReceivedWebhook = {
        path,
        id: headers['webhook-id'] ?? '',
        timestamp: headers['webhook-timestamp'] ?? '',
        signature: headers['webhook-signature'] ?? '',
        headers,
        body,
        payload,
        verified,
        ...(error ? { error } : {}),
        status: 0,
        receivedAt: Date.now(),
      };
      const nth = requests.filter((r) => r.id === request.id).length;
      requests.push(request);
      request.status = responder(request, nth);
      res.writeHead(request.status, { 'content-type': 'text/plain' }).end(verified ? 'ok' : 'rejected');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    to: (path) => requests.filter((r) => r.path === path),
    setSecret: (path, secret) => byPath.set(path, secret),
    respond: (next) => {
      responder = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
