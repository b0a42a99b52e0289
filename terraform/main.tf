# What every concern shares: the naming scheme, the account and region, and the definition files that
# the Python code reads too (shared/eventstore/table.json and routes.json).

# Read during every plan; a failed precondition fails the plan before anything is changed.
data "aws_caller_identity" "current" {
  lifecycle {
    # Workspace names end up in resource names (tables, functions, queues, log groups).
    precondition {
      condition     = can(regex("^[a-z][a-z0-9-]{0,23}$", terraform.workspace))
      error_message = "Workspace names must be 1-24 lowercase letters, digits or dashes, starting with a letter."
    }
    # A tfvars file written for one environment cannot be applied in another's workspace.
    precondition {
      condition     = var.environment == null || var.environment == terraform.workspace
      error_message = "These variables are for environment \"${coalesce(var.environment, "-")}\", not for workspace \"${terraform.workspace}\"."
    }
  }
}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # Every name carries the workspace, so workspaces (local, staging, production, a test's) never clash.
  name       = "eventstore-${terraform.workspace}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  build_dir  = var.build_dir != null ? var.build_dir : "${path.module}/../build"

  table  = jsondecode(file("${path.module}/../shared/eventstore/table.json"))
  routes = jsondecode(file("${path.module}/../shared/eventstore/routes.json")).routes

  # POWERTOOLS_SERVICE_NAME; also the `service` dimension of the project's metrics on the dashboard.
  service_name      = local.name
  metrics_namespace = "EventStore"
}
