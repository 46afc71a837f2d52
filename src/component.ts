/**
 * SellingPartnerApiAccess: everything the SP-API connector needs on the AWS side of one account, as one
 * reusable component. Every child is parented to it, so another Pulumi program can use it as it is.
 */
// The two services it uses, not the whole of @pulumi/aws: a pulumi up (and npm run plan, and the type-check) then
// loads their modules and types only, not every AWS service's (CONTRIBUTING.md, Speed).
import * as iam from "@pulumi/aws/iam";
import * as sqs from "@pulumi/aws/sqs";
import * as pulumi from "@pulumi/pulumi";
import { assumeRolePolicy, roleTrustPolicy, sellingPartnerApiInvokePolicy, toPolicyJson } from "../policies/documents";
import { lwaNotificationQueuePolicy, toQueuePolicyJson } from "../policies/queue";
import { awsRegionOf, servedRegions, SpApiRegion } from "../policies/regions";
import { declaredIdentities } from "./adoption";
import type { AdoptionRecord, ConnectorAuth, PreviousKeyState } from "./config";
import { ENCRYPTED_SECRET_PLACEHOLDER, PLACEHOLDERS, renderCredentials, renderLwaOnlyCredentials } from "./credentials";
import { accessKeyAgeWarning, accessKeyRotateBy, planAccessKeys, SlotName, SlotPlan, slotRecord, SlotRecord } from "./lifecycle";

export const COMPONENT_TYPE = "sp-api-iam:index:SellingPartnerApiAccess";

export interface SellingPartnerApiAccessArgs {
  /** "lwa": no IAM resource at all, and the LWA-only block (docs/lwa-only.md). Default "iam". */
  connectorAuth?: ConnectorAuth;
  /** The SP-API region the credentials block is for; its AWS region becomes the block's `region`. */
  spApiRegion: SpApiRegion;
  /** Further SP-API regions the role may invoke. */
  spApiRegions?: SpApiRegion[];
  roleName?: string;
  userName?: string;
  /** IAM path for the user, the group and the role. */
  path?: string;
  /** A policy ARN set as permissions boundary on the user and the role. */
  permissionsBoundary?: string;
  /** Tags for every resource that takes tags (the user and the role; IAM groups, inline policies and keys take none). */
  tags?: Record<string, string>;
  lwaClientId?: pulumi.Input<string>;
  lwaClientSecret?: pulumi.Input<string>;
  lwaRefreshToken?: pulumi.Input<string>;
  /** Rotation generation of the access key; bump by one to rotate. */
  accessKeyGeneration?: number;
  /** What becomes of the previous key after a rotation. */
  previousAccessKey?: PreviousKeyState;
  maxAccessKeyAgeDays?: number;
  /** A base64 PGP public key or keybase:<user>: the key secret is then stored only encrypted. */
  pgpKey?: string;
  /** The key slots the last deployment recorded (stack output `accessKeySlots`), to guard rotations. */
  deployedKeySlots?: readonly SlotRecord[];
  /** Creates the SQS queue Amazon delivers a rotated LWA client secret to (npm run rotate-lwa). */
  lwaRotation?: boolean;
  /** An adopted manual setup (npm run adopt): the user and role are imported, then given the kit's properties. */
  adoption?: AdoptionRecord;
  /**
   * Further authorizations of the app beside the default one (spApiRegion, lwaRefreshToken): another marketplace
   * region of the seller, another seller of the app. Each gets its own block; the role may invoke each one's region.
   */
  authorizations?: AuthorizationArgs[];
}

export interface AuthorizationArgs {
  name: string;
  spApiRegion: SpApiRegion;
  /** Unset: the block holds a placeholder. */
  refreshToken?: pulumi.Input<string>;
}

/**
 * As long as SQS keeps anything (14 days). The new-secret message is the only copy of the new secret until a run
 * of rotate-lwa stores it; it must outlive the 7 days the old secret keeps working, and even after those the secret
 * in it stays valid for 180 days, so losing it earlier would only force another rotation.
 */
