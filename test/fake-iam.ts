/**
 * A fake IAM on 127.0.0.1 for `npm run rotate-key`: the query protocol (POST form Action=ListAccessKeys |
 * GetAccessKeyLastUsed, Version=2010-05-08), XML answers and ErrorResponse XML as IAM sends them. It checks
 * the SDK's SigV4 signature (service "iam") with the operator's secret, re-computed by the fake's own signer
 * in fake-amazon.ts, so the command's real @aws-sdk/client-iam is exercised end to end.
 */
import { LoopbackServer } from "./loopback";
import * as crypto from "crypto";
import * as http from "http";
import { parseAuthorization, sigV4Signature } from "./fake-amazon";
import type { StackState } from "./fake-pulumi-cli";
import type { SlotRecord } from "../src/lifecycle";
import { assumeRolePolicy, roleTrustPolicy, sellingPartnerApiInvokePolicy, toPolicyJson } from "../policies/documents";

const IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/";

/** The operator's credentials (the ones `pulumi up` would use), distinct from the connector's keys. */
export const OPERATOR = {
  keyId: "AKIAOPERATOR7EXAMPLE",
  secret: "oPeR/aToR+SeCrEt=Key/ForTheIamFake+0123456",
  arn: "arn:aws:iam::123456789012:user/operator",
} as const;

export interface FakeKey {
  id: string;
  status: "Active" | "Inactive";
  createDate: string;
  /** Absent: IAM has no record of a use (answers N/A). */
  lastUsed?: { date: string; service: string; region: string };
}

