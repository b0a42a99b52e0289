# Terraform and provider versions, and the provider itself. The state backend and the account guard
# are in environment.tf.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

locals {
  # An emulator (moto, LocalStack) is targeted when an endpoint is set; real AWS otherwise.
  emulated = var.aws_endpoint_url != ""
}

provider "aws" {
  region = var.region
  # Credentials for any other account fail the plan before anything is read (environment.tf).
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      external_id  = var.assume_role_external_id
      session_name = "eventstore-${terraform.workspace}"
    }
  }

  # Emulators take any credentials; on AWS the usual credential chain applies (these stay null).
  access_key                  = local.emulated ? "test" : null #checkov:skip=CKV_AWS_41:emulator-only placeholder credentials, null on AWS
  secret_key                  = local.emulated ? "test" : null
  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  s3_use_path_style           = local.emulated
  # Kept false even for emulators: the provider then asks the emulator's STS for the account id, so
  # ARNs built from it (execute-api, logs) are complete and re-plans stay clean.
  skip_requesting_account_id = false

  dynamic "endpoints" {
    for_each = local.emulated ? [var.aws_endpoint_url] : []
    content {
      apigateway = endpoints.value
      backup     = endpoints.value
      cloudwatch = endpoints.value
      dynamodb   = endpoints.value
      events     = endpoints.value
      iam        = endpoints.value
      kms        = endpoints.value
      lambda     = endpoints.value
      logs       = endpoints.value
      s3         = endpoints.value
      sns        = endpoints.value
      sqs        = endpoints.value
      sts        = endpoints.value
      wafv2      = endpoints.value
      xray       = endpoints.value
    }
  }

  default_tags {
    tags = merge(var.tags, {
      Project   = "serverless-eventstore"
      Workspace = terraform.workspace
    })
  }
}
