import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    // Tests start real etcd and api-server processes: give them room, and run files in
    // separate processes so a crash in one cannot take the others down.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more parallel files only adds contention between the real servers.
    maxWorkers: 2,
  },
});
