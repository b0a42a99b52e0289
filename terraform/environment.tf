# Environments that cannot be confused: the state backend is configured per environment
# (backend/<workspace>.s3.tfbackend, `make plan|apply` passes it), the provider refuses any account but
# the environment's own, and a tfvars file names the workspace it belongs to.

terraform {
  # Partial configuration: bucket, key, region, KMS key and lock file come from
  # backend/<workspace>.s3.tfbackend. Emulator workspaces (local, the tests) run with a local backend
  # instead: the Makefile and the tests write a backend "local" override file (never committed).
  backend "s3" {}
}

variable "environment" {
  type        = string
  description = "The workspace this tfvars file is for; a plan in any other workspace fails. Required on AWS."
  default     = null

  validation {
    condition     = var.environment != null || var.aws_endpoint_url != ""
    error_message = "environment must name the workspace (e.g. environment = \"production\") unless aws_endpoint_url targets an emulator."
  }
}

variable "allowed_account_ids" {
  type        = list(string)
  description = "The only AWS account(s) the provider may act in; any other credentials fail before anything is read or changed. Required on AWS."
  default     = []

  validation {
    condition     = alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must hold 12-digit account ids."
  }

  validation {
    condition     = length(var.allowed_account_ids) > 0 || var.aws_endpoint_url != ""
    error_message = "allowed_account_ids must list the environment's account unless aws_endpoint_url targets an emulator."
  }
}

variable "assume_role_arn" {
  type        = string
  description = "A role the provider assumes for every call (e.g. the environment's deploy role). null uses the credentials as they are."
  default     = null

  validation {
    condition     = var.assume_role_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.assume_role_arn))
    error_message = "assume_role_arn must be an IAM role ARN."
  }
}

variable "assume_role_external_id" {
  type        = string
  description = "External id the assumed role's trust policy requires, if any."
  default     = null
}
