/**
 * The project's own files agree with the program: Pulumi.yaml declares every key the program reads, the
 * example stacks pass validation with no secret in plain text, README documents every key and output, and
 * index.ts hands Pulumi the program.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, validateConfig } from "../src/config";
import { readStackFile } from "../scripts/plan";
import { runProgram } from "../src/program";

const ROOT = path.resolve(__dirname, "..");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");
const OUTPUTS = [
  "roleArn",
  "userArn",
  "userName",
  "accessKeyId",
  "accessKeyCreatedAt",
  "accessKeyRotateBy",
  "accessKeySlots",
  "credentials",
  "encryptedSecretAccessKey",
  "lwaClientSecretExpiresOn",
  "lwaNotificationQueueArn",
  "lwaNotificationQueueUrl",
];

describe("project files", () => {
  const project = yaml.load(read("Pulumi.yaml")) as { name: string; config: Record<string, any> };

  it("Pulumi.yaml names the project sp-api-iam and declares every key with a type, a default and a description", () => {
    assert.equal(project.name, "sp-api-iam");
    // tags is a map, which Pulumi's project schema cannot type: Pulumi.yaml explains it in a comment instead.
    const declarable = Object.keys(CONFIG_KEYS).filter((k) => k !== "tags");
    assert.deepEqual(Object.keys(project.config).sort(), declarable.sort());
    for (const [key, decl] of Object.entries(project.config)) {
      assert.ok(["string", "integer", "boolean", "array"].includes(decl.type), `${key}: type`);
      assert.ok(typeof decl.description === "string" && decl.description.length > 20, `${key}: description`);
      // The CLI refuses to run a stack lacking a declared key that has no default, so every key has one;
      // and it would refuse a secret key's empty default, so no key is flagged secret there.
      assert.notEqual(decl.default, undefined, `${key}: default`);
      assert.equal(decl.secret, undefined, `${key}: secret flag`);
      if (CONFIG_KEYS[key]!.optional) assert.equal(decl.default, "", `${key}: an optional key defaults to "" (unset)`);
    }
    assert.match(read("Pulumi.yaml"), /# tags: a map/);
  });

  it("Pulumi.yaml defaults, as the CLI hands them to the program, are the program's defaults", () => {
    // The CLI passes each default as a string; arrays as JSON. Secret keys' "" arrives not secret.
    const values = Object.fromEntries(
      Object.entries(project.config).map(([k, d]) => [k, typeof d.default === "string" ? d.default : JSON.stringify(d.default)]),
    );
    const withDefaults = validateConfig({ values, secretKeys: new Set() }).config;
    assert.deepEqual(withDefaults, validateConfig({ values: {}, secretKeys: new Set() }).config);
  });

  for (const file of ["Pulumi.dev.yaml", "examples/Pulumi.acme-eu.yaml", "examples/Pulumi.acme-fe.yaml"]) {
    it(`${file} is a valid stack with no secret in plain text`, () => {
      const { values } = readStackFile(path.join(ROOT, file));
      assert.doesNotThrow(() => validateConfig({ values, secretKeys: new Set() }));
      for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
        if (spec.secret) assert.equal(values[key], undefined, `${key} in plain text`);
      }
    });
  }

  it("README documents every config key and every output", () => {
    const readme = read("README.md");
    for (const key of Object.keys(CONFIG_KEYS)) assert.match(readme, new RegExp(`\\| \`${key}\` \\|`), `config ${key}`);
    for (const output of OUTPUTS) assert.match(readme, new RegExp(`\\| \`${output}\` \\|`), `output ${output}`);
  });

  it("README's test command is the one .ci/run runs", () => {
    assert.match(read("README.md"), /npm test/);
    assert.match(read(".ci/run"), /npm test/);
  });

  it("index.ts hands Pulumi the program itself", async () => {
    const entry = await import("../index");
    assert.equal((entry as { default?: unknown }).default ?? entry, runProgram);
  });
});
