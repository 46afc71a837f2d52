/**
 * Running the real program with no cloud and no Pulumi CLI: Pulumi's mock runtime stands in for the engine
 * and for AWS. `npm run plan` uses it to show what `pulumi up` would create; the tests use it to check the
 * program. The values AWS would assign (ARNs, key ids, dates) are made up here, as the caller asks.
 */
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "./config";

/** A queue's region in its ARN and URL when the stack sets no aws:region. */
export const OFFLINE_QUEUE_REGION = "us-east-1";

export interface DeclaredResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** True for cloud resources, false for components. */
  custom: boolean;
  /** The `import` resource option: the id of an existing resource the declaration adopts. */
  importId?: string;
}

export interface OfflineKey {
  id: string;
  secret: string;
  createDate: string;
}

export interface OfflineCloudOptions {
  accountId?: string;
  /** The key AWS would issue for slot "a" or "b" of the user. */
  keyFor?: (slot: string) => OfflineKey;
  /** Outputs of the stack's last deployment, as a reference to the stack itself reads them; "unreadable": the read fails. */
  lastOutputs?: Record<string, unknown> | "unreadable";
}

export class OfflineCloud implements pulumi.runtime.Mocks {
  readonly resources: DeclaredResource[] = [];
  readonly accountId: string;

  constructor(private readonly options: OfflineCloudOptions = {}) {
    this.accountId = options.accountId ?? "123456789012";
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
    this.resources.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? true, ...(args.id ? { importId: args.id } : {}) });
    const inputs = args.inputs;
    const iamArn = (kind: string) => `arn:aws:iam::${this.accountId}:${kind}${inputs.path ?? "/"}${inputs.name}`;
    switch (args.type) {
      case "aws:iam/user:User":
        return { id: inputs.name, state: { ...inputs, arn: iamArn("user"), uniqueId: "AIDAOFFLINEUSER00000" } };
      case "aws:iam/role:Role":
        return { id: inputs.name, state: { ...inputs, arn: iamArn("role"), uniqueId: "AROAOFFLINEROLE00000" } };
      case "aws:iam/group:Group":
        return { id: inputs.name, state: { ...inputs, arn: iamArn("group"), uniqueId: "AGPAOFFLINEGROUP0000" } };
      case "aws:iam/accessKey:AccessKey": {
        const slot = args.name.slice(args.name.lastIndexOf("-") + 1);
        const key = this.options.keyFor?.(slot) ?? {
          id: `<access key id, slot ${slot}: known after pulumi up>`,
          secret: "<secret access key: known after pulumi up>",
          // As if created now: the plan then shows the real rotation date of a key made today.
          createDate: new Date().toISOString(),
        };
        const encrypted = inputs.pgpKey ? { encryptedSecret: `<secret encrypted to the PGP key, slot ${slot}>`, keyFingerprint: "<fingerprint>" } : {};
        return {
          id: key.id,
          state: { ...inputs, secret: inputs.pgpKey ? undefined : key.secret, createDate: key.createDate, ...encrypted },
        };
      }
      case "aws:sqs/queue:Queue": {
        // As AWS names a queue the provider auto-names: the logical name plus a suffix; the region stands for yours.
        const queueName = inputs.name ?? `${args.name}-0a1b2c3`;
        // The provider creates it in the stack's aws:region when one is set.
        const region = pulumi.runtime.allConfig()["aws:region"] || OFFLINE_QUEUE_REGION;
        const url = `https://sqs.${region}.amazonaws.com/${this.accountId}/${queueName}`;
        return { id: url, state: { ...inputs, name: queueName, arn: `arn:aws:sqs:${region}:${this.accountId}:${queueName}`, url } };
      }
      case "pulumi:pulumi:StackReference": {
        if (this.options.lastOutputs === "unreadable") throw new Error("the backend did not answer (offline stand-in)");
        const lastOutputs = this.options.lastOutputs ?? {};
        // The outputs the program exports as secrets arrive as secrets, as a real reference reads them.
        return {
          id: inputs.name,
          state: {
            name: inputs.name,
            outputs: lastOutputs,
            secretOutputNames: ["credentials", "operationalSecrets"].filter((n) => n in lastOutputs),
          },
        };
      }
      default:
        return { id: `${args.name}-id`, state: inputs };
    }
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    throw new Error(`the program made a provider call it should not need: ${args.token}`);
  }
}

export interface OfflineConfig {
  /** Config values by key (without the project prefix), as strings the way the engine passes them. */
  values: Record<string, string>;
  /** Keys set as secrets. */
  secretKeys?: string[];
  /** Other namespaces' values by full key, such as the AWS provider's `aws:region`. */
  providerValues?: Record<string, string>;
}

/** Installs the config and the mocks for one run of the program. Config must be set before the program reads it. */
export async function useOfflineRuntime(cloud: OfflineCloud, config: OfflineConfig, stack = "dev"): Promise<void> {
  const full = (key: string) => `${PROJECT}:${key}`;
  const values = { ...config.providerValues, ...Object.fromEntries(Object.entries(config.values).map(([k, v]) => [full(k), v])) };
  pulumi.runtime.setAllConfig(values, (config.secretKeys ?? []).map(full));
  await pulumi.runtime.setMocks(cloud, PROJECT, stack, false, "organization");
}

export interface Resolved<T> {
  value: T;
  secret: boolean;
}

/** The value and secretness of an output once the mock engine has settled it. */
export async function resolveOutput<T>(output: pulumi.Output<T>): Promise<Resolved<T>> {
  const [value, secret] = await Promise.all([new Promise<T>((resolve) => output.apply(resolve)), pulumi.isSecret(output)]);
  return { value, secret };
}
