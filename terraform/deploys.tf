# How callers reach the functions: every change publishes a version, and the "live" alias points at the
# newest. API Gateway and the stream mapping invoke the alias, never $LATEST, so what they run is
# always a published, immutable version; with `snap_start = true` that is also what SnapStart snapshots
# (it applies to published versions only). Generic over local.functions: a new function gets its version,
# alias and SnapStart setting with no edit here.

locals {
  # The snap_start block of every function (functions.tf). moto reads SnapStart back as off whatever was
  # sent, so a stack applied there would re-plan for ever: the setting goes to AWS only, like the log format.
  function_snap_start = var.snap_start && !local.emulated ? ["PublishedVersions"] : []

  # What callers invoke, per function key. moto reads an event source mapping's alias back as the version
  # it points at, so there the mapping names that version (the same code) or every re-plan would differ.
  # Exactly one of the two alias resources below holds each function's alias (canary_deployments).
  live_aliases     = merge(aws_lambda_alias.live, aws_lambda_alias.live_shifted)
  live_alias_name  = "live"
  live_invoke_arns = { for key, alias in local.live_aliases : key => alias.invoke_arn }
  live_arns = {
    for key, alias in local.live_aliases : key => local.emulated ? aws_lambda_function.this[key].qualified_arn : alias.arn
  }
}

# Terraform moves the alias to each newly published version (canary_deployments off).
resource "aws_lambda_alias" "live" {
  for_each         = var.canary_deployments ? {} : aws_lambda_function.this
  name             = local.live_alias_name
  description      = "The version callers invoke (the newest published)"
  function_name    = each.value.function_name
  function_version = each.value.version
}

# CodeDeploy moves the alias (canary_deployments on; codedeploy.tf): Terraform creates it at the first
# published version and then leaves its version and traffic split alone, or an apply would undo a canary
# half-way. A lifecycle block cannot be conditional, hence two resources.
resource "aws_lambda_alias" "live_shifted" {
  for_each         = var.canary_deployments ? aws_lambda_function.this : {}
  name             = local.live_alias_name
  description      = "The version callers invoke (CodeDeploy shifts it to new versions: make deploy)"
  function_name    = each.value.function_name
  function_version = each.value.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}
