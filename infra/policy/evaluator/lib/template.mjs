// The SAM-transformed template as one deployment would have it: every resource gets the
// physical name and ARN CloudFormation would give it in a chosen account and region, and the
// intrinsic functions the template uses are resolved against those. (No maintained library
// resolves Fn::Sub with resource attributes; cfn-resolver-lib, the one candidate, crashes on it.)

import { createHash } from 'node:crypto';

const NO_VALUE = Symbol('AWS::NoValue');

/** A stable fake suffix per logical id, shaped like CloudFormation's. */
function suffix(id, length = 12) {
  return createHash('sha256').update(id).digest('hex').slice(0, length).toUpperCase();
}

function uuidFor(id) {
  const h = createHash('sha256').update(id).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export class Deployment {
  /**
   * @param {object} cfn the transformed template (JSON)
   * @param {{account: string, region: string, partition: string, stack: string,
   *          parameters: Record<string, string>}} settings
   */
  constructor(cfn, settings) {
    this.cfn = cfn;
    this.account = settings.account;
    this.region = settings.region;
    this.partition = settings.partition ?? 'aws';
    this.stack = settings.stack;
    this.parameters = {};
    for (const [name, p] of Object.entries(cfn.Parameters ?? {})) {
      const given = settings.parameters?.[name];
      const value = given ?? p.Default;
      if (value === undefined) throw new Error(`parameter ${name} has no value and no default`);
      this.parameters[name] =
        p.Type === 'CommaDelimitedList' || p.Type?.startsWith('List<')
          ? (Array.isArray(value) ? value : String(value).split(',').map((s) => s.trim()))
          : String(value);
    }
    this.conditions = {};
    for (const name of Object.keys(cfn.Conditions ?? {})) this.condition(name);
    this.resources = {};
    for (const [id, r] of Object.entries(cfn.Resources ?? {})) {
      if (r.Condition && !this.condition(r.Condition)) continue;
      this.resources[id] = r;
    }
    this.names = {};
  }

  condition(name) {
    if (!(name in this.conditions)) {
      const def = this.cfn.Conditions?.[name];
      if (def === undefined) throw new Error(`unknown condition ${name}`);
      this.conditions[name] = null; // a cycle reads as an error below
      this.conditions[name] = Boolean(this.resolve(def));
    }
    if (this.conditions[name] === null) throw new Error(`condition ${name} depends on itself`);
    return this.conditions[name];
  }

  arn(service, resource, { region = this.region, account = this.account } = {}) {
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  /** The physical name of a resource: its explicit name property, or a generated one. */
  physicalName(id) {
    if (id in this.names) return this.names[id];
    const r = this.resources[id];
    if (!r) throw new Error(`no resource ${id} in the template (or its condition is false)`);
    const p = r.Properties ?? {};
    const explicit = {
      'AWS::DynamoDB::Table': p.TableName,
      'AWS::SQS::Queue': p.QueueName,
      'AWS::IAM::Role': p.RoleName,
      'AWS::Logs::LogGroup': p.LogGroupName,
      'AWS::Lambda::Function': p.FunctionName,
      'AWS::SecretsManager::Secret': p.Name,
      'AWS::Scheduler::Schedule': p.Name,
    }[r.Type];
    const name =
      explicit !== undefined ? String(this.resolve(explicit)) : `${this.stack}-${id}-${suffix(id)}`;
    this.names[id] = name;
    return name;
  }

  ref(id) {
    if (id in this.parameters) return this.parameters[id];
    switch (id) {
      case 'AWS::AccountId': return this.account;
      case 'AWS::Region': return this.region;
      case 'AWS::Partition': return this.partition;
      case 'AWS::StackName': return this.stack;
      case 'AWS::StackId': return this.arn('cloudformation', `stack/${this.stack}/${uuidFor(this.stack)}`);
      case 'AWS::URLSuffix': return 'amazonaws.com';
      case 'AWS::NoValue': return NO_VALUE;
    }
    const r = this.resources[id];
    if (!r) throw new Error(`Ref to ${id}: not a parameter or resource of the template`);
    const name = this.physicalName(id);
    switch (r.Type) {
      case 'AWS::SQS::Queue': return `https://sqs.${this.region}.amazonaws.com/${this.account}/${name}`;
      case 'AWS::KMS::Key': return uuidFor(id);
      case 'AWS::SecretsManager::Secret': return this.arn('secretsmanager', `secret:${name}-${suffix(id, 6)}`);
      case 'AWS::ApiGatewayV2::Api': return suffix(id, 10).toLowerCase();
      case 'AWS::EC2::VPC': return `vpc-0${suffix(id, 16).toLowerCase()}`;
      case 'AWS::EC2::Subnet': return `subnet-0${suffix(id, 16).toLowerCase()}`;
      case 'AWS::EC2::SecurityGroup': return `sg-0${suffix(id, 16).toLowerCase()}`;
      default: return name;
    }
  }

  getAtt(id, attr) {
    const r = this.resources[id];
    if (!r) throw new Error(`GetAtt ${id}.${attr}: no such resource`);
    const name = this.physicalName(id);
    const key = `${r.Type} ${attr}`;
    switch (key) {
      case 'AWS::DynamoDB::Table Arn': return this.arn('dynamodb', `table/${name}`);
      case 'AWS::DynamoDB::Table StreamArn': return this.arn('dynamodb', `table/${name}/stream/2026-12-01T00:00:00.000`);
      case 'AWS::SQS::Queue Arn': return this.arn('sqs', name);
      case 'AWS::SQS::Queue QueueName': return name;
      case 'AWS::SQS::Queue QueueUrl': return this.ref(id);
      case 'AWS::KMS::Key Arn': return this.arn('kms', `key/${this.ref(id)}`);
      case 'AWS::KMS::Key KeyId': return this.ref(id);
      case 'AWS::IAM::Role Arn': return `arn:${this.partition}:iam::${this.account}:role/${name}`;
      case 'AWS::Logs::LogGroup Arn': return this.arn('logs', `log-group:${name}:*`);
      case 'AWS::Lambda::Function Arn': return this.arn('lambda', `function:${name}`);
      case 'AWS::Scheduler::Schedule Arn': return this.arn('scheduler', `schedule/default/${name}`);
      case 'AWS::SecretsManager::Secret Id': return this.ref(id);
      default: return `${id}.${attr}`;
    }
  }

  /** Resolve the intrinsic functions in `v`. */
  resolve(v) {
    if (Array.isArray(v)) return v.map((x) => this.resolve(x)).filter((x) => x !== NO_VALUE);
    if (v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [fn] = keys;
      const arg = v[fn];
      switch (fn) {
        case 'Ref': return this.ref(arg);
        case 'Fn::GetAtt': {
          const [id, ...attr] = Array.isArray(arg) ? arg : String(arg).split('.');
          return this.getAtt(id, attr.join('.'));
        }
        case 'Fn::Sub': return this.sub(arg);
        case 'Fn::Join': {
          const [sep, list] = arg;
          return this.resolve(list).join(sep);
        }
        case 'Fn::Select': {
          const [i, list] = this.resolve(arg);
          return list[Number(i)];
        }
        case 'Fn::Split': {
          const [sep, s] = this.resolve(arg);
          return String(s).split(sep);
        }
        case 'Fn::If': {
          const [cond, a, b] = arg;
          return this.resolve(this.condition(cond) ? a : b);
        }
        case 'Fn::Equals': {
          const [a, b] = this.resolve(arg);
          return String(a) === String(b);
        }
        case 'Fn::Not': return !this.resolve(arg)[0];
        case 'Fn::And': return this.resolve(arg).every(Boolean);
        case 'Fn::Or': return this.resolve(arg).some(Boolean);
        case 'Condition': return this.condition(arg);
        case 'Fn::GetAZs': return ['a', 'b', 'c'].map((z) => `${this.region}${z}`);
        case 'Fn::Cidr': {
          const [, count] = this.resolve(arg);
          return Array.from({ length: Number(count) }, (_, i) => `10.0.${i}.0/24`);
        }
        case 'Fn::Base64': return Buffer.from(String(this.resolve(arg))).toString('base64');
        default:
          if (fn.startsWith('Fn::')) throw new Error(`intrinsic ${fn} is not supported`);
      }
    }
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const r = this.resolve(x);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  sub(arg) {
    const [text, vars] = Array.isArray(arg) ? arg : [arg, {}];
    const local = Object.fromEntries(Object.entries(vars ?? {}).map(([k, x]) => [k, this.resolve(x)]));
    return String(text).replace(/\$\{([^}!]+)\}/g, (_, name) => {
      if (name in local) return String(local[name]);
      if (name.includes('.') && !name.startsWith('AWS::')) {
        const [id, ...attr] = name.split('.');
        return String(this.getAtt(id, attr.join('.')));
      }
      return String(this.ref(name));
    });
  }

  /** The resolved properties of a resource. */
  properties(id) {
    return this.resolve(this.resources[id]?.Properties ?? {});
  }

  /** Logical ids of resources of `type`. */
  ofType(type) {
    return Object.keys(this.resources).filter((id) => this.resources[id].Type === type);
  }

  roleArn(id) {
    return this.getAtt(id, 'Arn');
  }
}
