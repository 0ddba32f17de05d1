import DataLoader from 'dataloader';
import type { UserService } from './user.service.js';
import type { UserRecord } from './user.type.js';

/** Per-request loaders: every user looked up by id in one request costs one query. */
export function createUserLoaders(users: UserService) {
  return {
    userById: new DataLoader<string, UserRecord | null>(async (ids) => {
      const byId = new Map((await users.findByIds(ids)).map((user) => [user.id, user]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

export type UserLoaders = ReturnType<typeof createUserLoaders>;
