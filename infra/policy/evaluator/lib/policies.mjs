// The policies of a deployment: each role's identity policies, and the resource policies
// (KMS key policies, SQS queue policies, Lambda function permissions), each statement labelled
// with where it lives so a grant can be named, removed and justified.

const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Condition operators under which a value list allows any of its values (or, with
 * ForAllValues, only those): removing one value makes an Allow narrower. */
const NARROWING = new Set([
  'StringEquals',
  'StringLike',
  'ArnEquals',
  'ArnLike',
  'ForAllValues:StringEquals',
  'ForAllValues:StringLike',
  'ForAnyValue:StringEquals',
  'ForAnyValue:StringLike',
]);

export class Policies {
  /** @param {import('./template.mjs').Deployment} d */
  constructor(d) {
    this.d = d;
    /** principal ARN → [{owner, name, policy}] */
    this.identity = new Map();
    /** resource ARN → {owner, policy} */
    this.resource = new Map();
    /** principal ARN → role logical id */
    this.roleIds = new Map();
    this.justified = new Map();

    for (const id of d.ofType('AWS::IAM::Role')) {
      const p = d.properties(id);
      const arn = d.roleArn(id);
      this.roleIds.set(arn, id);
      if (list(p.ManagedPolicyArns).length) {
        throw new Error(`${id} attaches managed policies (${p.ManagedPolicyArns}): they cannot be evaluated offline; use inline statements`);
      }
      if (p.PermissionsBoundary) throw new Error(`${id}: permission boundaries are not evaluated`);
      this.identity.set(
        arn,
        list(p.Policies).map((x) => ({ owner: id, name: x.PolicyName, policy: x.PolicyDocument })),
      );
      this.justify(id);
    }
    for (const id of [...d.ofType('AWS::IAM::Policy'), ...d.ofType('AWS::IAM::ManagedPolicy')]) {
      const p = d.properties(id);
      for (const role of list(p.Roles)) {
        const arn = [...this.roleIds].find(([, rid]) => d.physicalName(rid) === role)?.[0];
        if (!arn) throw new Error(`${id} attaches to ${role}, which is not a role of the template`);
        this.identity.get(arn).push({ owner: id, name: p.PolicyName ?? id, policy: p.PolicyDocument });
      }
      this.justify(id);
    }
    for (const id of d.ofType('AWS::KMS::Key')) {
      this.resource.set(d.getAtt(id, 'Arn'), { owner: id, policy: d.properties(id).KeyPolicy });
      this.justify(id);
    }
    for (const id of d.ofType('AWS::SQS::QueuePolicy')) {
      const p = d.properties(id);
      for (const url of p.Queues) {
        const queue = d.ofType('AWS::SQS::Queue').find((q) => d.ref(q) === url);
        const arn = d.getAtt(queue, 'Arn');
        if (this.resource.has(arn)) throw new Error(`${queue} has two queue policies`);
        this.resource.set(arn, { owner: id, policy: p.PolicyDocument });
      }
      this.justify(id);
    }
    // Lambda permissions form the function's resource policy.
    const permissions = new Map();
    for (const id of d.ofType('AWS::Lambda::Permission')) {
      const p = d.properties(id);
      const fn = d.ofType('AWS::Lambda::Function').find(
        (f) => d.ref(f) === p.FunctionName || d.getAtt(f, 'Arn') === p.FunctionName,
      );
      const arn = d.getAtt(fn, 'Arn');
      const statement = {
        Sid: id,
        Effect: 'Allow',
        Principal: p.Principal.endsWith('.amazonaws.com') ? { Service: p.Principal } : { AWS: p.Principal },
        Action: p.Action,
        Resource: arn,
      };
      if (p.SourceArn) statement.Condition = { ArnLike: { 'aws:SourceArn': p.SourceArn } };
      if (p.SourceAccount) {
        statement.Condition = { ...statement.Condition, StringEquals: { 'aws:SourceAccount': p.SourceAccount } };
      }
      if (!permissions.has(arn)) permissions.set(arn, { owner: id, policy: { Version: '2012-10-17', Statement: [] } });
      permissions.get(arn).policy.Statement.push(statement);
    }
    for (const [arn, p] of permissions) this.resource.set(arn, p);
  }

  justify(id) {
    const grants = this.d.resources[id]?.Metadata?.orderseal?.UnrecordedGrants ?? {};
    for (const [sid, why] of Object.entries(grants)) {
      if (!String(why).trim()) throw new Error(`${id}: UnrecordedGrants.${sid} has no justification`);
      this.justified.set(`${id}#${sid}`, String(why));
    }
  }

