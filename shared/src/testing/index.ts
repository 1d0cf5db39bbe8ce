export * from './stack-endpoints';
export * from './unique-name';
export * from './wait-for';
export * from './topic-reader';
export * from './worker-process';
export * from './inventory-workload';
export * from './fleet-fixture';
export * from './metrics-text';
