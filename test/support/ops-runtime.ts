import { generateSecret } from '../../src/notify/sign.ts';
import { type Policy, parsePolicy } from '../../src/policy/policy.ts';
import type { Runtime } from '../../src/runtime.ts';
import { exampleDocument } from './policy.ts';
import { testRuntime } from './runtime.ts';
import type { SignedReceiver } from './signed-receiver.ts';

// Runtimes for the ops tests: process metrics on (as the service runs), webhooks on a local receiver.

/** The example policy, every webhook on the receiver, wall-clock deadlines, no warnings. */
export function receiverPolicy(
  receiver: SignedReceiver,
  secrets: Record<string, string>,
  within: Record<string, string>,
): Policy {
  const doc = exampleDocument();
  const hook = (webhook: { url: string; secretEnv: string }, path: string) => {
    webhook.url = receiver.url(path);
    secrets[webhook.secretEnv] = generateSecret();
    receiver.setSecret(path, secrets[webhook.secretEnv] as string);
  };
  for (const [id, department] of Object.entries<Record<string, any>>(doc.departments)) {
    if (department.webhook) hook(department.webhook, `/dept/${id}`);
  }
  for (const [kind, notice] of Object.entries<Record<string, any>>(doc.notices ?? {})) {
    if (notice.webhook) hook(notice.webhook, `/notices/${kind}`);
  }
  for (const d of Object.values(doc.deadlines) as Record<string, unknown>[]) {
    d.clock = 'calendar';
    delete d.calendar;
  }
  doc.warnings = { at: [] };
  for (const [name, duration] of Object.entries(within)) doc.deadlines[name].within = duration;
  return parsePolicy(doc, 'metrics test policy');
}

/** A test runtime that also exports the process metrics, as the service does. */
export function metricsRuntime(policy: Policy, env: Record<string, string> = {}): Promise<Runtime> {
  return testRuntime({
    policies: [policy],
    env: { INTERVENE_NOTIFY_BACKOFF_MS: '100', ...env },
    processMetrics: true,
  });
}
