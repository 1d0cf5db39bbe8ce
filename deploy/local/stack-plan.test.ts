import { PORT_OFFSET_RANGE, neighbourStackOffset, portPlan } from './stack-plan';

/** Every port a stack at `offset` listens on (one shard; the Kafka SASL and SSL listeners after the controller's). */
function portsAt(offset: number): number[] {
  const plan = portPlan(offset);
  return [
    plan.postgres(0),
    plan.kafka,
    plan.kafkaController,
    plan.kafkaController + 1,
    plan.kafkaController + 2,
    plan.registry,
    plan.registryManagement,
    plan.redis,
  ];
}

describe('neighbourStackOffset', () => {
  it('sits above the shared stack while every port stays below the ephemeral range', () => {
    expect(neighbourStackOffset(0, 3_000)).toBe(3_000);
    expect(Math.max(...portsAt(3_000))).toBeLessThan(32_768);
  });

  it('sits below it when above would reach the ephemeral range, where a restarted server can find its port taken', () => {
    // A checkout at CDC_STACK_PORT_BASE=800: 3800 would put the registry's management port at 32800.
    expect(Math.max(...portsAt(3_800))).toBeGreaterThanOrEqual(32_768);
    expect(neighbourStackOffset(800, 3_000)).toBe(-2_200);
    expect(Math.max(...portsAt(-2_200))).toBeLessThan(32_768);
    expect(Math.min(...portsAt(-2_200))).toBeGreaterThanOrEqual(1_024);
  });

  it('stays within the port range when neither side is clear of the ephemeral range', () => {
    const offset = neighbourStackOffset(PORT_OFFSET_RANGE.max - 100, 3_000);
    expect(offset).toBe(PORT_OFFSET_RANGE.max - 3_100);
    expect(offset).toBeGreaterThanOrEqual(PORT_OFFSET_RANGE.min);
  });
});
