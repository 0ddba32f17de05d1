/**
 * Which access tokens outlive the end of a user's sessions (endUserSessions, signOutEverywhere).
 *
 * Keycloak refuses the user's refresh tokens at once: its `logout` removes the online
 * sessions and sets the user's not-before to its current second N, and the offline tokens
 * are revoked client by client (endSessions, src/journal/journal.ts). Access tokens are
 * verified by the gateway alone, so it keeps the window below in the mirror
 * (`user_sessions_ended`) and checks it on every request (src/admission.ts):
 * - a token issued before second N is refused: its session existed at the end and is gone;
 * - a token issued after the window is accepted: every session the end found is gone by
 *   then, so it comes from a sign-in made since;
 * - a token issued within the window, N included, is the hard case: `iat` counts whole
 *   seconds, so a token of second N may come from a session the end removed or from a new
 *   sign-in a few milliseconds later, and no comparison of times can tell them apart. Its
 *   session (`sid`) can: it is accepted only while Keycloak still has that session, which
 *   no session the end found is. One Keycloak call per request, for the tokens of those one
 *   or two seconds only; a token naming no session is refused.
 * The window runs from N to N plus however long the whole end took, rounded up: an offline
 * token refreshed while its client's turn had not come yet is issued within it.
 */
export interface SessionsEnd {
  /** A token issued in an earlier second is refused (whole seconds, as a date). */
  refusedBefore: Date;
  /** A token issued from refusedBefore to this second, included, counts only while its session is live. */
  checkedUntil: Date;
}

/**
 * When Keycloak did not say its not-before second, the gateway's clock stands in for
 * Keycloak's, the window widened by this much each way for the two clocks' difference.
 */
export const CLOCK_SKEW_SECONDS = 2;

/**
 * The window of an end that started at `startedMs` and finished at `finishedMs` (the
 * gateway's clock), Keycloak having set the not-before second `notBefore` (its own clock) or not.
 */
export function endWindow(notBefore: number | null, startedMs: number, finishedMs: number): SessionsEnd {
  const tookSeconds = Math.ceil(Math.max(0, finishedMs - startedMs) / 1000);
  const [from, until] =
    notBefore === null
      ? [Math.floor(startedMs / 1000) - CLOCK_SKEW_SECONDS, Math.ceil(finishedMs / 1000) + CLOCK_SKEW_SECONDS]
      : [notBefore, notBefore + tookSeconds];
  return { refusedBefore: new Date(from * 1000), checkedUntil: new Date(until * 1000) };
}

export type TokenVerdict = 'refused' | 'accepted' | 'askKeycloak';

/** What the end `end` (if any) says of a token issued at `issuedAt` (seconds since the epoch). */
export function verdictOn(issuedAt: number, end: SessionsEnd | null | undefined): TokenVerdict {
  if (!end) return 'accepted';
  const issuedMs = issuedAt * 1000;
  if (issuedMs < end.refusedBefore.getTime()) return 'refused';
  if (issuedMs > end.checkedUntil.getTime()) return 'accepted';
  return 'askKeycloak';
}
