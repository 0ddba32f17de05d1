import { singleLoader } from '../../db/loaders.js';
import type { InvitationService } from './invitation.service.js';
import type { InvitationRecord } from './invitation.type.js';

export function createInvitationLoaders(invitations: InvitationService) {
  return { invitationById: singleLoader<InvitationRecord>((ids) => invitations.findByIds(ids)) };
}
