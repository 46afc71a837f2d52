/**
 * The three IAM policy documents of the kit, as pure functions of resolved ARNs.
 * No resources here: these are what a reviewer reads, and what the tests evaluate with an IAM simulator.
 */
import { awsRegionOf, SP_API_REGION_NAMES, SpApiRegion } from "./regions";

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string;
  Resource?: string | string[];
  Principal?: { AWS: string };
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/**
 * The role's trust policy: exactly one principal, the connector's user, may assume it.
 * Not the account root (the console's default), which would admit every principal of the account
 * that holds an sts:AssumeRole grant.
 */
export function roleTrustPolicy(userArn: string): PolicyDocument {
  if (!/^arn:aws[a-z-]*:iam::\d{12}:user\/.+$/.test(userArn)) {
    throw new Error(`roleTrustPolicy: expected an IAM user ARN, got ${userArn}`);
  }
  return {
    Version: "2012-10-17",
    Statement: [{ Sid: "ConnectorUserAssumesRole", Effect: "Allow", Principal: { AWS: userArn }, Action: "sts:AssumeRole" }],
  };
}

/** The execute-api resource ARN pattern for one SP-API region: any API, stage and path, in that AWS region only. */
export function executeApiResourceArn(region: SpApiRegion): string {
  return `arn:aws:execute-api:${awsRegionOf(region)}:*:*`;
}

/**
 * The role's permission: invoke SP-API in the regions the stack serves. One action (Security Hub IAM.21 flags
 * service wildcards such as execute-api:*), scoped to the AWS regions of those SP-API regions.
 */
export function sellingPartnerApiInvokePolicy(regions: readonly SpApiRegion[]): PolicyDocument {
  if (regions.length === 0) throw new Error("sellingPartnerApiInvokePolicy: at least one SP-API region is required");
  // In the region table's order, whatever the config's order: reordering spApiRegions is then no change.
  const resources = SP_API_REGION_NAMES.filter((r) => regions.includes(r)).map(executeApiResourceArn);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "InvokeSellingPartnerApi",
        Effect: "Allow",
        Action: "execute-api:Invoke",
        Resource: resources.length === 1 ? resources[0] : resources,
      },
    ],
  };
}

/** The group's permission: assume the one role, nothing else. Given through a group so no policy sits on the user (IAM.2). */
export function assumeRolePolicy(roleArn: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [{ Sid: "AssumeSellingPartnerApiRole", Effect: "Allow", Action: "sts:AssumeRole", Resource: roleArn }],
  };
}

/** The JSON IAM takes, in a stable form (so a re-run diffs clean). */
export function toPolicyJson(document: PolicyDocument): string {
  return JSON.stringify(document);
}
