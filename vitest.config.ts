import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The fleet of real processes runs alone: npm run test:fleet (vitest.fleet.config.ts).
    exclude: ["test/fleet/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on free ports; two cores here.
    maxWorkers: 2,
    // global.gc(), for the tests that measure memory: what is live, not garbage not yet collected.
    execArgv: ["--expose-gc"],
    reporters: ["default"],
  },
});
