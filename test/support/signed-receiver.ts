import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '../../src/notify/verify.ts';
import { freePort } from '../../src/store/redis.ts';

// The tests' Standard Webhooks receiver, on 127.0.0.1: it checks every request twice: with the `standardwebhooks`
// library (independent of our signing code) and with the documented helper `verifyWebhook`. It can be
// taken down (connection refused) and brought back on the same port.

export interface Delivery {
  readonly path: string;
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The body as parsed by `standardwebhooks` after verification; undefined when it failed. */
  readonly payload: any;
  /** Verified by the `standardwebhooks` library. */
  readonly verifiedByLibrary: boolean;
  /** Verified by `verifyWebhook` from src/notify/verify.ts. */
  readonly verifiedByHelper: boolean;
  /** Verified by both. */
  readonly verified: boolean;
  /** Why verification failed, by each verifier (`standardwebhooks: <error name>: <message>`, …). */
  readonly errors: string[];
  status: number;
  readonly at: number;
}

/** Chooses the status for a request; `nth` counts earlier requests with the same webhook-id. */
export type Answer = (delivery: Delivery, nth: number) => number;

export interface SignedReceiver {
  readonly port: number;
  url(path: string): string;
  readonly deliveries: Delivery[];
  to(path: string): Delivery[];
  answer(fn: Answer): void;
  /** Sets (or replaces) the secret a path verifies with. */
  setSecret(path: string, secret: string): void;
  /** Starts listening (again) on the same port. */
  up(): Promise<void>;
  /** Stops listening: connections are refused until `up()`. */
  down(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A receiver for `secrets` (path → whsec_ secret); not listening until `up()`. */
export async function signedReceiver(initial: Record<string, string> = {}): Promise<SignedReceiver> {
  const secrets = { ...initial };
  const port = await freePort();
  const deliveries: Delivery[] = [];
  let answer: Answer = (d) => (d.verifiedByLibrary && d.verifiedByHelper ? 200 : 401);
  let server: Server | undefined;

  const handle = async (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    const secret = secrets[path];
    const errors: string[] = [];
    let payload: unknown;
    let verifiedByLibrary = false;
    let verifiedByHelper = false;
    if (!secret) errors.push(`no secret for ${path}`);
    else {
      try {
        payload = new Webhook(secret).verify(body, headers);
        verifiedByLibrary = true;
      } catch (e) {
        errors.push(`standardwebhooks: ${(e as Error).name}: ${(e as Error).message}`);
      }
      try {
        verifyWebhook(secret, headers, body);
        verifiedByHelper = true;
      } catch (e) {
        errors.push(`verifyWebhook: ${(e as Error).message}`);
      }
    }
    const delivery: Delivery = {
      path,
      id: headers['webhook-id'] ?? '',
      timestamp: headers['webhook-timestamp'] ?? '',
      signature: headers['webhook-signature'] ?? '',
      headers,
      body,
      payload,
      verifiedByLibrary,
      verifiedByHelper,
      verified: verifiedByLibrary && verifiedByHelper,
      errors,
      status: 0,
      at: Date.now(),
    };
    const nth = deliveries.filter((d) => d.id === delivery.id).length;
    deliveries.push(delivery);
    delivery.status = answer(delivery, nth);
    res.writeHead(delivery.status, { 'content-type': 'text/plain' }).end(String(delivery.status));
  };

  const receiver: SignedReceiver = {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    deliveries,
    to: (path) => deliveries.filter((d) => d.path === path),
    answer: (fn) => {
      answer = fn;
    },
    setSecret: (path, secret) => {
      secrets[path] = secret;
    },
    up: async () => {
      if (server) return;
      const s = createServer((req, res) => void handle(req, res));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
    down: async () => {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  return receiver;
}

/** A receiver already listening. */
export async function startSignedReceiver(secrets: Record<string, string> = {}): Promise<SignedReceiver> {
  const receiver = await signedReceiver(secrets);
  await receiver.up();
  return receiver;
}
