# Optional canary deployments (canary_deployments): `make apply` publishes new versions but leaves the
# live alias where it is; `make deploy` (scripts/deploy_canary.py) then asks CodeDeploy to shift each
# changed function's alias to its new version in steps (deployment_config), and CodeDeploy moves it back
# when the deployment fails or one of the function's alarms fires meanwhile. docs/operations.md, "Deploys".

variable "canary_deployments" {
  type        = bool
  description = "Shift the live alias to new versions through CodeDeploy (`make deploy` after `make apply`), rolling back on the function's error and throttle alarms and the API 5xx alarm. Off: Terraform moves the alias at apply. Switching it on or off for an applied stack needs the state moves in terraform/README.md."
  default     = false
}

variable "canary_deployment_config" {
  type        = string
  description = "The CodeDeploy Lambda deployment configuration: CodeDeployDefault.Lambda<Canary10Percent5Minutes|Canary10Percent10Minutes|Canary10Percent15Minutes|Canary10Percent30Minutes|Linear10PercentEvery1Minute|Linear10PercentEvery2Minutes|Linear10PercentEvery3Minutes|Linear10PercentEvery10Minutes|AllAtOnce>."
  default     = "CodeDeployDefault.LambdaCanary10Percent5Minutes"

  validation {
    condition     = can(regex("^CodeDeployDefault\\.Lambda(Canary10Percent(5|10|15|30)Minutes|Linear10PercentEvery(1|2|3|10)Minutes?|AllAtOnce)$", var.canary_deployment_config))
    error_message = "canary_deployment_config must be one of CodeDeploy's predefined Lambda configurations."
  }
}

locals {
  canary_functions = var.canary_deployments ? local.function_names : {}
  # Function ARNs from their names, so the role's policy is known (and reviewable) at plan time.
  function_arn_prefix = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:"
  api_functions       = toset([for route in values(local.routes_by_key) : route.function])

  # What rolls a function's deployment back: its own errors and throttles, and for a function behind the
  # API, the API's 5xx rate (the canary's share of the traffic answering 5xx shows there first).
  rollback_alarms = {
    for key, name in local.canary_functions : key => concat(
      [
        aws_cloudwatch_metric_alarm.occurrence["${name}-errors"].alarm_name,
        aws_cloudwatch_metric_alarm.occurrence["${name}-throttles"].alarm_name,
      ],
      contains(local.api_functions, key) ? [aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name] : [],
    )
  }
}

resource "aws_codedeploy_app" "functions" {
  count            = var.canary_deployments ? 1 : 0
  name             = local.name
  compute_platform = "Lambda"
}

resource "aws_codedeploy_deployment_group" "function" {
  for_each               = local.canary_functions
  app_name               = aws_codedeploy_app.functions[0].name
  deployment_group_name  = each.value
  service_role_arn       = aws_iam_role.codedeploy[0].arn
  deployment_config_name = var.canary_deployment_config

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  alarm_configuration {
    enabled = true
    alarms  = local.rollback_alarms[each.key]
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }
}

data "aws_iam_policy_document" "codedeploy_assume" {
  count = var.canary_deployments ? 1 : 0
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# What AWSCodeDeployRoleForLambda grants, narrowed to this stack: read and move these functions' live
# aliases and read these alarms. No hooks, notification topics or S3 AppSpecs are used, so none of their
# permissions.
data "aws_iam_policy_document" "codedeploy" {
  count = var.canary_deployments ? 1 : 0
  statement {
    sid       = "ShiftLiveAliases"
    actions   = ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"]
    resources = flatten([for name in values(local.canary_functions) : ["${local.function_arn_prefix}${name}", "${local.function_arn_prefix}${name}:*"]])
  }

  statement {
    sid       = "ReadRollbackAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [for name in distinct(flatten(values(local.rollback_alarms))) : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${name}"]
  }
}

resource "aws_iam_role" "codedeploy" {
  count              = var.canary_deployments ? 1 : 0
  name               = "${local.name}-codedeploy"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume[0].json
}

resource "aws_iam_role_policy" "codedeploy" {
  count  = var.canary_deployments ? 1 : 0
  name   = "shift-live-aliases"
  role   = aws_iam_role.codedeploy[0].id
  policy = data.aws_iam_policy_document.codedeploy[0].json
}