export const LWA_QUEUE_RETENTION_SECONDS = 14 * 24 * 60 * 60;
/**
 * How long a received message stays hidden. Short, so that a run that dies while holding the new-secret message
 * leaves it to the next run a minute later; a run that is alive extends it before its long step (pulumi up).
 */
export const LWA_QUEUE_VISIBILITY_SECONDS = 60;

export class SellingPartnerApiAccess extends pulumi.ComponentResource {
  readonly connectorAuth: ConnectorAuth;
  // The IAM side, absent with connectorAuth lwa.
  readonly user?: iam.User;
  readonly role?: iam.Role;
  readonly group?: iam.Group;
  readonly invokePolicy?: iam.RolePolicy;
  readonly assumePolicy?: iam.GroupPolicy;
  readonly membership?: iam.GroupMembership;
  readonly accessKeys: Partial<Record<SlotName, iam.AccessKey>> = {};
  readonly userArn?: pulumi.Output<string>;
  readonly userName?: pulumi.Output<string>;
  readonly roleArn?: pulumi.Output<string>;
  readonly accessKeyId?: pulumi.Output<string>;
  readonly accessKeyCreatedAt?: pulumi.Output<string>;
  readonly accessKeyRotateBy?: pulumi.Output<string>;
  /** The connector's HJSON credentials block (secret). */
  readonly credentials: pulumi.Output<string>;
  /**
   * With further authorizations: `blocks`, a secret map from each one's name to its block (its region's AWS region,
   * its token), and `regions`, each one's SP-API region by name (not secret: status and verify read it).
   */
  readonly further: { blocks?: pulumi.Output<Record<string, string>>; regions?: Record<string, SpApiRegion> } = {};
  get authorizationCredentials(): pulumi.Output<Record<string, string>> | undefined {
    return this.further.blocks;
  }
  get authorizationRegions(): Record<string, SpApiRegion> | undefined {
    return this.further.regions;
  }
  /** The PGP-encrypted key secret (base64), when pgpKey is set for the newest key (secret). */
  readonly encryptedSecretAccessKey?: pulumi.Output<string>;
  /** Which key lives in which slot: recorded as a stack output so the next run can guard its rotation (none with lwa). */
  readonly keySlots: SlotRecord[] = [];
  /**
   * Every access key id of the stack, the newest first: the slots' keys, and a key an adoption recorded (the
   * customer's own, until npm run rotate-key retires it). Delivery gives an object holding one of them the newest pair.
   */
  readonly accessKeyIds?: pulumi.Output<string[]>;
  /** With lwaRotation: the queue Amazon delivers a rotated LWA client secret to, and its policy. */
  readonly lwaNotificationQueue?: sqs.Queue;
  readonly lwaNotificationQueuePolicy?: sqs.QueuePolicy;
  readonly lwaNotificationQueueArn?: pulumi.Output<string>;
  readonly lwaNotificationQueueUrl?: pulumi.Output<string>;
  /** For an adopted stack, which properties the user and role were deployed with: "as-found" or "kit". */
  readonly adoptionDeployed?: string;

