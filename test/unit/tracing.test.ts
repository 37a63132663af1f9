/**
 * The handlers' tracer (lambdas/handlers/observability.ts) against a loopback X-Ray daemon: a
 * UDP socket on 127.0.0.1 stands in for the daemon Lambda runs, as AWS_XRAY_DAEMON_ADDRESS
 * says. With tracing enabled and a trace header, the handler's work is sent as a subsegment
 * annotated with schedule and load id; without the header the tracer is never loaded.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TRACE_ID = '1-67a1b2c3-0123456789abcdef01234567';
const received: Record<string, unknown>[] = [];
const socket = createSocket('udp4');
const saved = { ...process.env };

beforeAll(async () => {
  socket.on('message', (message) => {
    // Each datagram: a JSON header line, then the segment document.
    const [, document] = message.toString('utf8').split('\n');
    if (document) received.push(JSON.parse(document));
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  Object.assign(process.env, {
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: 'paylink-test',
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}`,
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
    POWERTOOLS_TRACE_ENABLED: 'true',
    POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS: 'false',
    PAYLINK_STACK_NAME: 'TraceStack',
  });
});

afterAll(() => {
  socket.close();
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
});

describe('tracing', () => {
  it('is off without a trace header: the work runs, nothing is sent', async () => {
    const { observe, tracingActive } = await import('#handlers/observability.ts');
    expect(tracingActive()).toBe(false);
    const obs = observe('plan', { schedule: 'daily' });
    expect(await obs.traced('plan', async () => 42)).toBe(42);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toEqual([]);
  });

  it('sends the handler subsegment with its annotations, and an error as its cause', async () => {
    process.env._X_AMZN_TRACE_ID = `Root=${TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1`;
    const { observe, tracingActive } = await import('#handlers/observability.ts');
    expect(tracingActive()).toBe(true);
    const obs = observe('load-batch', { schedule: 'daily', loadId: '1796353200.000000', batch: 3 });
    expect(await obs.traced('load-batch', async () => 'ok')).toBe('ok');
    await expect(obs.traced('load-batch', async () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    const deadline = Date.now() + 5000;
    while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const subsegments = received.filter((s) => s.name === '## load-batch');
    expect(subsegments).toHaveLength(2);
    expect(subsegments[0]).toMatchObject({
      trace_id: TRACE_ID,
      parent_id: '53995c3f42cd8ad8',
      type: 'subsegment',
      annotations: { schedule: 'daily', loadId: '1796353200.000000', batch: 3, Service: 'paylink-loader' },
    });
    expect(subsegments[1]).toMatchObject({ fault: true });
    expect(JSON.stringify(subsegments[1])).toContain('boom');
  });

  it('annotates keys learned inside the subsegment: the load id the plan makes, the schedule the plan names', async () => {
    process.env._X_AMZN_TRACE_ID = `Root=${TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1`;
    const { observe } = await import('#handlers/observability.ts');
    const before = received.length;
    const obs = observe('commit', { loadId: '1796353200.000000' });
    await obs.traced('commit', async () => {
      obs.appendKeys({ schedule: 'hourly' });
      return 'ok';
    });
    const plan = observe('plan', { schedule: 'daily' });
    await plan.traced('plan', async () => {
      plan.appendKeys({ loadId: '1796356800.000000' });
    });
    // Learned after the subsegment closed: nowhere to annotate, and no error.
    plan.appendKeys({ batch: 1 });
    const deadline = Date.now() + 5000;
    while (received.length < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const commit = received.find((s) => s.name === '## commit');
    expect(commit).toMatchObject({ annotations: { loadId: '1796353200.000000', schedule: 'hourly' } });
    const planned = received.find((s) => s.name === '## plan');
    expect(planned).toMatchObject({ annotations: { schedule: 'daily', loadId: '1796356800.000000' } });
    expect((planned!.annotations as Record<string, unknown>).batch).toBeUndefined();
  });
});
