#!/usr/bin/env python3
"""The template as SAM deploys it: AWS::Serverless-2016-10-31 transformed into plain
CloudFormation, offline (no credentials, no network), with aws-sam-translator - the library
`sam build`/`sam deploy` use (installed with the SAM CLI into .local/sam-venv).

    sam_transform.py infra/template.yaml -o target/policy/template.json

orderseal attaches no managed policy (they cannot be evaluated offline, and SAM's defaults
grant more than the functions use), so the translator is given an empty managed-policy map and
any ManagedPolicyArns in the output is an error.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

# The translator only accepts code in S3; `sam build`/`sam package` put it there.
CODE_PLACEHOLDER = "s3://orderseal-build-placeholder/code.zip"


def transform(template: dict, region: str) -> dict:
    tpl = copy.deepcopy(template)
    for res in tpl.get("Resources", {}).values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = CODE_PLACEHOLDER
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        # A session only names the region and partition: nothing is called.
        boto_session=boto3.session.Session(region_name=region),
    )
    return translator.translate(
        sam_template=tpl,
        parameter_values={},
        passthrough_metadata=True,
        get_managed_policy_map=lambda: {},
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("template")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--region", default="us-east-1")
    a = ap.parse_args()
    template = yaml_parse(Path(a.template).read_text(encoding="utf-8"))
    try:
        cfn = transform(template, a.region)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"sam transform: {cause.message}", file=sys.stderr)
        return 1
    managed = [
        (lid, r["Properties"]["ManagedPolicyArns"])
        for lid, r in cfn.get("Resources", {}).items()
        if r.get("Type") == "AWS::IAM::Role" and r.get("Properties", {}).get("ManagedPolicyArns")
    ]
    for lid, arns in managed:
        print(f"sam transform: {lid} attaches managed policies {arns}; give it inline statements", file=sys.stderr)
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cfn, indent=2) + "\n", encoding="utf-8")
    return 1 if managed else 0


if __name__ == "__main__":
    sys.exit(main())
