/**
 * A thin, strict wrapper around the IAM evaluator the policy tests use.
 *
 * The evaluator is @cloud-copilot/iam-simulate (AGPL-3.0-or-later). It is a devDependency used only by the tests;
 * nothing here is imported by the kit, and it is never shipped.
 *
 * What the wrapper adds: the simulator answers invalid input (an unknown action, a resource ARN the action does not
 * take, a malformed policy) with `resultType: "error"` instead of a decision. A test that only checked "not Allowed"
 * would then pass on a typo. `evaluate` fails the test on any such error, and on anything but one single-resource
 * decision, so every verdict the tests read is a real evaluation.
 */
import assert from "node:assert/strict";
import {
  getDenialReasons,
  getGrantReasons,
  runSimulation,
  type EvaluationResult,
  type RequestAnalysis,
  type RequestDenial,
  type RequestGrant,
  type Simulation,
} from "@cloud-copilot/iam-simulate";

/** Any IAM policy document: the kit's own, or one written in a test. */
export interface IamPolicy {
  Version: string;
  Statement: readonly object[];
}

export interface SimulatedRequest {
  /** ARN of the caller: an IAM user, or an STS assumed-role session. */
  principal: string;
  action: string;
  /** A concrete resource ARN (no wildcard, so the simulator runs exactly one evaluation). */
  resource: string;
  /** The account that owns the resource (for an IAM role: the role's account). */
  resourceAccount: string;
  /** The caller's identity policies, by name (inline, managed, or reaching a user through a group: all alike). */
  identityPolicies?: Record<string, IamPolicy>;
  /** The resource's policy; for sts:AssumeRole, the role's trust policy. */
  resourcePolicy?: IamPolicy;
  /** The caller's permissions boundary, if any. */
  permissionsBoundary?: IamPolicy;
  /** Request context keys, e.g. aws:SecureTransport (absent keys are absent from the request). */
  contextVariables?: Record<string, string>;
}

export interface Evaluation {
  result: EvaluationResult;
  analysis: RequestAnalysis;
  denials: RequestDenial[];
  grants: RequestGrant[];
}

/** Evaluate one request. Fails (assertion error) if the simulator rejects the input instead of deciding. */
export async function evaluate(request: SimulatedRequest): Promise<Evaluation> {
  const simulation: Simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.resourceAccount },
      contextVariables: request.contextVariables ?? {},
    },
    identityPolicies: Object.entries(request.identityPolicies ?? {}).map(([name, policy]) => ({ name, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(request.resourcePolicy ? { resourcePolicy: request.resourcePolicy } : {}),
    ...(request.permissionsBoundary ? { permissionBoundaryPolicies: [{ name: "boundary", policy: request.permissionsBoundary }] } : {}),
  };
  const response = await runSimulation(simulation, { simulationMode: "Strict" });
  if (response.resultType === "error") {
    assert.fail(`the simulator rejected the input (${response.errors.message}): ${JSON.stringify(response.errors)}`);
  }
  if (response.resultType !== "single") {
    assert.fail(`expected one single-resource evaluation, got "${response.resultType}" for ${request.resource}`);
  }
  const analysis = response.result.analysis;
  assert.equal(analysis.result, response.overallResult, "the overall result and the analysis disagree");
  return {
    result: analysis.result,
    analysis,
    denials: getDenialReasons(analysis),
    grants: getGrantReasons(analysis),
  };
}

/** The policy types the simulator names as the reason for a denial, sorted (e.g. ["identity"], ["resource"]). */
export function deniedBy(evaluation: Evaluation): string[] {
  return [...new Set(evaluation.denials.map((d) => d.policyType))].sort();
}

/** The policy types (and, for identity policies, the policy names) that granted an allowed request, sorted. */
export function grantedBy(evaluation: Evaluation): string[] {
  return evaluation.grants.map((g) => (g.policyType === "identity" ? `identity:${g.policyIdentifier}` : g.policyType)).sort();
}
