// ESLint flat config: typescript-eslint with type-checked rules on every
// TypeScript area. AssemblyScript (wasm/assembly) is checked by its own
// compiler, not by ESLint: its decorators and builtins are not TypeScript.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["node_modules/", "dist/", "wasm/build/", "wasm/assembly/", "recordings/", "test-results/", "playwright-report/", ".tmp/"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ["*.js", "scripts/*.js", "bin/*.js"],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // The example apps carry their own tsconfig.json (for their consumers, where
    // golive comes from node_modules); here the root's resolves golive to the sources.
    files: ["examples/embed-*/**/*.ts", "examples/vite-app/**/*.ts"],
    languageOptions: { parserOptions: { projectService: false, project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname } },
  },
  {
    // Playwright fixtures take their dependencies by destructuring, `{}` when none.
    files: ["e2e/**/*.ts"],
    rules: { "no-empty-pattern": "off" },
  },
  {
    // Plain JS (the bin shim, build scripts) has no types to check against.
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
);
