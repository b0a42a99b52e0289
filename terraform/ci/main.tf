# A sample, applied once per environment account by an administrator: the role GitHub Actions assumes
# through OIDC to plan and apply one environment (ci/deploy.yml is the matching workflow).
#
# Least privilege here means: only the named repository's jobs running in the named GitHub environment
# may assume it, and it may touch only that environment's resources (names start eventstore-<env>-) and
# its state. Services whose create calls cannot be scoped to a name (KMS keys, API Gateway ids, Backup
# plans) are limited by region and tag instead.

terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "environment" {
  type        = string
  description = "The environment (workspace) this role deploys, e.g. production."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", var.environment))
    error_message = "environment must be a workspace name."
  }
}

variable "github_repository" {
  type        = string
  description = "owner/name of the repository whose workflow deploys."
}

variable "region" {
  type        = string
  description = "The region the environment runs in."
}

variable "state_bucket" {
  type        = string
  description = "The S3 bucket of backend/<environment>.s3.tfbackend."
}

variable "state_kms_key_arn" {
  type        = string
  description = "The KMS key the state is encrypted with."
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  prefix  = "eventstore-${var.environment}"
  account = data.aws_caller_identity.current.account_id
  arn     = "arn:${data.aws_partition.current.partition}"
  regional = {
    for service in ["lambda", "dynamodb", "sns", "sqs", "logs", "cloudwatch", "kms", "backup", "wafv2"] :
    service => "${local.arn}:${service}:${var.region}:${local.account}"
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    # Only jobs that declare `environment: <env>` (whose protection rules, e.g. reviewers, apply).
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }
}

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "ReadAndLockState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.arn}:s3:::${var.state_bucket}/env:/${var.environment}/eventstore/*"]
  }
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = ["${local.arn}:s3:::${var.state_bucket}"]
  }
  statement {
    sid       = "EncryptState"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.state_kms_key_arn]
  }
  # The environment's own resources, by name.
  statement {
    sid = "ManageTheEnvironmentsResources"
    actions = [
      "dynamodb:*", "lambda:*", "sns:*", "sqs:*", "logs:*", "cloudwatch:*",
    ]
    resources = [
      "${local.regional.dynamodb}:table/${local.prefix}-*",
      "${local.regional.lambda}:function:${local.prefix}-*",
      "${local.regional.lambda}:layer:${local.prefix}-*",
      "${local.regional.sns}:${local.prefix}-*",
      "${local.regional.sqs}:${local.prefix}-*",
      "${local.regional.logs}:log-group:/aws/lambda/${local.prefix}-*",
      "${local.regional.logs}:log-group:/aws/apigateway/${local.prefix}/*",
      "${local.regional.logs}:log-group:API-Gateway-Execution-Logs_*",
      "${local.regional.cloudwatch}:alarm:${local.prefix}-*",
      "${local.arn}:cloudwatch::${local.account}:dashboard/${local.prefix}",
    ]
  }
  statement {
    sid       = "ManageTheEnvironmentsRoles"
    actions   = ["iam:*Role*", "iam:TagRole", "iam:UntagRole"]
    resources = ["${local.arn}:iam::${local.account}:role/${local.prefix}-*"]
  }
  statement {
    sid       = "PassTheEnvironmentsRolesToTheirServices"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn}:iam::${local.account}:role/${local.prefix}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com", "apigateway.amazonaws.com", "backup.amazonaws.com"]
    }
  }
  # API Gateway ids, KMS key ids, event source mapping ids and Backup plan ids are random: these are
  # limited to the region (API Gateway's ARNs carry no account).
  statement {
    sid       = "ManageRestApisOfTheRegion"
    actions   = ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    resources = ["${local.arn}:apigateway:${var.region}::/*"]
  }
  statement {
    sid       = "ManageKeysAndBackupsOfTheRegion"
    actions   = ["kms:*", "backup:*", "backup-storage:MountCapsule", "lambda:*EventSourceMapping*", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "wafv2:GetWebACLForResource"]
    resources = ["${local.regional.kms}:*", "${local.regional.backup}:*", "${local.regional.lambda}:event-source-mapping:*", "${local.regional.wafv2}:*"]
  }
  statement {
    #checkov:skip=CKV_AWS_356:these calls take no resource (creating a key or reading the caller); IAM requires "*"
    sid       = "CallsWithoutAResource"
    actions   = ["kms:CreateKey", "kms:ListAliases", "lambda:ListEventSourceMappings", "lambda:GetEventSourceMapping", "lambda:CreateEventSourceMapping", "sts:GetCallerIdentity", "backup:ListBackupPlans", "cloudwatch:DescribeAlarms"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "deploy" {
  # Outside the eventstore-<env>- prefix: the role cannot rewrite its own policy.
  name                 = "deploy-${local.prefix}"
  description          = "GitHub Actions (${var.github_repository}, environment ${var.environment}) plans and applies ${local.prefix}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy-${var.environment}"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

output "deploy_role_arn" {
  description = "assume_role_arn for env/<environment>.tfvars, or role-to-assume for the workflow."
  value       = aws_iam_role.deploy.arn
}
