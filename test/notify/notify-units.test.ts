import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, signatureHeaders } from '../../src/notify/sign.ts';
import { localTime, renderNotice } from '../../src/notify/templates.ts';
import { verifyWebhook } from '../../src/notify/verify.ts';

describe('webhook signing (Standard Webhooks)', () => {
  const secret = generateSecret();
  const body = JSON.stringify({ type: 'handoff', caseId: 'c1' });
  const now = Math.floor(Date.now() / 1000);
  const headers = signatureHeaders(secret, 'c1.handoff.1', now, body);

  it('is verified by the standardwebhooks package', () => {
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('is verified by our helper, and a tampered body, a wrong secret or an old timestamp is rejected', () => {
    expect(verifyWebhook(secret, headers, body)).toEqual(JSON.parse(body));
    expect(() => verifyWebhook(secret, headers, body.replace('c1', 'c2'))).toThrow(/no valid v1 signature/);
    expect(() => verifyWebhook(generateSecret(), headers, body)).toThrow(/no valid v1 signature/);
    const old = signatureHeaders(secret, 'c1.handoff.1', now - 600, body);
    expect(() => verifyWebhook(secret, old, body)).toThrow(/replay window/);
    expect(() => verifyWebhook(secret, { 'webhook-id': 'x' }, body)).toThrow(/missing/);
  });
});

describe('customer notice templates (3.2.3)', () => {
  it('renders zh-CN and en with the expected time in the policy time zone', () => {
    const values = {
      caseId: 'c1',
      department: '法务部',
      expectedBy: localTime(Date.parse('2026-11-25T09:00:00Z'), 'Asia/Shanghai'),
      contact: '法务部',
      resolution: '',
    };
    expect(renderNotice('zh-CN', 'escalated', values)).toBe(
      '您的请求（编号 c1）已收到，正在由法务部处理。预计在 2026-11-25 17:00 (Asia/Shanghai) 前答复；如有疑问请联系法务部。',
    );
    expect(renderNotice('en', 'escalated', values)).toMatch(
      /being handled by 法务部\. Expect an answer by 2026-11-25 17:00/,
    );
  });

  it('lets a policy override a template', () => {
    expect(
      renderNotice(
        'en',
        'resolved',
        { caseId: 'c9', resolution: 'refunded' },
        { resolved: 'Done: {resolution} ({caseId})' },
      ),
    ).toBe('Done: refunded (c9)');
  });
});