/** IAM's record of a use `hoursAgo` hours ago, by STS in `region`. */
export function lastUse(hoursAgo: number, region = "us-east-1"): NonNullable<FakeKey["lastUsed"]> {
  return { date: new Date(Date.now() - hoursAgo * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"), service: "sts", region };
}

/**
 * IAM's keys as a stand-in stack's deployment made them (test/fake-pulumi.ts): one per key slot, with its status;
 * the newest generation's key last used `use.current` hours ago, the others `use.previous` (undefined: never).
 */
export function keysOfStack(state: StackState, use: { current?: number; previous?: number } = {}): FakeKey[] {
  const slots = state.outputs.accessKeySlots!.value as SlotRecord[];
  const newest = Math.max(...slots.map((s) => s.generation));
  return slots.map((s) => {
    const key = state.keys[s.slot]!;
    const hours = s.generation === newest ? use.current : use.previous;
    return { id: key.id, status: s.status ?? "Active", createDate: key.createDate, ...(hours === undefined ? {} : { lastUsed: lastUse(hours) }) };
  });
}

export type IamAction = string;

/** A managed policy: its versions' documents (JSON text) by version id. */
export interface FakePolicy {
  arn: string;
  name: string;
  defaultVersion: string;
  versions: Record<string, string>;
}

/** A user or role as IAM holds it, for `npm run adopt`. Documents are JSON text; IAM sends them URL-encoded. */
export interface FakeIdentity {
  name: string;
  path: string;
  description?: string;
  maxSessionDuration?: number;
  permissionsBoundary?: string;
  tags: Record<string, string>;
  /** Roles only: the trust policy. */
  trust?: string;
  inline: Record<string, string>;
  attached: string[];
}

/** The account's users, roles, groups and managed policies (keys stay in `keys` / `users`). */
export interface FakeAccount {
  users: Record<string, FakeIdentity & { groups: string[] }>;
  roles: Record<string, FakeIdentity>;
  groups: Record<string, { path: string; inline: Record<string, string> }>;
  policies: Record<string, FakePolicy>;
}

export const ACCOUNT_ID = "123456789012";

/**
 * The connector page's manual setup as the console makes it: role SellingPartnerAPI trusting the account root
 * (with the console's empty Condition), the customer-managed policy SellingPartnerAPI (execute-api:Invoke on
 * arn:aws:execute-api:*:*:*) attached to it, the user with an inline sts:AssumeRole policy; its one key is in `keys`.
 */
export function manualSetup(userName = "sp-api-connector", roleName = "SellingPartnerAPI"): FakeAccount {
  const roleArn = `arn:aws:iam::${ACCOUNT_ID}:role/${roleName}`;
  const policyArn = `arn:aws:iam::${ACCOUNT_ID}:policy/SellingPartnerAPI`;
  return {
    users: {
      [userName]: {
        name: userName,
        path: "/",
        tags: {},
        inline: {
          AssumeSellingPartnerAPI: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: roleArn }] }),
        },
        attached: [],
        groups: [],
      },
    },
    roles: {
      [roleName]: {
        name: roleName,
        path: "/",
        maxSessionDuration: 3600,
        tags: {},
        trust: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` }, Action: "sts:AssumeRole", Condition: {} }],
        }),
        inline: {},
        attached: [policyArn],
      },
    },
    groups: {},
    policies: {
      [policyArn]: {
        arn: policyArn,
        name: "SellingPartnerAPI",
        defaultVersion: "v1",
        versions: {
          v1: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:*:*:*" }] }),
        },
      },
    },
  };
}

/** The actions that change the account. */
export const IAM_WRITES = [
  "DetachRolePolicy",
  "DetachUserPolicy",
  "DeleteRolePolicy",
  "DeleteUserPolicy",
  "DeletePolicy",
  "DeletePolicyVersion",
  "UpdateAccessKey",
  "DeleteAccessKey",
];

export interface IamBehaviour {
  /** Actions the operator is not allowed (AccessDenied, as IAM words it). */
  deny: IamAction[];
  /** Accept the connection and never answer. */
  stall?: IamAction;
  /** Answer 200 with text that is not IAM's XML. */
  garbage?: IamAction;
  /** Send the headers, then a byte every 100 ms, never finishing. */
  trickle?: IamAction;
}

export interface SeenIamRequest {
  action: string;
  form: Record<string, string>;
  /** What the fake found wrong with the request; empty when it is well formed and correctly signed. */
  problems: string[];
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export class FakeIam extends LoopbackServer {
  keys: FakeKey[] = [];
  userName = "sp-api-connector";
  /** Several users' keys (a fleet test); when set, it answers for these users instead of `userName`/`keys`. */
  users?: Map<string, FakeKey[]>;
  behaviour: IamBehaviour = { deny: [] };
  seen: SeenIamRequest[] = [];
  /** Users, roles, groups and managed policies, for npm run adopt. */
  account: FakeAccount = { users: {}, roles: {}, groups: {}, policies: {} };

  reset(): void {
    this.keys = [];
    this.users = undefined;
    this.account = { users: {}, roles: {}, groups: {}, policies: {} };
    this.behaviour = { deny: [] };
    this.seen = [];
  }

  /** The environment that sends the operator's IAM calls here. */
  env(): NodeJS.ProcessEnv {
    return {
      AWS_ENDPOINT_URL_IAM: this.url,
      AWS_ACCESS_KEY_ID: OPERATOR.keyId,
      AWS_SECRET_ACCESS_KEY: OPERATOR.secret,
      AWS_REGION: "eu-west-1",
    };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => this.answer({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body }, res));
  }

  private answer(request: Parameters<typeof sigV4Signature>[0], res: http.ServerResponse): void {
    const form = Object.fromEntries(new URLSearchParams(request.body));
    const action = form.Action ?? "";
    const seen: SeenIamRequest = { action, form, problems: [] };
    this.seen.push(seen);
    const xml = (status: number, text: string): void => void res.writeHead(status, { "content-type": "text/xml" }).end(text);
    const error = (status: number, code: string, message: string) =>
      xml(
        status,
        `<ErrorResponse xmlns="${IAM_XMLNS}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${crypto.randomUUID()}</RequestId>\n</ErrorResponse>\n`,
      );
    const auth = parseAuthorization(request.headers.authorization);
    if (!auth || auth.service !== "iam") {
      seen.problems.push(`not signed for iam: ${auth?.service ?? "no Authorization"}`);
      return error(400, "IncompleteSignature", "Authorization header missing or malformed");
    }
    if (auth.region !== "us-east-1") seen.problems.push(`signed for region ${auth.region}; IAM signs in us-east-1`);
    if (auth.keyId !== OPERATOR.keyId) return error(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
    if (sigV4Signature(request, auth, OPERATOR.secret) !== auth.signature) {
      seen.problems.push("bad signature");
      return error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
    }
    if (form.Version !== "2010-05-08") seen.problems.push(`Version ${form.Version}`);
    if (action === this.behaviour.stall) return; // the socket stays open, unanswered
    if (action === this.behaviour.garbage) return void res.writeHead(200, { "content-type": "text/xml" }).end("<html><body>Gateway says hello</body>");
    if (action === this.behaviour.trickle) {
      res.writeHead(200, { "content-type": "text/xml" });
      const timer = setInterval(() => res.write(" "), 100);
      res.on("close", () => clearInterval(timer));
      return;
    }
    if (this.behaviour.deny.includes(action as IamAction)) {
      const resource = form.UserName ? `user ${form.UserName}` : form.RoleName ? `role ${form.RoleName}` : `access key ${form.AccessKeyId}`;
      return error(403, "AccessDenied", `User: ${OPERATOR.arn} is not authorized to perform: iam:${action} on resource: ${resource}`);
    }
    const envelope = (inner: string) =>
      xml(
        200,
        `<${action}Response xmlns="${IAM_XMLNS}">\n  <${action}Result>\n${inner}  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${crypto.randomUUID()}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`,
      );
    const users = this.users ?? new Map([[this.userName, this.keys]]);
    if (action === "ListAccessKeys") {
      const keys = users.get(form.UserName ?? "");
      if (!keys) return error(404, "NoSuchEntity", `The user with name ${form.UserName} cannot be found.`);
      const members = keys
        .map(
          (k) =>
            `      <member>\n        <UserName>${form.UserName}</UserName>\n        <AccessKeyId>${k.id}</AccessKeyId>\n        <Status>${k.status}</Status>\n        <CreateDate>${k.createDate}</CreateDate>\n      </member>\n`,
        )
        .join("");
      return envelope(
        `    <UserName>${form.UserName}</UserName>\n    <AccessKeyMetadata>\n${members}    </AccessKeyMetadata>\n    <IsTruncated>false</IsTruncated>\n`,
      );
    }
    if (action === "GetAccessKeyLastUsed") {
      const owner = [...users].find(([, keys]) => keys.some((k) => k.id === form.AccessKeyId));
      const key = owner?.[1].find((k) => k.id === form.AccessKeyId);
      if (!owner || !key) return error(404, "NoSuchEntity", `The Access Key with id ${form.AccessKeyId} cannot be found.`);
      const used = key.lastUsed
        ? `      <Region>${key.lastUsed.region}</Region>\n      <LastUsedDate>${key.lastUsed.date}</LastUsedDate>\n      <ServiceName>${key.lastUsed.service}</ServiceName>\n`
        : `      <Region>N/A</Region>\n      <ServiceName>N/A</ServiceName>\n`;
      return envelope(`    <AccessKeyLastUsed>\n${used}    </AccessKeyLastUsed>\n    <UserName>${owner[0]}</UserName>\n`);
    }
    // The SDK's XML reader needs the result's elements indented as IAM sends them (a bare `\n<User>` reads as empty).
    if (this.answerAccount(action, form, (inner) => envelope(`    ${inner.trim()}\n`), error)) return;
    error(400, "InvalidAction", `Could not find operation ${action} for version 2010-05-08`);
  }

  /** The account's users, roles, policies and groups: the reads and writes npm run adopt and rotate-key use. */
  private answerAccount(
    action: string,
    form: Record<string, string>,
    envelope: (inner: string) => void,
    error: (status: number, code: string, message: string) => void,
  ): boolean {
    const a = this.account;
    const enc = (doc: string) => xmlEscape(encodeURIComponent(doc));
    const date = "2024-05-01T10:00:00Z";
    const members = (items: string[]) => items.map((i) => `      <member>${i}</member>\n`).join("");
    const tags = (t: Record<string, string>) =>
      Object.keys(t).length === 0
        ? ""
        : `<Tags>${Object.entries(t)
            .map(([k, v]) => `<member><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></member>`)
            .join("")}</Tags>`;
    const boundary = (arn?: string) =>
      arn
        ? `<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>${arn}</PermissionsBoundaryArn></PermissionsBoundary>`
        : "";
    const arnOf = (kind: string, x: { path: string; name: string }) => `arn:aws:iam::${ACCOUNT_ID}:${kind}${x.path}${x.name}`;
    const noUser = () => error(404, "NoSuchEntity", `The user with name ${form.UserName} cannot be found.`);
    const noRole = () => error(404, "NoSuchEntity", `The role with name ${form.RoleName} cannot be found.`);
    const noPolicy = () => error(404, "NoSuchEntity", `Policy ${form.PolicyArn} does not exist or is not attachable.`);
    const user = a.users[form.UserName ?? ""];
    const role = a.roles[form.RoleName ?? ""];
    const policy = a.policies[form.PolicyArn ?? ""];
    const attachments = (arn: string) => [...Object.values(a.users), ...Object.values(a.roles)].filter((x) => x.attached.includes(arn)).length;
    // IAM counts a policy's use as a permissions boundary apart from its attachments (GetPolicy's PermissionsBoundaryUsageCount).
    const boundaryUses = (arn: string) => [...Object.values(a.users), ...Object.values(a.roles)].filter((x) => x.permissionsBoundary === arn).length;
    const empty = () => envelope("");
    const names = (list: string[], tag = "PolicyNames") => envelope(`    <${tag}>\n${members(list)}    </${tag}>\n    <IsTruncated>false</IsTruncated>\n`);
    const attached = (arns: string[]) =>
      envelope(
        `    <AttachedPolicies>\n${arns.map((arn) => `      <member><PolicyName>${a.policies[arn]?.name ?? arn.split("/").pop()}</PolicyName><PolicyArn>${arn}</PolicyArn></member>\n`).join("")}    </AttachedPolicies>\n    <IsTruncated>false</IsTruncated>\n`,
      );
    switch (action) {
      case "GetUser":
        if (!user) return (noUser(), true);
        envelope(
          `<User><Path>${user.path}</Path><UserName>${user.name}</UserName><UserId>AIDAFAKEUSER</UserId><Arn>${arnOf("user", user)}</Arn><CreateDate>${date}</CreateDate>${boundary(user.permissionsBoundary)}${tags(user.tags)}</User>`,
        );
        return true;
      case "GetRole":
        if (!role) return (noRole(), true);
        envelope(
          `<Role><Path>${role.path}</Path><RoleName>${role.name}</RoleName><RoleId>AROAFAKEROLE</RoleId><Arn>${arnOf("role", role)}</Arn><CreateDate>${date}</CreateDate>` +
            `<AssumeRolePolicyDocument>${enc(role.trust ?? "{}")}</AssumeRolePolicyDocument>${role.description !== undefined ? `<Description>${xmlEscape(role.description)}</Description>` : ""}` +
            `<MaxSessionDuration>${role.maxSessionDuration ?? 3600}</MaxSessionDuration>${boundary(role.permissionsBoundary)}${tags(role.tags)}</Role>`,
        );
        return true;
      case "ListUserPolicies":
        return (user ? names(Object.keys(user.inline)) : noUser(), true);
      case "ListRolePolicies":
        return (role ? names(Object.keys(role.inline)) : noRole(), true);
      case "GetUserPolicy":
      case "GetRolePolicy":
      case "GetGroupPolicy": {
        const owner = action === "GetUserPolicy" ? user : action === "GetRolePolicy" ? role : a.groups[form.GroupName ?? ""];
        const doc = owner?.inline[form.PolicyName ?? ""];
        if (!doc) return (error(404, "NoSuchEntity", `The policy with name ${form.PolicyName} cannot be found.`), true);
        envelope(`<PolicyName>${form.PolicyName}</PolicyName><PolicyDocument>${enc(doc)}</PolicyDocument>`);
        return true;
      }
      case "ListAttachedUserPolicies":
        return (user ? attached(user.attached) : noUser(), true);
      case "ListAttachedRolePolicies":
        return (role ? attached(role.attached) : noRole(), true);
      case "ListGroupsForUser":
        if (!user) return (noUser(), true);
        envelope(
          `    <Groups>\n${user.groups.map((g) => `      <member><Path>/</Path><GroupName>${g}</GroupName><GroupId>AGPAFAKE</GroupId><Arn>arn:aws:iam::${ACCOUNT_ID}:group/${g}</Arn><CreateDate>${date}</CreateDate></member>\n`).join("")}    </Groups>\n    <IsTruncated>false</IsTruncated>\n`,
        );
        return true;
      case "GetPolicy":
        if (!policy) return (noPolicy(), true);
        envelope(
          `<Policy><PolicyName>${policy.name}</PolicyName><PolicyId>ANPAFAKE</PolicyId><Arn>${policy.arn}</Arn><Path>/</Path><DefaultVersionId>${policy.defaultVersion}</DefaultVersionId><AttachmentCount>${attachments(policy.arn)}</AttachmentCount><PermissionsBoundaryUsageCount>${boundaryUses(policy.arn)}</PermissionsBoundaryUsageCount><IsAttachable>true</IsAttachable><CreateDate>${date}</CreateDate><UpdateDate>${date}</UpdateDate></Policy>`,
        );
        return true;
      case "GetPolicyVersion": {
        const doc = policy?.versions[form.VersionId ?? ""];
        if (!policy || doc === undefined) return (noPolicy(), true);
        envelope(
          `<PolicyVersion><Document>${enc(doc)}</Document><VersionId>${form.VersionId}</VersionId><IsDefaultVersion>${form.VersionId === policy.defaultVersion}</IsDefaultVersion><CreateDate>${date}</CreateDate></PolicyVersion>`,
        );
        return true;
      }
      case "ListPolicyVersions":
        if (!policy) return (noPolicy(), true);
        envelope(
          `<Versions>${Object.keys(policy.versions)
            .map(
              (v) =>
                `<member><VersionId>${v}</VersionId><IsDefaultVersion>${v === policy.defaultVersion}</IsDefaultVersion><CreateDate>${date}</CreateDate></member>`,
            )
            .join("")}</Versions><IsTruncated>false</IsTruncated>`,
        );
        return true;
      case "DetachRolePolicy":
      case "DetachUserPolicy": {
        const owner = action === "DetachRolePolicy" ? role : user;
        if (!owner || !owner.attached.includes(form.PolicyArn ?? "")) return (error(404, "NoSuchEntity", `Policy ${form.PolicyArn} was not found.`), true);
        owner.attached = owner.attached.filter((arn) => arn !== form.PolicyArn);
        return (empty(), true);
      }
      case "DeleteRolePolicy":
      case "DeleteUserPolicy": {
        const owner = action === "DeleteRolePolicy" ? role : user;
        if (!owner || owner.inline[form.PolicyName ?? ""] === undefined)
          return (error(404, "NoSuchEntity", `The policy ${form.PolicyName} cannot be found.`), true);
        delete owner.inline[form.PolicyName!];
        return (empty(), true);
      }
      case "DeletePolicyVersion":
        if (!policy || policy.versions[form.VersionId ?? ""] === undefined) return (noPolicy(), true);
        if (form.VersionId === policy.defaultVersion) return (error(409, "DeleteConflict", "Cannot delete the default version of a policy."), true);
        delete policy.versions[form.VersionId!];
        return (empty(), true);
      case "DeletePolicy":
        // A boundary use does not stop the fake's delete: the tests show that the kit never asks.
        if (!policy) return (noPolicy(), true);
        if (attachments(policy.arn) > 0) return (error(409, "DeleteConflict", "Cannot delete a policy attached to entities."), true);
        if (Object.keys(policy.versions).length > 1)
          return (
            error(409, "DeleteConflict", "This policy has more than one version. Before you delete a policy, you must delete the policy's versions."),
            true
          );
        delete a.policies[policy.arn];
        return (empty(), true);
      case "UpdateAccessKey":
      case "DeleteAccessKey": {
        const lists = this.users ? [...this.users.values()] : [this.keys];
        const owner = lists.find((keys) => keys.some((k) => k.id === form.AccessKeyId));
        if (!owner) return (error(404, "NoSuchEntity", `The Access Key with id ${form.AccessKeyId} cannot be found.`), true);
        const index = owner.findIndex((k) => k.id === form.AccessKeyId);
        if (action === "DeleteAccessKey") owner.splice(index, 1);
        else owner[index]!.status = form.Status === "Inactive" ? "Inactive" : "Active";
        return (empty(), true);
      }
    }
    return false;
  }

  /** What IAM would hold after the kit's deployment 2 (the stand-in CLI's `up` does not talk to this fake). */
  applyKitGrants(userName: string, roleName: string): void {
    const a = this.account;
    const roleArn = `arn:aws:iam::${ACCOUNT_ID}:role${a.roles[roleName]!.path}${roleName}`;
    const userArn = `arn:aws:iam::${ACCOUNT_ID}:user${a.users[userName]!.path}${userName}`;
    a.roles[roleName]!.trust = toPolicyJson(roleTrustPolicy(userArn));
    a.roles[roleName]!.inline.SellingPartnerAPI = toPolicyJson(sellingPartnerApiInvokePolicy(["na"]));
    a.groups[`${roleName}-assumers`] = { path: "/", inline: { [`Assume-${roleName}`]: toPolicyJson(assumeRolePolicy(roleArn)) } };
    if (!a.users[userName]!.groups.includes(`${roleName}-assumers`)) a.users[userName]!.groups.push(`${roleName}-assumers`);
  }
}
