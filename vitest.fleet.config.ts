// The fleet test (test/fleet): four bridges in network namespaces, HAProxy,
// nginx-rtmp and 30 real-time sessions. Run alone (`npm run test:fleet`, as
// root): it measures gaps in wall time, which other tests' load would blur.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/fleet/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    reporters: ["default"],
  },
});