  /** The policies that decide `request`. */
  for(request) {
    return {
      identity: (this.identity.get(request.principal) ?? []).map(({ name, policy }) => ({ name, policy })),
      resource: this.resourcePolicy(request.resource),
    };
  }

  resourcePolicy(arn) {
    if (this.resource.has(arn)) return this.resource.get(arn).policy;
    // A DynamoDB index is governed like its table; no table here has a resource policy.
    return undefined;
  }

  /**
   * Every Allow grant, one action (or one resource of several) of one statement each: the
   * units whose removal the unused-grant check tries. Deny statements are never removed.
   */
  grants() {
    const out = [];
    const add = (kind, owner, key, policy) => {
      list(policy.Statement).forEach((s, index) => {
        if (s.Effect !== 'Allow') return;
        const sid = s.Sid ?? `#${index + 1}`;
        // The actions the statement can allow at all (undefined: NotAction, any of them).
        const actions = s.Action === undefined ? undefined : list(s.Action);
        for (const action of list(s.Action)) {
          out.push({ kind, owner, key, index, sid, actions: [action], part: 'Action', value: action });
        }
        const resources = list(s.Resource);
        if (resources.length > 1) {
          for (const resource of resources) out.push({ kind, owner, key, index, sid, actions, part: 'Resource', value: resource });
        }
        // Each value of a condition that allows any of several: dropping one narrows the grant.
        for (const [op, block] of Object.entries(s.Condition ?? {})) {
          if (!NARROWING.has(op.replace(/IfExists$/, ''))) continue;
          for (const [conditionKey, values] of Object.entries(block)) {
            if (!Array.isArray(values) || values.length < 2) continue;
            for (const value of values) {
              out.push({ kind, owner, key, index, sid, actions, part: 'Condition', op, conditionKey, value });
            }
          }
        }
      });
    };
    for (const [principal, docs] of this.identity) {
      docs.forEach((doc, i) => add('identity', doc.owner, { principal, doc: i }, doc.policy));
    }
    for (const [arn, { owner, policy }] of this.resource) add('resource', owner, { arn }, policy);
    return out;
  }

  /** These policies without one grant (see `grants`). */
  without(grant) {
    const copy = Object.create(Policies.prototype);
    copy.d = this.d;
    copy.roleIds = this.roleIds;
    copy.justified = this.justified;
    copy.identity = new Map(this.identity);
    copy.resource = new Map(this.resource);
    const strip = (policy) => {
      const statements = list(policy.Statement).map((s, i) => {
        if (i !== grant.index) return s;
        if (grant.part === 'Condition') {
          const block = s.Condition[grant.op];
          const kept = block[grant.conditionKey].filter((x) => x !== grant.value);
          return { ...s, Condition: { ...s.Condition, [grant.op]: { ...block, [grant.conditionKey]: kept } } };
        }
        const kept = list(s[grant.part]).filter((x) => x !== grant.value);
        return kept.length ? { ...s, [grant.part]: kept } : null;
      });
      return { ...policy, Statement: statements.filter(Boolean) };
    };
    if (grant.kind === 'identity') {
      const docs = [...copy.identity.get(grant.key.principal)];
      docs[grant.key.doc] = { ...docs[grant.key.doc], policy: strip(docs[grant.key.doc].policy) };
      copy.identity.set(grant.key.principal, docs);
    } else {
      const r = copy.resource.get(grant.key.arn);
      copy.resource.set(grant.key.arn, { ...r, policy: strip(r.policy) });
    }
    return copy;
  }

  /** Which requests a grant can matter to. */
  /**
   * Whether removing `grant` can change the decision on `request`: the request is decided by
   * the grant's policy and asks for an action the grant's statement allows (a request the
   * statement does not match is not allowed by it, so nothing removed from it can deny it).
   */
  governs(grant, request) {
    const decidedBy = grant.kind === 'identity' ? request.principal === grant.key.principal : request.resource === grant.key.arn;
    return decidedBy && (grant.actions === undefined || grant.actions.some((a) => actionMatches(a, request.action)));
  }

  justification(grant) {
    return this.justified.get(`${grant.owner}#${grant.sid}`);
  }
}

const patterns = new Map();
/** IAM's action match: case-insensitive, `*` any run of characters, `?` one. */
export function actionMatches(pattern, action) {
  let re = patterns.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
    patterns.set(pattern, re);
  }
  return re.test(action);
}
