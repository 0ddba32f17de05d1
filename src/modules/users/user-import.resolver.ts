import { Arg, Ctx, Mutation, Resolver } from 'type-graphql';
import { principalOf, type GatewayContext } from '../../context.js';
import { importPermission } from '../../permissions.js';
import { ImportUsersInput } from './user-import.input.js';
import { ImportStatus, ImportUsersPayloadType } from './user-import.type.js';

@Resolver()
export class UserImportResolver {
  @Mutation(() => ImportUsersPayloadType, {
    description:
      'Create or update up to 1,000 users in one call (ROLE_ADMIN, or PRIV_USER_MANAGEMENT within its limits). Each user is written on its own: one failure never leaves a half-created user nor stops the others. With dryRun nothing is written and every result says what would happen.',
  })
  async importUsers(
    @Arg('input', () => ImportUsersInput, { description: 'The users, and what to do with those that exist.' }) input: ImportUsersInput,
    @Ctx() context: GatewayContext,
  ) {
    const { dryRun, results } = await context.services.userImport.import(input, principalOf(context).userId, importPermission(context));
    const count = (status: ImportStatus) => results.filter((result) => result.status === status).length;
    const [created, updated, skipped, failed] = [ImportStatus.CREATED, ImportStatus.UPDATED, ImportStatus.SKIPPED, ImportStatus.FAILED].map(
      count,
    );
    const tally = `${created} created, ${updated} updated, ${skipped} skipped, ${failed} failed`;
    return {
      message: dryRun ? `Dry run of ${results.length} users: ${tally}; nothing was written` : `Imported ${results.length} users: ${tally}`,
      timestamp: new Date(),
      dryRun,
      created,
      updated,
      skipped,
      failed,
      results,
    };
  }
}
