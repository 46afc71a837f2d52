/** Runs the real program once under Pulumi's mocks, with the given config, and collects what it did. */
import * as pulumi from "@pulumi/pulumi";
import { OfflineCloud, OfflineCloudOptions, resolveOutput, useOfflineRuntime } from "../src/offline";
import { runProgram, StackOutputs } from "../src/program";

export interface OfflineRun {
  cloud: OfflineCloud;
  outputs?: StackOutputs;
  error?: Error;
  warnings: string[];
}

const ACCESS_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A well-formed access key id (AKIA + 16 of A-Z2-7), distinct per slot and generation. */
export function fakeAccessKeyId(seed: string): string {
  let id = "AKIA";
  for (let i = 0; i < 16; i++) id += ACCESS_KEY_ALPHABET[(seed.charCodeAt(i % seed.length) * (i + 7)) % 32];
  return id;
}

export async function runOffline(
  values: Record<string, string>,
  secretKeys: string[] = [],
  cloudOptions: OfflineCloudOptions = {},
  providerValues: Record<string, string> = {},
): Promise<OfflineRun> {
  const cloud = new OfflineCloud(cloudOptions);
  await useOfflineRuntime(cloud, { values, secretKeys, providerValues });
  const warnings: string[] = [];
  const originalWarn = pulumi.log.warn;
  (pulumi.log as { warn: typeof pulumi.log.warn }).warn = async (message: string) => {
    warnings.push(message);
  };
  try {
    const outputs = await runProgram();
    // Let the applies that log (key age) settle before the warn hook is taken away.
    if (outputs.accessKeyRotateBy) await resolveOutput(outputs.accessKeyRotateBy);
    await resolveOutput(outputs.credentials);
    await new Promise((resolve) => setImmediate(resolve));
    return { cloud, outputs, warnings };
  } catch (error) {
    return { cloud, error: error as Error, warnings };
  } finally {
    (pulumi.log as { warn: typeof pulumi.log.warn }).warn = originalWarn;
  }
}

export async function value<T>(output: pulumi.Output<T> | undefined): Promise<T> {
  if (!output) throw new Error("no such output");
  return (await resolveOutput(output)).value;
}

export async function isSecret<T>(output: pulumi.Output<T> | undefined): Promise<boolean> {
  if (!output) throw new Error("no such output");
  return (await resolveOutput(output)).secret;
}