  constructor(name: string, args: SellingPartnerApiAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    const connectorAuth = args.connectorAuth ?? "iam";
    const generation = args.accessKeyGeneration ?? 1;
    const previousKey = args.previousAccessKey ?? "active";
    // Planned first: a rotation the guard refuses (RotationError) stops the program before anything is declared.
    // With lwa there is no key to plan.
    const keyPlan =
      connectorAuth === "iam"
        ? planAccessKeys({
            generation,
            previousKey,
            pgpKey: args.pgpKey,
            deployed: args.deployedKeySlots,
            today: new Date().toISOString().slice(0, 10),
          })
        : undefined;
    super(COMPONENT_TYPE, name, {}, opts);
    this.connectorAuth = connectorAuth;
    const parent = { parent: this };
    const path = args.path ?? "/";
    const tags = args.tags ?? {};
    const roleName = args.roleName ?? "SellingPartnerAPI";
    const maxAgeDays = args.maxAccessKeyAgeDays ?? 90;

    // The queue first: an lwa stack has it too, and its constructor ends right after it.
    if (args.lwaRotation) {
      ({ queue: this.lwaNotificationQueue, policy: this.lwaNotificationQueuePolicy } = lwaSecretsQueue(name, tags, parent));
      this.lwaNotificationQueueArn = this.lwaNotificationQueue.arn;
      this.lwaNotificationQueueUrl = this.lwaNotificationQueue.url;
    }

    if (!keyPlan) {
      // connectorAuth lwa: the connector sends the LWA token alone, so nothing in IAM is declared; the block holds
      // only the three LWA values.
      ({ credentials: this.credentials, ...this.further } = blocksOf(args, (region, token) => lwaOnlyBlock(args, region, token)));
      this.registerOutputs(this.outputRecord());
      return;
    }

    const identity = declareIdentity(name, args, { roleName, path, tags }, parent);
    this.adoptionDeployed = identity.deployed;
    this.user = identity.user;
    this.role = identity.role;
    if (identity.invokePolicy) this.invokePolicy = identity.invokePolicy;
    this.group = identity.group;
    this.assumePolicy = identity.assumePolicy;
    this.membership = identity.membership;

    for (const warning of keyPlan.warnings) pulumi.log.warn(warning, this);
    this.accessKeys = {};
    for (const slot of keyPlan.slots) this.accessKeys[slot.slot] = this.accessKeySlot(name, slot, this.user);
    this.keySlots = keyPlan.slots.map(slotRecord);

    const current = keyPlan.slots.find((s) => s.role === "current")!;
    const currentKey = this.accessKeys[current.slot]!;

    this.userArn = this.user.arn;
    this.userName = this.user.name;
    this.roleArn = this.role.arn;
    this.accessKeyId = currentKey.id;
    const others = keyPlan.slots.filter((s) => s.slot !== current.slot).map((s) => this.accessKeys[s.slot]!.id);
    this.accessKeyIds = pulumi
      .all([currentKey.id, ...others])
      .apply((ids) => [...new Set([...ids, ...(args.adoption?.accessKeyId ? [args.adoption.accessKeyId] : [])].filter(Boolean))]);
    this.accessKeyCreatedAt = currentKey.createDate;
    this.accessKeyRotateBy = currentKey.createDate.apply((created) => accessKeyRotateBy(created, maxAgeDays));
    currentKey.createDate.apply((created) => {
      const warning = created ? accessKeyAgeWarning(created, maxAgeDays, generation, previousKey, new Date()) : undefined;
      if (warning) pulumi.log.warn(warning, this);
    });

    const secretAccessKey = current.pgpKey ? pulumi.output(ENCRYPTED_SECRET_PLACEHOLDER) : pulumi.secret(currentKey.secret);
    if (current.pgpKey) this.encryptedSecretAccessKey = pulumi.secret(currentKey.encryptedSecret);

    const iamValues = { roleArn: this.role.arn, keyId: currentKey.id, keySecret: secretAccessKey };
    ({ credentials: this.credentials, ...this.further } = blocksOf(args, (region, token) => iamBlock(args, iamValues, region, token)));

    this.registerOutputs(this.outputRecord());
  }

  /** What the component registers as its outputs; with lwa the IAM ones are undefined. */
  private outputRecord(): pulumi.Inputs {
    return {
      connectorAuth: this.connectorAuth,
      userArn: this.userArn,
      userName: this.userName,
      roleArn: this.roleArn,
      accessKeyId: this.accessKeyId,
      accessKeyIds: this.accessKeyIds,
      accessKeyCreatedAt: this.accessKeyCreatedAt,
      accessKeyRotateBy: this.accessKeyRotateBy,
      credentials: this.credentials,
      authorizationCredentials: this.authorizationCredentials,
      authorizationRegions: this.authorizationRegions,
      encryptedSecretAccessKey: this.encryptedSecretAccessKey,
      lwaNotificationQueueArn: this.lwaNotificationQueueArn,
      lwaNotificationQueueUrl: this.lwaNotificationQueueUrl,
    };
  }

