#!/usr/bin/env node
// The fixed monthly cost of a deployment before any order, per network profile, from the
// transformed template's resources and AWS list prices (us-east-1, on-demand, 730 hours).
// Per-request costs (DynamoDB, KMS, SQS, Lambda) are in BENCHMARKS.md's calls per order.
//
//   node cost.mjs --template target/policy/template.json --settings infra/policy/deployment.json

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Deployment } from './lib/template.mjs';

const HOURS = 730;
// List prices, us-east-1 (aws.amazon.com/vpc/pricing, /privatelink/pricing, /kms/pricing,
// /secrets-manager/pricing, /cloudwatch/pricing).
const PRICE = {
  natGatewayHour: 0.045,
  publicIpv4Hour: 0.005,
  interfaceEndpointAzHour: 0.01,
  kmsKeyMonth: 1.0,
  secretMonth: 0.4,
  alarmMonth: 0.1,
};

const { values: args } = parseArgs({ options: { template: { type: 'string' }, settings: { type: 'string' } } });
const cfn = JSON.parse(readFileSync(args.template, 'utf8'));
const settings = JSON.parse(readFileSync(args.settings, 'utf8'));

function cost(profile) {
  const d = new Deployment(cfn, { ...settings, parameters: { ...settings.parameters, NetworkProfile: profile } });
  const count = (type) => d.ofType(type).length;
  const interfaceAzs = d
    .ofType('AWS::EC2::VPCEndpoint')
    .map((id) => d.properties(id))
    .filter((p) => p.VpcEndpointType === 'Interface')
    .reduce((n, p) => n + p.SubnetIds.length, 0);
  const lines = [
    ['NAT gateway (hours; + $0.045/GB processed)', count('AWS::EC2::NatGateway'), PRICE.natGatewayHour * HOURS],
    ['public IPv4 address of the NAT gateway', count('AWS::EC2::EIP'), PRICE.publicIpv4Hour * HOURS],
    ['interface endpoint x AZ (hours; + $0.01/GB)', interfaceAzs, PRICE.interfaceEndpointAzHour * HOURS],
    ['KMS customer managed keys', count('AWS::KMS::Key'), PRICE.kmsKeyMonth],
    ['Secrets Manager secrets', count('AWS::SecretsManager::Secret'), PRICE.secretMonth],
    ['CloudWatch alarms (standard)', count('AWS::CloudWatch::Alarm'), PRICE.alarmMonth],
  ];
  const total = lines.reduce((s, [, n, unit]) => s + n * unit, 0);
  return { lines, total };
}

for (const profile of ['endpoints', 'nat-only']) {
  const { lines, total } = cost(profile);
  console.log(`NetworkProfile=${profile}`);
  for (const [what, n, unit] of lines) {
    if (n) console.log(`  ${String(n).padStart(2)} x ${what.padEnd(46)} $${unit.toFixed(2).padStart(6)} = $${(n * unit).toFixed(2).padStart(6)}`);
  }
  console.log(`  fixed per month before any order: $${total.toFixed(2)}`);
}
