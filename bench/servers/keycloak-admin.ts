/**
 * Baseline (b) of workload 2: the same users page assembled straight from Keycloak's Admin
 * API, the way a backend without a mirror builds its user listing: list the users, then for
 * each user, one after the other, its realm role mappings and its groups (plus its
 * effective roles, for effectivePrivileges). The privileges of each role and the roles of
 * each group are fetched once per page and reused: kinder to this baseline than such a backend.
 * Answers the page's JSON for any POST; `first` comes from the request's variables.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientCredentialsToken, KeycloakAdminRest } from '../keycloak.js';
import { announce } from './child.js';

const url = process.env.KEYCLOAK_URL!;
const realm = process.env.KEYCLOAK_REALM!;
const admin = new KeycloakAdminRest(
  { url, realm },
  clientCredentialsToken({ url, realm }, process.env.KEYCLOAK_API_CLIENT_ID ?? 'iam-gateway', process.env.KEYCLOAK_API_CLIENT_SECRET!),
);

interface RoleRef {
  id: string;
  name: string;
}
interface KeycloakUser {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  enabled: boolean;
}

const isRole = (role: RoleRef) => role.name.startsWith('role_');
const isPrivilege = (role: RoleRef) => role.name.startsWith('priv_');
const byName = (a: RoleRef, b: RoleRef) => a.name.localeCompare(b.name);
const ref = ({ id, name }: RoleRef) => ({ id, name });

async function get<T>(path: string): Promise<T> {
  return (await admin.ok<T>('GET', path)).body;
}

async function page(first: number, offset: number) {
  const users = await get<KeycloakUser[]>(`/users?first=${offset}&max=${first + 1}&briefRepresentation=false`);
  const privilegesOfRole = new Map<string, Promise<RoleRef[]>>();
  const rolesOfGroup = new Map<string, Promise<RoleRef[]>>();
  const privileges = (role: RoleRef) => {
    if (!privilegesOfRole.has(role.id)) {
      privilegesOfRole.set(
        role.id,
        get<RoleRef[]>(`/roles-by-id/${role.id}/composites/realm`).then((all) => all.filter(isPrivilege).sort(byName).map(ref)),
      );
    }
    return privilegesOfRole.get(role.id)!;
  };
  const groupRoles = (groupId: string) => {
    if (!rolesOfGroup.has(groupId)) {
      rolesOfGroup.set(
        groupId,
        get<RoleRef[]>(`/groups/${groupId}/role-mappings/realm`).then((all) => all.filter(isRole).sort(byName).map(ref)),
      );
    }
    return rolesOfGroup.get(groupId)!;
  };

  const edges = [];
  for (const user of users.slice(0, first)) {
    const roles = (await get<RoleRef[]>(`/users/${user.id}/role-mappings/realm`)).filter(isRole).sort(byName);
    const groups = (await get<RoleRef[]>(`/users/${user.id}/groups?briefRepresentation=true`)).sort(byName);
    const effective = (await get<RoleRef[]>(`/users/${user.id}/role-mappings/realm/composite`)).filter(isPrivilege).sort(byName);
    const node = {
      id: user.id,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      enabled: user.enabled,
      roles: [] as unknown[],
      groups: [] as unknown[],
      effectivePrivileges: effective.map(ref),
    };
    for (const role of roles) node.roles.push({ ...ref(role), privileges: await privileges(role) });
    for (const group of groups) node.groups.push({ ...ref(group), roles: await groupRoles(group.id) });
    edges.push({ cursor: String(offset + edges.length + 1), node });
  }
  return { data: { users: { edges, pageInfo: { hasNextPage: users.length > first, endCursor: edges.at(-1)?.cursor ?? null } } } };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const server = createServer((request, response) => {
  readBody(request)
    .then(async (text) => {
      const { variables } = JSON.parse(text || '{}') as { variables?: { first?: number; after?: string } };
      const body = await page(variables?.first ?? 100, Number(variables?.after ?? 0));
      response.setHeader('content-type', 'application/json; charset=utf-8');
      response.end(JSON.stringify(body));
    })
    .catch((error: unknown) => {
      response.statusCode = 502;
      response.end(JSON.stringify({ errors: [{ message: String(error) }] }));
    });
});
// A page takes long: the default timeouts must not cut it.
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => announce(`http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`));
