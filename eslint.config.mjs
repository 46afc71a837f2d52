// Lint: typescript-eslint's recommended rules everywhere, and Pulumi's own rules (Outputs in template
// literals) on the Pulumi program, where they need type information. `npm test` runs it.
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", ".cache/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly", console: "readonly" } },
    rules: {
      // Mock runtimes, parsed JSON and test fixtures are untyped by nature; `unknown` is preferred, not required.
      "@typescript-eslint/no-explicit-any": "off",
      // `_` marks a value deliberately ignored (a destructured rest, a callback's unused argument).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
    },
  },
  {
    // These strip control characters and ANSI escapes from untrusted text: the pattern must name them.
    files: ["lib/**/*.ts", "commands/verify/**/*.ts"],
    rules: { "no-control-regex": "off" },
  },
  {
    // CommonJS files that node and mocha load as they are (the require hook, mocha's config): require() is their way.
    files: ["tools/register.js", ".mocharc.js"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Pulumi's rules need the type checker: applied to the program itself (index.ts, src/), where Outputs live.
    files: ["index.ts", "src/**/*.ts"],
    plugins: { "@pulumi": pulumi },
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
    },
  },
);
