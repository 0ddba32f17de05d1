import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { GrantPathRow, GrantStepRecord } from './roles.queries.js';
import { PrivilegeType, type RoleRecord } from './role.type.js';

export const GRANT_STEP_KINDS = ['GROUP', 'ROLE', 'PRIVILEGE'] as const;
export type GrantStepKind = (typeof GRANT_STEP_KINDS)[number];

export const GrantStepKindEnum = Object.fromEntries(GRANT_STEP_KINDS.map((kind) => [kind, kind])) as { [K in GrantStepKind]: K };
registerEnumType(GrantStepKindEnum, {
  name: 'GrantStepKind',
  description: 'What one step of a grant path is.',
  valuesConfig: {
    GROUP: { description: 'A group: the one the user is in, or, after a group, its parent.' },
    ROLE: { description: 'A realm role (role_*): held directly, mapped to the group before it, or part of the composite role before it.' },
    PRIVILEGE: {
      description: 'A privilege (priv_*): the one granted (the last step), or before it a privilege composed of the step after it.',
    },
  },
});

@ObjectType('GrantStep', { description: 'One step of a grant path.' })
export class GrantStepType {
  @Field(() => GrantStepKindEnum, { description: 'Whether the step is a group, a role or a privilege.' })
  kind: GrantStepKind;

  @Field(() => ID, { description: "The group's, role's or privilege's id." })
  id: string;

  @Field(() => String, { description: "The group's name, or the role's or privilege's name (role_*, priv_*)." })
  name: string;
}

@ObjectType('GrantPath', {
  description:
    'One way a privilege reaches a user, from the user outwards: for example GROUP Reviewers, ROLE role_reviewer, PRIVILEGE priv_code_review. ' +
    "A subgroup's members hold its parent's roles: GROUP child, GROUP parent, ROLE r, PRIVILEGE p. The last step is the privilege.",
})
export class GrantPathType {
  @Field(() => [GrantStepType], { description: 'The steps, from the user outwards.' })
  steps: GrantStepRecord[];
}

@ObjectType('PrivilegeGrant', { description: 'A privilege a user holds, with every path that grants it.' })
export class PrivilegeGrantType {
  @Field(() => PrivilegeType, { description: 'The privilege held.' })
  privilege: RoleRecord;

  @Field(() => [GrantPathType], { description: 'Every path that grants it: shortest first, then by the names along the way.' })
  paths: GrantPathType[];
}

/** A privilege held with its paths (PrivilegeGrantType's shape). */
export interface PrivilegeGrant {
  privilege: RoleRecord;
  paths: { steps: GrantStepRecord[] }[];
}

/**
 * One user's paths (rows of selectGrantPaths) as grants: a privilege once, with every path
 * that reaches it. Privileges by name; a privilege's paths shortest first, then by the
 * names along the way, so that an answer reads the same each time.
 */
export function grantsOf(rows: readonly Omit<GrantPathRow, 'key'>[]): PrivilegeGrant[] {
  const grants = new Map<string, PrivilegeGrant>();
  for (const { steps, ...privilege } of rows) {
    let grant = grants.get(privilege.id);
    if (!grant) grants.set(privilege.id, (grant = { privilege, paths: [] }));
    grant.paths.push({ steps });
  }
  const order = (path: { steps: GrantStepRecord[] }) => path.steps.map((step) => `${step.name}\u0000${step.id}`).join('\u0001');
  return [...grants.values()]
    .sort((a, b) => compare(a.privilege.name, b.privilege.name))
    .map((grant) => ({
      ...grant,
      paths: grant.paths.sort((a, b) => a.steps.length - b.steps.length || compare(order(a), order(b))),
    }));
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
