import type { Principal } from './token-verifier.js';

/*
 * A token's profile claims against the caller's mirror record: which of them the mirror
 * keeps, and when the token's are the newer word (just-in-time mirroring).
 */

/** A record's fields a token's claims may update. */
export interface ClaimedProfile {
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  emailVerified: boolean;
  updatedAt: Date;
}

/** The profile claims of a token that the mirror keeps. */
export function profileClaims(principal: Principal) {
  return {
    username: principal.username,
    email: principal.email,
    firstName: principal.firstName,
    lastName: principal.lastName,
    emailVerified: principal.emailVerified,
  };
}

/**
 * Whether a token's profile claims are to be written into the local record: they differ
 * from it, and Keycloak issued the token after the record's last write, so they are
 * Keycloak's newer word. A token older than the record (the caller has changed their
 * profile since) must not undo the change. Within one second, which is newer cannot be
 * told (`iat` counts seconds): the record stays, until a later token or the reconciler.
 */
export function shouldMirrorClaims(record: ClaimedProfile, principal: Principal): boolean {
  const claims = profileClaims(principal);
  const differs = (Object.keys(claims) as (keyof typeof claims)[]).some((key) => record[key] !== claims[key]);
  return differs && principal.issuedAt > Math.floor(new Date(record.updatedAt).getTime() / 1000);
}
