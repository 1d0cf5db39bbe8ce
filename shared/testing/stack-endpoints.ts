/** Where the local stack's servers answer; the integration tests' global setup publishes it. */
export interface LocalStackEndpoints {
  shards: { id: number; host: string; port: number; database: string; user: string; url: string }[];
  kafkaBrokers: string[];
  registryUrl: string;
  redisUrl: string;
}

/** The environment variable through which jest's global setup hands the endpoints to test workers. */
export const stackEndpointsVariable = 'CDC_TEST_STACK_ENDPOINTS';

/** The running local stack's endpoints, inside an integration test. */
export function testStackEndpoints(): LocalStackEndpoints {
  const published = process.env[stackEndpointsVariable];
  if (!published) throw new Error(`${stackEndpointsVariable} is not set: run integration tests through jest's integration project`);
  return JSON.parse(published) as LocalStackEndpoints;
}
