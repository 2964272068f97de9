import type { Role } from '../config';

// Who may do what to which token: the permission matrix, enforced here and nowhere else (README "Permissions").
// Seeds 002 and 004: personal tokens belong to their user and are visible only to them (admins see metadata, never
// secrets); service tokens are created by admins for a service account and visible to all admins.

export const TOKEN_ACTIONS = ['view', 'generate', 'edit', 'revoke', 'restore', 'rotate', 'delete'] as const;
export type TokenAction = (typeof TOKEN_ACTIONS)[number];

/** How the actor relates to the token. */
export type Relation = 'own_personal' | 'others_personal' | 'service';

const EVERYTHING: readonly TokenAction[] = TOKEN_ACTIONS;

export const PERMISSIONS: Record<Role, Record<Relation, readonly TokenAction[]>> = {
  member: {
    own_personal: EVERYTHING,
    // Not even visible: another user's token id answers 404, like a missing one.
    others_personal: [],
    service: [],
  },
  admin: {
    own_personal: EVERYTHING,
    // Incident response without impersonation: an admin can see, stop and clean up a user's token, but never
    // create one for them, edit it, or rotate it (which would hand the admin its new secret).
    others_personal: ['view', 'revoke', 'restore', 'delete'],
    service: EVERYTHING,
  },
};

export interface ActorRef {
  id: string;
  role: Role;
}

export interface TokenRef {
  type: 'personal' | 'service';
  ownerId: string;
  revokeReason?: string | null;
}

export function relationOf(actor: ActorRef, token: TokenRef): Relation {
  if (token.type === 'service') return 'service';
  return token.ownerId === actor.id ? 'own_personal' : 'others_personal';
}

export type Decision = 'allowed' | 'hidden' | 'denied';

/**
 * `hidden` when the actor may not even see the token (answer 404), `denied` when they see it but may not do this
 * (answer 403), else `allowed`. A token an admin revoked can be restored only by an admin.
 */
export function decide(actor: ActorRef, action: TokenAction, token: TokenRef): Decision {
  const allowed = PERMISSIONS[actor.role][relationOf(actor, token)];
  if (!allowed.includes('view') && !(action === 'generate' && allowed.includes('generate'))) return 'hidden';
  if (!allowed.includes(action)) return 'denied';
  if (action === 'restore' && token.revokeReason === 'admin' && actor.role !== 'admin') return 'denied';
  return 'allowed';
}
