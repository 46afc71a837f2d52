/**
 * What the program declares for the user and the role of an adopted manual setup (npm run adopt), as a pure
 * function: the component uses it, and the tests read it, since Pulumi's mocks show the `import` option only as
 * the id a resource is registered with.
 *
 * Phase "import" (deployment 1) declares both exactly as IAM holds them, with `import` set to their names, so an
 * engine that refuses an import whose inputs differ still accepts it and the deployment changes nothing that
 * exists. Phases "kit" and "done" (deployment 2 on) declare the kit's own properties, except the path: a path is
 * force-new on users and roles, and a new one would replace the role and change the ARN registered with Amazon.
 */
import type { AdoptionRecord } from "./config";

/** The kit's own description of the role, the one a fresh stack declares. */
export const KIT_ROLE_DESCRIPTION = "Assumed by the Selling Partner API connector's user to call SP-API (managed by sp-api-iam)";

export interface KitIdentities {
  userName: string;
  roleName: string;
  path: string;
  permissionsBoundary?: string;
  tags: Record<string, string>;
}

export interface UserDeclaration {
  name: string;
  path: string;
  permissionsBoundary?: string;
  tags: Record<string, string>;
  /** The `import` resource option: the existing user's id (its name). */
  importId?: string;
}

export interface RoleDeclaration {
  name: string;
  path: string;
  description?: string;
  maxSessionDuration?: number;
  permissionsBoundary?: string;
  tags: Record<string, string>;
  /** The trust policy as found; undefined: the kit's own (the user's ARN as the one principal). */
  assumeRolePolicy?: string;
  importId?: string;
}

export interface IdentityDeclarations {
  user: UserDeclaration;
  role: RoleDeclaration;
  /** Whether the kit's inline execute-api grant on the role is declared (not in deployment 1: it adds a grant). */
  kitGrants: boolean;
  /** What the outputs record as deployed: "as-found" or "kit" for an adopted stack, undefined for a fresh one. */
  deployed?: "as-found" | "kit";
}

export function declaredIdentities(kit: KitIdentities, adoption?: AdoptionRecord): IdentityDeclarations {
  const own = { permissionsBoundary: kit.permissionsBoundary, tags: kit.tags };
  if (!adoption) {
    return {
      user: { name: kit.userName, path: kit.path, ...own },
      role: { name: kit.roleName, path: kit.path, description: KIT_ROLE_DESCRIPTION, ...own },
      kitGrants: true,
    };
  }
  if (adoption.phase === "import") {
    const { user, role } = adoption;
    return {
      user: { name: kit.userName, path: user.path, permissionsBoundary: user.permissionsBoundary, tags: user.tags, importId: kit.userName },
      role: {
        name: kit.roleName,
        path: role.path,
        description: role.description,
        maxSessionDuration: role.maxSessionDuration,
        permissionsBoundary: role.permissionsBoundary,
        tags: role.tags,
        assumeRolePolicy: role.assumeRolePolicy,
        importId: kit.roleName,
      },
      kitGrants: false,
      deployed: "as-found",
    };
  }
  return {
    user: { name: kit.userName, path: adoption.user.path, ...own },
    role: { name: kit.roleName, path: adoption.role.path, description: KIT_ROLE_DESCRIPTION, ...own },
    kitGrants: true,
    deployed: "kit",
  };
}
