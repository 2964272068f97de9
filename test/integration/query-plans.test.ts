import { env } from 'cloudflare:workers';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import { upsertUser } from '../../src/auth/principals';
import { runHygiene } from '../../src/cron/hygiene';
import type { Env } from '../../src/env';
import { encodeCursor } from '../../src/lib/cursor';
import { userFilter, usersPage } from '../../src/scim/routes';
import { listAuditEvents, listTokens, SORTS } from '../../src/tokens/repository';
import { type RecordedStatement, recordedD1 } from '../reliability-support';

// D1 bills every row a query reads and the tables that grow without bound are tokens, audit_events and principals.
// These tests run the real queries (through the repository, the cron job and sign-in) against the real schema and
// read SQLite's plan for each statement: a page of a list must start at its cursor in an index that gives its order
// (no sort of every matching row), and a lookup must use an index. On an empty table the plan is the one SQLite
// would choose without statistics, which is what D1 runs unless someone ran ANALYZE.

/** SQLite's plan of a statement, one line per step, indented as nested. */
async function planOf({ sql, params }: RecordedStatement): Promise<string> {
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ id: number; parent: number; detail: string }>();
  return results.map((r) => r.detail).join('\n');
}

/** The statements `run` issued on the D1 it is given that read (selects, and inserts from a select), with plans. */
async function statementsOf(
  run: (d1: D1Database) => Promise<unknown>,
): Promise<(RecordedStatement & { plan: string })[]> {
  const { db, statements } = recordedD1();
  await run(db);
  const reads = statements.filter((c) => /^\s*(select|insert[\s\S]*\bselect\b)/i.test(c.sql));
  return Promise.all(reads.map(async (c) => ({ ...c, plan: await planOf(c) })));
}

async function plansOf(run: (d1: D1Database) => Promise<unknown>): Promise<string[]> {
  return (await statementsOf(run)).map((s) => s.plan);
}

const NOW = Date.now();
const SORTED_ALL_ROWS = /USE TEMP B-TREE FOR ORDER BY/;

describe('the admin token inventory (every owner)', () => {
  it.each(SORTS)('sorted by %s: page 1 walks an index in order, no sort', async (sort) => {
    const [plan] = await plansOf((d1) => listTokens(drizzle(d1), { sort, limit: 20 }, NOW));
    expect(plan).not.toMatch(SORTED_ALL_ROWS);
    expect(plan).toMatch(/SCAN tokens USING INDEX tokens_\w+_idx/);
  });

  it.each(SORTS)('sorted by %s: a later page starts at its cursor in that index', async (sort) => {
    const k = sort.includes('name') ? 'some name' : NOW;
    const cursor = encodeCursor({ s: sort, k, id: 'tok_00000000000000000000' });
    const [plan] = await plansOf((d1) => listTokens(drizzle(d1), { sort, limit: 20, cursor }, NOW));
    expect(plan).not.toMatch(SORTED_ALL_ROWS);
    expect(plan).toMatch(/SEARCH tokens USING INDEX tokens_\w+_idx \(.+[<>]\?\)/);
  });
});

describe('the audit trail', () => {
  const cursor = encodeCursor({ s: 'at', k: NOW, id: 'evt_00000000000000000000' });

  it('every event, a later page: starts at the cursor in the time index', async () => {
    const [plan] = await plansOf((d1) => listAuditEvents(drizzle(d1), { limit: 20, cursor }));
    expect(plan).toMatch(/SEARCH audit_events USING INDEX audit_at_idx \(at<\?\)/);
    expect(plan).not.toMatch(SORTED_ALL_ROWS);
  });

  it.each([
    ['action', { action: 'token.revoked' }, /audit_action_at_idx \(action=\?/],
    ['actor and action', { actorId: 'usr_a', action: 'token.revoked' }, /audit_actor_at_idx \(actor_id=\?/],
    [
      'target and action',
      { targetId: 'tok_a', action: 'token.revoked' },
      /audit_target_at_idx \(target_id=\?/,
    ],
    ['actor, later page', { actorId: 'usr_a', cursor }, /audit_actor_at_idx \(actor_id=\? AND at<\?\)/],
    [
      'action, later page',
      { action: 'token.revoked', cursor },
      /audit_action_at_idx \(action=\? AND at<\?\)/,
    ],
  ])('filtered by %s: the narrowest index, in order', async (_, filter, index) => {
    const [plan] = await plansOf((d1) => listAuditEvents(drizzle(d1), { limit: 20, ...filter }));
    expect(plan).toMatch(index);
    expect(plan).not.toMatch(SORTED_ALL_ROWS);
  });

  it.each([
    ['page 1', {}],
    ['a later page', { cursor }],
  ])(
    "a user's own trail, %s: one page from the owner index and one from the actor index",
    async (_, more) => {
      const plans = await plansOf((d1) =>
        listAuditEvents(drizzle(d1), { involving: 'usr_a', limit: 20, ...more }),
      );
      expect(plans).toHaveLength(2);
      expect(plans[0]).toMatch(/SEARCH audit_events USING INDEX audit_owner_at_idx \(owner_id=\?/);
      expect(plans[1]).toMatch(/SEARCH audit_events USING INDEX audit_actor_at_idx \(actor_id=\?/);
      for (const plan of plans) expect(plan).not.toMatch(SORTED_ALL_ROWS);
    },
  );
});

describe('the daily job', () => {
  it('expiry notices read only the tokens expiring in the window, and each token’s own events', async () => {
    const statements = await statementsOf((d1) => runHygiene({ ...env, DB: d1 } as Env, NOW, () => {}));
    const notices = statements.filter((s) => s.params.some((p) => /^token\.expiring_/.test(String(p))));
    expect(notices).toHaveLength(2);
    for (const { plan } of notices) {
      expect(plan).toMatch(/SEARCH t USING INDEX tokens_expires_idx \(expires_at>\? AND expires_at<\?\)/);
      expect(plan).toMatch(/SEARCH a USING INDEX audit_target_at_idx \(target_id=\? AND at>\?\)/);
    }
    // The inactivity notice reads every live token once a day (no index can hold "idle since"), but each one's
    // events through its own index, never every event of the action.
    const inactive = statements.find((s) => s.params.includes('token.inactive'));
    expect(inactive?.plan).toMatch(/SEARCH a USING INDEX audit_target_at_idx \(target_id=\? AND at>\?\)/);
  });
});

describe('sign-in', () => {
  it('a first sign-in looks for a subject differing only in case through an index', async () => {
    const plans = await plansOf((d1) =>
      upsertUser(
        drizzle(d1),
        { subject: `plan-${crypto.randomUUID()}`, name: null, email: null, role: 'member', issuedAt: null },
        NOW,
      ),
    );
    const lookalike = plans.find((p) => /lower/.test(p) || /principals_subject_lower_idx/.test(p));
    expect(lookalike).toMatch(/SEARCH principals USING INDEX principals_subject_lower_idx/);
  });
});

describe('SCIM user lookups', () => {
  it('userName eq "…": the page and its count through the lower(subject) index', async () => {
    const plans = await plansOf((d1) => usersPage(drizzle(d1), userFilter('userName eq "Alice"'), 0, 100));
    expect(plans).toHaveLength(2);
    for (const plan of plans)
      expect(plan).toMatch(/SEARCH principals USING INDEX principals_subject_lower_idx/);
  });
});
