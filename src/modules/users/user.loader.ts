import { singleLoader } from '../../db/loaders.js';
import type { UserService } from './user.service.js';
import type { UserRecord } from './user.type.js';

/** Per-request loaders: every user looked up by id in one request costs one query. */
export function createUserLoaders(users: UserService) {
  return { userById: singleLoader<UserRecord>((ids) => users.findByIds(ids)) };
}