  /**
   * One of the two key slots. The slot's generation is its replacement trigger, and it is replaced
   * delete-before-create, so the user never holds more than IAM's two keys.
   */
  private accessKeySlot(name: string, plan: SlotPlan, user: iam.User): iam.AccessKey {
    return new iam.AccessKey(
      `${name}-key-${plan.slot}`,
      { user: user.name, status: plan.status, pgpKey: plan.pgpKey },
      { parent: this, replacementTrigger: String(plan.generation), deleteBeforeReplace: true },
    );
  }
}

/** With lwaRotation: the queue Amazon delivers a rotated LWA client secret to, and its policy. */
function lwaSecretsQueue(name: string, tags: Record<string, string>, parent: pulumi.CustomResourceOptions): { queue: sqs.Queue; policy: sqs.QueuePolicy } {
  // Standard, not FIFO: Amazon delivers to standard queues only. SSE-SQS, because a customer-managed KMS key
  // would also need a key policy grant for Amazon's account; SQS-managed keys need none.
  const queue = new sqs.Queue(
    `${name}-lwa-secrets`,
    {
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: LWA_QUEUE_RETENTION_SECONDS,
      visibilityTimeoutSeconds: LWA_QUEUE_VISIBILITY_SECONDS,
      tags,
    },
    parent,
  );
  const policy = new sqs.QueuePolicy(
    `${name}-lwa-secrets-policy`,
    {
      queueUrl: queue.url,
      policy: queue.arn.apply((arn) => toQueuePolicyJson(lwaNotificationQueuePolicy(arn))),
    },
    parent,
  );
  return { queue, policy };
}

/** The IAM identity of an iam stack: the user, the role and its invoke policy, the group, its policy and membership. */
interface Identity {
  /** For an adopted stack, which properties the user and role were deployed with: "as-found" or "kit". */
  deployed?: string;
  user: iam.User;
  role: iam.Role;
  invokePolicy?: iam.RolePolicy;
  group: iam.Group;
  assumePolicy: iam.GroupPolicy;
  membership: iam.GroupMembership;
}

/**
 * Declares the user, the role (with its invoke policy when the kit grants it), the assumers' group, its policy and
 * its membership, each parented by `parent`.
 */
function declareIdentity(
  name: string,
  args: SellingPartnerApiAccessArgs,
  kit: { roleName: string; path: string; tags: Record<string, string> },
  parent: pulumi.CustomResourceOptions,
): Identity {
  const { roleName, path, tags } = kit;
  // What the user and role are declared with: the kit's own, or an adopted setup's (src/adoption.ts).
  const declared = declaredIdentities(
    { userName: args.userName ?? "sp-api-connector", roleName, path, permissionsBoundary: args.permissionsBoundary, tags },
    args.adoption,
  );
  const { importId: userImport, ...userInputs } = declared.user;
  const { importId: roleImport, assumeRolePolicy: foundTrust, ...roleInputs } = declared.role;
  const user = new iam.User(`${name}-user`, userInputs, { ...parent, ...(userImport ? { import: userImport } : {}) });

  const role = new iam.Role(
    `${name}-role`,
    { ...roleInputs, assumeRolePolicy: foundTrust ?? user.arn.apply((arn) => toPolicyJson(roleTrustPolicy(arn))) },
    { ...parent, ...(roleImport ? { import: roleImport } : {}) },
  );

  // Inline, not managed: a managed policy granting execute-api could be attached to other principals later.
  const invokePolicy = declared.kitGrants
    ? new iam.RolePolicy(
        `${name}-invoke`,
        {
          role: role.name,
          name: "SellingPartnerAPI",
          policy: toPolicyJson(
            sellingPartnerApiInvokePolicy(
              servedRegions(args.spApiRegion, [...(args.spApiRegions ?? []), ...(args.authorizations ?? []).map((a) => a.spApiRegion)]),
            ),
          ),
        },
        parent,
      )
    : undefined;

  // The user's one permission reaches it through a group: no policy sits on the user (Security Hub IAM.2).
  const group = new iam.Group(`${name}-group`, { name: `${roleName}-assumers`, path }, parent);
  const assumePolicy = new iam.GroupPolicy(
    `${name}-assume`,
    {
      group: group.name,
      name: `Assume-${roleName}`,
      policy: role.arn.apply((arn) => toPolicyJson(assumeRolePolicy(arn))),
    },
    parent,
  );
  // Exclusive membership: a user added to this group by hand is removed again by the next `pulumi up --refresh`.
  const membership = new iam.GroupMembership(`${name}-membership`, { group: group.name, users: [user.name] }, parent);

  return { deployed: declared.deployed, user, role, ...(invokePolicy ? { invokePolicy } : {}), group, assumePolicy, membership };
}

/** The secret map of the further authorizations' blocks, name to block, made by `render`. */
function authorizationBlocks(
  authorizations: readonly AuthorizationArgs[],
  render: (region: SpApiRegion, token: pulumi.Input<string> | undefined) => pulumi.Output<string>,
): pulumi.Output<Record<string, string>> {
  return pulumi.secret(
    pulumi
      .all(authorizations.map((a) => render(a.spApiRegion, a.refreshToken)))
      .apply((blocks) => Object.fromEntries(authorizations.map((a, i) => [a.name, blocks[i]!]))),
  );
}

/**
 * The default authorization's block (`credentials`) and, with further authorizations, theirs and their regions: one
 * block per authorization, the same app, role and key, each its own region and refresh token.
 */
function blocksOf(
  args: SellingPartnerApiAccessArgs,
  render: (region: SpApiRegion, token: pulumi.Input<string> | undefined) => pulumi.Output<string>,
): { credentials: pulumi.Output<string>; blocks?: pulumi.Output<Record<string, string>>; regions?: Record<string, SpApiRegion> } {
  const authorizations = args.authorizations ?? [];
  const credentials = pulumi.secret(render(args.spApiRegion, args.lwaRefreshToken));
  if (authorizations.length === 0) return { credentials };
  return {
    credentials,
    blocks: authorizationBlocks(authorizations, render),
    regions: Object.fromEntries(authorizations.map((a) => [a.name, a.spApiRegion])),
  };
}

/** An LWA-only block (connectorAuth lwa) for one authorization: the app's values, its token. */
function lwaOnlyBlock(args: SellingPartnerApiAccessArgs, region: SpApiRegion, token: pulumi.Input<string> | undefined): pulumi.Output<string> {
  return pulumi
    .all([args.lwaClientId ?? PLACEHOLDERS.client_id, args.lwaClientSecret ?? PLACEHOLDERS.client_secret, token ?? PLACEHOLDERS.refresh_token])
    .apply(([clientId, clientSecret, refreshToken]) =>
      renderLwaOnlyCredentials({ client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken }, region),
    );
}

/** The seven-field block for one authorization: the role and key, the app's values, its region's AWS region and its token. */
function iamBlock(
  args: SellingPartnerApiAccessArgs,
  iam: { roleArn: pulumi.Input<string>; keyId: pulumi.Input<string>; keySecret: pulumi.Input<string> },
  region: SpApiRegion,
  token: pulumi.Input<string> | undefined,
): pulumi.Output<string> {
  return pulumi
    .all([
      iam.roleArn,
      iam.keyId,
      iam.keySecret,
      args.lwaClientId ?? PLACEHOLDERS.client_id,
      args.lwaClientSecret ?? PLACEHOLDERS.client_secret,
      token ?? PLACEHOLDERS.refresh_token,
    ])
    .apply(([roleArn, keyId, keySecret, clientId, clientSecret, refreshToken]) =>
      renderCredentials(
        {
          region: awsRegionOf(region),
          role_arn: roleArn,
          aws_access_key_id: keyId,
          aws_secret_access_key: keySecret,
          client_id: clientId,
          client_secret: clientSecret,
          refresh_token: refreshToken,
        },
        region,
      ),
    );
}
